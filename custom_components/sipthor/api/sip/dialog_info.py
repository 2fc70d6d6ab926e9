"""dialog-info documents (RFC 4235), read defensively.

Kamailio passes a published body on untouched, so a document may be anything: broken
XML, a DTD that expands entities a billion times, nesting thousands deep. The document
is read with expat directly, which lets this module refuse a DOCTYPE (and so every
entity declaration) before anything is expanded, and stop at a depth and an element
count far above what RFC 4235 needs. Parsing is in C; the Python callbacks run at most
:data:`MAX_NODES` times, which bounds the time the event loop spends here.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
import re
from typing import Final
from xml.parsers import expat

from .errors import MessageProblem, SipMessageError

# dialog-info > dialog > local > target > param is the deepest RFC 4235 goes.
MAX_DEPTH: Final = 16
# Elements and attributes together: about twenty per dialog.
MAX_NODES: Final = 512
# Dialogs of one account at one time: one phone rings, one is in a call, a few more
# ended in the last seconds (full-state documents repeat them). Each costs the event
# loop about 50 µs to read; 24 keep the largest document within the stall target.
MAX_DIALOGS: Final = 24
# The elements read; everything else (the local side, duration, param, extensions) is
# skipped whole.
_READ: Final = frozenset({"dialog-info", "dialog", "state", "remote", "identity", "target"})
_WITH_TEXT: Final = frozenset({"state", "identity"})
# URIs and display names kept; longer ones are cut.
MAX_TEXT: Final = 256
_NUMBER: Final = re.compile(r"\d{1,10}")
# Unicode's control (Cc), format (Cf: bidirectional overrides, zero-width characters),
# surrogate and line-separator characters: what could hide or reorder text on screen.
# A table, so the regular-expression engine removes them at C speed; a test checks it
# against the running Python's Unicode database.
_INVISIBLE: Final = re.compile(
    "[\x00-\x1f\x7f-\x9f\xad\u0600-\u0605\u061c\u06dd\u070f\u0890\u0891\u08e2"
    "\u180e\u200b-\u200f\u2028-\u202e\u2060-\u2064\u2066-\u206f\ud800-\udfff\ufeff"
    "\ufff9-\ufffb\U000110bd\U000110cd\U00013430-\U0001343f\U0001bca0-\U0001bca3"
    "\U0001d173-\U0001d17a\U000e0001\U000e0020-\U000e007f]"
)


class DialogState(StrEnum):
    """The states of RFC 4235 §3.7.1."""

    TRYING = "trying"
    PROCEEDING = "proceeding"
    EARLY = "early"
    CONFIRMED = "confirmed"
    TERMINATED = "terminated"


class DialogDirection(StrEnum):
    """Whether the watched account placed the call (initiator) or receives it."""

    INITIATOR = "initiator"
    RECIPIENT = "recipient"


@dataclass(frozen=True, slots=True)
class Party:
    """One end of a call: its SIP URI and display name, as far as the server says."""

    uri: str | None = None
    display_name: str | None = None


@dataclass(frozen=True, slots=True)
class DialogEntry:
    """One ``<dialog>`` of a document."""

    id: str
    call_id: str | None
    direction: DialogDirection | None
    state: DialogState
    # Why it ended: cancelled, rejected, replaced, local-bye, remote-bye, error, timeout.
    event: str | None = None
    code: int | None = None
    remote: Party = field(default_factory=Party)

    @property
    def call_key(self) -> str:
        """What identifies the call: its Call-ID, or the dialog's id where the server omits it."""
        return self.call_id or f"id:{self.id}"


@dataclass(frozen=True, slots=True)
class DialogInfo:
    """A dialog-info document: full state, or the dialogs that changed."""

    version: int
    full: bool
    entity: str
    dialogs: tuple[DialogEntry, ...]


@dataclass(slots=True)
class _Element:
    name: str
    attributes: dict[str, str]
    # The first child of each name (RFC 4235 has at most one), and the root's dialogs.
    first: dict[str, _Element] = field(default_factory=dict)
    dialogs: list[_Element] = field(default_factory=list)
    text: list[str] = field(default_factory=list)

    def child(self, name: str) -> _Element | None:
        return self.first.get(name)

    def content(self) -> str:
        return "".join(self.text).strip()


class _RefusedError(Exception):
    pass


