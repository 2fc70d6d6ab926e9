"""Calls from dialog-info documents: ringing, answered, missed and ended, each once.

A call is keyed by its Call-ID; its dialogs (one per phone that answered the INVITE
with a tag) are tracked by id. What the platform's documents show (Kamailio's
``pua_dialoginfo`` behind ``presence_dialoginfo``):

- a missed call goes early → terminated, an answered one early → confirmed → terminated;
- with two phones registered, early arrives twice: one ringing;
- a call to an account without a registered phone is a lone terminated: no ringing;
- a terminated dialog without a Call-ID (Kamailio's "dummy dialog") names no call;
- a NOTIFY without a body, once ended calls have aged out, says no call is known;
- full-state documents repeat terminated dialogs for about 10 s: ended calls are
  remembered for a minute, so that nothing is announced twice;
- ``<state>`` does not say why a call ended, so "missed" is decided by the sequence.

After a gap (a new subscription: the connection was lost, or the server forgot the old
one) a call may have changed unseen: its end then says "answered: unknown" and no call
is called missed on a guess.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
import time
from typing import Final

from ..call_history import CallDirection
from .dialog_info import DialogDirection, DialogEntry, DialogInfo, DialogState, Party

# Calls followed at once; more is no account's real traffic.
MAX_CALLS: Final = 32
# How long an ended call's id is remembered, and how many: full-state documents repeat
# terminated dialogs for about 10 s.
ENDED_MEMORY_SECONDS: Final = 60.0
MAX_ENDED: Final = 256

_DIRECTIONS: Final = {
    DialogDirection.RECIPIENT: CallDirection.RECEIVED,
    DialogDirection.INITIATOR: CallDirection.PLACED,
}
_RINGING: Final = frozenset({DialogState.EARLY})


class CallEventKind(StrEnum):
    """What happened to a call."""

    RINGING = "ringing"
    ANSWERED = "answered"
    MISSED = "missed"
    ENDED = "ended"


class CallState(StrEnum):
    """The account's state across its calls: ringing wins over in a call."""

    IDLE = "idle"
    RINGING = "ringing"
    IN_CALL = "in_call"


@dataclass(frozen=True, slots=True)
class CallEvent:
    """A call's change, as it happened.

    ``answered`` is set on ``ended``: True when the call was answered, False when it
    rang and was not, None when the channel did not see enough to say. ``missed`` comes
    just before ``ended`` for a received call that rang and was not answered.
    """

    kind: CallEventKind
    call_id: str
    direction: CallDirection | None
    remote: Party
    at: datetime
    answered: bool | None = None
    reason: str | None = None


@dataclass(slots=True)
class _Call:
    key: str
    direction: CallDirection | None
    remote: Party
    dialogs: dict[str, DialogState] = field(default_factory=dict)
    rang: bool = False
    answered: bool = False
    # Seen across a gap in the subscription: what happened in between is unknown.
    uncertain: bool = False

    @property
    def ended(self) -> bool:
        return all(state is DialogState.TERMINATED for state in self.dialogs.values())


@dataclass(frozen=True, slots=True)
class CallUpdate:
    """What one document changed, and whether the subscription should be refreshed.

    ``refresh`` is set when a partial document skipped a version: one was lost, and a
    refresh brings the full state back (RFC 4235 §4.1).
    """

    events: tuple[CallEvent, ...] = ()
    refresh: bool = False
    stale: bool = False


