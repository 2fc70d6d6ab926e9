"""Asynchronous client of the SIP Thor (CDRTool) account Settings API."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Iterator, Mapping
import contextlib
from dataclasses import dataclass
from http import HTTPStatus
import logging
import re
import ssl
from types import TracebackType
from typing import Any, Final, Self
import unicodedata

import aiohttp
from aiohttp import hdrs
from yarl import URL

from .digest import (
    DigestAnswer,
    DigestAuth,
    DigestChallengeError,
    DigestDowngradeError,
    DigestRefusal,
)
from .errors import (
    SipThorApiError,
    SipThorAuthenticationError,
    SipThorCertificateRequiredError,
    SipThorConnectionError,
    SipThorDowngradeError,
    SipThorEmptyBodyError,
    SipThorError,
    SipThorNotSupportedError,
    SipThorServerCertificateError,
    SipThorServerError,
    SipThorWriteTimeoutError,
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
    ValueReporter,
    Voicemail,
    balance_history_from_json,
    registrations_from_json,
    string_list,
)
from .parse import ParsedBody, UnparsableBodyError, is_credentials_error, parse_body, readable_text
from .privacy import privacy_from_settings_page

_LOGGER = logging.getLogger(__package__)

# What the HTML settings tab is called in errors and logs (it has no action).
SETTINGS_PAGE: Final = "the settings page"
DEFAULT_URL: Final = "https://enrollment.sipthor.net/settings.phtml"
# The Digest front of the same page: what Blink opens (docs/settings-api.md §2.5).
DIGEST_URL: Final = "https://blink.sipthor.net/settings.phtml"
DEFAULT_TIMEOUT: Final = 30.0
# Shorter than a read: a write the user waits for should fail fast, and one that times
# out may still be applied (SipThorWriteTimeoutError), so waiting longer buys little.
DEFAULT_WRITE_TIMEOUT: Final = 15.0
# Requests in flight per client. Each costs the platform 6 to 9 back-end calls
# (docs/settings-api.md §3), whether side by side or in turn. Six lets a setup read what
# the entities enabled by default show in two round trips (its three sources, then the
# six others), without one account keeping more of the server busy than that; the polls
# after it take turns anyway.
MAX_IN_FLIGHT: Final = 6
# The largest answer read. The largest real answers are get_history (at most 2 x 50
# calls of about 420 bytes as PHP prints them: 42 KB) and get_balance_history (at most
# 200 entries of about 200 bytes: 40 KB); with names sent as \uXXXX escapes and an
# HTML warning before the JSON, about 60 KB. Twice that, rounded up, bounds what a
# broken or hostile server can cost: the memory (a 200 MB answer used to be read
# whole), and the time the JSON decoder holds the interpreter lock, and so the event
# loop, in one call: about 3 ms for a real answer of this size, 10 to 15 ms for the
# slowest shapes (floats with large exponents, tens of thousands of small objects),
# where 512 KiB took 40 to 60 ms (scripts/bench measures it, BENCHMARKS.md).
MAX_BODY_SIZE: Final = 128 * 1024
_CHUNK_SIZE: Final = 64 * 1024
# Answers above this are decoded, parsed and read into models in an executor thread.
# Below it the work takes well under a millisecond; the answers to a poll nearly all are.
_OFF_LOOP_SIZE: Final = 8 * 1024
# Answers one request gives to Digest challenges before it gives up: the first learns the
# challenge, a second may be taken out of order by a strict server, a third may meet a
# nonce gone stale meanwhile.
_MAX_DIGEST_TRIES: Final = 4
# Compressed answers would be inflated before the size cap could see them.
_HEADERS: Final = {"Accept-Encoding": "identity"}
# Distinct server warnings logged at warning level per client (then at debug level).
_MAX_PREFIX_REPORTS: Final = 20
# The most of a credentials error page that is shown: the texts of docs/settings-api.md
# §2.2 and §2.5 are short.
_MAX_ERROR_TEXT: Final = 500
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
    its SIP password (HTTP Digest, docs/settings-api.md §2.5). At most
    :data:`MAX_IN_FLIGHT` requests are in flight at once (each costs the platform 6 to 9
    back-end calls, docs/settings-api.md §3), and writes go one at a time. A request's
    timeout includes its wait for a turn, so a slow server makes calls fail rather than
    queue without bound. The session is the caller's when given; otherwise
    the client makes one and closes it in :meth:`close`.
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
        write_timeout: float = DEFAULT_WRITE_TIMEOUT,
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
        self.write_timeout = write_timeout
        self._ssl: ssl.SSLContext | bool = True if ssl_context is None else ssl_context
        self._digest = None if password is None else DigestAuth(user, password, domain=domain)
        self._digest_turns = _DigestTurns(self._digest)
        # The page takes its Digest realm from this parameter, as Blink sends it.
        self._realm_field = {} if password is None else {"realm": domain}
        self._session = session
        self._close_session = False
        self._in_flight = asyncio.Semaphore(MAX_IN_FLIGHT)
        self._on_the_wire = 0
        # Above 0 while every request keeps its connection open (keep_connections).
        self._keeping = 0
        self._write_lock = asyncio.Lock()
        self._history_action: str | None = None
        self._reported_prefixes: set[tuple[str, str]] = set()
        self._report = ValueReporter()

    @property
    def history_action(self) -> str | None:
        """The call-list action this server answered, once one did."""
        return self._history_action

    @contextlib.contextmanager
    def keep_connections(self) -> Iterator[None]:
        """Let the requests sent meanwhile keep their connections open, side by side too.

        For a burst that another burst follows at once (setup's reads, then the reads of
        what the entities show): the second reuses the first's connections instead of
        opening new ones, each a TLS handshake. The second's own requests side by side
        close theirs as usual, so that one connection stays open after it.
        """
        self._keeping += 1
        try:
            yield
        finally:
            self._keeping -= 1

    # -- reads -----------------------------------------------------------------------

    async def get_identity(self) -> Identity:
        """The account's identity; the cheapest proof that the credentials work."""
        identity = await self._read("get_identity", self._model(Identity.from_json))
        if not identity.sip_address:
            msg = "get_identity answered without a SIP address"
            raise SipThorServerError(msg)
        return identity

    async def get_aliases(self) -> list[str]:
        """Aliases pointing at the account (at most 20)."""
        return await self._read("get_aliases", self._strings("aliases"), empty=[])

    async def get_enum(self) -> list[str]:
        """ENUM numbers (``+<digits>``) mapped to the account (at most 10)."""
        return await self._read("get_enum", self._strings("enum"), empty=[])

    async def get_call_history(self) -> CallHistory:
        """Completed calls of the last 14 days, at most 50 per direction.

        Asks ``get_history`` and ``get_calls`` in turn until one is answered, and
        asks that one first from then on.
        """
        candidates = sorted(HISTORY_ACTIONS, key=lambda action: action != self._history_action)
        for action in candidates:
            try:
                history = await self._read(action, self._model(CallHistory.from_json))
            except SipThorNotSupportedError:
                if self._history_action == action:
                    self._history_action = None
                continue
            if self._history_action != action:
                _LOGGER.debug("%s answers the call list as %s", self.url, action)
                self._history_action = action
            return history
        msg = "The server answers neither get_history nor get_calls"
        raise SipThorNotSupportedError(msg)

    async def get_devices(self) -> list[Registration]:
        """Registered contacts; an empty list when nothing is registered."""
        return await self._read("get_devices", self._model(registrations_from_json), empty=None)

    async def get_prepaid(self) -> PrepaidStatus | None:
        """The prepaid status, or None when the server reports none for the account."""
        return await self._read("get_prepaid", self._optional(PrepaidStatus.from_json), empty=None)

    async def get_balance_history(self) -> list[BalanceEntry]:
        """Credit history (up to 200 entries, probably newest first)."""
        return await self._read(
            "get_balance_history", self._model(balance_history_from_json), empty=None
        )

    async def get_monthly_usage(self) -> MonthlyUsage:
        """Calls and cost of the period; broken upstream since 2022 (HTTP 500).

        Raises :class:`SipThorNotSupportedError` when the server fails it that way.
        """
        try:
            return await self._read("get_monthly_usage", self._model(MonthlyUsage.from_json))
        except SipThorServerError as err:
            if err.status == HTTPStatus.INTERNAL_SERVER_ERROR:
                msg = "This server fails get_monthly_usage (HTTP 500)"
                raise SipThorNotSupportedError(msg) from err
            raise

    async def get_call_forwarding(self) -> CallForwarding:
        """The target of each forwarding condition."""
        return await self._read("get_call_forwarding", self._model(CallForwarding.from_json))

    async def get_accept_rules(self) -> AcceptRules:
        """Accept rules, with the do-not-disturb state derived from the temporary rule."""
        return await self._read("get_accept_rules", self._model(AcceptRules.from_json))

    async def get_reject_rules(self) -> list[str]:
        """SIP URIs whose calls are always rejected."""
        return await self._read("get_reject_rules", self._strings("reject rules"), empty=[])

    async def get_voicemail(self) -> Voicemail | None:
        """The voice mailbox, or None when the account has none."""
        return await self._read("get_voicemail", self._optional(Voicemail.from_json), empty=None)

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

    async def get_privacy(self) -> bool | None:
        """Caller-ID privacy as the HTML settings tab shows it (docs/settings-api.md §6.2).

        No JSON action reads it. None when the page shows no privacy checkbox (PSTN
        access is off for the platform) or is not such a page at all.
        """
        fields = {"account": self.account, **self._realm_field, "tab": "settings"}
        status, raw = await self._transfer(SETTINGS_PAGE, fields, write=False)
        return await _off_loop_if_large(
            len(raw),
            lambda: privacy_from_settings_page(self._page_text(SETTINGS_PAGE, status, raw)),
        )

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

    async def add_balance(self, voucher_id: int, number: str) -> StatusResult:
        """Top up a prepaid account with the voucher ``voucher_id`` / ``number``.

        The number is what makes a voucher worth money: it goes in the form body only,
        and any text of the server's that repeats it, in any form, has it masked before
        it reaches an error or the log (docs/settings-api.md §5.18).
        """
        number = number.strip()
        if voucher_id < 1 or not number:
            msg = "A voucher needs a positive id and a number"
            raise ValueError(msg)
        hide = _masking(number)
        try:
            result = await self._write(
                "add_balance", {"id": str(voucher_id), "number": number}, hide=hide
            )
        except SipThorError as err:
            refused = _masked_error(err, hide)
        else:
            return result
        # Raised here, outside the handler, so that nothing chains the original to it.
        raise refused

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

    def _model[T](self, from_json: Callable[[Any, ValueReporter], T]) -> Callable[[Any], T]:
        """Read a JSON value with this client's reporter."""
        return lambda value: from_json(value, self._report)

    def _optional[T](
        self, from_json: Callable[[Any, ValueReporter], T]
    ) -> Callable[[Any], T | None]:
        """Read a JSON value with this client's reporter; null reads as None."""
        return lambda value: None if value is None else from_json(value, self._report)

    def _strings(self, model: str) -> Callable[[Any], list[str]]:
        return lambda value: string_list(model, value, self._report)

    async def _read[T](self, action: str, convert: Callable[[Any], T], *, empty: Any = ...) -> T:
        """Send a read action and return its JSON value read by ``convert``.

        ``empty`` is what the action answers when it has nothing (``null`` or ``[]``);
        the same value after a server error message means the action failed. Actions
        without it never legitimately answer ``null``.
        """
        answer = await self._request(action, {})
        parsed = answer.parsed
        value = parsed.value
        if isinstance(value, dict) and value.get("success") is False:
            self._raise_for_status(StatusResult.from_json(value, self._report))
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
        return await _off_loop_if_large(answer.size, lambda: convert(value))

    async def _write(
        self,
        action: str,
        params: Mapping[str, str] | None = None,
        *,
        hide: Callable[[str], str] | None = None,
    ) -> StatusResult:
        """Send a write; ``hide`` masks a secret in what the server's text logs."""
        answer = await self._request(action, params or {}, write=True)
        value = answer.parsed.value
        result = await _off_loop_if_large(
            answer.size, lambda: StatusResult.from_json(value, self._report)
        )
        if not isinstance(value, dict) or "success" not in value:
            msg = f"{action} answered without a status"
            raise SipThorServerError(msg)
        self._raise_for_status(result)
        # set_call_forwarding always echoes "Key … changed …" first (docs/settings-api.md §5.17).
        if answer.parsed.prefix and action != "set_call_forwarding":
            prefix = answer.parsed.prefix
            self._report_prefix(action, hide(prefix) if hide else prefix)
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
    ) -> _Answer:
        # Writes go as a form body: forwarding targets stay out of access logs, and
        # PHP reads both (docs/settings-api.md §1). Each parameter is sent exactly once.
        fields = {"action": action, "account": self.account, **self._realm_field, **params}
        status, raw = await self._transfer(action, fields, write=write)
        parsed = await _off_loop_if_large(len(raw), lambda: self._parse(action, status, raw))
        return _Answer(parsed, len(raw))

    async def _transfer(
        self, action: str, fields: Mapping[str, str], *, write: bool
    ) -> tuple[int, bytes]:
        """Send one request within its bound; the status and the body (capped)."""
        session = self._get_session()
        timeout = self.write_timeout if write else self.request_timeout
        one_write_at_a_time: contextlib.AbstractAsyncContextManager[Any] = (
            self._write_lock if write else contextlib.nullcontext()
        )
        sent = False
        try:
            # The wait for a turn counts: a slow server must make calls fail, not queue.
            async with asyncio.timeout(timeout), one_write_at_a_time, self._in_flight:
                _LOGGER.debug("Requesting %s for %s", action, self.account)
                sent = True
                status, raw = await self._exchange(session, action, fields, write=write)
        except TimeoutError as err:
            if not sent:
                msg = f"{action} was not sent: the earlier requests took over {timeout:g} s"
                raise SipThorConnectionError(msg) from err
            if write:
                raise SipThorWriteTimeoutError(action, timeout) from err
            msg = f"No answer within {timeout:g} s"
            raise SipThorConnectionError(msg) from err
        except aiohttp.ClientConnectorCertificateError as err:
            msg = f"The server's certificate did not verify: {err.certificate_error}"
            raise SipThorServerCertificateError(msg) from err
        except (aiohttp.ClientError, OSError) as err:
            alert = _certificate_alert(err)
            if alert and self._digest is not None:
                msg = f"The page asks for a client certificate ({alert})"
                raise SipThorCertificateRequiredError(msg) from err
            if alert:
                msg = f"The server refused the client certificate ({alert})"
                raise SipThorAuthenticationError(msg) from err
            msg = f"Cannot reach {self.url}: {err}"
            raise SipThorConnectionError(msg) from err
        return status, raw

    async def _exchange(
        self, session: aiohttp.ClientSession, action: str, fields: Mapping[str, str], *, write: bool
    ) -> tuple[int, bytes]:
        """Send the request; with a password, answer the page's Digest challenges.

        A 401 means the page stopped before its dispatcher (docs/settings-api.md §2.5),
        so sending a write again cannot apply it twice. Only a refusal that judges the
        password (see :class:`DigestRefusal`) ends the tries with the 401; any other
        refusal (the first request, a stale or older nonce, a count that arrived out of
        order at a strict server) is answered again with the newest challenge, alone, so
        that nothing can overtake it.
        """
        target = URL(self.url) if write else URL(self.url).extend_query(fields)
        method = hdrs.METH_POST if write else hdrs.METH_GET
        form = fields if write else None
        if self._digest is None:
            reply = await self._send(session, action, method, target, form)
            return reply.status, reply.raw
        turns = self._digest_turns
        alone = False
        verdicts = turns.verdicts
        for _ in range(_MAX_DIGEST_TRIES):
            async with turns.turn(alone=alone) as turn:
                if alone and turns.verdicts > verdicts:
                    # While this request waited, another one's refusal judged the password.
                    return HTTPStatus.UNAUTHORIZED, b""
                verdicts = turns.verdicts
                answer = self._digest.answer(method, target.raw_path_qs)
                reply = await self._send(
                    session, action, method, target, form, answer=answer, turn=turn
                )
            if reply.refusal is None:
                return reply.status, reply.raw
            if reply.refusal.for_good:
                turns.verdicts += 1
                return reply.status, reply.raw
            # The first request learns the challenge; the others that waited for it go
            # side by side. Every other refusal is answered again alone.
            alone = answer is not None
        msg = (
            f"{action}: the server refused {_MAX_DIGEST_TRIES} answers to its Digest "
            "challenge without judging the password"
        )
        raise SipThorServerError(msg, status=HTTPStatus.UNAUTHORIZED)

    async def _send(
        self,
        session: aiohttp.ClientSession,
        action: str,
        method: str,
        target: URL,
        form: Mapping[str, str] | None,
        *,
        answer: DigestAnswer | None = None,
        turn: _Turn | None = None,
    ) -> _Reply:
        headers = dict(_HEADERS)
        if answer is not None:
            headers[hdrs.AUTHORIZATION] = answer.value
        if self._on_the_wire and not self._keeping:
            # Side by side with another request: its connection stays open for what comes
            # next, this one closes with its answer. Each open TLS connection holds some
            # 300 KiB (asyncio's read buffer of 256 KiB, OpenSSL's), which the allocator
            # keeps after it closes; polls take turns over one connection anyway. A burst
            # thus leaves one connection, not six, and accounts starting together hold
            # about the page's requests in flight and one each.
            headers[hdrs.CONNECTION] = "close"
        self._on_the_wire += 1
        try:
            async with session.request(
                method, target, data=form, headers=headers, ssl=self._ssl
            ) as response:
                refusal = None
                if self._digest is not None and response.status == HTTPStatus.UNAUTHORIZED:
                    # Answer the new nonce from now on, whether or not this request tries
                    # again.
                    refusal = self._read_refusal(self._digest, answer, response, turn)
                return _Reply(response.status, await _read_body(response, action), refusal)
        finally:
            self._on_the_wire -= 1

    def _read_refusal(
        self,
        digest: DigestAuth,
        answer: DigestAnswer | None,
        response: aiohttp.ClientResponse,
        turn: _Turn | None,
    ) -> DigestRefusal:
        try:
            refusal = digest.read_refusal(
                answer,
                response.headers.getall(hdrs.WWW_AUTHENTICATE, ()),
                server=_origin(self.url),
                alone=turn is not None and turn.alone,
            )
        except DigestDowngradeError as err:
            raise SipThorDowngradeError(err.offered, err.strongest) from None
        except DigestChallengeError as err:
            msg = f"The server's Digest challenge cannot be answered: {err}"
            raise SipThorServerError(msg, status=HTTPStatus.UNAUTHORIZED) from None
        if refusal.challenge.stale:
            _LOGGER.debug("The Digest nonce of %s went stale", self.url)
        elif answer is not None and not refusal.for_good:
            _LOGGER.debug("%s refused a Digest answer it may have taken out of order", self.url)
        return refusal

    def _parse(self, action: str, status: int, raw: bytes) -> ParsedBody:
        """The JSON value of an answer, or the client's error for what went wrong.

        Runs in an executor thread for a large answer: it changes nothing.
        """
        body = self._page_text(action, status, raw)
        try:
            return parse_body(body)
        except UnparsableBodyError as err:
            msg = f"{action} answered without JSON: {err}"
            raise SipThorServerError(msg) from err

    def _page_text(self, action: str, status: int, raw: bytes) -> str:
        """The text of a page that answered, or the client's error for why it did not."""
        if status == HTTPStatus.FORBIDDEN and self._digest is not None:
            # The Digest page refuses with 401 (docs/settings-api.md §2.5).
            msg = "HTTP 403: the page asks for a client certificate"
            raise SipThorCertificateRequiredError(msg)
        if status in (HTTPStatus.UNAUTHORIZED, HTTPStatus.FORBIDDEN):
            refused = "the SIP address or password" if self._digest else "the client certificate"
            msg = f"HTTP {status}: the server refused {refused}"
            raise SipThorAuthenticationError(msg)
        if status != HTTPStatus.OK:
            msg = f"{action} answered HTTP {status}"
            raise SipThorServerError(msg, status=status)
        body = raw.decode("utf-8", errors="replace")
        if is_credentials_error(body):
            raise SipThorAuthenticationError(readable_text(_error_text(body)))
        if not body.strip():
            msg = f"{action} answered with an empty body"
            raise SipThorEmptyBodyError(msg)
        return body

    def _report_prefix(self, action: str, prefix: str) -> None:
        """Log text printed before the JSON once at warning level, then at debug."""
        marker = (action, prefix[:300])
        known = marker in self._reported_prefixes
        # Bounded: a server that prints a timestamp makes every prefix new.
        if not known and len(self._reported_prefixes) < _MAX_PREFIX_REPORTS:
            self._reported_prefixes.add(marker)
            level = logging.WARNING
        else:
            level = logging.DEBUG
        _LOGGER.log(level, "Server warning with %s: %s", action, marker[1])

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


