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

from .errors import (
    SipThorApiError,
    SipThorAuthenticationError,
    SipThorConnectionError,
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
DEFAULT_TIMEOUT: Final = 30.0
INVALID_ACTION: Final = "Error: invalid action"
# The call list: the public documentation names get_calls, upstream CDRTool renamed
# it get_history in 2012 and answers get_calls with "invalid action" (spec §5.4).
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
    """One SIP account on a SIP Thor settings page, authorised by a client certificate.

    Requests are sent one at a time (each costs the platform 6 to 9 back-end calls,
    spec §7). The session is the caller's when given; otherwise the client makes one
    and closes it in :meth:`close`.
    """

    def __init__(
        self,
        account: str,
        ssl_context: ssl.SSLContext,
        *,
        url: str = DEFAULT_URL,
        session: aiohttp.ClientSession | None = None,
        request_timeout: float = DEFAULT_TIMEOUT,
    ) -> None:
        """Address ``account`` (``user@domain``) at the settings page ``url``."""
        user, at, domain = account.partition("@")
        if not (at and user and domain):
            msg = f"The account must be user@domain, not {account!r}"
            raise ValueError(msg)
        self.account = account
        self.url = url
        self.request_timeout = request_timeout
        self._ssl_context = ssl_context
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
        a SIP URI, ``<voice-mailbox>`` or ``<mobile-number>`` (spec §6.3).
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
        # is [] (get_reject_rules answers [] when empty but null when it fails, §5.11).
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
        # set_call_forwarding always echoes "Key … changed …" first (spec §5.17).
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
        # PHP reads both (spec §1). Each parameter is sent exactly once.
        fields = {"action": action, "account": self.account, **params}
        session = self._get_session()
        async with self._lock:
            _LOGGER.debug("Requesting %s for %s", action, self.account)
            try:
                async with asyncio.timeout(self.request_timeout):
                    if write:
                        response = await session.post(self.url, data=fields, ssl=self._ssl_context)
                    else:
                        response = await session.get(self.url, params=fields, ssl=self._ssl_context)
                    async with response:
                        status = response.status
                        raw = await response.read()
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

    def _parse(self, action: str, status: int, body: str) -> ParsedBody:
        if status in (HTTPStatus.UNAUTHORIZED, HTTPStatus.FORBIDDEN):
            msg = f"HTTP {status}: the server refused the client certificate"
            raise SipThorAuthenticationError(msg)
        if status != HTTPStatus.OK:
            msg = f"{action} answered HTTP {status}"
            raise SipThorServerError(msg, status=status)
        if is_credentials_error(body):
            raise SipThorAuthenticationError(readable_text(body))
        if not body.strip():
            msg = f"{action} answered with an empty body"
            raise SipThorServerError(msg)
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
