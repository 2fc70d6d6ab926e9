"""Typed answers, read from the example answers and from oddly typed variants.

The examples are in tests/api/examples/ (docs/settings-api.md §10). The server is PHP
over an unpublished SOAP back end: a number may come as text, a list as ``null`` or as a
map, a key may be new. Nothing of that may crash a read.
"""

from __future__ import annotations

from datetime import datetime
import json
import logging
from pathlib import Path
from typing import Any
from unittest.mock import patch

import pytest

from custom_components.sipthor.api import (
    VOICE_MAILBOX,
    AcceptRule,
    AcceptRules,
    BalanceEntry,
    Call,
    CallDirection,
    CallForwarding,
    CallHistory,
    DndState,
    ForwardingCondition,
    Identity,
    MonthlyUsage,
    PrepaidStatus,
    Registration,
    StatusResult,
    Transport,
    Voicemail,
    strip_sip_scheme,
)
from custom_components.sipthor.api.balance import balance_history_from_json
from custom_components.sipthor.api.models import registrations_from_json
from custom_components.sipthor.api.parse import parse_body
from custom_components.sipthor.api.reader import MAX_REPORTS, ValueReporter, string_list

EXAMPLES = Path(__file__).parent / "examples"
API_LOGGER = "custom_components.sipthor.api"


def example(name: str) -> Any:
    return json.loads((EXAMPLES / f"{name}.json").read_text())


def warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [
        record.getMessage()
        for record in caplog.records
        if record.name.startswith(API_LOGGER) and record.levelno == logging.WARNING
    ]


PARSERS = {
    "get_identity": Identity.from_json,
    "get_aliases": lambda data: string_list("aliases", data),
    "get_enum": lambda data: string_list("enum", data),
    "get_history": CallHistory.from_json,
    "get_devices": registrations_from_json,
    "get_prepaid": PrepaidStatus.from_json,
    "get_balance_history": balance_history_from_json,
    "get_monthly_usage": MonthlyUsage.from_json,
    "get_call_forwarding": CallForwarding.from_json,
    "get_accept_rules": AcceptRules.from_json,
    "get_reject_rules": lambda data: string_list("reject rules", data),
    "get_voicemail": Voicemail.from_json,
}


@pytest.mark.parametrize(
    "name",
    sorted(
        path.stem
        for path in EXAMPLES.glob("*.json")
        if not path.stem.startswith("get_journal")
        and not path.stem.endswith("_none")  # null: the client answers None before parsing
    ),
)
def test_every_example_reads_cleanly(name: str, caplog: pytest.LogCaptureFixture) -> None:
    action = next(
        action for action in sorted(PARSERS, key=len, reverse=True) if name.startswith(action)
    )

    parsed = PARSERS[action](example(name))

    assert not warnings(caplog)
    items = parsed if isinstance(parsed, list) else [parsed]
    assert all(getattr(item, "extra", {}) == {} for item in items)


def test_identity_example() -> None:
    identity = Identity.from_json(example("get_identity"))

    assert identity.sip_address == "alice@example.com"
    assert identity.mobile_number == "+31612345678"