@dataclass(frozen=True, slots=True)
class _Reply:
    """What one request got: the status, the body, and a Digest refusal read from it."""

    status: int
    raw: bytes
    refusal: DigestRefusal | None = None


class _Turn:
    """One request's turn to send: whether it was alone in flight until its answer came."""

    def __init__(self, turns: _DigestTurns) -> None:
        self._turns = turns
        self._alone_from_start = turns.sending == 1
        self._started = turns.started

    @property
    def alone(self) -> bool:
        """Nothing else was sent since this turn began, and nothing was in flight then."""
        return self._alone_from_start and self._turns.started == self._started


class _DigestTurns:
    """When requests of a password client may be sent.

    Before the first challenge, one request goes unauthenticated and the others wait
    for the challenge it brings (at setup one 401, not three). A request sent again
    after a refusal that did not judge the password goes alone: nothing else is in
    flight, so a server that counts ``nc`` strictly cannot see it out of order.
    Otherwise requests go side by side, up to :data:`MAX_IN_FLIGHT`.
    """

    def __init__(self, auth: DigestAuth | None) -> None:
        self._auth = auth
        self._changed = asyncio.Condition()
        self.sending = 0
        self.started = 0
        self._probing = False
        self._alone = False
        self._waiting_alone = 0
        # Refusals that judged the password: one answers for every request refused with it.
        self.verdicts = 0

    def _may_start(self, *, alone: bool) -> bool:
        if self._alone or self._probing:
            return False
        if alone:
            return self.sending == 0
        return not self._waiting_alone

    @contextlib.asynccontextmanager
    async def turn(self, *, alone: bool) -> AsyncIterator[_Turn]:
        """Wait for a turn to send (``alone``: with nothing else in flight), and take it."""
        async with self._changed:
            self._waiting_alone += alone
            try:
                await self._changed.wait_for(lambda: self._may_start(alone=alone))
            finally:
                self._waiting_alone -= alone
            probing = self._auth is not None and self._auth.challenge is None
            self._probing = probing
            self._alone = alone
            self.sending += 1
            self.started += 1
            turn = _Turn(self)
        try:
            yield turn
        finally:
            async with self._changed:
                self.sending -= 1
                if probing:
                    self._probing = False
                if alone:
                    self._alone = False
                self._changed.notify_all()


