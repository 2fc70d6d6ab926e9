"""Turn the settings page's answers into JSON values (docs/settings-api.md §4.6).

The page sends JSON as ``text/html``, may print an HTML error fragment or the
``Key … changed …`` lines of ``set_call_forwarding`` before it, and ends
authentication failures with the plain text ``X.509 Credentials error`` (its Digest
front prints a few texts of its own instead).

Everything here runs in time linear in the body's length: the body comes from a
server, and a maintenance page or a hostile proxy must not be able to make the
parser search for long (docs/settings-api.md §4.6 has no upper bound on the prefix).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
import html
import itertools
import json
import re
import time
from typing import Any

CREDENTIALS_ERROR = "X.509 Credentials error"
# What the Digest page prints with HTTP 200 when it cannot read the Authorization header,
# or when the account's domain is not served there (docs/settings-api.md §2.5).
DIGEST_CREDENTIALS_ERRORS = (
    "Invalid credentials from",
    "error: no domainFilter available",
    "HTP digest Credentials error",
)

# Values that may follow a prefix: the JSON the page prints after an HTML fragment is
# always an object, an array or one of these literals (numbers and strings could not
# be told from the text before them).
_LITERALS = {"null": None, "true": True, "false": False}
# "<" and ">" are both excluded inside a tag, so a run of "<" without a ">" is
# skipped in one pass instead of being rescanned from every "<".
_TAG = re.compile(r"<[^<>]*>")
_SPACE = re.compile(r"\s+")
# The server's own error texts: "Error (SipPort): <message> (<code>): <text>".
_SERVER_ERROR = re.compile(r"Error \(\w+\):.*")
# The reversed body is read from its start (the body's end) one token at a time. In
# it, a quote inside a JSON string is escaped by an odd number of backslashes, which
# follow the quote. Possessive quantifiers keep each match from backtracking, so a
# match costs one pass over what it takes; bounded repeats keep each match short, as
# the interpreter lock (and so the event loop) waits for a running match.
_ODD_BACKSLASHES = r"(?:\\\\)*+\\(?!\\)"
_STRING_UNITS = r'(?:[^"]++|"' + _ODD_BACKSLASHES + ")"
_REVERSED_TOKEN = re.compile(
    r"(?P<closing>[\]}]++)|(?P<opening>[\[{]++)"
    # Text outside strings, and short strings, up to the next bracket or long string.
    r'|(?:[^\[\]{}"]++|"' + _STRING_UNITS + r'{0,64}+"(?!' + _ODD_BACKSLASHES + r")){1,256}+"
    # The end of a long string, read on in pieces by _string_start.
    r'|"'
)
_STRING_PIECE = re.compile(_STRING_UNITS + "{1,256}+")
_ESCAPED_QUOTE = re.compile('"' + _ODD_BACKSLASHES)
# Answers nest four levels deep at most; Python's decoder gives up near a thousand.
# Deeper than this, the body is refused without walking the rest of it.
MAX_DEPTH = 512
# How often a scan in a worker thread gives the interpreter lock to the event loop.
_STEPS_PER_YIELD = 64
_PIECES_PER_YIELD = 8
_CONTAINERS_PER_YIELD = 1024
_MESSAGE_LENGTH = 200
# The page prints its error just before the JSON (docs/settings-api.md §4.6); of a
# longer prefix only this much nearest the JSON is kept, so that a huge page costs
# no more than this to make readable.
PREFIX_LIMIT = 16 * 1024


@dataclass(frozen=True, slots=True)
class ParsedBody:
    """The JSON value at the end of a body, and the text the server printed before it."""

    value: Any
    prefix: str

    @property
    def server_error(self) -> str | None:
        """The server's error message in the prefix (``Error (SipPort): …``), if any."""
        match = _SERVER_ERROR.search(self.prefix)
        return match.group(0).strip() if match else None


class UnparsableBodyError(ValueError):
    """The body holds no JSON value that reaches its end."""


def parse_body(body: str) -> ParsedBody:
    """Find the JSON value that ends ``body``; keep what precedes it as readable text.

    Raises :class:`UnparsableBodyError` when no JSON value ends the body, including
    one nested too deeply to decode.
    """
    text = body.strip()
    value = _decode(text)
    if value is not _NOTHING:
        return ParsedBody(value, "")
    start = _value_start(text)
    if start is not None and start > 0:
        value = _decode(text[start:])
        if value is not _NOTHING:
            return ParsedBody(value, readable_text(text[max(start - PREFIX_LIMIT, 0) : start]))
    raise UnparsableBodyError(_excerpt(text))


