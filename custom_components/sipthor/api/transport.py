"""How one account's requests reach its settings page, and their answers come back.

The session, TLS, the size cap on answers, the bound on requests in flight, writes one
at a time, and the answers to the page's Digest challenges.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator, Mapping
import contextlib
from dataclasses import dataclass
from http import HTTPStatus
import logging
import ssl
from types import TracebackType
from typing import Any, Final, Self

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
from .digest_turns import DigestTurn, DigestTurns
from .errors import (
    SipThorAuthenticationError,
    SipThorCertificateRequiredError,
    SipThorConnectionError,
    SipThorDowngradeError,
    SipThorServerCertificateError,
    SipThorServerError,
    SipThorWriteTimeoutError,
)

_LOGGER = logging.getLogger(__package__)

DEFAULT_URL: Final = "https://enrollment.sipthor.net/settings.phtml"
# The Digest front of the same page: what Blink opens (docs/settings-api.md §2.5).
DIGEST_URL: Final = "https://blink.sipthor.net/settings.phtml"
DEFAULT_TIMEOUT: Final = 30.0
# Shorter than a read: a write the user waits for should fail fast, and one that times
# out may still be applied (SipThorWriteTimeoutError), so waiting longer buys little.
DEFAULT_WRITE_TIMEOUT: Final = 15.0
# Requests in flight per client. Each costs the platform 6 to 9 back-end calls
# (docs/settings-api.md §3), whether side by side or in turn. Six lets a setup read what
# the entities enabled by default show in two round trips (its three sources, and from
# the second start on three of the others beside them; then the rest), without one
# account keeping more of the server busy than that; the polls after it take turns anyway.
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
# Answers one request gives to Digest challenges before it gives up: the first learns the
# challenge, a second may be taken out of order by a strict server, a third may meet a
# nonce gone stale meanwhile.
_MAX_DIGEST_TRIES: Final = 4
# Compressed answers would be inflated before the size cap could see them.
_HEADERS: Final = {"Accept-Encoding": "identity"}
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


class PageTransport:
    """Sends one account's requests to its settings page: the base of the client.

    At most :data:`MAX_IN_FLIGHT` requests are in flight at once, and writes go one at a
    time. A request's timeout includes its wait for a turn. The session is the caller's
    when given; otherwise the transport makes one and closes it in :meth:`close`.
    """

    def __init__(
        self,
        account: str,
        url: str,
        ssl_context: ssl.SSLContext | bool,
        digest: DigestAuth | None,
        session: aiohttp.ClientSession | None,
        *,
        request_timeout: float,
        write_timeout: float,
    ) -> None:
        """Send ``account``'s requests to ``url``; ``digest`` signs in with a password."""
        self.account = account
        self.url = url
        self.request_timeout = request_timeout
        self.write_timeout = write_timeout
        self._ssl = ssl_context
        self._digest = digest
        self._digest_turns = DigestTurns(self._digest)
        self._session = session
        self._close_session = False
        self._in_flight = asyncio.Semaphore(MAX_IN_FLIGHT)
        self._on_the_wire = 0
        # Above 0 while every request keeps its connection open (keep_connections).
        self._keeping = 0
        self._write_lock = asyncio.Lock()

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
        turn: DigestTurn | None = None,
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
        turn: DigestTurn | None,
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
