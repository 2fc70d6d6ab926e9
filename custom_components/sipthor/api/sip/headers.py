"""The few SIP header values this client reads, parsed in bounded, linear time.

Header values reach these functions only after the stream parser has refused control
characters and capped the header section (parser.py), so each is a short line of text.
Every function raises :class:`ValueError` for a value it cannot read.
"""

from __future__ import annotations

from dataclasses import dataclass, field
import re
from typing import Final

# RFC 3261 §25.1: token characters.
_TOKEN: Final = re.compile(r"[A-Za-z0-9.!%*_+`'~-]+")
_NUMBER: Final = re.compile(r"\s*(\d{1,10})")
# scheme:rest, without the characters that delimit a URI in a header.
_URI: Final = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*:[^\s\"<>]+")
_CSEQ: Final = re.compile(r"\s*(\d{1,10})\s+([A-Za-z0-9.!%*_+`'~-]+)\s*")
_SENT_PROTOCOL: Final = re.compile(r"\s*SIP\s*/\s*2\.0\s*/\s*([A-Za-z]+)\s+", re.IGNORECASE)
# host[:port], the host an IPv6 reference, an IPv4 address or a name.
_HOSTPORT: Final = re.compile(r"(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+)(?::(\d{1,5}))?")
# Header values are read by jumping from one separator or quote to the next, each quoted
# string matched once without backtracking: linear in the value, which a hostile server
# can make 16 KiB long.
_QUOTED: Final = re.compile(r'"((?:[^"\\]++|\\.)*+)"')
_ESCAPE: Final = re.compile(r"\\(.)")
_LIST_SPECIALS: Final = re.compile(r'[",<]')
_PARAM_SPECIALS: Final = re.compile(r'[;"]')
# Separators and quoted strings in one value: a dozen in real traffic.
_MAX_STEPS: Final = 64


def is_token(value: str) -> bool:
    """Whether ``value`` is one RFC 3261 token (a method, a parameter name, a tag)."""
    return _TOKEN.fullmatch(value) is not None


def _split(value: str, specials: re.Pattern[str], separator: str) -> list[str]:
    """``value`` cut at ``separator`` outside quoted strings (and ``<>`` for lists)."""
    parts: list[str] = []
    start = position = 0
    for _ in range(_MAX_STEPS):
        special = specials.search(value, position)
        if special is None:
            parts.append(value[start:])
            return parts
        char = special.group()
        if char == separator:
            parts.append(value[start : special.start()])
            start = position = special.end()
        elif char == "<":
            end = value.find(">", special.end())
            if end < 0:
                msg = "unterminated <uri>"
                raise ValueError(msg)
            position = end + 1
        else:
            quoted = _QUOTED.match(value, special.start())
            if quoted is None:
                msg = "unterminated quoted string"
                raise ValueError(msg)
            position = quoted.end()
    msg = "too many items or quoted strings"
    raise ValueError(msg)


def split_list(value: str) -> list[str]:
    """The comma-separated items of a header value, commas in quotes and ``<>`` kept."""
    return [item for part in _split(value, _LIST_SPECIALS, ",") if (item := part.strip())]


def parse_params(text: str) -> dict[str, str]:
    """``;name=value;flag;name="quoted"`` → ``{name: value, flag: ""}``, names lower case.

    The first occurrence of a name wins.
    """
    params: dict[str, str] = {}
    for item in _split(text, _PARAM_SPECIALS, ";"):
        name, equals, value = item.partition("=")
        name = name.strip().lower()
        if not name:
            continue
        if not is_token(name):
            msg = "bad parameter name"
            raise ValueError(msg)
        value = value.strip()
        if equals and value.startswith('"'):
            value = _unquote(value)
        params.setdefault(name, value)
    return params


def _unquote(value: str) -> str:
    match = _QUOTED.fullmatch(value)
    if match is None:
        msg = "unterminated quoted string"
        raise ValueError(msg)
    return _ESCAPE.sub(r"\1", match.group(1))


@dataclass(frozen=True, slots=True)
class NameAddr:
    """A From, To, Contact or Route value: display name, URI and header parameters."""

    uri: str
    display_name: str | None = None
    params: dict[str, str] = field(default_factory=dict)

    @property
    def tag(self) -> str | None:
        """The ``tag`` parameter of From and To."""
        return self.params.get("tag") or None


