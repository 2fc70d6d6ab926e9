"""The hardened reader of the SIP byte stream from the server.

SIP over TCP and TLS is a stream: a message ends where its Content-Length says, and
between messages come the bare CRLFs of keep-alives (RFC 5626 §3.5.1). Everything here
is bounded, so that no input can hold much memory or the event loop for long:

- the header section is at most :data:`MAX_HEADER_BYTES`, with at most
  :data:`MAX_HEADERS` lines; each is checked for control characters before it is decoded;
- a body above :data:`MAX_BODY_BYTES` is skipped as it arrives, never stored;
- each call to :meth:`StreamParser.feed` does work linear in the bytes given to it.

What cannot be read comes out as :class:`Malformed`: with the message when it can still be
answered (a 4xx), and ``framing_lost`` when the stream no longer says where the next
message starts. The connection must then be closed: the subscriptions come back on a new
one, with their full state.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
import re
from typing import Final

from .errors import MessageProblem
from .headers import is_token, parse_cseq
from .message import COMPACT_FORMS, Headers, SipRequest, SipResponse

# The largest header section read. A NOTIFY or a response from the platform carries
# under 2 KB of headers; 16 KiB leaves room for long Record-Route sets.
MAX_HEADER_BYTES: Final = 16 * 1024
# Header lines per message: about 15 in practice.
MAX_HEADERS: Final = 64
# The largest body read. A dialog-info document of a few calls is 1-3 KB, a
# message-summary a few hundred bytes; Kamailio's own TCP read buffer is 4 KB by default.
MAX_BODY_BYTES: Final = 64 * 1024

_REQUEST_LINE: Final = re.compile(rb"([A-Za-z0-9.!%*_+`'~-]+) ([\x21-\x7e]+) SIP/2\.0")
_RESPONSE_LINE: Final = re.compile(rb"SIP/2\.0 ([1-6][0-9]{2}) ([^\x00-\x08\x0a-\x1f\x7f]*)")
# In bytes, before decoding: anything that is no printable text, a tab or UTF-8.
_UNSAFE_BYTES: Final = re.compile(rb"[\x00-\x08\x0a-\x1f\x7f]")
# Every Content-Length line, compact form included, found in one scan of the section.
_CONTENT_LENGTH: Final = re.compile(
    rb"(?<=\r\n)(?:content-length|l)[ \t]*:([^\r\n]*)", re.IGNORECASE
)
_LENGTH_VALUE: Final = re.compile(rb"[ \t]*(\d{1,9})[ \t]*")
_CR_LF: Final = frozenset(b"\r\n")
_LINE_BREAKS: Final = re.compile(rb"[\r\n]+")
_REQUIRED: Final = ("via", "from", "to", "call-id", "cseq")


class KeepAlive(StrEnum):
    """CRLFs between messages: the server's ping (answered with a pong) or its pong."""

    PING = "ping"
    PONG = "pong"


@dataclass(frozen=True, slots=True)
class Malformed:
    """A message refused, with what could be read of it (its body always dropped)."""

    problem: MessageProblem
    message: SipRequest | SipResponse | None = None
    framing_lost: bool = False


type StreamItem = SipRequest | SipResponse | Malformed | KeepAlive


class _HeadError(Exception):
    def __init__(self, problem: MessageProblem) -> None:
        super().__init__(problem)
        self.problem = problem


@dataclass(slots=True)
class _Head:
    message: SipRequest | SipResponse | None
    content_length: int
    problem: MessageProblem | None


class StreamParser:
    """Bytes in, messages out; keeps at most one header section and one body."""

    def __init__(
        self,
        *,
        max_header_bytes: int = MAX_HEADER_BYTES,
        max_body_bytes: int = MAX_BODY_BYTES,
    ) -> None:
        """Limits other than the defaults are for tests."""
        self._max_header_bytes = max_header_bytes
        self._max_body_bytes = max_body_bytes
        self._buffer = bytearray()
        self._scan_from = 0
        # The message whose body is awaited, and how many bytes of it.
        self._pending: SipRequest | SipResponse | None = None
        self._body_length = 0
        # Bytes of a refused body still to be thrown away.
        self._skip = 0
        self._broken = False

    @property
    def mid_message(self) -> bool:
        """Whether part of a message has arrived and the rest is awaited."""
        return bool(self._buffer) or self._pending is not None or self._skip > 0

    def feed(self, data: bytes) -> list[StreamItem]:
        """The messages, keep-alives and refusals that ``data`` completes."""
        if self._broken:
            return []
        self._buffer += data
        items: list[StreamItem] = []
        while self._step(items):
            pass
        return items

    def _step(self, items: list[StreamItem]) -> bool:
        """Read one thing from the buffer; False when more bytes are needed."""
        buffer = self._buffer
        if self._skip:
            taken = min(self._skip, len(buffer))
            del buffer[:taken]
            self._skip -= taken
            return bool(buffer) and not self._skip
        if self._pending is not None:
            if len(buffer) < self._body_length:
                return False
            message = self._pending
            body = bytes(buffer[: self._body_length])
            del buffer[: self._body_length]
            self._pending = None
            if isinstance(message, SipRequest):
                items.append(SipRequest(message.method, message.uri, message.headers, body))
            else:
                items.append(SipResponse(message.status, message.reason, message.headers, body))
            return True
        if not buffer:
            return False
        if buffer[0] in _CR_LF:
            return self._keepalive(items)
        end = buffer.find(b"\r\n\r\n", self._scan_from)
        if end < 0:
            if len(buffer) > self._max_header_bytes:
                return self._lose_framing(items, MessageProblem.HEADER_TOO_LARGE)
            self._scan_from = max(0, len(buffer) - 3)
            return False
        if end + 4 > self._max_header_bytes:
            return self._lose_framing(items, MessageProblem.HEADER_TOO_LARGE)
        raw = bytes(buffer[:end])
        del buffer[: end + 4]
        self._scan_from = 0
        try:
            head = _parse_head(raw)
        except _HeadError as error:
            return self._lose_framing(items, error.problem)
        if head.message is None or head.problem or head.content_length > self._max_body_bytes:
            problem = head.problem or MessageProblem.BODY_TOO_LARGE
            items.append(Malformed(problem, head.message))
            self._skip = head.content_length
            return bool(buffer)
        self._pending = head.message
        self._body_length = head.content_length
        return True

    def _keepalive(self, items: list[StreamItem]) -> bool:
        """Consume the CRs and LFs at a message boundary; a last lone CR waits for its LF."""
        buffer = self._buffer
        run = _LINE_BREAKS.match(buffer)
        end = run.end() if run else 0
        if end == len(buffer) and buffer.endswith(b"\r"):
            end -= 1
        if end == 0:
            return False
        crlfs = buffer[:end]
        del buffer[:end]
        if b"\r\n\r\n" in crlfs:
            items.append(KeepAlive.PING)
        elif b"\r\n" in crlfs:
            items.append(KeepAlive.PONG)
        return bool(buffer)

    def _lose_framing(self, items: list[StreamItem], problem: MessageProblem) -> bool:
        items.append(Malformed(problem, framing_lost=True))
        self._broken = True
        self._buffer.clear()
        return False


