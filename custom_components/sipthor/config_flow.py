"""Config, reauthentication, reconfiguration and options flows for SIP Thor."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import partial
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
from homeassistant.core import HomeAssistant, callback
from homeassistant.generated.currencies import ACTIVE_CURRENCIES
from homeassistant.helpers.aiohttp_client import async_get_clientsession
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

from .api import (
    DEFAULT_URL,
    ClientCredentials,
    CredentialsProblem,
    Identity,
    SipThorAuthenticationError,
    SipThorClient,
    SipThorConnectionError,
    SipThorCredentialsError,
    SipThorError,
    SipThorServerCertificateError,
    SipThorServerError,
    create_ssl_context,
    load_credentials,
)
from .certificate import (
    certificate_file_name,
    certificate_path,
    read_certificate,
    write_certificate,
)
from .const import (
    CONF_ACCOUNT,
    CONF_CERTIFICATE_FILE,
    CONF_CERTIFICATE_UPLOAD,
    CONF_CURRENCY,
    CONF_HISTORY_TIMEZONE,
    CONF_PASSWORD,
    CONF_SCAN_INTERVAL,
    CONF_SLOW_SCAN_INTERVAL,
    CONF_URL,
    CONF_VERIFY_SSL,
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

if TYPE_CHECKING:
    _OptionsFlow = OptionsFlow
else:
    try:  # Home Assistant 2025.8 and newer reload the entry after the options flow.
        from homeassistant.config_entries import OptionsFlowWithReload as _OptionsFlow
    except ImportError:
        _OptionsFlow = OptionsFlow
# Before 2025.8 an update listener reloads the entry when the options change.
OPTIONS_NEED_UPDATE_LISTENER: bool = _OptionsFlow is OptionsFlow

# A certificate with its key is a few kilobytes; anything much larger is another file.
MAX_UPLOAD_BYTES = 64 * 1024
# A form should not keep the user waiting as long as a poll may (30 s, spec §7).
FLOW_TIMEOUT = 15.0
# Never put back into a re-shown form.
_NOT_SUGGESTED = frozenset({CONF_CERTIFICATE_UPLOAD, CONF_PASSWORD})

_CERTIFICATE_SELECTOR = FileSelector(FileSelectorConfig(accept=".crt,.pem,.p12,.pfx"))
_PASSWORD_SELECTOR = TextSelector(TextSelectorConfig(type=TextSelectorType.PASSWORD))
_URL_SELECTOR = TextSelector(TextSelectorConfig(type=TextSelectorType.URL))
_CURRENCY_SELECTOR = SelectSelector(
    SelectSelectorConfig(options=sorted(ACTIVE_CURRENCIES), mode=SelectSelectorMode.DROPDOWN)
)


class _UploadError(Exception):
    """An uploaded file could not be used; ``field`` and ``key`` name the form error."""

    def __init__(self, field: str, key: str) -> None:
        super().__init__(key)
        self.field = field
        self.key = key


@dataclass(frozen=True, slots=True)
class _Connection:
    """What a flow checks before anything is stored."""

    url: str
    account: str
    verify_ssl: bool
    credentials: ClientCredentials


def _read_upload(hass: HomeAssistant, file_id: str, password: str | None) -> ClientCredentials:
    """Read and check an uploaded certificate (blocking: runs in the executor)."""
    try:
        with process_uploaded_file(hass, file_id) as path:
            if path.stat().st_size > MAX_UPLOAD_BYTES:
                raise _UploadError(CONF_CERTIFICATE_UPLOAD, CredentialsProblem.INVALID_CERTIFICATE)
            data = path.read_bytes()
    except ValueError as err:
        # process_uploaded_file: the upload is gone (expired or already used).
        raise _UploadError(CONF_CERTIFICATE_UPLOAD, "certificate_required") from err
    try:
        return load_credentials(data, password or None)
    except SipThorCredentialsError as err:
        field = (
            CONF_PASSWORD
            if err.problem is CredentialsProblem.WRONG_PASSWORD
            else CONF_CERTIFICATE_UPLOAD
        )
        raise _UploadError(field, err.problem.value) from err


async def _async_identity(hass: HomeAssistant, connection: _Connection) -> Identity:
    """Ask the server who the account is: the proof that everything works."""
    ssl_context = await hass.async_add_executor_job(
        partial(create_ssl_context, connection.credentials, verify_server=connection.verify_ssl)
    )
    client = SipThorClient(
        connection.account,
        ssl_context,
        url=connection.url,
        session=async_get_clientsession(hass),
        request_timeout=FLOW_TIMEOUT,
    )
    return await client.get_identity()


class SipThorConfigFlow(ConfigFlow, domain=DOMAIN):
    """Add a SIP Thor account with its client certificate."""

    VERSION = 1

    def __init__(self) -> None:
        """Nothing uploaded yet."""
        # Kept between attempts, so that fixing a typo in the URL or the account does
        # not mean uploading the certificate again.
        self._credentials: ClientCredentials | None = None

    @staticmethod
    @callback
    def async_get_options_flow(config_entry: Any) -> SipThorOptionsFlow:
        """The options: polling intervals, currency, time zone of the call list."""
        return SipThorOptionsFlow()

    async def _async_credentials(
        self, user_input: dict[str, Any], errors: dict[str, str]
    ) -> ClientCredentials | None:
        """The uploaded credential, or the one kept from an earlier attempt."""
        file_id = user_input.get(CONF_CERTIFICATE_UPLOAD)
        if not file_id:
            if self._credentials is None:
                errors[CONF_CERTIFICATE_UPLOAD] = "certificate_required"
            return self._credentials
        try:
            self._credentials = await self.hass.async_add_executor_job(
                _read_upload, self.hass, file_id, user_input.get(CONF_PASSWORD)
            )
        except _UploadError as err:
            self._credentials = None
            errors[err.field] = err.key
        return self._credentials

    async def _async_check(
        self, connection: _Connection, errors: dict[str, str]
    ) -> Identity | None:
        """Call get_identity; map what goes wrong to a form error."""
        if not connection.url.lower().startswith("https://"):
            # A client certificate only means something over TLS.
            errors[CONF_URL] = "invalid_url"
            return None
        try:
            return await _async_identity(self.hass, connection)
        except SipThorCredentialsError as err:
            # OpenSSL refused what cryptography accepted (load_cert_chain).
            errors[CONF_CERTIFICATE_UPLOAD] = err.problem.value
        except SipThorAuthenticationError:
            errors["base"] = "invalid_auth"
        except SipThorServerCertificateError:
            errors["base"] = "server_certificate"
        except SipThorConnectionError:
            errors["base"] = "cannot_connect"
        except SipThorServerError as err:
            # Stock CDRTool on PHP 8 fails every request with HTTP 500 (spec §2.2).
            errors["base"] = (
                "server_error"
                if err.status and err.status >= HTTPStatus.INTERNAL_SERVER_ERROR
                else "not_settings_page"
            )
        except SipThorError:
            errors["base"] = "not_settings_page"
        except Exception:  # noqa: BLE001 - whatever it is, the user sees "unknown"
            LOGGER.exception("Unexpected error while checking the SIP Thor account")
            errors["base"] = "unknown"
        return None

    async def _async_store_certificate(self, account: str, credentials: ClientCredentials) -> str:
        file_name = certificate_file_name(account)
        await self.hass.async_add_executor_job(
            write_certificate, certificate_path(self.hass, file_name), credentials
        )
        return file_name

    async def async_step_user(self, user_input: dict[str, Any] | None = None) -> ConfigFlowResult:
        """Ask for the settings page, the account and its certificate."""
        errors: dict[str, str] = {}
        suggested: dict[str, Any] = {
            CONF_URL: DEFAULT_URL,
            CONF_VERIFY_SSL: True,
            CONF_CURRENCY: DEFAULT_CURRENCY,
        }
        if user_input is not None:
            suggested |= {k: v for k, v in user_input.items() if k not in _NOT_SUGGESTED}
            credentials = await self._async_credentials(user_input, errors)
            account = (user_input.get(CONF_ACCOUNT) or "").strip()
            if credentials is not None:
                account = account or credentials.info.account or ""
                suggested[CONF_ACCOUNT] = account
                if not _is_account(account):
                    errors[CONF_ACCOUNT] = "invalid_account"
            if credentials is not None and not errors:
                connection = _Connection(
                    url=user_input[CONF_URL].strip(),
                    account=account,
                    verify_ssl=user_input[CONF_VERIFY_SSL],
                    credentials=credentials,
                )
                identity = await self._async_check(connection, errors)
                if identity is not None:
                    await self.async_set_unique_id(identity.sip_address)
                    self._abort_if_unique_id_configured()
                    file_name = await self._async_store_certificate(
                        identity.sip_address, credentials
                    )
                    return self.async_create_entry(
                        title=identity.sip_address,
                        data={
                            CONF_URL: connection.url,
                            CONF_ACCOUNT: identity.sip_address,
                            CONF_VERIFY_SSL: connection.verify_ssl,
                            CONF_CERTIFICATE_FILE: file_name,
                        },
                        options={CONF_CURRENCY: user_input[CONF_CURRENCY]},
                    )

        schema = vol.Schema(
            {
                vol.Required(CONF_URL): _URL_SELECTOR,
                vol.Optional(CONF_ACCOUNT): TextSelector(),
                vol.Optional(CONF_CERTIFICATE_UPLOAD): _CERTIFICATE_SELECTOR,
                vol.Optional(CONF_PASSWORD): _PASSWORD_SELECTOR,
                vol.Required(CONF_VERIFY_SSL): BooleanSelector(),
                vol.Required(CONF_CURRENCY): _CURRENCY_SELECTOR,
            }
        )
        return self.async_show_form(
            step_id="user",
            data_schema=self.add_suggested_values_to_schema(schema, suggested),
            errors=errors,
            description_placeholders=self._placeholders(),
        )

    async def async_step_reauth(self, entry_data: Mapping[str, Any]) -> ConfigFlowResult:
        """The server refused the certificate, or it expired."""
        return await self.async_step_reauth_confirm()

    async def async_step_reauth_confirm(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Ask for a new certificate for the same account."""
        entry = self._get_reauth_entry()
        errors: dict[str, str] = {}
        if user_input is not None:
            credentials = await self._async_credentials(user_input, errors)
            if credentials is not None and not errors:
                result = await self._async_update_entry(
                    entry.data[CONF_URL], entry.data[CONF_VERIFY_SSL], credentials, errors
                )
                if result is not None:
                    return result
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
        """Change the settings page URL, the certificate or server verification."""
        entry = self._get_reconfigure_entry()
        errors: dict[str, str] = {}
        suggested: dict[str, Any] = {
            CONF_URL: entry.data[CONF_URL],
            CONF_VERIFY_SSL: entry.data[CONF_VERIFY_SSL],
        }
        if user_input is not None:
            suggested |= {k: v for k, v in user_input.items() if k not in _NOT_SUGGESTED}
            credentials: ClientCredentials | None
            if user_input.get(CONF_CERTIFICATE_UPLOAD):
                credentials = await self._async_credentials(user_input, errors)
            else:
                credentials = self._credentials or await self._async_stored_credentials(
                    entry.data[CONF_CERTIFICATE_FILE], errors
                )
            if credentials is not None and not errors:
                result = await self._async_update_entry(
                    user_input[CONF_URL].strip(),
                    user_input[CONF_VERIFY_SSL],
                    credentials,
                    errors,
                )
                if result is not None:
                    return result
        schema = vol.Schema(
            {
                vol.Required(CONF_URL): _URL_SELECTOR,
                vol.Optional(CONF_CERTIFICATE_UPLOAD): _CERTIFICATE_SELECTOR,
                vol.Optional(CONF_PASSWORD): _PASSWORD_SELECTOR,
                vol.Required(CONF_VERIFY_SSL): BooleanSelector(),
            }
        )
        return self.async_show_form(
            step_id="reconfigure",
            data_schema=self.add_suggested_values_to_schema(schema, suggested),
            errors=errors,
            description_placeholders={"account": entry.title, **self._placeholders()},
        )

    async def _async_stored_credentials(
        self, file_name: str, errors: dict[str, str]
    ) -> ClientCredentials | None:
        """The entry's current certificate, when the user keeps it."""
        path = certificate_path(self.hass, file_name)
        try:
            return await self.hass.async_add_executor_job(read_certificate, path)
        except OSError:
            errors[CONF_CERTIFICATE_UPLOAD] = "certificate_required"
            return None
        except SipThorCredentialsError as err:
            # Expired or damaged: upload a new one (the error says which).
            errors[CONF_CERTIFICATE_UPLOAD] = err.problem.value
            return None

    async def _async_update_entry(
        self,
        url: str,
        verify_ssl: bool,
        credentials: ClientCredentials,
        errors: dict[str, str],
    ) -> ConfigFlowResult | None:
        """Check the new settings against the same account, then store and reload."""
        entry = (
            self._get_reauth_entry()
            if self.source == SOURCE_REAUTH
            else self._get_reconfigure_entry()
        )
        connection = _Connection(url, entry.data[CONF_ACCOUNT], verify_ssl, credentials)
        identity = await self._async_check(connection, errors)
        if identity is None:
            if self.source == SOURCE_RECONFIGURE and errors.get("base") == "invalid_auth":
                # The account is fixed, so the server refused this certificate: an empty
                # field next time means the one in use again, as the form says.
                self._credentials = None
            return None
        await self.async_set_unique_id(identity.sip_address)
        self._abort_if_unique_id_mismatch(reason="wrong_account")
        await self._async_store_certificate(identity.sip_address, credentials)
        return self.async_update_reload_and_abort(
            entry,
            data_updates={
                CONF_URL: url,
                CONF_VERIFY_SSL: verify_ssl,
                CONF_CERTIFICATE_FILE: certificate_file_name(identity.sip_address),
            },
        )

    @staticmethod
    def _placeholders() -> dict[str, str]:
        return {"default_url": DEFAULT_URL}


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


def _is_account(account: str) -> bool:
    user, at, domain = account.partition("@")
    return bool(at and user and domain) and not any(char.isspace() for char in account)
