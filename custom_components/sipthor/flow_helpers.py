"""What the config flows check and show: input checks, the sign-in check, the forms.

The flows (config_flow.py) decide the steps; everything here is a function of what the
user typed or uploaded, or a form's schema, so that adding, reauthenticating and
reconfiguring an account check and show the same things the same way.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any

from homeassistant.components.file_upload import process_uploaded_file
from homeassistant.const import (
    CONF_CURRENCY,
    CONF_PASSWORD,
    CONF_SCAN_INTERVAL,
    CONF_URL,
    CONF_VERIFY_SSL,
)
from homeassistant.core import HomeAssistant
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
from .api.sip import ManualServer, SipServerAddressError, SipVoicemailAddressError, voicemail_uri
from .client_factory import async_create_client, signs_in_with_password
from .const import (
    CONF_ACCOUNT,
    CONF_CERTIFICATE_UPLOAD,
    CONF_HISTORY_TIMEZONE,
    CONF_KEEP_PASSWORD,
    CONF_LIVE_EVENTS,
    CONF_SIP_PASSWORD,
    CONF_SIP_SERVER,
    CONF_SLOW_SCAN_INTERVAL,
    CONF_VOICEMAIL_URI,
    DEFAULT_CURRENCY,
    DEFAULT_SCAN_INTERVAL,
    DEFAULT_SLOW_SCAN_INTERVAL,
    HISTORY_TIMEZONE_ACCOUNT,
    HISTORY_TIMEZONE_UTC,
    LOGGER,
    MAX_SCAN_INTERVAL,
    MAX_SLOW_SCAN_INTERVAL,
    MIN_SCAN_INTERVAL,
    MIN_SLOW_SCAN_INTERVAL,
)
from .live import live_password

# A certificate with its key is a few kilobytes; anything much larger is another file.
MAX_UPLOAD_BYTES = 64 * 1024
# A form should not keep the user waiting as long as a poll may (30 s, docs/settings-api.md §7).
FLOW_TIMEOUT = 15.0
# Never put back into a re-shown certificate form: an upload is used up once read, and
# the flow keeps what it read (a file that did not open, too), so the password of a
# .p12 is not needed again either.
NOT_SUGGESTED = frozenset({CONF_CERTIFICATE_UPLOAD, CONF_PASSWORD})
# The collapsed part of the password forms: the settings page and its verification.
SECTION_ADVANCED = "advanced"
# Errors after which a certificate uploaded in reconfiguration is not kept.
REFUSED_CERTIFICATE = frozenset({"invalid_auth", "certificate_for_other_account"})

CERTIFICATE_SELECTOR = FileSelector(FileSelectorConfig(accept=".crt,.pem,.p12,.pfx"))
PASSWORD_SELECTOR = TextSelector(TextSelectorConfig(type=TextSelectorType.PASSWORD))
URL_SELECTOR = TextSelector(TextSelectorConfig(type=TextSelectorType.URL))
_CURRENCY_SELECTOR = SelectSelector(
    SelectSelectorConfig(options=sorted(ACTIVE_CURRENCIES), mode=SelectSelectorMode.DROPDOWN)
)


class FormError(Exception):
    """What the form shows: the error ``key`` next to ``field`` (``base``: the whole form)."""

    def __init__(self, field: str, key: str) -> None:
        """The error ``key`` shown next to ``field``."""
        super().__init__(key)
        self.field = field
        self.key = key


@dataclass(frozen=True, slots=True)
class Connection:
    """What a flow checks before anything is stored: one of two ways to sign in."""

    url: str
    account: str
    verify_ssl: bool
    # One way to sign in: the client certificate, or else the SIP password (HTTP Digest).
    credentials: ClientCredentials | None = None
    password: str | None = None


def read_upload(hass: HomeAssistant, file_id: str) -> bytes:
    """The uploaded file, which Home Assistant deletes once read (blocking)."""
    try:
        with process_uploaded_file(hass, file_id) as path:
            if path.stat().st_size > MAX_UPLOAD_BYTES:
                raise FormError(CONF_CERTIFICATE_UPLOAD, CredentialsProblem.INVALID_CERTIFICATE)
            return path.read_bytes()
    except ValueError as err:
        # process_uploaded_file: the upload is gone (expired or already used).
        raise FormError(CONF_CERTIFICATE_UPLOAD, "certificate_required") from err


def open_upload(data: bytes, password: str | None) -> ClientCredentials:
    """Check an uploaded certificate, opened with ``password`` (blocking: key parsing)."""
    try:
        return load_credentials(data, password or None)
    except SipThorCredentialsError as err:
        field = (
            CONF_PASSWORD
            if err.problem is CredentialsProblem.WRONG_PASSWORD
            else CONF_CERTIFICATE_UPLOAD
        )
        raise FormError(field, err.problem.value) from err


def settings_url(text: str, field: str = CONF_URL) -> str:
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
        raise FormError(field, "invalid_url") from err
    if url.scheme != "https" or not url.host:
        raise FormError(field, "invalid_url")
    if url.user is not None or url.password is not None:
        raise FormError(field, "url_has_user_info")
    if url.raw_query_string:
        raise FormError(field, "url_has_query")
    if url.raw_fragment:
        raise FormError(field, "url_has_fragment")
    return str(url)


def without_user_info(text: str) -> str:
    """The URL to show again in the form: never with the password the user typed in it."""
    try:
        url = URL(text.strip())
        if url.user is None and url.password is None:
            return text
        return str(url.with_user(None))
    except ValueError:
        return text


def tidy_account(text: str) -> str:
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


def suggested_password(typed: str | None, error: str | None) -> dict[str, str]:
    """The SIP password to put back into a password form shown again after ``error``.

    Kept when something else was wrong (the URL, the address), so that fixing that does
    not mean typing the password again; dropped when the password may be what was wrong.
    It goes back only to the browser that typed it, in a password field.
    """
    if not typed or error == "password_refused":
        return {}
    return {CONF_PASSWORD: typed}


def check_account(account: str) -> None:
    """Refuse an account that is not user@domain."""
    user, at, domain = account.partition("@")
    if not (at and user and domain) or any(char.isspace() for char in account):
        raise FormError(CONF_ACCOUNT, "invalid_account")


def check_sip_address(account: str) -> None:
    """Refuse what the Digest page cannot sign in: not user@domain, or a user beyond ASCII.

    The client sends such a user name as RFC 7616's ``username*``, which CDRTool's page
    does not read (docs/settings-api.md §2.5): every attempt would fail as a wrong
    password, so none is made.
    """
    user, at, domain = account.partition("@")
    if not (at and user and domain) or any(
        char.isspace() or not char.isprintable() for char in account
    ):
        raise FormError(CONF_ACCOUNT, "invalid_sip_address")
    if not user.isascii():
        raise FormError(CONF_ACCOUNT, "non_ascii_user")


async def _async_identity(hass: HomeAssistant, connection: Connection) -> Identity:
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


async def async_check_connection(hass: HomeAssistant, connection: Connection) -> Identity:
    """Ask the server who the account is; raise what goes wrong as a form error."""
    named = connection.credentials.info.account if connection.credentials else None
    if named is not None and named.casefold() != connection.account.casefold():
        # An enrollment certificate names its account in the CN. A server that does
        # not compare it (docs/settings-api.md §2.2: owner 0 may match any account)
        # would let it open another one. Owner certificates (a numeric CN) name none.
        raise FormError(CONF_CERTIFICATE_UPLOAD, "certificate_for_other_account")
    try:
        return await _async_identity(hass, connection)
    except SipThorCredentialsError as err:
        # OpenSSL refused what cryptography accepted (load_cert_chain).
        raise FormError(CONF_CERTIFICATE_UPLOAD, err.problem.value) from err
    except SipThorCertificateRequiredError as err:
        # The page behind client certificates: no password opens it.
        raise FormError("base", "certificate_page") from err
    except SipThorAuthenticationError as err:
        if connection.password is not None:
            # A wrong password and an unknown user look alike: HTTP 401
            # (docs/settings-api.md §2.5).
            raise FormError("base", "password_refused") from err
        raise FormError("base", "invalid_auth") from err
    except SipThorServerCertificateError as err:
        raise FormError("base", "server_certificate") from err
    except SipThorConnectionError as err:
        raise FormError("base", "cannot_connect") from err
    except SipThorEmptyBodyError as err:
        # The page ran and printed nothing (docs/settings-api.md §4.5): the URL is right.
        raise FormError("base", "server_error") from err
    except SipThorServerError as err:
        # Stock CDRTool on PHP 8 fails every request with HTTP 500 (docs/settings-api.md §2.2).
        if err.status is not None and err.status >= HTTPStatus.INTERNAL_SERVER_ERROR:
            raise FormError("base", "server_error") from err
        raise FormError("base", "not_settings_page") from err
    except SipThorError as err:
        raise FormError("base", "not_settings_page") from err
    except Exception as err:
        LOGGER.exception("Unexpected error while checking the SIP Thor account")
        raise FormError("base", "unknown") from err


def advanced_section() -> section:
    """The settings page and its verification: rarely changed, so folded away.

    Built anew for each form: Home Assistant fills suggested values into a section in
    place.
    """
    schema = vol.Schema(
        {
            vol.Required(CONF_URL, default=DIGEST_URL): URL_SELECTOR,
            vol.Required(CONF_VERIFY_SSL, default=True): BooleanSelector(),
        }
    )
    return section(schema, {"collapsed": True})


def new_or_stored_password(typed: str | None, stored: str | None) -> str:
    """The password typed in reconfiguration, else the one the entry signs in with."""
    password = typed or stored
    if not password:  # switching from the certificate: there is none yet
        raise FormError(CONF_PASSWORD, "password_required")
    return password


def advanced_input(user_input: Mapping[str, Any]) -> tuple[str, bool]:
    """The URL and verification as sent in the advanced section (the URL unchecked)."""
    advanced = user_input[SECTION_ADVANCED]
    return advanced[CONF_URL], advanced[CONF_VERIFY_SSL]


def options_schema(options: Mapping[str, Any], data: Mapping[str, Any]) -> vol.Schema:
    """The options form, filled with ``options`` (the defaults where one is missing).

    ``data`` (the entry's) decide the live events' default and whether the form asks
    for a SIP password: a certificate account has none of its own.
    """
    live: dict[vol.Marker, Any] = {
        # On by default where a SIP password is known: without one there are none.
        vol.Required(
            CONF_LIVE_EVENTS,
            default=options.get(CONF_LIVE_EVENTS, live_password(data) is not None),
        ): BooleanSelector(),
        vol.Optional(
            CONF_SIP_SERVER, description={"suggested_value": options.get(CONF_SIP_SERVER)}
        ): TextSelector(),
        vol.Optional(
            CONF_VOICEMAIL_URI, description={"suggested_value": options.get(CONF_VOICEMAIL_URI)}
        ): TextSelector(),
    }
    if not signs_in_with_password(data):
        live[vol.Optional(CONF_SIP_PASSWORD)] = PASSWORD_SELECTOR
    return vol.Schema(
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
            **live,
        }
    )


# The live events' text options: each read as the channel will, or refused with its error.
_LIVE_TEXT_OPTIONS: tuple[tuple[str, Callable[[str], object], str], ...] = (
    # host[:port][;transport=tls|tcp]; empty: found through DNS.
    (CONF_SIP_SERVER, ManualServer.parse, "invalid_sip_server"),
    # user@host or a SIP URI; empty: at the account's address, or its mailbox's.
    (CONF_VOICEMAIL_URI, voicemail_uri, "invalid_voicemail_uri"),
)


def live_options(user_input: Mapping[str, Any], data: Mapping[str, Any]) -> dict[str, Any]:
    """The live events' options from the options form; refuses what cannot work.

    The SIP server and the voicemail URI are stored as the channel reads them, and
    refused with a form error before anything is stored or sent. Live events on for a
    certificate account need its SIP password: typed now, or kept.
    """
    options: dict[str, Any] = {CONF_LIVE_EVENTS: bool(user_input[CONF_LIVE_EVENTS])}
    for field, parse, error in _LIVE_TEXT_OPTIONS:
        if not (text := (user_input.get(field) or "").strip()):
            continue
        try:
            options[field] = str(parse(text))
        except (SipServerAddressError, SipVoicemailAddressError) as err:
            raise FormError(field, error) from err
    if (
        options[CONF_LIVE_EVENTS]
        and not user_input.get(CONF_SIP_PASSWORD)
        and live_password(data) is None
    ):
        raise FormError(CONF_SIP_PASSWORD, "sip_password_required")
    return options


def kept_password(
    user_input: Mapping[str, Any], kept: str | None, password: str | None
) -> dict[str, str]:
    """The entry data that keep a certificate's password (the SIP password) for live events.

    Only with the box ticked: the typed password, else the one kept before. Ticked
    without either, it is refused (a ``.pem`` upload has no password to keep).
    """
    if not user_input.get(CONF_KEEP_PASSWORD):
        return {}
    if password := password or kept:
        return {CONF_SIP_PASSWORD: password}
    raise FormError(CONF_PASSWORD, "keep_password_without_password")


def url_placeholders() -> dict[str, str]:
    """The two settings pages the forms name."""
    return {"default_url": DEFAULT_URL, "digest_url": DIGEST_URL}
