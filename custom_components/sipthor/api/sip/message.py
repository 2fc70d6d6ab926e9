"""SIP messages: what the parser hands over, and what the client writes.

Only the part of RFC 3261 that a subscriber needs: requests and responses with their
header fields in order, bodies as bytes. Writing refuses any header value that could
end the line early (header injection), whoever supplied it.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
import re
from typing import Final

from .headers import parse_cseq

# RFC 3261 §7.3.3 and the event framework's (RFC 6665 §8.2.4): compact forms.
COMPACT_FORMS: Final = {
    "i": "call-id",
    "m": "contact",
    "e": "content-encoding",
    "l": "content-length",
    "c": "content-type",
    "f": "from",
    "s": "subject",
    "k": "supported",
    "t": "to",
    "v": "via",
    "o": "event",
    "u": "allow-events",
    "r": "refer-to",
    "b": "referred-by",
    "x": "session-expires",
}
# Any control character but horizontal tab: a CR, LF or NUL would end or split a line.
UNSAFE_TEXT: Final = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")
# Headers whose values prove who is asking: never written to a log.
_CREDENTIALS: Final = re.compile(
    rb"^((?:proxy-)?authorization)[ \t]*:[^\r\n]*", re.IGNORECASE | re.MULTILINE
)
_TRACE_BODY_LIMIT: Final = 2048
_TRACE_HEAD_LIMIT: Final = 16 * 1024
# Every control character but the line feed, shown as "?".
_CONTROLS_SHOWN: Final = {code: "?" for code in (*range(0x20), 0x7F) if code != ord("\n")}
_PRETTY: Final = {"from": "From", "to": "To", "call-id": "Call-ID", "cseq": "CSeq"}


@dataclass(frozen=True, slots=True)
class Headers:
    """Header fields in the order received, names in lower case and compact forms expanded."""

    fields: tuple[tuple[str, str], ...] = ()

    def get(self, name: str) -> str | None:
        """The first value of ``name``, or None."""
        name = name.lower()
        for field_name, value in self.fields:
            if field_name == name:
                return value
        return None

    def get_all(self, name: str) -> list[str]:
        """Every value of ``name``, in order (each header line one item)."""
        name = name.lower()
        return [value for field_name, value in self.fields if field_name == name]


class _DialogHeaders:
    """What requests and responses both answer: their Call-ID and CSeq."""

    __slots__ = ()
    headers: Headers

    @property
    def call_id(self) -> str | None:
        """The Call-ID."""
        return self.headers.get("call-id")

    @property
    def cseq(self) -> tuple[int, str] | None:
        """``(number, method)`` of the CSeq, or None when it cannot be read."""
        value = self.headers.get("cseq")
        if value is None:
            return None
        try:
            return parse_cseq(value)
        except ValueError:
            return None


@dataclass(frozen=True, slots=True)
class SipRequest(_DialogHeaders):
    """A request received from the server (NOTIFY, OPTIONS, …)."""

    method: str
    uri: str
    headers: Headers
    body: bytes = b""


@dataclass(frozen=True, slots=True)
class SipResponse(_DialogHeaders):
    """A response to one of the client's requests."""

    status: int
    reason: str
    headers: Headers
    body: bytes = b""


type HeaderList = Sequence[tuple[str, str]]


def _head(start_line: str, headers: HeaderList, body: bytes) -> bytes:
    lines = [start_line]
    for name, value in headers:
        if UNSAFE_TEXT.search(name) or UNSAFE_TEXT.search(value) or ":" in name:
            msg = f"Refusing to write the header {name!r}: it holds a control character"
            raise ValueError(msg)
        lines.append(f"{name}: {value}")
    lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


def serialize_request(method: str, uri: str, headers: HeaderList, body: bytes = b"") -> bytes:
    """A request on the wire; Content-Length is added."""
    if UNSAFE_TEXT.search(uri) or " " in uri:
        msg = "Refusing to write a Request-URI with a space or a control character"
        raise ValueError(msg)
    return _head(f"{method} {uri} SIP/2.0", headers, body)


def serialize_response(
    request: SipRequest,
    status: int,
    reason: str,
    *,
    to_tag: str | None = None,
    extra: Iterable[tuple[str, str]] = (),
) -> bytes:
    """The answer to ``request``: its Via, From, To, Call-ID and CSeq, then ``extra``.

    ``to_tag`` is added to a To without a tag (a dialog this side creates or refuses).
    """
    headers: list[tuple[str, str]] = [("Via", value) for value in request.headers.get_all("via")]
    for name in ("from", "to", "call-id", "cseq"):
        value = request.headers.get(name)
        if value is None:
            continue
        if name == "to" and to_tag and ";tag=" not in value.replace(" ", "").lower():
            value = f"{value};tag={to_tag}"
        headers.append((_PRETTY[name], value))
    headers.extend(extra)
    return _head(f"SIP/2.0 {status} {reason}", headers, b"")


def trace_text(data: bytes) -> str:
    """A message as a debug trace shows it: credentials redacted, the body cut short.

    A Digest response is a hash of the password; a trace pasted into a bug report must
    not let anyone try passwords against it offline.
    """
    head, separator, body = data.partition(b"\r\n\r\n")
    if len(body) > _TRACE_BODY_LIMIT:
        body = body[:_TRACE_BODY_LIMIT] + b"\n[%d more bytes]" % (len(body) - _TRACE_BODY_LIMIT)
    head = _CREDENTIALS.sub(rb"\1: <redacted>", head[:_TRACE_HEAD_LIMIT])
    text = (head + separator + body).decode("utf-8", errors="replace").replace("\r\n", "\n")
    # Whatever the server sent, the log gets one readable record, not terminal controls.
    return text.translate(_CONTROLS_SHOWN)