def _parse_head(raw: bytes) -> _Head:
    """The start line and header fields; raises _HeadError when framing is lost."""
    start, _, rest = raw.partition(b"\r\n")
    start_line = _start_line(start)
    lines = rest.split(b"\r\n") if rest else []
    content_length = _content_length(raw)
    if len(lines) > MAX_HEADERS:
        # Reading thousands of short lines would take the loop for milliseconds; the
        # Content-Length alone (found above by one regular-expression scan) is enough
        # to skip the message.
        return _Head(None, content_length, MessageProblem.TOO_MANY_HEADERS)
    fields: list[tuple[str, str]] = []
    problem: MessageProblem | None = None
    for line in lines:
        if line[:1] in (b" ", b"\t"):
            # A folded line continues the field before it (RFC 3261 §7.3.1).
            if not fields or _UNSAFE_BYTES.search(line):
                problem = problem or MessageProblem.BAD_HEADER
                continue
            try:
                name, value = fields[-1]
                fields[-1] = (name, f"{value} {line.decode().strip()}")
            except UnicodeDecodeError:
                problem = problem or MessageProblem.NOT_UTF8
            continue
        if _UNSAFE_BYTES.search(line):
            problem = problem or MessageProblem.CONTROL_CHARACTER
            continue
        try:
            text = line.decode()
        except UnicodeDecodeError:
            problem = problem or MessageProblem.NOT_UTF8
            continue
        name, colon, value = text.partition(":")
        name = name.strip()
        if not colon or not is_token(name):
            problem = problem or MessageProblem.BAD_HEADER
            continue
        lower = name.lower()
        fields.append((COMPACT_FORMS.get(lower, lower), value.strip()))
    headers = Headers(tuple(fields))
    message: SipRequest | SipResponse
    if isinstance(start_line, int):
        message = SipResponse(start_line, _reason(start), headers)
    else:
        message = SipRequest(start_line[0], start_line[1], headers)
    if isinstance(message, SipRequest):
        if any(headers.get(name) is None for name in _REQUIRED):
            problem = problem or MessageProblem.MISSING_HEADER
        else:
            try:
                parse_cseq(headers.get("cseq") or "")
            except ValueError:
                problem = problem or MessageProblem.BAD_HEADER
    return _Head(message, content_length, problem)


def _start_line(start: bytes) -> tuple[str, str] | int:
    """``(method, uri)`` of a request line, or the status code of a status line."""
    if request := _REQUEST_LINE.fullmatch(start):
        return request.group(1).decode().upper(), request.group(2).decode()
    if response := _RESPONSE_LINE.fullmatch(start):
        return int(response.group(1))
    # Not the start of a message: the rest of a body whose Content-Length was too small,
    # or no SIP at all. Where the next message starts is unknown.
    raise _HeadError(MessageProblem.BAD_START_LINE)


def _reason(start: bytes) -> str:
    """The reason phrase of a status line, empty when it is not UTF-8."""
    try:
        return start[12:].decode()
    except UnicodeDecodeError:
        return ""


def _content_length(raw: bytes) -> int:
    """The one Content-Length (absent: 0); raises _HeadError when it cannot frame the body.

    Read from the raw bytes, so that a line refused for another reason still frames its
    body. Several different values, or one that is no number, lose the framing.
    """
    values: set[int] = set()
    for match in _CONTENT_LENGTH.finditer(raw):
        value = _LENGTH_VALUE.fullmatch(match.group(1))
        if value is None:
            raise _HeadError(MessageProblem.BAD_CONTENT_LENGTH)
        values.add(int(value.group(1)))
    if len(values) > 1:
        raise _HeadError(MessageProblem.BAD_CONTENT_LENGTH)
    return values.pop() if values else 0