class CallTracker:
    """The calls of one account across the documents of its dialog subscriptions."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        """``clock`` measures how long ended calls are remembered (tests pass their own)."""
        self._clock = clock
        self._calls: dict[str, _Call] = {}
        self._ended: OrderedDict[str, float] = OrderedDict()
        self._version: int | None = None

    @property
    def state(self) -> CallState:
        """Ringing when a received (or undirected) call rings, in a call when one is up."""
        calls = self._calls.values()
        if any(
            call.rang and not call.answered and call.direction is not CallDirection.PLACED
            for call in calls
        ):
            return CallState.RINGING
        if any(call.answered or call.rang for call in calls):
            return CallState.IN_CALL
        return CallState.IDLE

    @property
    def active_calls(self) -> int:
        """Calls followed now (ringing or up)."""
        return len(self._calls)

    def new_subscription(self) -> None:
        """A new subscription starts: versions start again, and a gap may lie behind."""
        self._version = None
        for call in self._calls.values():
            call.uncertain = True

    def apply(self, document: DialogInfo, at: datetime, *, initial: bool) -> CallUpdate:
        """The events of one document, received at ``at``.

        ``initial``: it came in the subscription's first NOTIFY, so it tells what was
        going on when the subscription began, not what just happened.
        """
        if self._version is not None and document.version <= self._version:
            return CallUpdate(stale=True)
        refresh = not document.full and (
            self._version is None or document.version > self._version + 1
        )
        self._version = document.version
        self._forget_old_ends()
        events: list[CallEvent] = []
        seen: set[str] = set()
        for entry in document.dialogs:
            seen.add(entry.call_key)
            self._apply_dialog(entry, at, events, initial=initial)
        if document.full:
            for key in [key for key in self._calls if key not in seen]:
                # Gone from the full state: it ended while no document said so.
                call = self._calls[key]
                call.uncertain = True
                self._end(call, at, events, reason=None)
        return CallUpdate(tuple(events), refresh=refresh)

    def nothing_known(self, at: datetime) -> CallUpdate:
        """A NOTIFY without a document: the server knows no call (any more)."""
        events: list[CallEvent] = []
        for call in list(self._calls.values()):
            call.uncertain = True
            self._end(call, at, events, reason=None)
        return CallUpdate(tuple(events))

    def _apply_dialog(
        self, entry: DialogEntry, at: datetime, events: list[CallEvent], *, initial: bool
    ) -> None:
        key = entry.call_key
        if key in self._ended:
            return
        call = self._calls.get(key)
        if call is None:
            if entry.state is DialogState.TERMINATED and (initial or entry.call_id is None):
                # Ended before this subscription began (the call list's to tell), or a
                # dialog that names no call: Kamailio's "dummy" one says nothing is known.
                self._remember_end(key)
                return
            if len(self._calls) >= MAX_CALLS:
                return
            call = _Call(
                key, _DIRECTIONS.get(entry.direction) if entry.direction else None, entry.remote
            )
            # Up before this subscription began: in a call now, but no "answered" to announce.
            call.answered = call.uncertain = initial and entry.state is DialogState.CONFIRMED
            self._calls[key] = call
        previous = call.dialogs.get(entry.id)
        if previous is DialogState.TERMINATED or (
            previous is DialogState.CONFIRMED and entry.state is not DialogState.TERMINATED
        ):
            return  # a dialog never goes back
        call.dialogs[entry.id] = entry.state
        if call.remote.uri is None and entry.remote.uri is not None:
            call.remote = entry.remote
        if entry.state in _RINGING and not call.rang and not call.answered:
            call.rang = True
            events.append(self._event(CallEventKind.RINGING, call, at))
        if entry.state is DialogState.CONFIRMED and not call.answered:
            call.answered = True
            events.append(self._event(CallEventKind.ANSWERED, call, at))
        if call.ended:
            self._end(call, at, events, reason=entry.event)

    def _end(self, call: _Call, at: datetime, events: list[CallEvent], reason: str | None) -> None:
        answered: bool | None
        if call.answered:
            answered = True
        elif call.rang and not call.uncertain:
            answered = False
        else:
            answered = None
        if answered is False and call.direction is CallDirection.RECEIVED:
            events.append(self._event(CallEventKind.MISSED, call, at, answered, reason))
        events.append(self._event(CallEventKind.ENDED, call, at, answered, reason))
        del self._calls[call.key]
        self._remember_end(call.key)

    def _remember_end(self, key: str) -> None:
        self._ended[key] = self._clock()
        self._ended.move_to_end(key)
        while len(self._ended) > MAX_ENDED:
            self._ended.popitem(last=False)

    def _forget_old_ends(self) -> None:
        horizon = self._clock() - ENDED_MEMORY_SECONDS
        while self._ended and next(iter(self._ended.values())) < horizon:
            self._ended.popitem(last=False)

    @staticmethod
    def _event(
        kind: CallEventKind,
        call: _Call,
        at: datetime,
        answered: bool | None = None,
        reason: str | None = None,
    ) -> CallEvent:
        return CallEvent(
            kind=kind,
            call_id=call.key,
            direction=call.direction,
            remote=call.remote,
            at=at,
            answered=answered,
            reason=reason,
        )