_NOTHING: Any = object()


def _decode(text: str) -> Any:
    """The JSON value ``text`` holds, or ``_NOTHING``; also for one nested too deeply."""
    try:
        value = json.loads(text)
    except RecursionError:  # nested deeper than the interpreter's recursion limit
        return _NOTHING
    except ValueError:  # also integers over the digit limit of int()
        return _NOTHING
    # Python 3.14's decoder no longer stops near a thousand levels: the limit is ours.
    return _NOTHING if _deeper_than(value, MAX_DEPTH) else value


def _deeper_than(value: Any, limit: int) -> bool:
    """Whether ``value`` nests lists and objects more than ``limit`` levels deep.

    Walks with a stack of its own, not by recursion, in time linear in the value. In
    a worker thread it lets the event loop's thread take the interpreter lock every
    few steps.
    """
    if not isinstance(value, list | dict):
        return False
    pending: list[tuple[Any, int]] = [(value, 1)]
    in_worker_thread = not on_event_loop()
    steps = 0
    while pending:
        steps += 1
        if in_worker_thread and steps % _CONTAINERS_PER_YIELD == 0:
            time.sleep(0)
        item, depth = pending.pop()
        children = item.values() if isinstance(item, dict) else item
        if depth > limit:
            return True
        pending.extend((child, depth + 1) for child in children if isinstance(child, list | dict))
    return False


def _value_start(text: str) -> int | None:
    """Where the only JSON value that could end ``text`` starts, or None.

    Walks back from the last character once: a literal is recognised by its letters;
    a closing bracket is matched with its opening bracket, skipping JSON strings. A
    JSON value that ends the body has exactly one such start, so one ``json.loads``
    from there decides.
    """
    for literal in _LITERALS:
        if text.endswith(literal):
            return len(text) - len(literal)
    if not text.endswith(("}", "]")):
        return None
    reversed_text = text[::-1]
    depth = 0
    position = 0
    in_worker_thread = not on_event_loop()
    for step in itertools.count(1):
        if position >= len(reversed_text):
            break
        if in_worker_thread and step % _STEPS_PER_YIELD == 0:
            # Let the event loop's thread take the interpreter lock now rather than wait
            # out the 5 ms switch interval.
            time.sleep(0)
        token = _REVERSED_TOKEN.match(reversed_text, position)
        if token is None:  # pragma: no cover - every character starts some token
            return None
        if closing := token.group("closing"):
            depth += len(closing)
            if depth > MAX_DEPTH:
                return None
        elif opening := token.group("opening"):
            if len(opening) >= depth:
                # The opening bracket that closes the last one: the value starts there.
                return len(text) - (position + depth)
            depth -= len(opening)
        elif token.group() == '"':
            position = _string_start(reversed_text, token.end(), in_worker_thread)
            if position < 0:  # a JSON string that never starts: no JSON ends the body
                return None
            continue
        position = token.end()
    return None


def _string_start(reversed_text: str, position: int, in_worker_thread: bool) -> int:
    """Just past the quote that opens the string whose content starts at ``position``."""
    for step in itertools.count(1):
        if position >= len(reversed_text):
            break
        if in_worker_thread and step % _PIECES_PER_YIELD == 0:
            time.sleep(0)
        if piece := _STRING_PIECE.match(reversed_text, position):
            position = piece.end()
        if reversed_text.startswith('"', position) and not _ESCAPED_QUOTE.match(
            reversed_text, position
        ):
            return position + 1
        if position >= len(reversed_text) or piece is None:
            break
    return -1


def on_event_loop() -> bool:
    """Whether this thread runs an event loop (where ``time.sleep`` must not be called)."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True


def _excerpt(text: str) -> str:
    """The start of ``text`` as readable text, for an error message."""
    # Tags and entities shrink when made readable: take enough to fill the message.
    return readable_text(text[: _MESSAGE_LENGTH * 20])[:_MESSAGE_LENGTH]


def is_credentials_error(body: str) -> bool:
    """Whether the body is one of the authentication failures of docs/settings-api.md §2.2, §2.5."""
    text = body.strip()
    return text.endswith(CREDENTIALS_ERROR) or text.startswith(DIGEST_CREDENTIALS_ERRORS)


def readable_text(fragment: str) -> str:
    """An HTML fragment as one line of text, for a log message or an error."""
    return _SPACE.sub(" ", html.unescape(_TAG.sub(" ", fragment))).strip()
