"""Calls from dialog-info documents: each ringing, answer, miss and end announced once.

The sequences are the ones Kamailio's presence server was seen to send (and that
tests/sip/test_live.py checks against it): early → terminated for a missed call,
early → confirmed → terminated for an answered one, full-state documents that repeat
ended calls, a lone terminated when no phone is registered, early twice for two phones.
"""

from __future__ import annotations

from datetime import UTC, datetime

from custom_components.sipthor.api import CallDirection
from custom_components.sipthor.api.sip import CallEvent, CallEventKind, CallState, Party
from custom_components.sipthor.api.sip.calls import (
    ENDED_MEMORY_SECONDS,
    MAX_CALLS,
    MAX_ENDED,
    CallTracker,
)
from custom_components.sipthor.api.sip.dialog_info import (
    DialogDirection,
    DialogEntry,
    DialogInfo,
    DialogState,
)

AT = datetime(2026, 12, 3, 12, 0, tzinfo=UTC)
BOB = Party("sip:bob@example.com", "Bob")


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def entry(
    state: str,
    call_id: str | None = "c1",
    *,
    dialog_id: str = "d1",
    direction: DialogDirection | None = DialogDirection.RECIPIENT,
    event: str | None = None,
) -> DialogEntry:
    return DialogEntry(
        id=dialog_id,
        call_id=call_id,
        direction=direction,
        state=DialogState(state),
        event=event,
        remote=BOB,
    )


class Watcher:
    """A tracker fed documents with increasing versions, as one subscription sends them."""

    def __init__(self) -> None:
        self.clock = Clock()
        self.tracker = CallTracker(self.clock)
        self.version = 0
        self.tracker.new_subscription()

    def send(self, *entries: DialogEntry, full: bool = True) -> list[tuple[str, str]]:
        return [(event.kind, event.call_id) for event in self.events(*entries, full=full)]

    def events(self, *entries: DialogEntry, full: bool = True) -> tuple[CallEvent, ...]:
        """The next document; the first after a (re)subscription is the initial one."""
        self.version += 1
        return self.tracker.apply(
            DialogInfo(self.version, full, "sip:alice@example.com", entries),
            AT,
            initial=self.version == 1,
        ).events

    def resubscribe(self) -> None:
        self.tracker.new_subscription()
        self.version = 0


def test_a_missed_call_rings_then_is_missed_and_ends() -> None:
    watcher = Watcher()
    ringing = watcher.events(entry("early"))
    assert watcher.tracker.state is CallState.RINGING
    ended = watcher.events(entry("terminated", event="cancelled"))

    (rang,) = ringing
    assert rang.kind is CallEventKind.RINGING
    assert rang.direction is CallDirection.RECEIVED
    assert rang.remote == BOB
    assert [(event.kind, event.answered, event.reason) for event in ended] == [
        (CallEventKind.MISSED, False, "cancelled"),
        (CallEventKind.ENDED, False, "cancelled"),
    ]
    assert watcher.tracker.state is CallState.IDLE


def test_an_answered_call_rings_is_answered_and_ends() -> None:
    watcher = Watcher()
    assert watcher.send(entry("early")) == [(CallEventKind.RINGING, "c1")]
    assert watcher.send(entry("confirmed")) == [(CallEventKind.ANSWERED, "c1")]
    assert watcher.tracker.state is CallState.IN_CALL
    (ended,) = watcher.events(entry("terminated"))
    assert ended.kind is CallEventKind.ENDED
    assert ended.answered is True


def test_full_state_documents_repeating_an_ended_call_announce_nothing() -> None:
    watcher = Watcher()
    watcher.send(entry("early"))
    watcher.send(entry("terminated"))
    for _ in range(5):
        watcher.clock.now += 2  # Kamailio repeats terminated dialogs for about 10 s
        assert watcher.send(entry("terminated")) == []
    # Long after, the same Call-ID would be news again (it is remembered a minute).
    watcher.clock.now += ENDED_MEMORY_SECONDS + 1
    assert watcher.send(entry("early")) == [(CallEventKind.RINGING, "c1")]


def test_a_lone_terminated_is_no_ringing_and_no_missed_call() -> None:
    # A call to alice with no phone registered.
    watcher = Watcher()
    watcher.version = 1  # after the subscription's first NOTIFY (Kamailio's is empty)
    (ended,) = watcher.events(entry("terminated"))
    assert ended.kind is CallEventKind.ENDED
    assert ended.answered is None


def test_two_phones_ring_once_and_the_call_ends_when_both_dialogs_do() -> None:
    watcher = Watcher()
    first, second = entry("early"), entry("early", dialog_id="d2")
    assert watcher.send(first) == [(CallEventKind.RINGING, "c1")]
    assert watcher.send(first, second) == []
    assert watcher.send(entry("confirmed"), second) == [(CallEventKind.ANSWERED, "c1")]
    # The phone that did not answer stops ringing; the call goes on.
    assert watcher.send(entry("confirmed"), entry("terminated", dialog_id="d2")) == []
    assert watcher.tracker.state is CallState.IN_CALL
    assert watcher.send(entry("terminated"), entry("terminated", dialog_id="d2")) == [
        (CallEventKind.ENDED, "c1")
    ]


