"""What a hostile server sends, and how its cost is measured without the wall clock.

The suite must pass on a busy machine, where the wall clock also counts the time the
operating system gives other processes. So costs are CPU time of the thread that does
the work (``time.thread_time``): of a function called here, or of the event loop's
thread between two of its turns. Wall-clock figures are the bench's (scripts/bench).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
import contextlib
from dataclasses import dataclass, field
import gc
import json
from pathlib import Path
import time
from typing import Any

from hypothesis import strategies as st

from custom_components.sipthor.api import MAX_BODY_SIZE

# The watchdog's sleep between two turns of the loop.
_TICK = 0.001


def cpu_time(work: Callable[[], object], *, repeats: int = 3) -> float:
    """The least CPU time of this thread that ``work`` takes, in seconds.

    The garbage collector is off meanwhile: a collection of the whole test process's
    heap would be counted against whatever work happened to trigger it.
    """
    best = float("inf")
    enabled = gc.isenabled()
    gc.disable()
    try:
        for _ in range(repeats):
            started = time.thread_time()
            with contextlib.suppress(Exception):
                work()
            best = min(best, time.thread_time() - started)
    finally:
        if enabled:
            gc.enable()
    return best


@dataclass
class LoopCpuWatchdog:
    """Wakes every millisecond and keeps the most CPU time the loop's thread spent
    between two of its wake-ups: the longest the loop was held by work done on it."""

    worst: float = 0.0
    turns: int = 0
    _task: asyncio.Task[None] | None = field(default=None, repr=False)

    async def _watch(self) -> None:
        last = time.thread_time()
        while True:
            await asyncio.sleep(_TICK)
            now = time.thread_time()
            self.worst = max(self.worst, now - last)
            self.turns += 1
            last = now


@contextlib.asynccontextmanager
async def loop_cpu_watched() -> AsyncIterator[LoopCpuWatchdog]:
    """Watch the loop's thread while the block runs."""
    watchdog = LoopCpuWatchdog()
    watchdog._task = asyncio.create_task(watchdog._watch())
    await asyncio.sleep(0)
    try:
        yield watchdog
    finally:
        watchdog._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await watchdog._task


def aiohttp_header(raw: bytes) -> str:
    """A header value as aiohttp hands it over: UTF-8, other bytes as surrogates."""
    return raw.decode("utf-8", "surrogateescape")


# -- challenge headers ---------------------------------------------------------------------

# aiohttp refuses a header line longer than this (its max_field_size), and accepts
# thousands of lines.
MAX_HEADER_VALUE = 8190 - len("WWW-Authenticate: ")

_CHALLENGE_PIECES = st.sampled_from(
    [
        b"Digest ",
        b"Basic ",
        b'realm="',
        b"realm=",
        b'nonce="n1", ',
        b"qop=auth",
        b'qop="auth,auth-int"',
        b"algorithm=SHA-256",
        b"algorithm=MD5",
        b"stale=true",
        b'opaque="',
        b"charset=UTF-8",
        b"userhash=true",
        b'"',
        b"\\",
        b",",
        b", ",
        b" ",
        b"\t",
        b"=",
        b"a=",
        b"x",
        b"==",
        b"caf\xe9",  # Latin-1
        b"caf\xc3\xa9",  # UTF-8
        b"\xff\xfe",
        b"\x01",
        b"\x7f",
        b"<a",
    ]
)


def _value(pieces: list[bytes], repeat: int) -> bytes:
    return (b"".join(pieces) * repeat)[:MAX_HEADER_VALUE]


challenge_values = st.builds(
    _value,
    st.lists(st.one_of(_CHALLENGE_PIECES, st.binary(max_size=8)), min_size=1, max_size=12),
    st.integers(min_value=1, max_value=MAX_HEADER_VALUE),
)


def _header_set(values: list[bytes], copies: int) -> list[str]:
    return [aiohttp_header(value) for value in values] * copies


# Several challenges, floods of odd pieces, bytes outside UTF-8, up to hundreds of copies.
challenge_header_sets = st.builds(
    _header_set,
    st.lists(challenge_values, min_size=1, max_size=4),
    st.integers(min_value=1, max_value=512),
)


# -- settings pages ---------------------------------------------------------------------------

# What the client reads at most of an answer.
PAGE_CAP = MAX_BODY_SIZE