def test_members_nothing_uses_are_neither_kept_nor_reported(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Known members without an entity: not "unknown", and personal data not held."""
    identity = Identity.from_json(example("get_identity"))
    call = CallHistory.from_json(example("get_history")).calls[0]
    entry = BalanceEntry.from_json({"session": "a@b", "toTag": 1})

    assert identity.extra == {}
    assert "Jansen" not in repr(identity)
    assert call.extra == {}
    assert entry.extra == {"toTag": 1}
    assert AcceptRules.from_json({"groups": ["vip"]}).extra == {}
    assert Voicemail.from_json({"Mailbox": "a", "Info": "x"}).extra == {}
    assert len(warnings(caplog)) == 1  # toTag: a call's member, not a balance entry's


def test_history_example() -> None:
    history = CallHistory.from_json(example("get_history"))

    # Naive times: which zone they are in is the caller's decision (docs/settings-api.md §9
    # question 8).
    assert [str(call.start_time) for call in history.calls] == [
        "2025-05-03 14:02:11",
        "2025-05-03 11:47:02",
        "2025-05-02 16:20:45",
    ]
    assert [call.caller for call in history.calls if call.missed] == ["bob@example.net"]
    carol = history.received[1]
    assert carol.media == ["audio", "video"]


def test_empty_history_example() -> None:
    history = CallHistory.from_json(example("get_history_empty"))

    assert (history.placed, history.received) == ([], [])


def test_accept_rules_example() -> None:
    rules = AcceptRules.from_json(example("get_accept_rules"))

    assert rules.persistent == [
        AcceptRule(days=31, start="09:00", stop="18:00", groups=["everybody"]),
        AcceptRule(days=96, start="10:00", stop="14:00", groups=["vip", "family"]),
    ]
    assert rules.dnd_state is DndState.ON
    assert rules.dnd_minutes_left == 45


def test_dnd_off_example() -> None:
    rules = AcceptRules.from_json(example("get_accept_rules_dnd_off"))

    assert rules.persistent == []
    assert rules.dnd_state is DndState.OFF


@pytest.mark.parametrize(
    ("temporary", "state", "minutes"),
    [
        ({"groups": ["nobody"], "duration": 10}, DndState.ON, 10),
        ({"groups": ["nobody"], "duration": 0}, DndState.ON_OR_EXPIRED, None),
        ({"groups": ["nobody"], "duration": "7"}, DndState.ON, 7),
        ({"groups": ["nobody"], "duration": -3}, DndState.ON_OR_EXPIRED, None),
        ({"groups": ["everybody"], "duration": 30}, DndState.OFF, None),
        ({"groups": ["vip", "family"], "duration": 30}, DndState.OFF, None),
        ({"groups": [], "duration": 0}, DndState.OFF, None),
        ({"groups": None, "duration": None}, DndState.OFF, None),
        (None, DndState.OFF, None),
        ([], DndState.OFF, None),
    ],
)
def test_dnd_rule(temporary: Any, state: DndState, minutes: int | None) -> None:
    """DND is ``nobody`` in the temporary groups; the duration is what is left.

    See docs/settings-api.md §6.1.
    """
    rules = AcceptRules.from_json({"temporary": temporary, "groups": ["everybody", "nobody"]})

    assert rules.dnd_state is state
    assert rules.dnd_minutes_left == minutes


def test_persistent_rules_as_a_list_or_with_odd_masks() -> None:
    listed = AcceptRules.from_json(
        {"persistent": [{"start": "08:00", "stop": "12:00", "groups": "vip"}]}
    )
    odd = AcceptRules.from_json({"persistent": {"weekdays": {"start": "08:00"}}})

    assert listed.persistent == [AcceptRule(days=None, start="08:00", stop="12:00", groups=["vip"])]
    assert odd.persistent == [AcceptRule(days=None, start="08:00", stop=None, groups=[])]


def test_call_forwarding_example() -> None:
    forwarding = CallForwarding.from_json(example("get_call_forwarding"))

    assert forwarding.target(ForwardingCondition.ALWAYS) is None
    assert forwarding.target(ForwardingCondition.NOT_ONLINE) == VOICE_MAILBOX
    assert forwarding.target(ForwardingCondition.UNAVAILABLE) == "+31612345678@example.com"


def test_call_forwarding_none_example() -> None:
    forwarding = CallForwarding.from_json(example("get_call_forwarding_none"))

    assert set(forwarding.targets.values()) == {None}


def test_devices_examples() -> None:
    blink, phone = registrations_from_json(example("get_devices"))

    assert blink.behind_nat
    assert blink.transport is Transport.TLS
    assert phone.host == "198.51.100.20"
    assert registrations_from_json(example("get_devices_none")) == []


def test_registration_with_little_information() -> None:
    device = Registration.from_json({"contact": "sip.example.net"})

    assert device.public_contact == "sip.example.net"
    assert device.host == "sip.example.net"
    assert not device.behind_nat
    assert device.transport is Transport.OTHER
    assert device.transport_name == ""
    assert device.expires is None


def test_prepaid_examples() -> None:
    status = PrepaidStatus.from_json(example("get_prepaid"))

    assert status.balance == pytest.approx(12.3456)
    assert status.active_calls is None


@pytest.mark.parametrize(
    ("member", "active_calls"),
    [
        ({"session_counter": 2}, 2),
        ({"sessionCount": "3"}, 3),
        ({"activeCalls": 1.0}, 1),
        ({"active_sessions": [{"id": 1}, {"id": 2}]}, 2),
        ({"active_sessions": {"a": {}, "b": {}, "c": {}}}, 3),
        ({"active_sessions": '[{"id":1}]'}, 1),
        ({"activeSessions": ""}, 0),
        ({"sessions": None}, 0),
        ({"active_sessions": "not json"}, None),
        ({"active_sessions": 4}, None),
        ({}, None),
    ],
)
def test_prepaid_active_calls(member: dict[str, Any], active_calls: int | None) -> None:
    status = PrepaidStatus.from_json({"balance": "1.5", **member})

    assert status.balance == 1.5
    assert status.active_calls == active_calls


def test_balance_history_examples() -> None:
    entries = balance_history_from_json(example("get_balance_history"))

    assert [entry.action for entry in entries] == ["Debit balance", "Debit balance", "Set balance"]
    assert str(entries[0].date) == "2025-05-03 14:05:40"
    assert entries[1].value == 0.0
    assert balance_history_from_json(example("get_balance_history_empty")) == []
    assert balance_history_from_json(example("get_balance_history_none")) == []


def test_monthly_usage_example() -> None:
    usage = MonthlyUsage.from_json(example("get_monthly_usage"))

    assert (usage.calls, usage.price) == (37, pytest.approx(4.1875))


def test_voicemail_example() -> None:
    mailbox = Voicemail.from_json(example("get_voicemail"))

    assert mailbox.pin == "4821"
    assert mailbox.delete_after_email is False
    assert "4821" not in repr(mailbox)
    assert "4821" not in str(mailbox)


def test_voicemail_with_new_options() -> None:
    mailbox = Voicemail.from_json({**example("get_voicemail"), "Options": {"attach": "yes"}})

    assert mailbox.delete_after_email is None
    assert mailbox.extra == {"Options": {"attach": "yes"}}


@pytest.mark.parametrize(
    ("value", "flag"),
    [(True, True), ("True", True), ("false", False), ("1", True), ("no", False), (0, False)],
)
def test_voicemail_delete_option(value: object, flag: bool) -> None:
    mailbox = Voicemail.from_json({"Mailbox": "a", "Options": {"delete": value}})

    assert mailbox.delete_after_email is flag


def test_string_list_examples() -> None:
    assert string_list("reject rules", example("get_reject_rules")) == [
        "sip:spammer@example.net",
        "sip:+31851234567@example.com",
    ]
    assert string_list("reject rules", example("get_reject_rules_empty")) == []
    assert string_list("aliases", None) == []
    assert string_list("aliases", {}) == []
    assert string_list("aliases", "one@example.com") == ["one@example.com"]


# -- what was not foreseen ----------------------------------------------------------------


def test_numbers_as_text() -> None:
    call = Call.from_json(
        CallDirection.PLACED,
        {"duration": "209", "status": "200.0", "price": " 0.0627 ", "startTime": ""},
    )

    assert call.duration == 209
    assert call.status == 200
    assert call.price == pytest.approx(0.0627)
    assert call.start_time is None
    assert call.extra == {}


def test_text_from_numbers() -> None:
    identity = Identity.from_json({"sip_address": "a@b.c", "mobile_number": 31612345678})

    assert identity.mobile_number == "31612345678"
    assert identity.extra == {}


@pytest.mark.parametrize(
    ("data", "key"),
    [
        ({"balance": True}, "balance"),
        ({"balance": "twelve"}, "balance"),
        ({"balance": [1]}, "balance"),
    ],
)
def test_unreadable_number(
    data: dict[str, Any], key: str, caplog: pytest.LogCaptureFixture
) -> None:
    status = PrepaidStatus.from_json(data)

    assert status.balance is None
    assert status.extra == {key: data[key]}
    (warning,) = warnings(caplog)
    assert f"unexpected value for {key!r}" in warning


@pytest.mark.parametrize("value", [True, "soon", 1.5, "2.5", {"s": 1}])
def test_unreadable_integer(value: object) -> None:
    identity = Identity.from_json({"sip_address": "a@b.c", "no_answer_timeout": value})

    assert identity.no_answer_timeout is None
    assert identity.extra == {"no_answer_timeout": value}


def test_unreadable_text_flag_list_and_time(caplog: pytest.LogCaptureFixture) -> None:
    entry = BalanceEntry.from_json({"date": "yesterday", "action": ["x"]})
    mailbox = Voicemail.from_json({"Mailbox": "a", "Options": {"delete": "perhaps"}})
    call = Call.from_json(CallDirection.RECEIVED, {"media": ["audio", 7], "startTime": 5})
    rules = AcceptRules.from_json({"temporary": {"groups": 3}})

    assert entry.date is None
    assert entry.action == ""
    assert entry.extra == {"date": "yesterday", "action": ["x"]}
    assert mailbox.delete_after_email is None
    assert mailbox.extra == {"Options": {"delete": "perhaps"}}
    assert call.media == ["audio"]
    assert call.extra == {"media": ["audio", 7], "startTime": 5}
    assert rules.temporary_groups == []
    assert len(warnings(caplog)) == 6


def test_new_members_are_kept_and_reported_once(caplog: pytest.LogCaptureFixture) -> None:
    report = ValueReporter()
    first = Identity.from_json({"sip_address": "a@b.c", "language": "nl"}, report)
    second = Identity.from_json({"sip_address": "d@e.f", "language": "en"}, report)

    assert first.extra == {"language": "nl"}
    assert second.extra == {"language": "en"}
    (warning,) = warnings(caplog)
    assert "identity" in warning
    assert "unknown member 'language'" in warning
    assert "nl" not in warning  # values may be personal: only the type is logged


@pytest.mark.parametrize("answer", [[], "text", 5])
def test_answer_of_the_wrong_shape(answer: object, caplog: pytest.LogCaptureFixture) -> None:
    identity = Identity.from_json(answer)

    assert identity.sip_address == ""
    (warning,) = warnings(caplog)
    assert "expected an object" in warning


def test_lists_as_php_maps() -> None:
    """PHP arrays with non-sequential keys become JSON objects."""
    history = CallHistory.from_json(
        {"placed": None, "received": {"3": {"remoteParty": "sip:a@b.c"}, "7": {}}}
    )
    devices = registrations_from_json({"0": {"contact": "1.2.3.4:5060", "transport": "udp"}})

    assert [call.caller for call in history.received] == ["a@b.c", ""]
    assert devices[0].transport is Transport.UDP


def test_list_of_the_wrong_shape(caplog: pytest.LogCaptureFixture) -> None:
    assert registrations_from_json("none") == []
    assert balance_history_from_json(3) == []
    assert string_list("aliases", 3) == []
    assert string_list("enum", ["+31", None]) == ["+31"]
    assert len(warnings(caplog)) == 4


def test_status_result() -> None:
    ok = StatusResult.from_json({"success": True, "error_message": "Done"})
    refused = StatusResult.from_json({"success": "true", "error_message": None})
    silent = StatusResult.from_json({"error_message": "database error"})

    assert (ok.success, ok.message) == (True, "Done")
    assert (refused.success, refused.message) == (False, "")  # only JSON true is success
    assert (silent.success, silent.message) == (False, "database error")


def test_calls_without_start_time_sort_last() -> None:
    history = CallHistory.from_json(
        {
            "placed": [{"sessionId": "a"}, {"sessionId": "b", "startTime": "2025-01-01 10:00:00"}],
            "received": None,
        }
    )

    assert [call.session_id for call in history.calls] == ["b", "a"]


@pytest.mark.parametrize(
    ("uri", "stripped"),
    [
        ("sip:bob@example.net", "bob@example.net"),
        ("SIPS:bob@example.net", "bob@example.net"),
        ("bob@example.net", "bob@example.net"),
        ("tel:+31201234567", "tel:+31201234567"),
        (VOICE_MAILBOX, VOICE_MAILBOX),
    ],
)
def test_strip_sip_scheme(uri: str, stripped: str) -> None:
    assert strip_sip_scheme(uri) == stripped


def test_each_reporter_reports_on_its_own(caplog: pytest.LogCaptureFixture) -> None:
    """No state is shared between clients: each account's log tells its own story."""
    answer = {"sip_address": "a@b.c", "language": "nl"}

    Identity.from_json(answer, ValueReporter())
    Identity.from_json(answer, ValueReporter())
    Identity.from_json(answer)
    Identity.from_json(answer)

    assert len(warnings(caplog)) == 4


def test_a_flood_of_unknown_members_logs_a_bounded_number_of_lines(
    caplog: pytest.LogCaptureFixture,
) -> None:
    answer = {f"member{number}": number for number in range(10_000)}

    identity = Identity.from_json(answer)

    assert len(identity.extra) == 10_000
    lines = warnings(caplog)
    assert len(lines) == MAX_REPORTS + 1
    assert "no longer reported" in lines[-1]


async def test_reading_on_the_event_loop_never_sleeps() -> None:
    """Small answers are read on the loop, where Home Assistant forbids time.sleep."""
    entries = example("get_balance_history") * 100
    body = "<p>warning</p>" + json.dumps([[entry] for entry in entries])

    with patch("time.sleep", side_effect=AssertionError("slept on the event loop")):
        assert len(balance_history_from_json(entries)) == 300
        assert len(parse_body(body).value) == 300


def test_reading_in_a_worker_thread_lets_the_loop_in() -> None:
    """Without a loop in this thread, long reads give up the interpreter lock now and then."""
    entries = example("get_balance_history") * 100

    with patch("time.sleep") as sleep:
        balance_history_from_json(entries)

    assert sleep.call_count == 300 // 32


@pytest.mark.parametrize(
    ("text", "read"),
    [
        ("2025-05-03 14:05:40", datetime(2025, 5, 3, 14, 5, 40)),  # noqa: DTZ001
        (" 2025-5-3 4:05:06 ", datetime(2025, 5, 3, 4, 5, 6)),  # noqa: DTZ001
        ("2025-02-30 10:00:00", None),
        ("2025-05-03 24:00:00", None),
        ("2025-05-03T14:05:40", None),
        ("2025-05-03 14:05:40+02:00", None),
        ("٢٠٢٥-05-03 14:05:40", None),
    ],
)
def test_timestamps(text: str, read: datetime | None) -> None:
    entry = BalanceEntry.from_json({"date": text})

    assert entry.date == read
    assert entry.extra == ({} if read else {"date": text})
