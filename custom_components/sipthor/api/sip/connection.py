"""One long-lived TLS or TCP connection to the SIP server.

The client opens it, and everything comes back on it: responses, and the server's
NOTIFYs, which the Contact and Via of each request point at this connection (RFC 5626
``ob``, RFC 5923 ``alias``, and the address the server saw, learned from ``received``
and ``rport`` of its responses, RFC 3581). It sends RFC 5626 CRLF pings, so that the
user's router and the server keep the connection open, and notices a dead one when the
pongs stop.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
import logging
import random
import ssl
from typing import Final

from .errors import SipServerCertificateError
from .headers import Via
from .locate import ServerTarget, Transport
from .message import trace_text
from .parser import KeepAlive, Malformed, StreamItem, StreamParser
from .status import StatusReason
from .timings import LiveTimings

_LOGGER = logging.getLogger(__name__)
# Enabled at debug level, this logger shows every message sent and received, with the
# credentials redacted.
TRACE_LOGGER: Final = logging.getLogger(f"{__package__}.trace")
_CHUNK: Final = 64 * 1024
# OpenSSL's verify codes for a certificate that names another host or address.
_NAME_MISMATCH: Final = frozenset({62, 64})
# Unsent bytes beyond this mean the server stopped reading: the connection is dropped.
_MAX_WRITE_BUFFER: Final = 256 * 1024

PING: Final = b"\r\n\r\n"
PONG: Final = b"\r\n"


class SipConnection:
    """A connected flow; :meth:`serve` reads it until it ends, and says why it did."""

    def __init__(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        target: ServerTarget,
        timings: LiveTimings,
        rng: random.Random,
    ) -> None:
        """Wrap an open stream; :meth:`open` is how a connection is made."""
        self._reader = reader
        self._writer = writer
        self.target = target
        self._timings = timings
        self._rng = rng
        self._parser = StreamParser()
        sockname = writer.get_extra_info("sockname")
        self.local_address: tuple[str, int] = (str(sockname[0]), int(sockname[1]))
        # The address and port the server sees this connection come from (behind NAT:
        # the router's); learned from the first response.
        self.public_address: tuple[str, int] | None = None
        self._keepalive_interval = timings.keepalive_interval
        self._pong = asyncio.Event()
        self._pongs_seen = False
        self._close_reason: StatusReason | None = None
        self.bytes_sent = 0
        self.bytes_received = 0
        self.pings_sent = 0
        self.pongs_received = 0

    def __repr__(self) -> str:
        """The server and the local end."""
        return f"SipConnection({self.target}, local={self.local_address})"

    @classmethod
    async def open(
        cls,
        target: ServerTarget,
        address: str,
        ssl_context: ssl.SSLContext,
        timings: LiveTimings,
        rng: random.Random,
        *,
        tls_names: tuple[str, ...] = (),
    ) -> tuple[SipConnection, str | None]:
        """Connect to ``address`` (one of the target's), and the TLS name that verified.

        The certificate must name one of ``tls_names`` (default: the target's), tried in
        order. Raises :class:`SipServerCertificateError` when it names none of them or
        does not verify at all; ``OSError`` or ``TimeoutError`` when nothing answers.
        """
        names: tuple[str | None, ...] = (None,)
        if target.transport is Transport.TLS:
            names = tls_names or target.tls_names or (target.host,)
        last_error: ssl.SSLCertVerificationError | None = None
        for name in names:
            try:
                async with asyncio.timeout(timings.connect_timeout):
                    reader, writer = await asyncio.open_connection(
                        address,
                        target.port,
                        ssl=ssl_context if name is not None else None,
                        server_hostname=name,
                        ssl_handshake_timeout=(
                            timings.connect_timeout if name is not None else None
                        ),
                    )
            except ssl.SSLCertVerificationError as error:
                last_error = error
                if error.verify_code in _NAME_MISMATCH:
                    continue
                break
            return cls(reader, writer, target, timings, rng), name
        detail = last_error.verify_message if last_error else "no certificate"
        msg = f"The certificate of {target} did not verify: {detail}"
        raise SipServerCertificateError(msg) from last_error

    @property
    def contact_address(self) -> tuple[str, int]:
        """Where the server should send requests: as it sees this connection."""
        return self.public_address or self.local_address

    def learn_address(self, via: Via) -> None:
        """Read ``received`` and ``rport`` of this client's Via in a response."""
        host = via.params.get("received") or None
        port = via.params.get("rport") or ""
        if host is None and not port:
            return
        try:
            public_port = int(port) if port else self.local_address[1]
        except ValueError:
            return
        self.public_address = (host or self.local_address[0], public_port)

    @property
    def keepalive_interval(self) -> float:
        """Seconds between pings, give or take a fifth."""
        return self._keepalive_interval

    def set_flow_timer(self, seconds: int) -> None:
        """The server's Flow-Timer (RFC 5626 §4.4.1): ping at 80-100 % of it from now on."""
        if seconds > 0:
            self._keepalive_interval = float(seconds)

    def send(self, data: bytes) -> None:
        """Write ``data``; a connection that stopped draining is closed instead."""
        if self._writer.is_closing():
            return
        if self._writer.transport.get_write_buffer_size() > _MAX_WRITE_BUFFER:
            self.close(StatusReason.CONNECTION_LOST)
            return
        if TRACE_LOGGER.isEnabledFor(logging.DEBUG) and data not in (PING, PONG):
            TRACE_LOGGER.debug("SIP to %s:\n%s", self.target, trace_text(data))
        self._writer.write(data)
        self.bytes_sent += len(data)

    def close(self, reason: StatusReason = StatusReason.CONNECTION_LOST) -> None:
        """Drop the connection at once (no TLS goodbye: the peer may be gone)."""
        if self._close_reason is None:
            self._close_reason = reason
        self._writer.transport.abort()

    async def serve(self, handle: Callable[[StreamItem], None]) -> StatusReason:
        """Read until the connection ends; hand every message and refusal to ``handle``."""
        loop = asyncio.get_running_loop()
        keepalive = loop.create_task(self._keepalive(), name=f"sipthor live keepalive {self}")
        message_deadline: float | None = None
        try:
            while self._close_reason is None:
                try:
                    async with asyncio.timeout_at(message_deadline):
                        data = await self._reader.read(_CHUNK)
                except TimeoutError:
                    _LOGGER.debug("%s: a message did not arrive whole in time", self)
                    self.close(StatusReason.FRAMING_LOST)
                    break
                except (OSError, ssl.SSLError) as error:
                    _LOGGER.debug("%s: %s", self, error)
                    break
                if not data:
                    break
                self.bytes_received += len(data)
                if TRACE_LOGGER.isEnabledFor(logging.DEBUG) and data.strip(b"\r\n"):
                    TRACE_LOGGER.debug("SIP from %s:\n%s", self.target, trace_text(data))
                items = self._parser.feed(data)
                for item in items:
                    self._dispatch(item, handle)
                if not self._parser.mid_message:
                    message_deadline = None
                elif message_deadline is None or items:
                    message_deadline = loop.time() + self._timings.message_timeout
        finally:
            keepalive.cancel()
            # gather, not a suppressed CancelledError: a cancellation of this task itself
            # must not be swallowed here.
            await asyncio.gather(keepalive, return_exceptions=True)
            self.close()
        return self._close_reason or StatusReason.CONNECTION_LOST

    def _dispatch(self, item: StreamItem, handle: Callable[[StreamItem], None]) -> None:
        if item is KeepAlive.PONG:
            self.pongs_received += 1
            self._pongs_seen = True
            self._pong.set()
        elif item is KeepAlive.PING:
            self.send(PONG)
        else:
            handle(item)
            if isinstance(item, Malformed) and item.framing_lost:
                self.close(StatusReason.FRAMING_LOST)

    async def _keepalive(self) -> None:
        """Ping; once the server has answered a ping, a missing pong ends the connection.

        A server that never answers (it does not implement RFC 5626) still gets the
        pings, which keep its idle timer and the router's mapping alive.
        """
        while True:
            await asyncio.sleep(self._keepalive_interval * self._rng.uniform(0.8, 1.0))
            self._pong.clear()
            self.send(PING)
            self.pings_sent += 1
            try:
                async with asyncio.timeout(self._timings.pong_timeout):
                    await self._pong.wait()
            except TimeoutError:
                if self._pongs_seen:
                    _LOGGER.debug("%s: no pong within %s s", self, self._timings.pong_timeout)
                    self.close(StatusReason.NO_ANSWER)
                    return
