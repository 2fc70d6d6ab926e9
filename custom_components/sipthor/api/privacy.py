"""Caller-ID privacy, read from the settings page's HTML (docs/settings-api.md §6.2).

No JSON action tells whether the account is in the NGNPro group ``anonymous``. The
HTML settings tab does: a checkbox ``<input name="anonymous">`` that carries ``checked``
when it is. The page is rendered only where PSTN access is enabled, and its markup is
old and loose (upper-case tags, unquoted or minimised attributes, unclosed elements).

The page comes from a server, so it is read by a scan of our own rather than by
``html.parser``, which is quadratic on some input (a flood of ``<a``, CPython
gh-135462, on the Python 3.13 releases Home Assistant ships) and holds the interpreter
lock, and so the event loop, throughout. The scan tokenizes as HTML does what matters
here, and skips the rest:

- Comments, and the contents of ``script``, ``style``, ``textarea`` and ``title``,
  hold no elements.
- A tag ends at the first ``>`` outside a quoted attribute value; a tag or comment that
  the page never ends is not an element (HTML drops it at the end of the file).
- Only ``<input>`` tags that mention ``anonymous`` are read attribute by attribute
  (a name written with character references is therefore not recognised; CDRTool
  writes it plainly).

Everything else is passed over by one regular expression whose every repeat is
possessive, so the whole page costs one pass, in a few C-level matches. A page with
two ``anonymous`` checkboxes that disagree, or more such tags than CDRTool's page has,
is ambiguous: unknown, so the switch shows its assumed state.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
import html
import re
import time
from typing import Final

from .parse import on_event_loop

CHECKBOX_NAME: Final = "anonymous"
# More input tags naming the checkbox than this is not CDRTool's page (it has one):
# unknown, without reading them all.
_MAX_TAGS_READ: Final = 16
# An input tag read attribute by attribute has at most this many (the box has four).
_MAX_ATTRIBUTES: Final = 32

_SPACE: Final = r"[ \t\n\f\r]"


def _any_case(word: str) -> str:
    """``word`` in any case, without re.IGNORECASE (which slows every character class)."""
    return "".join(f"[{char.lower()}{char.upper()}]" for char in word)


# The inside of a tag up to its ">": attribute names, and after "=" a quoted value
# (which may hold ">") or a bare one. Possessive throughout: one pass, no backtracking.
_TAG_REST: Final = rf"""(?:[^>=]++|={_SPACE}*+(?:"[^"]*+"?|'[^']*+'?|[^ \t\n\f\r>]*+))*+"""
_BOUNDARY: Final = r"(?![^ \t\n\f\r/>])"
_RAW_TEXT_NAMES: Final = ("script", "style", "textarea", "title")
_INPUT: Final = _any_case("input")
_RAW_TEXT_NAME: Final = "|".join(_any_case(name) for name in _RAW_TEXT_NAMES)
_SPECIAL: Final = f"{_INPUT}|{_RAW_TEXT_NAME}"
# Elements whose contents hold no tags, up to their end tag (read as any other tag):
# one alternative each, without a backreference (a capturing group in a possessive
# repeat trips a bug of the re module).
_RAW_TEXT: Final = "|".join(
    rf"{_any_case(name)}{_BOUNDARY}{_TAG_REST}>(?:[^<]++|<(?!/{_any_case(name)}{_BOUNDARY}))*+"
    rf"(?=</{_any_case(name)}{_BOUNDARY})"
    for name in _RAW_TEXT_NAMES
)
# Inside an input tag, where an "a" comes (a run of them at once): not "anonymous".
_NOT_NAMED: Final = rf"[aA]++(?!{_any_case('nonymous')})"
# What an input tag that does not name the checkbox anywhere holds.
_INPUT_REST: Final = (
    rf"(?:[^>=aA]++|{_NOT_NAMED}|={_SPACE}*+"
    rf"""(?:"(?:[^"aA]++|{_NOT_NAMED})*+"|'(?:[^'aA]++|{_NOT_NAMED})*+'"""
    rf"|(?:[^ \t\n\f\r>aA\"']++|{_NOT_NAMED})*+))*+"
)
# Whole tokens only, up to the next input tag that mentions the checkbox's name: text,
# other tags, comments, and raw text elements with their contents. Matched within a
# window of the page, so that one match costs a bounded time; a token that does not
# end within the window stops it, and is read on its own. Alternatives in the order of
# how often they come.
_UNINTERESTING: Final = re.compile(
    rf"""
    (?:
        [^<]++                                                   # text
      | <(?:
            (?![a-zA-Z/!?])                                      # a "<" that starts no tag
          | (?!(?:{_SPECIAL}){_BOUNDARY}|!--)[a-zA-Z/!?]{_TAG_REST}>   # most tags
          | !--(?:-?>|(?:[^-]++|-(?!-!?>))*+--!?>)               # a comment
          | {_RAW_TEXT}                                          # and what it holds
          | {_INPUT}{_BOUNDARY}{_INPUT_REST}>                    # not naming the box
        )
    )*+
    """,
    re.DOTALL | re.VERBOSE,
)
# What one match reads of the page at most (a tag longer than this cannot be read).
_WINDOW: Final = 32 * 1024
# A long comment or raw text element, read to its end in windows that overlap by more
# than its end marker.
_COMMENT_START: Final = re.compile(r"<!--(?:-?>)?")
_COMMENT_END: Final = re.compile(r"--!?>")
_RAW_TEXT_START: Final = re.compile(rf"<({_RAW_TEXT_NAME}){_BOUNDARY}{_TAG_REST}>")
_RAW_TEXT_END: Final = {
    name: re.compile(rf"</{_any_case(name)}{_BOUNDARY}") for name in _RAW_TEXT_NAMES
}
_OVERLAP: Final = 16
# An input tag that names the checkbox somewhere, up to its ">".
_INPUT_TAG: Final = re.compile(rf"<{_INPUT}({_TAG_REST})>")
_ATTRIBUTE: Final = re.compile(
    rf"""[ \t\n\f\r/]*+([^ \t\n\f\r/>=][^ \t\n\f\r/>=]*+)"""
    rf"""(?:{_SPACE}*+={_SPACE}*+("[^"]*+"|'[^']*+'|[^ \t\n\f\r>]*+))?"""
)


def _release_the_lock() -> None:
    # Let the event loop's thread take the interpreter lock now rather than wait out
    # the 5 ms switch interval.
    time.sleep(0)


def _no_pause() -> None:
    """On the event loop: nothing to give way to."""


def privacy_from_settings_page(
    page: str, *, pause: Callable[[], None] | None = None
) -> bool | None:
    """Whether the page shows caller-ID privacy on; None when it cannot tell.

    None: the page has no such checkbox, several that disagree, or a tag too long to
    read. Linear in the page's length, read in pieces of at most one window; never
    raises on malformed markup. ``pause`` runs between two pieces; by default, in a
    worker thread, it lets the event loop's thread run (on the loop itself, nothing).
    """
    if pause is None:
        pause = _no_pause if on_event_loop() else _release_the_lock
    states: set[bool] = set()
    position = 0
    tags_read = 0
    while position < len(page) and tags_read < _MAX_TAGS_READ:
        window = min(position + _WINDOW, len(page))
        skipped = _UNINTERESTING.match(page, position, window)
        if skipped is not None and skipped.end() > position:
            position = skipped.end()
        elif comment := _COMMENT_START.match(page, position, window):
            position = comment.end()
            if not comment.group().endswith(">"):
                position = _end_of(_COMMENT_END, page, position, pause).end
        elif raw_text := _RAW_TEXT_START.match(page, position, window):
            marker = _RAW_TEXT_END[raw_text.group(1).lower()]
            position = _end_of(marker, page, raw_text.end(), pause).start
        elif tag := _INPUT_TAG.match(page, position, window):
            position = tag.end()
            tags_read += 1
            if (checkbox := _checkbox_state(tag.group(1))) is not None:
                states.add(checkbox)
                if len(states) > 1:
                    return None
        elif window < len(page):
            return None  # a tag longer than a window: not a page this can read
        else:
            break  # a tag the page never ends: not an element, and nothing follows
        pause()
    if tags_read >= _MAX_TAGS_READ:
        return None
    return states.pop() if states else None


def _end_of(marker: re.Pattern[str], page: str, start: int, pause: Callable[[], None]) -> _End:
    """Where ``marker`` first comes from ``start`` on; the page's end when it never does."""
    position = start
    while True:
        window = min(position + _WINDOW, len(page))
        if found := marker.search(page, position, window):
            return _End(found.start(), found.end())
        if window == len(page):
            return _End(len(page), len(page))
        position = window - _OVERLAP
        pause()


@dataclass(frozen=True, slots=True)
class _End:
    """Where an end marker starts and ends."""

    start: int
    end: int


def _checkbox_state(inside: str) -> bool | None:
    """Whether an input tag is the checkbox, and checked; None when it is not the box.

    As HTML reads attributes: names in any case, the first of a repeated name counts,
    values with their character references resolved; ``type`` is ``text`` when absent.
    """
    attributes: dict[str, str] = {}
    for count, match in enumerate(_ATTRIBUTE.finditer(inside)):
        if count >= _MAX_ATTRIBUTES:
            return None
        name, value = match.group(1).lower(), match.group(2) or ""
        if value[:1] in {'"', "'"}:
            value = value[1:-1]
        attributes.setdefault(name, html.unescape(value))
    if attributes.get("name", "").strip().lower() != CHECKBOX_NAME:
        return None
    if attributes.get("type", "text").strip().lower() != "checkbox":
        return None
    # "checked", checked="checked", CHECKED=true: present means checked.
    return "checked" in attributes
