"""Config, reauthentication, reconfiguration and options flows for SIP Thor."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from http import HTTPStatus
from typing import TYPE_CHECKING, Any

from homeassistant.components.file_upload import process_uploaded_file
from homeassistant.config_entries import (
    SOURCE_REAUTH,
    SOURCE_RECONFIGURE,
    ConfigFlow,
    ConfigFlowResult,
    OptionsFlow,
)
from homeassistant.const import (
    CONF_CURRENCY,
    CONF_PASSWORD,
    CONF_SCAN_INTERVAL,
    CONF_URL,
    CONF_VERIFY_SSL,
)
from homeassistant.core import HomeAssistant, callback
from homeassistant.data_entry_flow import section
from homeassistant.generated.currencies import ACTIVE_CURRENCIES
from homeassistant.helpers.selector import (
    BooleanSelector,
    FileSelector,
    FileSelectorConfig,
    NumberSelector,
    NumberSelectorConfig,
    NumberSelectorMode,
    SelectSelector,
    SelectSelectorConfig,
    SelectSelectorMode,
    TextSelector,
    TextSelectorConfig,
    TextSelectorType,
)
import voluptuous as vol
from yarl import URL

from .api import (
    DEFAULT_URL,
    DIGEST_URL,
    ClientCredentials,
    CredentialsProblem,
    Identity,
    SipThorAuthenticationError,
    SipThorCertificateRequiredError,
    SipThorConnectionError,
    SipThorCredentialsError,
    SipThorEmptyBodyError,
    SipThorError,
    SipThorServerCertificateError,
    SipThorServerError,
    load_credentials,
)
from .certificate import (
    certificate_file_name,
    certificate_path,
    read_certificate,
    remove_certificate,
    write_certificate,
)
from .client_factory import async_create_client, signs_in_with_password
from .const import (
    CONF_ACCOUNT,
    CONF_CERTIFICATE_FILE,
    CONF_CERTIFICATE_UPLOAD,
    CONF_HISTORY_TIMEZONE,
    CONF_SLOW_SCAN_INTERVAL,
    DEFAULT_CURRENCY,
    DEFAULT_SCAN_INTERVAL,
    DEFAULT_SLOW_SCAN_INTERVAL,
    DOMAIN,
    HISTORY_TIMEZONE_ACCOUNT,
    HISTORY_TIMEZONE_UTC,
    LOGGER,
    MAX_SCAN_INTERVAL,
    MAX_SLOW_SCAN_INTERVAL,
    MIN_SCAN_INTERVAL,
    MIN_SLOW_SCAN_INTERVAL,
)
from .sources import SipThorConfigEntry

if TYPE_CHECKING:
    _OptionsFlow = OptionsFlow
else:
    try:  # Home Assistant 2025.8 and newer reload the entry after the options flow.
        from homeassistant.config_entries import OptionsFlowWithReload as _OptionsFlow
    except ImportError:  # Before, __init__ adds an update listener (OPTIONS_NEED_UPDATE_LISTENER).
        _OptionsFlow = OptionsFlow

# A certificate with its key is a few kilobytes; anything much larger is another file.
MAX_UPLOAD_BYTES = 64 * 1024
# A form should not keep the user waiting as long as a poll may (30 s, docs/settings-api.md §7).
FLOW_TIMEOUT = 15.0
# Never put back into a re-shown certificate form: an upload is used up once read, and
# the flow keeps what it read (a file that did not open, too), so the password of a
# .p12 is not needed again either.
_NOT_SUGGESTED = frozenset({CONF_CERTIFICATE_UPLOAD, CONF_PASSWORD})
# The collapsed part of the password forms: the settings page and its verification.
SECTION_ADVANCED = "advanced"
# Errors after which a certificate uploaded in reconfiguration is not kept.
_REFUSED_CERTIFICATE = frozenset({"invalid_auth", "certificate_for_other_account"})

_CERTIFICATE_SELECTOR = FileSelector(FileSelectorConfig(accept=".crt,.pem,.p12,.pfx"))
_PASSWORD_SELECTOR = TextSelector(TextSelectorConfig(type=TextSelectorType.PASSWORD))
_URL_SELECTOR = TextSelector(TextSelectorConfig(type=TextSelectorType.URL))
_CURRENCY_SELECTOR = SelectSelector(
    SelectSelectorConfig(options=sorted(ACTIVE_CURRENCIES), mode=SelectSelectorMode.DROPDOWN)
)


class _FormError(Exception):
    """What the form shows: the error ``key`` next to ``field`` (``base``: the whole form)."""

    def __init__(self, field: str, key: str) -> None:
        super().__init__(key)
        self.field = field
        self.key = key


@dataclass(frozen=True, slots=True)
class _Connection:
    """What a flow checks before anything is stored: one of two ways to sign in."""

    url: str
    account: str
    verify_ssl: bool
    # One way to sign in: the client certificate, or else the SIP password (HTTP Digest).
    credentials: ClientCredentials | None = None
    password: str | None = None


def _read_upload(hass: HomeAssistant, file_id: str) -> bytes:
    """The uploaded file, which Home Assistant deletes once read (blocking)."""
    try:
        with process_uploaded_file(hass, file_id) as path:
            if path.stat().st_size > MAX_UPLOAD_BYTES:
                raise _FormError(CONF_CERTIFICATE_UPLOAD, CredentialsProblem.INVALID_CERTIFICATE)
            return path.read_bytes()
    except ValueError as err:
        # process_uploaded_file: the upload is gone (expired or already used).
        raise _FormError(CONF_CERTIFICATE_UPLOAD, "certificate_required") from err


def _open_upload(data: bytes, password: str | None) -> ClientCredentials:
    """Check an uploaded certificate, opened with ``password`` (blocking: key parsing)."""
    try:
        return load_credentials(data, password or None)
    except SipThorCredentialsError as err:
        field = (
            CONF_PASSWORD
            if err.problem is CredentialsProblem.WRONG_PASSWORD
            else CONF_CERTIFICATE_UPLOAD
        )
        raise _FormError(field, err.problem.value) from err


def _settings_url(text: str, field: str = CONF_URL) -> str:
    """The settings page URL as typed, refused unless it names nothing but the page.

    Only https: neither the certificate nor the password may travel without TLS. User
    info would be stored with the entry, shown wherever the URL is, and sent by aiohttp
    as a password of its own; a query would be sent with every request
    (``?action=set_dnd_on`` makes each read a write); a fragment is never sent, so it
    can only be a mistake. The error goes next to ``field``: the password forms keep
    the URL in a section, which carries the errors of its fields.
    """
    try:
        url = URL(text.strip())
    except ValueError as err:  # a port out of range, a broken IPv6 address, bad IDNA
        raise _FormError(field, "invalid_url") from err
    if url.scheme != "https" or not url.host:
        raise _FormError(field, "invalid_url")
    if url.user is not None or url.password is not None:
        raise _FormError(field, "url_has_user_info")
    if url.raw_query_string:
        raise _FormError(field, "url_has_query")
    if url.raw_fragment:
        raise _FormError(field, "url_has_fragment")
    return str(url)


def _without_user_info(text: str) -> str:
    """The URL to show again in the form: never with the password the user typed in it."""
    try:
        url = URL(text.strip())
        if url.user is None and url.password is None:
            return text
        return str(url.with_user(None))
    except ValueError:
        return text


def _tidy_account(text: str) -> str:
    """The SIP address as typed, without what comes along when it is copied.

    Phones, Blink and provider pages show it as ``sip:alice@example.com``, at times in
    angle brackets; the page knows the account as ``alice@example.com``. Sent as typed,
    the password page refuses ``sip:alice`` as a wrong password.
    """
    account = text.strip()
    if account[:1] == "<" and account[-1:] == ">":
        account = account[1:-1].strip()
    scheme, colon, rest = account.partition(":")
    if colon and scheme.lower() in ("sip", "sips"):
        account = rest.strip()
    return account


def _suggested_password(typed: str | None, error: str | None) -> dict[str, str]:
    """The SIP password to put back into a password form shown again after ``error``.

    Kept when something else was wrong (the URL, the address), so that fixing that does
    not mean typing the password again; dropped when the password may be what was wrong.
    It goes back only to the browser that typed it, in a password field.
    """
    if not typed or error == "password_refused":
        return {}
    return {CONF_PASSWORD: typed}


def _check_account(account: str) -> None:
    """Refuse an account that is not user@domain."""
    user, at, domain = account.partition("@")
    if not (at and user and domain) or any(char.isspace() for char in account):
        raise _FormError(CONF_ACCOUNT, "invalid_account")


def _check_sip_address(account: str) -> None:
    """Refuse what the Digest page cannot sign in: not user@domain, or a user beyond ASCII.

    The client sends such a user name as RFC 7616's ``username*``, which CDRTool's page
    does not read (docs/settings-api.md §2.5): every attempt would fail as a wrong
    password, so none is made.
    """
    user, at, domain = account.partition("@")
    if not (at and user and domain) or any(
        char.isspace() or not char.isprintable() for char in account
    ):
        raise _FormError(CONF_ACCOUNT, "invalid_sip_address")
    if not user.isascii():
        raise _FormError(CONF_ACCOUNT, "non_ascii_user")


async def _async_identity(hass: HomeAssistant, connection: _Connection) -> Identity:
    """Ask the server who the account is: the proof that everything works."""
    client = await async_create_client(
        hass,
        connection.account,
        url=connection.url,
        verify_ssl=connection.verify_ssl,
        password=connection.password,
        credentials=connection.credentials,
        request_timeout=FLOW_TIMEOUT,
    )
    return await client.get_identity()


def _advanced_section() -> section:
    """The settings page and its verification: rarely changed, so folded away.

    Built anew for each form: Home Assistant fills suggested values into a section in
    place.
    """
    schema = vol.Schema(
        {
            vol.Required(CONF_URL, default=DIGEST_URL): _URL_SELECTOR,
            vol.Required(CONF_VERIFY_SSL, default=True): BooleanSelector(),
        }
    )
    return section(schema, {"collapsed": True})


def _new_or_stored_password(typed: str | None, stored: str | None) -> str:
    """The password typed in reconfiguration, else the one the entry signs in with."""
    password = typed or stored
    if not password:  # switching from the certificate: there is none yet
        raise _FormError(CONF_PASSWORD, "password_required")
    return password


def _advanced_input(user_input: Mapping[str, Any]) -> tuple[str, bool]:
    """The URL and verification as sent in the advanced section (the URL unchecked)."""
    advanced = user_input[SECTION_ADVANCED]
    return advanced[CONF_URL], advanced[CONF_VERIFY_SSL]


class SipThorConfigFlow(ConfigFlow, domain=DOMAIN):
    """Add a SIP Thor account with its SIP password or its client certificate."""

    VERSION = 1
    # 1.2: the certificate file's name holds a hash of the account; 1.3: phones are
    # identified by their family (__init__ migrates both).
    MINOR_VERSION = 3

    def __init__(self) -> None:
        """Nothing uploaded yet."""
        # Kept between attempts, so that fixing a typo in the URL or the account does
        # not mean uploading the certificate again.
        self._credentials: ClientCredentials | None = None
        # An uploaded file the password typed did not open: kept (Home Assistant deletes
        # the upload once read) for the next attempt, with another password.
        self._locked_upload: bytes | None = None

    @staticmethod
    @callback
    def async_get_options_flow(config_entry: SipThorConfigEntry) -> SipThorOptionsFlow:
        """The options: polling intervals, currency, time zone of the call list."""
        return SipThorOptionsFlow()

    async def _async_credentials(self, user_input: dict[str, Any]) -> ClientCredentials:
        """The uploaded credential, or the one kept from an earlier attempt.

        A file the password did not open waits for the next password: the form's help
        promises that after an error the file need not be uploaded again.
        """
        file_id = user_input.get(CONF_CERTIFICATE_UPLOAD)
        if file_id:
            # A file that cannot be used is not replaced by the one kept from before.
            self._credentials = self._locked_upload = None
            data = await self.hass.async_add_executor_job(_read_upload, self.hass, file_id)
        elif self._locked_upload is not None:
            data = self._locked_upload
        elif self._credentials is not None:
            return self._credentials
        else:
            raise _FormError(CONF_CERTIFICATE_UPLOAD, "certificate_required")
        try:
            self._credentials = await self.hass.async_add_executor_job(
                _open_upload, data, user_input.get(CONF_PASSWORD)
            )
        except _FormError as err:
            self._locked_upload = data if err.key == CredentialsProblem.WRONG_PASSWORD else None
            raise
        self._locked_upload = None
        return self._credentials

    async def _async_check(self, connection: _Connection) -> Identity:
        """Call get_identity; raise what goes wrong as a form error."""
        named = connection.credentials.info.account if connection.credentials else None
        if named is not None and named.casefold() != connection.account.casefold():
            # An enrollment certificate names its account in the CN. A server that does
            # not compare it (docs/settings-api.md §2.2: owner 0 may match any account)
            # would let it open another one. Owner certificates (a numeric CN) name none.
            raise _FormError(CONF_CERTIFICATE_UPLOAD, "certificate_for_other_account")
        try:
            return await _async_identity(self.hass, connection)
        except SipThorCredentialsError as err:
            # OpenSSL refused what cryptography accepted (load_cert_chain).
            raise _FormError(CONF_CERTIFICATE_UPLOAD, err.problem.value) from err
        except SipThorCertificateRequiredError as err:
            # The page behind client certificates: no password opens it.
            raise _FormError("base", "certificate_page") from err
        except SipThorAuthenticationError as err:
            if connection.password is not None:
                # A wrong password and an unknown user look alike: HTTP 401
                # (docs/settings-api.md §2.5).
                raise _FormError("base", "password_refused") from err
            raise _FormError("base", "invalid_auth") from err
        except SipThorServerCertificateError as err:
            raise _FormError("base", "server_certificate") from err
        except SipThorConnectionError as err:
            raise _FormError("base", "cannot_connect") from err
        except SipThorEmptyBodyError as err:
            # The page ran and printed nothing (docs/settings-api.md §4.5): the URL is right.
            raise _FormError("base", "server_error") from err
        except SipThorServerError as err:
            # Stock CDRTool on PHP 8 fails every request with HTTP 500 (docs/settings-api.md §2.2).
            if err.status is not None and err.status >= HTTPStatus.INTERNAL_SERVER_ERROR:
                raise _FormError("base", "server_error") from err
            raise _FormError("base", "not_settings_page") from err
        except SipThorError as err:
            raise _FormError("base", "not_settings_page") from err
        except Exception as err:
            LOGGER.exception("Unexpected error while checking the SIP Thor account")
            raise _FormError("base", "unknown") from err

    async def _async_store_certificate(self, account: str, credentials: ClientCredentials) -> str:
        file_name = certificate_file_name(account)
        await self.hass.async_add_executor_job(
            write_certificate, certificate_path(self.hass, file_name), credentials
        )
        return file_name

    async def async_step_user(self, user_input: dict[str, Any] | None = None) -> ConfigFlowResult:
        """Ask how the account signs in: with its SIP password or its client certificate."""
        return self.async_show_menu(step_id="user", menu_options=["password", "certificate"])

    async def async_step_password(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Ask for the SIP address and its password; the page under advanced settings."""
        errors: dict[str, str] = {}
        suggested: dict[str, Any] = {}
        advanced: dict[str, Any] = {}
        if user_input is not None:
            url, verify_ssl = _advanced_input(user_input)
            account = _tidy_account(user_input[CONF_ACCOUNT])
            suggested[CONF_ACCOUNT] = account
            advanced = {CONF_URL: _without_user_info(url), CONF_VERIFY_SSL: verify_ssl}
            try:
                _check_sip_address(account)
                connection = _Connection(
                    url=_settings_url(url, SECTION_ADVANCED),
                    account=account,
                    verify_ssl=verify_ssl,
                    password=user_input[CONF_PASSWORD],
                )
                identity = await self._async_check(connection)
            except _FormError as err:
                errors[err.field] = err.key
                suggested |= _suggested_password(user_input[CONF_PASSWORD], err.key)
            else:
                await self.async_set_unique_id(identity.sip_address)
                self._abort_if_unique_id_configured()
                return self.async_create_entry(
                    title=identity.sip_address,
                    data={
                        CONF_URL: connection.url,
                        CONF_ACCOUNT: identity.sip_address,
                        CONF_VERIFY_SSL: connection.verify_ssl,
                        CONF_PASSWORD: connection.password,
                    },
                    options=self._default_options(),
                )
        schema = vol.Schema(
            {
                vol.Required(CONF_ACCOUNT): TextSelector(),
                vol.Required(CONF_PASSWORD): _PASSWORD_SELECTOR,
                vol.Required(SECTION_ADVANCED): _advanced_section(),
            }
        )
        return self.async_show_form(
            step_id="password",
            data_schema=self.add_suggested_values_to_schema(
                schema, suggested | {SECTION_ADVANCED: advanced}
            ),
            errors=errors,
            description_placeholders=self._placeholders(),
        )

    async def async_step_certificate(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Ask for the settings page, the account and its certificate."""
        errors: dict[str, str] = {}
        suggested: dict[str, Any] = {CONF_URL: DEFAULT_URL, CONF_VERIFY_SSL: True}
        if user_input is not None:
            suggested |= {k: v for k, v in user_input.items() if k not in _NOT_SUGGESTED}
            suggested[CONF_URL] = _without_user_info(user_input[CONF_URL])
            try:
                credentials = await self._async_credentials(user_input)
                account = _tidy_account(user_input.get(CONF_ACCOUNT) or "")
                account = account or credentials.info.account or ""
                suggested[CONF_ACCOUNT] = account
                _check_account(account)
                connection = _Connection(
                    url=_settings_url(user_input[CONF_URL]),
                    account=account,
                    verify_ssl=user_input[CONF_VERIFY_SSL],
                    credentials=credentials,
                )
                identity = await self._async_check(connection)
            except _FormError as err:
                errors[err.field] = err.key
            else:
                await self.async_set_unique_id(identity.sip_address)
                self._abort_if_unique_id_configured()
                file_name = await self._async_store_certificate(identity.sip_address, credentials)
                return self.async_create_entry(
                    title=identity.sip_address,
                    data={
                        CONF_URL: connection.url,
                        CONF_ACCOUNT: identity.sip_address,
                        CONF_VERIFY_SSL: connection.verify_ssl,
                        CONF_CERTIFICATE_FILE: file_name,
                    },
                    options=self._default_options(),
                )

        schema = vol.Schema(
            {
                vol.Required(CONF_URL): _URL_SELECTOR,
                vol.Optional(CONF_ACCOUNT): TextSelector(),
                vol.Optional(CONF_CERTIFICATE_UPLOAD): _CERTIFICATE_SELECTOR,
                vol.Optional(CONF_PASSWORD): _PASSWORD_SELECTOR,
                vol.Required(CONF_VERIFY_SSL): BooleanSelector(),
            }
        )
        return self.async_show_form(
            step_id="certificate",
            data_schema=self.add_suggested_values_to_schema(schema, suggested),
            errors=errors,
            description_placeholders=self._placeholders(),
        )

    async def async_step_reauth(self, entry_data: Mapping[str, Any]) -> ConfigFlowResult:
        """The server refused the password or the certificate, or the certificate expired."""
        if signs_in_with_password(entry_data):
            return await self.async_step_reauth_password()
        return await self.async_step_reauth_confirm()

    async def async_step_reauth_password(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Ask for the account's SIP password again."""
        entry = self._get_reauth_entry()
        errors: dict[str, str] = {}
        suggested: dict[str, Any] = {}
        if user_input is not None:
            try:
                return await self._async_update_entry(
                    entry.data[CONF_URL],
                    entry.data[CONF_VERIFY_SSL],
                    password=user_input[CONF_PASSWORD],
                )
            except _FormError as err:
                errors[err.field] = err.key
                suggested = _suggested_password(user_input[CONF_PASSWORD], err.key)
        schema = vol.Schema({vol.Required(CONF_PASSWORD): _PASSWORD_SELECTOR})
        return self.async_show_form(
            step_id="reauth_password",
            data_schema=self.add_suggested_values_to_schema(schema, suggested),
            errors=errors,
            description_placeholders={"account": entry.title},
        )

    async def async_step_reauth_confirm(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Ask for a new certificate for the same account."""
        entry = self._get_reauth_entry()
        errors: dict[str, str] = {}
        if user_input is not None:
            try:
                credentials = await self._async_credentials(user_input)
                return await self._async_update_entry(
                    entry.data[CONF_URL], entry.data[CONF_VERIFY_SSL], credentials=credentials
                )
            except _FormError as err:
                errors[err.field] = err.key
        return self.async_show_form(
            step_id="reauth_confirm",
            data_schema=vol.Schema(
                {
                    vol.Optional(CONF_CERTIFICATE_UPLOAD): _CERTIFICATE_SELECTOR,
                    vol.Optional(CONF_PASSWORD): _PASSWORD_SELECTOR,
                }
            ),
            errors=errors,
            description_placeholders={"account": entry.title, **self._placeholders()},
        )

    async def async_step_reconfigure(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Ask how the account signs in from now on; either way may change the page."""
        return self.async_show_menu(
            step_id="reconfigure",
            menu_options=["reconfigure_password", "reconfigure_certificate"],
            description_placeholders={"account": self._get_reconfigure_entry().title},
        )

    async def async_step_reconfigure_password(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Sign in with the SIP password: a new one, or the stored one on another page."""
        entry = self._get_reconfigure_entry()
        has_password = signs_in_with_password(entry.data)
        errors: dict[str, str] = {}
        advanced: dict[str, Any] = {
            # Switching from the certificate: the Digest page, not the certificate one.
            CONF_URL: entry.data[CONF_URL] if has_password else DIGEST_URL,
            CONF_VERIFY_SSL: entry.data[CONF_VERIFY_SSL],
        }
        suggested: dict[str, Any] = {}
        if user_input is not None:
            url, verify_ssl = _advanced_input(user_input)
            advanced = {CONF_URL: _without_user_info(url), CONF_VERIFY_SSL: verify_ssl}
            try:
                password = _new_or_stored_password(
                    user_input.get(CONF_PASSWORD), entry.data.get(CONF_PASSWORD)
                )
                return await self._async_update_entry(
                    _settings_url(url, SECTION_ADVANCED), verify_ssl, password=password
                )
            except _FormError as err:
                errors[err.field] = err.key
                suggested = _suggested_password(user_input.get(CONF_PASSWORD), err.key)
        schema = vol.Schema(
            {
                vol.Optional(CONF_PASSWORD): _PASSWORD_SELECTOR,
                vol.Required(SECTION_ADVANCED): _advanced_section(),
            }
        )
        return self.async_show_form(
            step_id="reconfigure_password",
            data_schema=self.add_suggested_values_to_schema(
                schema, suggested | {SECTION_ADVANCED: advanced}
            ),
            errors=errors,
            description_placeholders={"account": entry.title, **self._placeholders()},
        )

    async def async_step_reconfigure_certificate(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Change the settings page URL, the certificate or server verification."""
        entry = self._get_reconfigure_entry()
        has_certificate = not signs_in_with_password(entry.data)
        errors: dict[str, str] = {}
        suggested: dict[str, Any] = {
            # Switching from the password: the certificate page, not the Digest one.
            CONF_URL: entry.data[CONF_URL] if has_certificate else DEFAULT_URL,
            CONF_VERIFY_SSL: entry.data[CONF_VERIFY_SSL],
        }
        if user_input is not None:
            suggested |= {k: v for k, v in user_input.items() if k not in _NOT_SUGGESTED}
            suggested[CONF_URL] = _without_user_info(user_input[CONF_URL])
            try:
                if user_input.get(CONF_CERTIFICATE_UPLOAD) or not has_certificate:
                    credentials = await self._async_credentials(user_input)
                else:
                    credentials = self._credentials or await self._async_stored_credentials(
                        entry.data[CONF_CERTIFICATE_FILE]
                    )
                return await self._async_update_entry(
                    _settings_url(user_input[CONF_URL]),
                    user_input[CONF_VERIFY_SSL],
                    credentials=credentials,
                )
            except _FormError as err:
                errors[err.field] = err.key
        schema = vol.Schema(
            {
                vol.Required(CONF_URL): _URL_SELECTOR,
                vol.Optional(CONF_CERTIFICATE_UPLOAD): _CERTIFICATE_SELECTOR,
                vol.Optional(CONF_PASSWORD): _PASSWORD_SELECTOR,
                vol.Required(CONF_VERIFY_SSL): BooleanSelector(),
            }
        )
        return self.async_show_form(
            step_id="reconfigure_certificate",
            data_schema=self.add_suggested_values_to_schema(schema, suggested),
            errors=errors,
            description_placeholders={"account": entry.title, **self._placeholders()},
        )

    async def _async_stored_credentials(self, file_name: str) -> ClientCredentials:
        """The entry's current certificate, when the user keeps it."""
        path = certificate_path(self.hass, file_name)
        try:
            return await self.hass.async_add_executor_job(read_certificate, path)
        except OSError as err:
            raise _FormError(CONF_CERTIFICATE_UPLOAD, "certificate_required") from err
        except SipThorCredentialsError as err:
            # Expired or damaged: upload a new one (the error says which).
            raise _FormError(CONF_CERTIFICATE_UPLOAD, err.problem.value) from err

    async def _async_update_entry(
        self,
        url: str,
        verify_ssl: bool,
        *,
        credentials: ClientCredentials | None = None,
        password: str | None = None,
    ) -> ConfigFlowResult:
        """Check the new sign-in against the same account, then store it and reload.

        Shared by reauthentication and reconfiguration, which differ only in what the
        user may change. The entry keeps one way to sign in: the other's password or
        certificate file is removed.
        """
        entry = (
            self._get_reauth_entry()
            if self.source == SOURCE_REAUTH
            else self._get_reconfigure_entry()
        )
        connection = _Connection(
            url, entry.data[CONF_ACCOUNT], verify_ssl, credentials=credentials, password=password
        )
        try:
            identity = await self._async_check(connection)
        except _FormError as err:
            if self.source == SOURCE_RECONFIGURE and err.key in _REFUSED_CERTIFICATE:
                # The account is fixed, so this certificate will never do: an empty field
                # next time means the one in use again, as the form says.
                self._credentials = None
            raise
        await self.async_set_unique_id(identity.sip_address)
        self._abort_if_unique_id_mismatch(reason="wrong_account")
        data = {
            key: value
            for key, value in entry.data.items()
            if key not in (CONF_PASSWORD, CONF_CERTIFICATE_FILE)
        } | {CONF_URL: url, CONF_VERIFY_SSL: verify_ssl}
        old_file = entry.data.get(CONF_CERTIFICATE_FILE)
        if credentials is None:
            data[CONF_PASSWORD] = password
        else:
            data[CONF_CERTIFICATE_FILE] = await self._async_store_certificate(
                identity.sip_address, credentials
            )
        result = self.async_update_reload_and_abort(entry, data=data)
        if old_file is not None and old_file != data.get(CONF_CERTIFICATE_FILE):
            # Signing in with the password now: the key is of no use, and is secret.
            await self.hass.async_add_executor_job(
                remove_certificate, certificate_path(self.hass, old_file)
            )
        return result

    def _default_options(self) -> dict[str, Any]:
        """A new entry's options: the balance in Home Assistant's own currency.

        The API states no currency. Neither way of adding an account asks for it: the
        household's currency is the likely one, and the options change it.
        """
        return {CONF_CURRENCY: self.hass.config.currency}

    @staticmethod
    def _placeholders() -> dict[str, str]:
        return {"default_url": DEFAULT_URL, "digest_url": DIGEST_URL}


class SipThorOptionsFlow(_OptionsFlow):
    """Polling intervals, the currency of the balance, the zone of call times."""

    async def async_step_init(self, user_input: dict[str, Any] | None = None) -> ConfigFlowResult:
        """Show and save the options."""
        if user_input is not None:
            return self.async_create_entry(
                data={
                    CONF_SCAN_INTERVAL: int(user_input[CONF_SCAN_INTERVAL]),
                    CONF_SLOW_SCAN_INTERVAL: int(user_input[CONF_SLOW_SCAN_INTERVAL]),
                    CONF_CURRENCY: user_input[CONF_CURRENCY],
                    CONF_HISTORY_TIMEZONE: user_input[CONF_HISTORY_TIMEZONE],
                }
            )
        options = self.config_entry.options
        schema = vol.Schema(
            {
                vol.Required(
                    CONF_SCAN_INTERVAL,
                    default=options.get(CONF_SCAN_INTERVAL, DEFAULT_SCAN_INTERVAL),
                ): NumberSelector(
                    NumberSelectorConfig(
                        min=MIN_SCAN_INTERVAL,
                        max=MAX_SCAN_INTERVAL,
                        step=1,
                        unit_of_measurement="s",
                        mode=NumberSelectorMode.BOX,
                    )
                ),
                vol.Required(
                    CONF_SLOW_SCAN_INTERVAL,
                    default=options.get(CONF_SLOW_SCAN_INTERVAL, DEFAULT_SLOW_SCAN_INTERVAL),
                ): NumberSelector(
                    NumberSelectorConfig(
                        min=MIN_SLOW_SCAN_INTERVAL,
                        max=MAX_SLOW_SCAN_INTERVAL,
                        step=1,
                        unit_of_measurement="min",
                        mode=NumberSelectorMode.BOX,
                    )
                ),
                vol.Required(
                    CONF_CURRENCY, default=options.get(CONF_CURRENCY, DEFAULT_CURRENCY)
                ): _CURRENCY_SELECTOR,
                vol.Required(
                    CONF_HISTORY_TIMEZONE,
                    default=options.get(CONF_HISTORY_TIMEZONE, HISTORY_TIMEZONE_ACCOUNT),
                ): SelectSelector(
                    SelectSelectorConfig(
                        options=[HISTORY_TIMEZONE_ACCOUNT, HISTORY_TIMEZONE_UTC],
                        translation_key=CONF_HISTORY_TIMEZONE,
                    )
                ),
            }
        )
        return self.async_show_form(step_id="init", data_schema=schema)