@dataclass(frozen=True, slots=True)
class _Answer:
    """A parsed answer, and the size of the body it came in."""

    parsed: ParsedBody
    size: int


async def _off_loop_if_large[T](size: int, work: Callable[[], T]) -> T:
    """Run ``work`` on the event loop for a small answer, in an executor for a large one.

    Decoding, parsing and reading models are linear in the answer's size, but a large
    answer would still hold the loop for milliseconds (the goal is under 10 ms).
    """
    if size <= _OFF_LOOP_SIZE:
        return work()
    return await asyncio.get_running_loop().run_in_executor(None, work)


def _origin(url: str) -> str:
    """Who a page's Digest challenges come from: its scheme, host and port."""
    try:
        return str(URL(url).origin())
    except ValueError:  # a URL that never reaches a server anyway
        return url


def _too_large(action: str, what: str) -> SipThorServerError:
    return SipThorServerError(
        f"{action} {what}, more than {MAX_BODY_SIZE // 1024} KiB: no answer is that long"
    )


async def _read_body(response: aiohttp.ClientResponse, action: str) -> bytes:
    """The body, read up to :data:`MAX_BODY_SIZE`."""
    declared = response.content_length
    if declared is not None and declared > MAX_BODY_SIZE:
        raise _too_large(action, f"announced {declared} bytes")
    body = bytearray()
    # Read in chunks and stop at the cap: a server that sends no length, or more than
    # it announced, cannot make the client hold more.
    async for chunk in response.content.iter_chunked(_CHUNK_SIZE):
        body += chunk
        if len(body) > MAX_BODY_SIZE:
            raise _too_large(action, "sent a longer body")
    return bytes(body)