_CHECKED = st.sampled_from([" checked", " CHECKED", ' checked="checked"', " checked=''"])
_BOX_TEMPLATES = st.sampled_from(
    [
        "<input type=checkbox name=anonymous{}>",
        '<INPUT TYPE="checkbox" NAME="anonymous" VALUE="1"{}>',
        "<input name='anonymous' value=\"a>b\" type='checkbox'{} />",
        "<Input\ntype=checkbox\tname=Anonymous{}>",
    ]
)
# Where a box is text, not an element; the box in it has no quotes of its own.
_HIDING_PLACES = st.sampled_from(
    [
        "<!-- {} -->",
        "<!--{}--!>",
        "<script>var box = '{}';</script>",
        "<SCRIPT type=text/javascript>document.write('{}')</SCRIPT >",
        "<style>/* {} */</style>",
        "<textarea name=note>{}</textarea>",
        "<title>{}</title>",
        '<div title="{}">',
        "<p data-box='{}'>",
    ]
)
_OTHER_INPUTS = st.sampled_from(
    [
        "<input type=hidden name=anonymous value=1>",
        "<input type=checkbox name=anonymity checked>",
        "<input type=text name=field1 value='" + "x" * 200 + "' size=35>",
        "<input name=anonymous checked>",
    ]
)
_FILLER_UNITS = st.sampled_from(
    [
        "<a>",
        "<div>",
        "</div>",
        "< ",
        "x",
        "é",
        "\ufffd",
        "<br/>",
        "<p class=x>",
        "&amp;",
        "<!---->",
        "<a href='>'>",
        "<TR><TD class=label>Setting<TD>",
        "\x00",
    ]
)
_FILLER = _FILLER_UNITS.flatmap(
    lambda unit: st.integers(0, 16_000 // len(unit)).map(lambda count: (unit * count, None))
)


def _visible_box(template: str, checked: bool, mark: str) -> tuple[str, bool]:
    return template.format(mark if checked else ""), checked


_VISIBLE = st.builds(_visible_box, _BOX_TEMPLATES, st.booleans(), _CHECKED)
_HIDDEN = st.builds(
    lambda place, checked: (
        place.format("<input type=checkbox name=anonymous" + (" checked>" if checked else ">")),
        None,
    ),
    _HIDING_PLACES,
    st.booleans(),
)
_OTHER = _OTHER_INPUTS.map(lambda tag: (tag, None))


def _page(blocks: list[tuple[str, bool | None]]) -> tuple[str, bool | None]:
    """The page, and what a browser shows: the boxes' one state, else unknown."""
    shown = {state for _, state in blocks if state is not None}
    return "".join(html for html, _ in blocks), shown.pop() if len(shown) == 1 else None


def settings_pages() -> st.SearchStrategy[tuple[str, bool | None]]:
    """Settings pages with boxes shown, hidden and lookalike, in floods: the page and
    its answer."""
    return st.lists(st.one_of(_VISIBLE, _HIDDEN, _OTHER, _FILLER), min_size=1, max_size=10).map(
        _page
    )


_PAGE_PIECES = st.sampled_from(
    [
        "<",
        "<a",
        "<a ",
        "<!--",
        "-->",
        "--!>",
        "-",
        "<script>",
        "</script>",
        "</SCRIPT",
        "<textarea>",
        "<title>",
        "<input ",
        "name=anonymous",
        "type=checkbox",
        " checked",
        '"',
        "'",
        "=",
        ">",
        " ",
        "a",
        "é",
        "\x00",
        "\ufffd",
        "<input type=checkbox name=anonymous checked>",
    ]
)


def _flood(pieces: list[str], repeat: int) -> str:
    return ("".join(pieces) * repeat)[:PAGE_CAP]


# Floods of odd pieces up to the cap, nested, unclosed: anything a server may send.
hostile_pages = st.builds(
    _flood,
    st.lists(st.one_of(_PAGE_PIECES, st.text(max_size=6)), min_size=1, max_size=12),
    st.integers(min_value=1, max_value=PAGE_CAP),
)


# -- answers up to the cap ----------------------------------------------------------------


def balance_history_of_size(size: int) -> str:
    """A get_balance_history answer, as PHP prints it, of exactly ``size`` bytes."""
    session = "a84b4c76e66710@198.51.100.7"
    entry = {
        "date": "2025-05-03 14:05:40",
        "action": "Debit balance",
        "description": "Session to 31201234567 for 209s",
        "value": -0.0627,
        "balance": 12.3456,
        "session": session,
    }
    one = json.dumps(entry, separators=(",", ":"))
    count = max((size - 2) // (len(one) + 1), 1)
    body = "[" + ",".join([one] * count) + "]"
    # Pad the last entry's session to the exact size.
    padding = size - len(body)
    assert padding >= 0
    return body[: -len(session + '"}]')] + session + " " * padding + '"}]'


def call_history_of_size(size: int) -> str:
    """A get_history answer of ``size`` bytes: the example's calls, over and over."""
    example = json.loads((Path(__file__).parent / "examples" / "get_history.json").read_text())
    call = json.dumps(example["placed"][0], separators=(",", ":"))
    count = max((size - 30) // (2 * (len(call) + 1)), 1)
    calls = ",".join([call] * count)
    body = f'{{"placed":[{calls}],"received":[{calls}]}}'
    return body[:-1] + " " * (size - len(body)) + "}"


def html_page_of_size(size: int) -> str:
    """A proxy's or maintenance page: HTML without any JSON at its end."""
    row = '<div class="row"><p>Maintenance &amp; upgrade, back soon.</p></div>\n'
    head = "<!DOCTYPE html><html><head><title>Maintenance</title></head><body>\n"
    tail = "</body></html>"
    rows = row * ((size - len(head) - len(tail)) // len(row))
    filler = " " * (size - len(head) - len(rows) - len(tail))
    return head + rows + filler + tail


def warning_then_json_of_size(size: int) -> str:
    """An HTML warning (as the page prints before a good answer), then the JSON."""
    json_part = balance_history_of_size(max(size // 2, 200))
    alert = "<div class='alert alert-error'>Error (SipPort): slow (1030): busy</div>"
    html_part = html_page_of_size(size - len(json_part) - len(alert))
    return html_part + alert + json_part


def repeated(unit: str, size: int, *, head: str = "[", tail: str = "]") -> str:
    """``unit`` comma-separated between ``head`` and ``tail``, padded to ``size`` bytes."""
    count = max((size - len(head) - len(tail) + 1) // (len(unit) + 1), 1)
    body = head + ",".join([unit] * count)
    return body + " " * (size - len(body) - len(tail)) + tail


type BodyOfSize = Callable[[int], str]


@dataclass(frozen=True)
class Shape:
    """An answer's shape: the body of a size, the read it answers, what that gives."""

    body: BodyOfSize
    read: str = "get_balance_history"
    # None: a server error "without JSON"; else what the answer reads as.
    check: Callable[[Any], bool] | None = None


def _first_balance(entries: Any) -> bool:
    return isinstance(entries, list) and entries[0].balance == 12.3456


SHAPES: dict[str, Shape] = {
    "json": Shape(balance_history_of_size, check=_first_balance),
    "html": Shape(html_page_of_size),
    "html+json": Shape(warning_then_json_of_size, check=_first_balance),
    "call-history": Shape(
        call_history_of_size, read="get_call_history", check=lambda history: bool(history.calls)
    ),
    # Issue 17's slowest shapes for the JSON decoder.
    "small-objects": Shape(lambda size: repeated("{}", size), check=lambda _value: True),
    "bracket-pairs": Shape(lambda size: repeated("[]", size), check=lambda _value: True),
    "big-integers": Shape(
        lambda size: repeated("9" * min(4000, size // 2), size), check=lambda _value: True
    ),
    "floats": Shape(lambda size: repeated("1.5e300", size), check=lambda _value: True),
    # The parser's own worst cases.
    "openers": Shape(lambda size: "[" * size),
    "closers": Shape(lambda size: "]" * size),
    "quotes": Shape(lambda size: '"' * (size - 1) + "]"),
    "escaped-quotes": Shape(lambda size: " " + '\\"' * ((size - 2) // 2) + "]"),
    "bracketed-strings": Shape(lambda size: '"]' * (size // 2)),
    # A step per bracket, never nested deeper than two.
    "shallow-brackets": Shape(
        lambda size: "[" + '[""]' * ((size - 2) // 4) + " " * ((size - 2) % 4) + "]"
    ),
}