def test_the_same_early_state_twice_rings_once() -> None:
    watcher = Watcher()
    assert watcher.send(entry("early")) == [(CallEventKind.RINGING, "c1")]
    assert watcher.send(entry("early")) == []


def test_older_or_repeated_versions_are_ignored() -> None:
    watcher = Watcher()
    watcher.send(entry("early"))
    # The same version again: a duplicate.
    update = watcher.tracker.apply(
        DialogInfo(1, False, "x", (entry("terminated"),)), AT, initial=False
    )
    assert update.stale
    assert update.events == ()
    assert watcher.tracker.state is CallState.RINGING


def test_a_skipped_partial_version_asks_for_a_refresh() -> None:
    watcher = Watcher()
    watcher.send(entry("early"))
    update = watcher.tracker.apply(
        DialogInfo(5, False, "x", (entry("confirmed"),)), AT, initial=False
    )
    assert update.refresh
    assert [event.kind for event in update.events] == [CallEventKind.ANSWERED]


def test_a_call_gone_from_the_full_state_ended_unseen() -> None:
    watcher = Watcher()
    watcher.send(entry("early"))
    (ended,) = watcher.events()  # full state, without it
    assert ended.kind is CallEventKind.ENDED
    assert ended.answered is None  # answered in between, or not: unknown


def test_after_a_gap_an_early_call_that_ended_is_not_called_missed() -> None:
    watcher = Watcher()
    watcher.send(entry("early"))
    watcher.resubscribe()  # the connection was lost meanwhile
    (ended,) = watcher.events(entry("terminated"))
    assert ended.kind is CallEventKind.ENDED
    assert ended.answered is None


def test_after_a_gap_an_answer_is_still_announced_once() -> None:
    watcher = Watcher()
    watcher.send(entry("early"))
    watcher.resubscribe()
    assert watcher.send(entry("confirmed")) == [(CallEventKind.ANSWERED, "c1")]
    assert watcher.send(entry("confirmed")) == []


def test_a_subscription_that_starts_mid_call_announces_no_answer() -> None:
    watcher = Watcher()
    assert watcher.send(entry("confirmed")) == []
    assert watcher.tracker.state is CallState.IN_CALL
    (ended,) = watcher.events(entry("terminated"))
    assert ended.answered is True


def test_a_subscription_that_starts_after_a_call_ended_announces_nothing() -> None:
    watcher = Watcher()
    assert watcher.send(entry("terminated")) == []
    assert watcher.send(entry("terminated")) == []


def test_a_placed_call_is_never_missed_nor_ringing_the_account() -> None:
    watcher = Watcher()
    placed = {"direction": DialogDirection.INITIATOR}
    (ringing,) = watcher.events(entry("early", **placed))
    assert ringing.direction is CallDirection.PLACED
    assert watcher.tracker.state is CallState.IN_CALL
    (ended,) = watcher.events(entry("terminated", **placed))
    assert ended.kind is CallEventKind.ENDED
    assert ended.answered is False


def test_kamailio_s_dummy_dialog_is_no_call() -> None:
    # force_dummy_dialog: a terminated dialog without Call-ID in every document.
    watcher = Watcher()
    dummy = entry("terminated", call_id=None, dialog_id="615293b33c62dec073e05d9421e9f48b")
    assert watcher.send(dummy) == []
    assert watcher.send(dummy) == []
    assert watcher.send(dummy, entry("early")) == [(CallEventKind.RINGING, "c1")]


def test_a_notify_without_a_document_ends_the_calls_still_followed() -> None:
    watcher = Watcher()
    watcher.send(entry("early"))
    (ended,) = watcher.tracker.nothing_known(AT).events
    assert ended.kind is CallEventKind.ENDED
    assert ended.answered is None
    assert watcher.tracker.state is CallState.IDLE
    assert watcher.tracker.nothing_known(AT).events == ()


def test_a_dialog_without_call_id_is_followed_by_its_id() -> None:
    watcher = Watcher()
    assert watcher.send(entry("early", call_id=None, dialog_id="x7")) == [
        (CallEventKind.RINGING, "id:x7")
    ]


def test_a_flood_of_calls_is_followed_up_to_the_bound() -> None:
    watcher = Watcher()
    entries = [entry("early", f"c{n}") for n in range(MAX_CALLS * 3)]
    events = watcher.send(*entries)
    assert len(events) == MAX_CALLS
    assert watcher.tracker.active_calls == MAX_CALLS


def test_a_caller_named_late_is_kept() -> None:
    watcher = Watcher()
    nameless = DialogEntry("d1", "c1", DialogDirection.RECIPIENT, DialogState.EARLY)
    (ringing,) = watcher.events(nameless)
    assert ringing.remote == Party()
    (answered,) = watcher.events(entry("confirmed"))
    assert answered.remote == BOB


def test_the_memory_of_ended_calls_is_bounded() -> None:
    watcher = Watcher()
    for number in range(MAX_ENDED + 10):
        watcher.send(entry("early", f"c{number}"))
        watcher.send(entry("terminated", f"c{number}"))
    assert len(watcher.tracker._ended) == MAX_ENDED
    # The oldest is forgotten: it would be news again.
    assert watcher.send(entry("early", "c0")) == [(CallEventKind.RINGING, "c0")]