def parse_name_addr(value: str) -> NameAddr:
    """``"Bob" <sip:bob@example.org>;tag=1`` or ``sip:bob@example.org;tag=1``."""
    text = value.strip()
    display: str | None = None
    if text.startswith('"'):
        quoted = _QUOTED.match(text)
        if quoted is None:
            msg = "unterminated quoted string"
            raise ValueError(msg)
        display = _ESCAPE.sub(r"\1", quoted.group(1))
        text = text[quoted.end() :].lstrip()
        if not text.startswith("<"):
            msg = "display name without <uri>"
            raise ValueError(msg)
    if "<" in text:
        opening = text.index("<")
        closing = text.find(">", opening)
        if closing < 0:
            msg = "unterminated <uri>"
            raise ValueError(msg)
        if display is None:
            display = text[:opening].strip() or None
        uri = text[opening + 1 : closing].strip()
        rest = text[closing + 1 :].strip()
    else:
        uri, _, rest = text.partition(";")
        uri = uri.strip()
        rest = ";" + rest if rest else ""
    if not _URI.fullmatch(uri):
        msg = "bad URI"
        raise ValueError(msg)
    if rest and not rest.startswith(";"):
        msg = "text after the URI"
        raise ValueError(msg)
    return NameAddr(uri=uri, display_name=display, params=parse_params(rest[1:]) if rest else {})


def tag_of(value: str | None) -> str | None:
    """The ``tag`` of a From or To value; None when absent or unreadable."""
    if value is None:
        return None
    try:
        return parse_name_addr(value).tag
    except ValueError:
        return None


@dataclass(frozen=True, slots=True)
class Via:
    """The parts of a Via value that routing needs (RFC 3261 §18, RFC 3581)."""

    transport: str
    host: str
    port: int | None
    params: dict[str, str]

    @property
    def branch(self) -> str | None:
        """The transaction's branch."""
        return self.params.get("branch") or None


def parse_via(value: str) -> Via:
    """One Via value: ``SIP/2.0/TLS host:port;branch=…;received=…;rport=…``."""
    protocol = _SENT_PROTOCOL.match(value)
    if protocol is None:
        msg = "bad Via protocol"
        raise ValueError(msg)
    rest = value[protocol.end() :]
    hostport = _HOSTPORT.match(rest)
    if hostport is None:
        msg = "bad Via host"
        raise ValueError(msg)
    after = rest[hostport.end() :].strip()
    if after and not after.startswith(";"):
        msg = "text after the Via host"
        raise ValueError(msg)
    port = int(hostport.group(2)) if hostport.group(2) else None
    return Via(
        transport=protocol.group(1).upper(),
        host=hostport.group(1),
        port=port,
        params=parse_params(after[1:]) if after else {},
    )


def parse_cseq(value: str) -> tuple[int, str]:
    """``314159 SUBSCRIBE`` → ``(314159, "SUBSCRIBE")``."""
    match = _CSEQ.fullmatch(value)
    if match is None:
        msg = "bad CSeq"
        raise ValueError(msg)
    return int(match.group(1)), match.group(2).upper()


def parse_number(value: str) -> int:
    """The leading number of Expires, Min-Expires, Retry-After or Flow-Timer."""
    match = _NUMBER.match(value)
    if match is None:
        msg = "not a number"
        raise ValueError(msg)
    return int(match.group(1))


@dataclass(frozen=True, slots=True)
class SubscriptionStateValue:
    """``Subscription-State`` (RFC 6665 §8.2.3)."""

    state: str
    expires: int | None = None
    reason: str | None = None
    retry_after: int | None = None


def parse_subscription_state(value: str) -> SubscriptionStateValue:
    """``active;expires=600`` or ``terminated;reason=noresource``."""
    state, _, rest = value.partition(";")
    state = state.strip().lower()
    if not is_token(state):
        msg = "bad Subscription-State"
        raise ValueError(msg)
    params = parse_params(rest)

    def number(name: str) -> int | None:
        raw = params.get(name)
        return parse_number(raw) if raw else None

    return SubscriptionStateValue(
        state=state,
        expires=number("expires"),
        reason=params.get("reason", "").lower() or None,
        retry_after=number("retry-after"),
    )


def media_type(value: str | None) -> str | None:
    """``Application/Dialog-Info+XML; charset=UTF-8`` → ``application/dialog-info+xml``."""
    if value is None:
        return None
    return value.partition(";")[0].strip().lower() or None


def event_package(value: str | None) -> str | None:
    """``dialog;id=1`` → ``dialog``."""
    if value is None:
        return None
    return value.partition(";")[0].strip().lower() or None