# How a voucher number may be repeated: its letters and digits in any case, grouped by
# up to three other characters (spaces, dashes, dots, what was markup).
_GROUPING: Final = r"[\W_]{0,3}"
_MASK: Final = "********"


def _masking(secret: str) -> Callable[[str], str]:
    """A function that masks every form of ``secret`` in a text."""
    characters = [character for character in secret if character.isalnum()] or list(secret)
    pattern = re.compile(
        _GROUPING.join(re.escape(character) for character in characters), re.IGNORECASE
    )

    def hide(text: str) -> str:
        # Full-width digits and the like read as the number too.
        readable = text if text.isascii() else unicodedata.normalize("NFKC", text)
        return pattern.sub(_MASK, readable)

    return hide


def _masked_error[E: SipThorError](err: E, hide: Callable[[str], str]) -> E:
    """``err`` with the secret masked in its text, cut from the errors it came from."""
    err.args = tuple(hide(arg) if isinstance(arg, str) else arg for arg in err.args)
    if isinstance(err, SipThorApiError):
        err.message = hide(err.message)
    # The errors it was raised from hold the server's text as it came.
    err.__cause__ = None
    err.__context__ = None
    err.__suppress_context__ = True
    return err


def _error_text(body: str) -> str:
    """A credentials error page, cut to its message (the Digest texts start the page)."""
    if len(body) <= _MAX_ERROR_TEXT:
        return body
    if is_credentials_error(body[-_MAX_ERROR_TEXT:]):
        return body[-_MAX_ERROR_TEXT:]
    return body[:_MAX_ERROR_TEXT]


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
