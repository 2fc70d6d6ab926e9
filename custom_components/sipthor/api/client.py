"""Asynchronous client of the SIP Thor (CDRTool) account Settings API."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from http import HTTPStatus
import logging
import ssl
from types import TracebackType
from typing import Any, Final, Self

import aiohttp
from aiohttp import hdrs
from yarl import URL

from .digest import DigestAuth, DigestChallengeError
from .errors import (
    SipThorApiError,
    SipThorAuthenticationError,
    SipThorConnectionError,
    SipThorEmptyBodyError,
    SipThorNotSupportedError,
    SipThorServerCertificateError,
    SipThorServerError,
)
from .models import (
    AcceptRules,
    BalanceEntry,
    CallForwarding,
    CallHistory,
    ForwardingCondition,
    Identity,
    MonthlyUsage,
    PrepaidStatus,
    Registration,
    StatusResult,
    Voicemail,
    balance_history_from_json,
    registrations_from_json,
    string_list,
)
from .parse import ParsedBody, UnparsableBodyError, is_credentials_error, parse_body, readable_text

_LOGGER = logging.getLogger(__package__)

DEFAULT_URL: Final = "https://enrollment.sipthor.net/settings.phtml"
# The Digest front of the same page: what Blink opens (docs/settings-api.md §2.5).
DIGEST_URL: Final = "https://blink.sipthor.net/settings.phtml"
DEFAULT_TIMEOUT: Final = 30.0
INVALID_ACTION: Final = "Error: invalid action"
# The call list: the public documentation names get_calls, upstream CDRTool renamed
# it get_history in 2012 and answers get_calls with "invalid action" (docs/settings-api.md §5.4).
HISTORY_ACTIONS: Final = ("get_history", "get_calls")
# TLS alerts by which a server refuses the client certificate (OpenSSL reason names).
_CERTIFICATE_ALERTS: Final = (
    "ALERT_BAD_CERTIFICATE",
    "ALERT_UNKNOWN_CA",
    "ALERT_CERTIFICATE_EXPIRED",
    "ALERT_CERTIFICATE_REVOKED",
    "ALERT_CERTIFICATE_UNKNOWN",
    "ALERT_CERTIFICATE_REQUIRED",
    "ALERT_UNSUPPORTED_CERTIFICATE",
    "ALERT_ACCESS_DENIED",
)


class SipThorClient:
    """One SIP account on a SIP Thor settings page.

    The account signs in with a client certificate (an SSL context holding it) or with
    its SIP password (HTTP Digest, docs/settings-api.md §2.5). Requests are sent one at
    a time (each costs the platform 6 to 9 back-end calls, docs/settings-api.md §7). The
    session is the caller's when given; otherwise the client makes one and closes it in
    :meth:`close`.
    """

    def __init__(
        self,
        account: str,
        ssl_context: ssl.SSLContext | None = None,
        *,
        password: str | None = None,
        url: str | None = None,
        session: aiohttp.ClientSession | None = None,
        request_timeout: float = DEFAULT_TIMEOUT,
    ) -> None:
        """Address ``account`` (``user@domain``) at the settings page ``url``.

        With ``password`` the client answers the page's Digest challenges, ``url``
        defaults to :data:`DIGEST_URL` and ``ssl_context``, if given, only verifies the
        server. Without it, ``ssl_context`` presents the client certificate and ``url``
        defaults to :data:`DEFAULT_URL`.
        """
        user, at, domain = account.partition("@")
        if not (at and user and domain):
            msg = f"The account must be user@domain, not {account!r}"
            raise ValueError(msg)
        if password is None and ssl_context is None:
            msg = "Give the SSL context of a client certificate, or a password"
            raise ValueError(msg)
        self.account = account
        self.url = url or (DEFAULT_URL if password is None else DIGEST_URL)
        self.request_timeout = request_timeout
        self._ssl: ssl.SSLContext | bool = True if ssl_context is None else ssl_context
        self._digest = None if password is None else DigestAuth(user, password, domain=domain)
        # The page takes its Digest realm from this parameter, as Blink sends it.
        self._realm_field = {} if password is None else {"realm": domain}
        self._session = session
        self._close_session = False
        self._lock = asyncio.Lock()
        self._history_action: str | None = None
        self._reported_prefixes: set[tuple[str, str]] = set()

    @property
    def history_action(self) -> str | None:
        """The call-list action this server answered, once one did."""
        return self._history_action

    # -- reads -----------------------------------------------------------------------

    async def get_identity(self) -> Identity:
        """The account's identity; the cheapest proof that the credentials work."""
        value = await self._read("get_identity")
        identity = Identity.from_json(value)
        if not identity.sip_address:
            msg = "get_identity answered without a SIP address"
            raise SipThorServerError(msg)
        return identity

    async def get_aliases(self) -> list[str]:
        """Aliases pointing at the account (at most 20)."""
        return string_list("aliases", await self._read("get_aliases", empty=[]))

    async def get_enum(self) -> list[str]:
        """ENUM numbers (``+<digits>``) mapped to the account (at most 10)."""
        return string_list("enum", await self._read("get_enum", empty=[]))

    async def get_call_history(self) -> CallHistory:
        """Completed calls of the last 14 days, at most 50 per direction.

        Asks ``get_history`` and ``get_calls`` in turn until one is answered, and
        asks that one first from then on.
        """
        candidates = sorted(HISTORY_ACTIONS, key=lambda action: action != self._history_action)
        for action in candidates:
            try:
                value = await self._read(action)
            except SipThorNotSupportedError:
                if self._history_action == action:
                    self._history_action = None
                continue
            if self._history_action != action:
                _LOGGER.debug("%s answers the call list as %s", self.url, action)
                self._history_action = action
            return CallHistory.from_json(value)
        msg = "The server answers neither get_history nor get_calls"
        raise SipThorNotSupportedError(msg)

    async def get_devices(self) -> list[Registration]:
        """Registered contacts; an empty list when nothing is registered."""
        return registrations_from_json(await self._read("get_devices", empty=None))

    async def get_prepaid(self) -> PrepaidStatus | None:
        """The prepaid status, or None when the server reports none for the account."""
        value = await self._read("get_prepaid", empty=None)
        return None if value is None else PrepaidStatus.from_json(value)

    async def get_balance_history(self) -> list[BalanceEntry]:
        """Credit history (up to 200 entries, probably newest first)."""
        return balance_history_from_json(await self._read("get_balance_history", empty=None))

    async def get_monthly_usage(self) -> MonthlyUsage:
        """Calls and cost of the period; broken upstream since 2022 (HTTP 500).

        Raises :class:`SipThorNotSupportedError` when the server fails it that way.
        """
        try:
            value = await self._read("get_monthly_usage")
        except SipThorServerError as err:
            if err.status == HTTPStatus.INTERNAL_SERVER_ERROR:
                msg = "This server fails get_monthly_usage (HTTP 500)"
                raise SipThorNotSupportedError(msg) from err
            raise
        return MonthlyUsage.from_json(value)

    async def get_call_forwarding(self) -> CallForwarding:
        """The target of each forwarding condition."""
        return CallForwarding.from_json(await self._read("get_call_forwarding"))

    async def get_accept_rules(self) -> AcceptRules:
        """Accept rules, with the do-not-disturb state derived from the temporary rule."""
        return AcceptRules.from_json(await self._read("get_accept_rules"))

    async def get_reject_rules(self) -> list[str]:
        """SIP URIs whose calls are always rejected."""
        return string_list("reject rules", await self._read("get_reject_rules", empty=[]))

    async def get_voicemail(self) -> Voicemail | None:
        """The voice mailbox, or None when the account has none."""
        value = await self._read("get_voicemail", empty=None)
        return None if value is None else Voicemail.from_json(value)

    # -- writes ----------------------------------------------------------------------

    async def set_dnd_on(self, duration: int | None = None) -> StatusResult:
        """Turn do not disturb on, for ``duration`` minutes or without an end."""
        params: dict[str, str] = {}
        if duration is not None:
            if duration < 1:
                msg = "The duration is a positive number of minutes"
                raise ValueError(msg)
            params["duration"] = str(duration)
        return await self._write("set_dnd_on", params)

    async def set_dnd_off(self) -> StatusResult:
        """Turn do not disturb off."""
        return await self._write("set_dnd_off")

    async def set_privacy_on(self) -> StatusResult:
        """Hide the caller ID on outgoing calls."""
        return await self._write("set_privacy_on")

    async def set_privacy_off(self) -> StatusResult:
        """Show the caller ID on outgoing calls."""
        return await self._write("set_privacy_off")

    async def add_alias(self, username: str) -> StatusResult:
        """Add ``username@<account domain>`` as an alias of the account."""
        username = username.strip()
        if not username:
            msg = "The alias needs a user name"
            raise ValueError(msg)
        return await self._write("add_alias", {"username": username})

    async def set_call_forwarding(
        self, targets: Mapping[ForwardingCondition, str | None]
    ) -> StatusResult:
        """Set the conditions in ``targets``; None or "" clears one.

        Conditions left out stay as they are. A target is a number, ``user@domain``,
        a SIP URI, ``<voice-mailbox>`` or ``<mobile-number>`` (docs/settings-api.md §6.3).
        """
        if not targets:
            msg = "Name at least one forwarding condition"
            raise ValueError(msg)
        params = {
            ForwardingCondition(condition).value: (target or "").strip()
            for condition, target in targets.items()
        }
        return await self._write("set_call_forwarding", params)

    # -- transport -------------------------------------------------------------------

    async def _read(self, action: str, *, empty: Any = ...) -> Any:
        """Send a read action and return its JSON value.

        ``empty`` is what the action answers when it has nothing (``null`` or ``[]``);
        the same value after a server error message means the action failed. Actions
        without it never legitimately answer ``null``.
        """
        parsed = await self._request(action, {})
        value = parsed.value
        if isinstance(value, dict) and value.get("success") is False:
            self._raise_for_status(StatusResult.from_json(value))
        # A server error before null is a failure even where the action's own "nothing"
        # is [] (get_reject_rules answers [] when empty but null when it fails,
        # docs/settings-api.md §5.11).
        if parsed.server_error and (value is None or value == empty):
            raise SipThorApiError(parsed.server_error)
        if value is None and empty is ...:
            msg = f"{action} answered null"
            raise SipThorServerError(msg)
        if parsed.prefix:
            # The answer is good, but something before it went wrong on the server.
            self._report_prefix(action, parsed.prefix)
        return value

    async def _write(self, action: str, params: Mapping[str, str] | None = None) -> StatusResult:
        parsed = await self._request(action, params or {}, write=True)
        result = StatusResult.from_json(parsed.value)
        if not isinstance(parsed.value, dict) or "success" not in parsed.value:
            msg = f"{action} answered without a status"
            raise SipThorServerError(msg)
        self._raise_for_status(result)
        # set_call_forwarding always echoes "Key … changed …" first (docs/settings-api.md §5.17).
        if parsed.prefix and action != "set_call_forwarding":
            self._report_prefix(action, parsed.prefix)
        return result

    @staticmethod
    def _raise_for_status(result: StatusResult) -> None:
        if result.success:
            return
        if result.message == INVALID_ACTION:
            raise SipThorNotSupportedError(result.message)
        raise SipThorApiError(result.message or "The server refused the request")

    async def _request(
        self, action: str, params: Mapping[str, str], *, write: bool = False
    ) -> ParsedBody:
        # Writes go as a form body: forwarding targets stay out of access logs, and
        # PHP reads both (docs/settings-api.md §1). Each parameter is sent exactly once.
        fields = {"action": action, "account": self.account, **self._realm_field, **params}
        session = self._get_session()
        async with self._lock:
            _LOGGER.debug("Requesting %s for %s", action, self.account)
            try:
                async with asyncio.timeout(self.request_timeout):
                    status, raw = await self._exchange(session, fields, write=write)
            except TimeoutError as err:
                msg = f"No answer within {self.request_timeout:g} s"
                raise SipThorConnectionError(msg) from err
            except aiohttp.ClientConnectorCertificateError as err:
                msg = f"The server's certificate did not verify: {err.certificate_error}"
                raise SipThorServerCertificateError(msg) from err
            except (aiohttp.ClientError, OSError) as err:
                alert = _certificate_alert(err)
                if alert:
                    msg = f"The server refused the client certificate ({alert})"
                    raise SipThorAuthenticationError(msg) from err
                msg = f"Cannot reach {self.url}: {err}"
                raise SipThorConnectionError(msg) from err
        return self._parse(action, status, raw.decode("utf-8", errors="replace"))

    async def _exchange(
        self, session: aiohttp.ClientSession, fields: Mapping[str, str], *, write: bool
    ) -> tuple[int, bytes]:
        """Send the request; with a password, answer the page's Digest challenge.

        A 401 means the page stopped before its dispatcher (docs/settings-api.md §2.5),
        so sending a write again cannot apply it twice. The first request, a stale
        nonce, or a nonce the server no longer knows gets one more try with the new
        challenge; a second 401 is the verdict on the password.
        """
        target = URL(self.url) if write else URL(self.url).extend_query(fields)
        method = hdrs.METH_POST if write else hdrs.METH_GET
        status, raw = await self._send(session, method, target, fields if write else None)
        if status == HTTPStatus.UNAUTHORIZED and self._digest is not None:
            status, raw = await self._send(session, method, target, fields if write else None)
        return status, raw

    async def _send(
        self,
        session: aiohttp.ClientSession,
        method: str,
        target: URL,
        form: Mapping[str, str] | None,
    ) -> tuple[int, bytes]:
        headers: dict[str, str] = {}
        if self._digest is not None:
            answer = self._digest.authorization(method, target.raw_path_qs)
            if answer is not None:
                headers[hdrs.AUTHORIZATION] = answer
        async with session.request(
            method, target, data=form, headers=headers, ssl=self._ssl
        ) as response:
            if self._digest is not None and response.status == HTTPStatus.UNAUTHORIZED:
                # Answer the new nonce from now on, whether or not this request tries again.
                try:
                    challenge = self._digest.read_challenge(
                        response.headers.getall(hdrs.WWW_AUTHENTICATE, ())
                    )
                except DigestChallengeError as err:
                    msg = f"The server's challenge cannot be answered: {err}"
                    raise SipThorAuthenticationError(msg) from err
                if challenge.stale:
                    _LOGGER.debug("The Digest nonce of %s went stale", self.url)
            return response.status, await response.read()

    def _parse(self, action: str, status: int, body: str) -> ParsedBody:
        if status in (HTTPStatus.UNAUTHORIZED, HTTPStatus.FORBIDDEN):
            refused = "the SIP address or password" if self._digest else "the client certificate"
            msg = f"HTTP {status}: the server refused {refused}"
            raise SipThorAuthenticationError(msg)
        if status != HTTPStatus.OK:
            msg = f"{action} answered HTTP {status}"
            raise SipThorServerError(msg, status=status)
        if is_credentials_error(body):
            raise SipThorAuthenticationError(readable_text(body))
        if not body.strip():
            msg = f"{action} answered with an empty body"
            raise SipThorEmptyBodyError(msg)
        try:
            parsed = parse_body(body)
        except UnparsableBodyError as err:
            msg = f"{action} answered without JSON: {err}"
            raise SipThorServerError(msg) from err
        return parsed

    def _report_prefix(self, action: str, prefix: str) -> None:
        """Log text printed before the JSON once at warning level, then at debug."""
        marker = (action, prefix)
        level = logging.DEBUG if marker in self._reported_prefixes else logging.WARNING
        self._reported_prefixes.add(marker)
        _LOGGER.log(level, "Server warning with %s: %s", action, prefix[:300])

    def _get_session(self) -> aiohttp.ClientSession:
        if self._session is None:
            self._session = aiohttp.ClientSession()
            self._close_session = True
        return self._session

    async def close(self) -> None:
        """Close the session if this client made it."""
        if self._session is not None and self._close_session:
            await self._session.close()
            self._session = None
            self._close_session = False

    async def __aenter__(self) -> Self:
        """Use the client as an async context manager."""
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        """Close what the client opened."""
        await self.close()


def _certificate_alert(err: BaseException) -> str | None:
    """The TLS alert about our certificate somewhere in ``err``'s chain, if any."""
    seen: set[int] = set()
    current: BaseException | None = err
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, ssl.SSLError):
            reason = current.reason or str(current)
            if any(alert in reason.upper() for alert in _CERTIFICATE_ALERTS):
                return reason
        current = current.__cause__ or current.__context__ or _os_error(current)
    return None


def _os_error(err: BaseException) -> BaseException | None:
    nested = getattr(err, "os_error", None)
    return nested if isinstance(nested, BaseException) else None
