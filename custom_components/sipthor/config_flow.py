"""Config, reauthentication and reconfiguration flows for SIP Thor (options: options_flow.py)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from homeassistant.config_entries import (
    SOURCE_REAUTH,
    SOURCE_RECONFIGURE,
    ConfigFlow,
    ConfigFlowResult,
)
from homeassistant.const import CONF_CURRENCY, CONF_PASSWORD, CONF_URL, CONF_VERIFY_SSL
from homeassistant.core import callback
from homeassistant.helpers.selector import BooleanSelector, TextSelector
import voluptuous as vol

from .api import (
    DEFAULT_URL,
    DIGEST_URL,
    ClientCredentials,
    CredentialsProblem,
    SipThorCredentialsError,
)
from .certificate import (
    certificate_file_name,
    certificate_path,
    read_certificate,
    remove_certificate,
    write_certificate,
)
from .client_factory import signs_in_with_password
from .const import (
    CONF_ACCOUNT,
    CONF_CERTIFICATE_FILE,
    CONF_CERTIFICATE_UPLOAD,
    CONF_KEEP_PASSWORD,
    CONF_SIP_PASSWORD,
    DOMAIN,
)
from .flow_helpers import (
    CERTIFICATE_SELECTOR,
    NOT_SUGGESTED,
    PASSWORD_SELECTOR,
    REFUSED_CERTIFICATE,
    SECTION_ADVANCED,
    URL_SELECTOR,
    Connection,
    FormError,
    advanced_input,
    advanced_section,
    async_check_connection,
    check_account,
    check_sip_address,
    kept_password,
    new_or_stored_password,
    open_upload,
    read_upload,
    settings_url,
    suggested_password,
    tidy_account,
    url_placeholders,
    without_user_info,
)
from .live import live_password
from .options_flow import SipThorOptionsFlow
from .sources import SipThorConfigEntry


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
        # The password that opened the kept credentials (a .p12's is the SIP password),
        # offered to the live events when the user ticks the box.
        self._opened_with: str | None = None

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
            data = await self.hass.async_add_executor_job(read_upload, self.hass, file_id)
        elif self._locked_upload is not None:
            data = self._locked_upload
        elif self._credentials is not None:
            return self._credentials
        else:
            raise FormError(CONF_CERTIFICATE_UPLOAD, "certificate_required")
        try:
            self._credentials = await self.hass.async_add_executor_job(
                open_upload, data, user_input.get(CONF_PASSWORD)
            )
        except FormError as err:
            self._locked_upload = data if err.key == CredentialsProblem.WRONG_PASSWORD else None
            raise
        self._locked_upload = None
        self._opened_with = user_input.get(CONF_PASSWORD) or None
        return self._credentials

    def _kept_password(self, user_input: dict[str, Any], kept: str | None) -> dict[str, str]:
        """The SIP password to keep for live events, if the box is ticked."""
        return kept_password(user_input, kept, user_input.get(CONF_PASSWORD) or self._opened_with)

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
            url, verify_ssl = advanced_input(user_input)
            account = tidy_account(user_input[CONF_ACCOUNT])
            suggested[CONF_ACCOUNT] = account
            advanced = {CONF_URL: without_user_info(url), CONF_VERIFY_SSL: verify_ssl}
            try:
                check_sip_address(account)
                connection = Connection(
                    url=settings_url(url, SECTION_ADVANCED),
                    account=account,
                    verify_ssl=verify_ssl,
                    password=user_input[CONF_PASSWORD],
                )
                identity = await async_check_connection(self.hass, connection)
            except FormError as err:
                errors[err.field] = err.key
                suggested |= suggested_password(user_input[CONF_PASSWORD], err.key)
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
                vol.Required(CONF_PASSWORD): PASSWORD_SELECTOR,
                vol.Required(SECTION_ADVANCED): advanced_section(),
            }
        )
        return self.async_show_form(
            step_id="password",
            data_schema=self.add_suggested_values_to_schema(
                schema, suggested | {SECTION_ADVANCED: advanced}
            ),
            errors=errors,
            description_placeholders=url_placeholders(),
        )

    async def async_step_certificate(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Ask for the settings page, the account and its certificate."""
        errors: dict[str, str] = {}
        suggested: dict[str, Any] = {CONF_URL: DEFAULT_URL, CONF_VERIFY_SSL: True}
        if user_input is not None:
            suggested |= {k: v for k, v in user_input.items() if k not in NOT_SUGGESTED}
            suggested[CONF_URL] = without_user_info(user_input[CONF_URL])
            try:
                credentials = await self._async_credentials(user_input)
                account = tidy_account(user_input.get(CONF_ACCOUNT) or "")
                account = account or credentials.info.account or ""
                suggested[CONF_ACCOUNT] = account
                check_account(account)
                keep = self._kept_password(user_input, None)
                connection = Connection(
                    url=settings_url(user_input[CONF_URL]),
                    account=account,
                    verify_ssl=user_input[CONF_VERIFY_SSL],
                    credentials=credentials,
                )
                identity = await async_check_connection(self.hass, connection)
            except FormError as err:
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
                        **keep,
                    },
                    options=self._default_options(),
                )

        schema = vol.Schema(
            {
                vol.Required(CONF_URL): URL_SELECTOR,
                vol.Optional(CONF_ACCOUNT): TextSelector(),
                vol.Optional(CONF_CERTIFICATE_UPLOAD): CERTIFICATE_SELECTOR,
                vol.Optional(CONF_PASSWORD): PASSWORD_SELECTOR,
                vol.Optional(CONF_KEEP_PASSWORD, default=False): BooleanSelector(),
                vol.Required(CONF_VERIFY_SSL): BooleanSelector(),
            }
        )
        return self.async_show_form(
            step_id="certificate",
            data_schema=self.add_suggested_values_to_schema(schema, suggested),
            errors=errors,
            description_placeholders=url_placeholders(),
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
            except FormError as err:
                errors[err.field] = err.key
                suggested = suggested_password(user_input[CONF_PASSWORD], err.key)
        schema = vol.Schema({vol.Required(CONF_PASSWORD): PASSWORD_SELECTOR})
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
                    entry.data[CONF_URL],
                    entry.data[CONF_VERIFY_SSL],
                    credentials=credentials,
                    keep=self._kept_password(user_input, live_password(entry.data)),
                )
            except FormError as err:
                errors[err.field] = err.key
        return self.async_show_form(
            step_id="reauth_confirm",
            data_schema=vol.Schema(
                {
                    vol.Optional(CONF_CERTIFICATE_UPLOAD): CERTIFICATE_SELECTOR,
                    vol.Optional(CONF_PASSWORD): PASSWORD_SELECTOR,
                    vol.Optional(
                        CONF_KEEP_PASSWORD, default=CONF_SIP_PASSWORD in entry.data
                    ): BooleanSelector(),
                }
            ),
            errors=errors,
            description_placeholders={"account": entry.title, **url_placeholders()},
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
            url, verify_ssl = advanced_input(user_input)
            advanced = {CONF_URL: without_user_info(url), CONF_VERIFY_SSL: verify_ssl}
            try:
                password = new_or_stored_password(
                    user_input.get(CONF_PASSWORD), entry.data.get(CONF_PASSWORD)
                )
                return await self._async_update_entry(
                    settings_url(url, SECTION_ADVANCED), verify_ssl, password=password
                )
            except FormError as err:
                errors[err.field] = err.key
                suggested = suggested_password(user_input.get(CONF_PASSWORD), err.key)
        schema = vol.Schema(
            {
                vol.Optional(CONF_PASSWORD): PASSWORD_SELECTOR,
                vol.Required(SECTION_ADVANCED): advanced_section(),
            }
        )
        return self.async_show_form(
            step_id="reconfigure_password",
            data_schema=self.add_suggested_values_to_schema(
                schema, suggested | {SECTION_ADVANCED: advanced}
            ),
            errors=errors,
            description_placeholders={"account": entry.title, **url_placeholders()},
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
            CONF_KEEP_PASSWORD: CONF_SIP_PASSWORD in entry.data,
        }
        if user_input is not None:
            suggested |= {k: v for k, v in user_input.items() if k not in NOT_SUGGESTED}
            suggested[CONF_URL] = without_user_info(user_input[CONF_URL])
            try:
                if user_input.get(CONF_CERTIFICATE_UPLOAD) or not has_certificate:
                    credentials = await self._async_credentials(user_input)
                else:
                    credentials = self._credentials or await self._async_stored_credentials(
                        entry.data[CONF_CERTIFICATE_FILE]
                    )
                return await self._async_update_entry(
                    settings_url(user_input[CONF_URL]),
                    user_input[CONF_VERIFY_SSL],
                    credentials=credentials,
                    keep=self._kept_password(user_input, live_password(entry.data)),
                )
            except FormError as err:
                errors[err.field] = err.key
        schema = vol.Schema(
            {
                vol.Required(CONF_URL): URL_SELECTOR,
                vol.Optional(CONF_CERTIFICATE_UPLOAD): CERTIFICATE_SELECTOR,
                vol.Optional(CONF_PASSWORD): PASSWORD_SELECTOR,
                vol.Optional(CONF_KEEP_PASSWORD): BooleanSelector(),
                vol.Required(CONF_VERIFY_SSL): BooleanSelector(),
            }
        )
        return self.async_show_form(
            step_id="reconfigure_certificate",
            data_schema=self.add_suggested_values_to_schema(schema, suggested),
            errors=errors,
            description_placeholders={"account": entry.title, **url_placeholders()},
        )

    async def _async_stored_credentials(self, file_name: str) -> ClientCredentials:
        """The entry's current certificate, when the user keeps it."""
        path = certificate_path(self.hass, file_name)
        try:
            return await self.hass.async_add_executor_job(read_certificate, path)
        except OSError as err:
            raise FormError(CONF_CERTIFICATE_UPLOAD, "certificate_required") from err
        except SipThorCredentialsError as err:
            # Expired or damaged: upload a new one (the error says which).
            raise FormError(CONF_CERTIFICATE_UPLOAD, err.problem.value) from err

    async def _async_update_entry(
        self,
        url: str,
        verify_ssl: bool,
        *,
        credentials: ClientCredentials | None = None,
        password: str | None = None,
        keep: dict[str, str] | None = None,
    ) -> ConfigFlowResult:
        """Check the new sign-in against the same account, then store it and reload.

        Shared by reauthentication and reconfiguration, which differ only in what the
        user may change. The entry keeps one way to sign in: the other's password or
        certificate file is removed. A certificate account keeps its SIP password for
        the live events (``keep``) only while the user says so.
        """
        entry = (
            self._get_reauth_entry()
            if self.source == SOURCE_REAUTH
            else self._get_reconfigure_entry()
        )
        connection = Connection(
            url, entry.data[CONF_ACCOUNT], verify_ssl, credentials=credentials, password=password
        )
        try:
            identity = await async_check_connection(self.hass, connection)
        except FormError as err:
            if self.source == SOURCE_RECONFIGURE and err.key in REFUSED_CERTIFICATE:
                # The account is fixed, so this certificate will never do: an empty field
                # next time means the one in use again, as the form says.
                self._credentials = None
            raise
        await self.async_set_unique_id(identity.sip_address)
        self._abort_if_unique_id_mismatch(reason="wrong_account")
        data = {
            key: value
            for key, value in entry.data.items()
            if key not in (CONF_PASSWORD, CONF_CERTIFICATE_FILE, CONF_SIP_PASSWORD)
        } | {CONF_URL: url, CONF_VERIFY_SSL: verify_ssl}
        old_file = entry.data.get(CONF_CERTIFICATE_FILE)
        if credentials is None:
            data[CONF_PASSWORD] = password
        else:
            data[CONF_CERTIFICATE_FILE] = await self._async_store_certificate(
                identity.sip_address, credentials
            )
            data |= keep or {}
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