def _read_tree(body: bytes) -> _Element:
    parser = expat.ParserCreate(namespace_separator=" ")
    parser.SetParamEntityParsing(expat.XML_PARAM_ENTITY_PARSING_NEVER)
    # Text comes in one call per 8 KiB, not one per character reference.
    parser.buffer_text = True
    # None stands for an element this reader skips, with all it holds.
    stack: list[_Element | None] = []
    roots: list[_Element] = []
    count = 0

    def refuse(*_: object) -> None:
        raise _RefusedError

    def start(name: str, attributes: dict[str, str]) -> None:
        nonlocal count
        count += 1 + len(attributes)
        if count > MAX_NODES or len(stack) >= MAX_DEPTH:
            raise _RefusedError
        local = name[name.rfind(" ") + 1 :]
        parent = stack[-1] if stack else None
        element: _Element | None = None
        if local in _READ and (parent is not None or not stack):
            # The attributes read here carry no namespace, so their names are plain.
            element = _Element(local, attributes)
            if parent is None:
                roots.append(element)
            elif local == "dialog":
                parent.dialogs.append(element)
                if len(parent.dialogs) > MAX_DIALOGS:
                    raise _RefusedError
            else:
                parent.first.setdefault(local, element)
        stack.append(element)

    def end(_name: str) -> None:
        stack.pop()

    def text(data: str) -> None:
        if stack and (element := stack[-1]) is not None and element.name in _WITH_TEXT:
            element.text.append(data)

    # No DTD at all: neither entity expansion nor external references can start.
    parser.StartDoctypeDeclHandler = refuse
    parser.EntityDeclHandler = refuse
    parser.ExternalEntityRefHandler = refuse  # type: ignore[assignment]
    parser.StartElementHandler = start
    parser.EndElementHandler = end
    parser.CharacterDataHandler = text
    try:
        parser.Parse(body, True)  # noqa: FBT003 - expat's "final" flag
    except (_RefusedError, expat.ExpatError, ValueError) as error:
        raise _bad("not well-formed, or a DTD, or too deep or large") from error
    if not roots:
        raise _bad("the root is not dialog-info")
    return roots[0]


def _bad(detail: str) -> SipMessageError:
    return SipMessageError(MessageProblem.BAD_BODY, f"dialog-info document refused: {detail}")


def clean_text(value: str | None) -> str | None:
    """Server text made safe to show: no control or format characters, bounded length."""
    if value is None:
        return None
    return _INVISIBLE.sub("", value[: MAX_TEXT * 2]).strip()[:MAX_TEXT] or None


def _party(element: _Element | None) -> Party:
    if element is None:
        return Party()
    identity = element.child("identity")
    target = element.child("target")
    uri = identity.content() if identity is not None else None
    if not uri and target is not None:
        uri = target.attributes.get("uri")
    display = identity.attributes.get("display") if identity is not None else None
    return Party(uri=clean_text(uri), display_name=clean_text(display))


def _dialog(element: _Element) -> DialogEntry | None:
    """One ``<dialog>``; None when it lacks what RFC 4235 requires (id, a known state)."""
    state_element = element.child("state")
    dialog_id = element.attributes.get("id")
    if state_element is None or not dialog_id:
        return None
    try:
        state = DialogState(state_element.content().lower())
    except ValueError:
        return None
    direction = element.attributes.get("direction", "").lower()
    code = state_element.attributes.get("code", "")
    return DialogEntry(
        id=dialog_id[:MAX_TEXT],
        call_id=element.attributes.get("call-id", "")[:MAX_TEXT] or None,
        direction=DialogDirection(direction) if direction in DialogDirection else None,
        state=state,
        event=clean_text(state_element.attributes.get("event", "").lower()),
        code=int(code) if _NUMBER.fullmatch(code) else None,
        remote=_party(element.child("remote")),
    )


def parse_dialog_info(body: bytes) -> DialogInfo:
    """Read a dialog-info document; raises :class:`SipMessageError` for anything else."""
    root = _read_tree(body)
    if root.name != "dialog-info":
        raise _bad("the root is not dialog-info")
    version = root.attributes.get("version", "")
    state = root.attributes.get("state", "").lower()
    if not _NUMBER.fullmatch(version) or state not in ("full", "partial"):
        raise _bad("no version or state")
    dialogs = tuple(entry for element in root.dialogs if (entry := _dialog(element)) is not None)
    return DialogInfo(
        version=int(version),
        full=state == "full",
        entity=clean_text(root.attributes.get("entity")) or "",
        dialogs=dialogs,
    )
