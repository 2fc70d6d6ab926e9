"""Polling: one coordinator per source, each at its pace, failures logged once."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Coroutine
from datetime import timedelta
import logging
import random
import time
from typing import Any

from freezegun.api import FrozenDateTimeFactory
from homeassistant.config_entries import SOURCE_REAUTH
from homeassistant.const import STATE_UNAVAILABLE
from homeassistant.core import HomeAssistant, ServiceResponse
from homeassistant.helpers import entity_registry as er
from homeassistant.util import dt as dt_util
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry, async_fire_time_changed

from custom_components.sipthor.const import DOMAIN
from simulator import Hold, SettingsSimulator
from simulator.server import Faults
from tests.conftest import ACCOUNT
from tests.integration.common import advance, setup_entry

BALANCE = "sensor.alice_example_com_balance"
REGISTERED = "sensor.alice_example_com_registered_devices"
VOICEMAIL = "sensor.alice_example_com_voicemail"
DND = "switch.alice_example_com_do_not_disturb"
DND_LEFT = "sensor.alice_example_com_do_not_disturb_time_left"
FORWARD_BUSY = "select.alice_example_com_forward_when_busy"
SLOW_ACTIONS = (
    "get_identity",
    "get_call_forwarding",
    "get_voicemail",
    "get_aliases",
    "get_enum",
    "get_history",
)


def _forward_busy(
    hass: HomeAssistant, entry: MockConfigEntry, target: str
) -> Coroutine[Any, Any, ServiceResponse]:
    """``sipthor.set_call_forwarding`` of the busy condition, waiting for its answer."""
    return hass.services.async_call(
        DOMAIN,
        "set_call_forwarding",
        {"config_entry_id": entry.entry_id, "busy": target},
        blocking=True,
    )


def _lines(caplog: pytest.LogCaptureFixture, text: str) -> list[logging.LogRecord]:
    return [record for record in caplog.records if text in record.getMessage()]


async def _just_before_the_slow_polls(hass: HomeAssistant, freezer: FrozenDateTimeFactory) -> None:
    """Ten seconds before every source falls due together, a minute at a time."""
    for _ in range(9):
        await advance(hass, freezer, timedelta(minutes=1))
    await advance(hass, freezer, timedelta(seconds=50))


async def test_unreachable_then_back(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    init_integration: MockConfigEntry,
    simulator: SettingsSimulator,
    caplog: pytest.LogCaptureFixture,
) -> None:
    # The platform's maintenance page (HTTP 503): not the settings page.
    simulator.faults.status = 503
    await advance(hass, freezer, timedelta(seconds=61))
    # An outage is the account's: every entity goes, not only the source polled.
    for entity_id in (REGISTERED, BALANCE, FORWARD_BUSY, DND):
        assert hass.states.get(entity_id).state == STATE_UNAVAILABLE, entity_id

    simulator.counters.reset()
    for _ in range(11):
        await advance(hass, freezer, timedelta(minutes=1))
    lost = _lines(caplog, "alice@example.com: the settings page does not answer")
    assert len(lost) == 1, "logged once when lost, not at every poll"
    assert "HTTP 503" in lost[0].getMessage()
    # While it is lost, one request a minute asks whether it is back.
    assert simulator.counters.requests.total() == 11
    # One clear line; a traceback at most at debug level.
    assert not any(
        r.exc_info
        for r in caplog.records
        if r.name.startswith("custom_components") and r.levelno > logging.DEBUG
    )

    simulator.faults.status = None
    simulator.platform.accounts[ACCOUNT].registrations = []
    await advance(hass, freezer, timedelta(seconds=61))
    assert hass.states.get(REGISTERED).state == "0"
    assert hass.states.get(BALANCE).state == "12.3456"
    # Once for the account, not once per source that failed meanwhile.
    assert len(_lines(caplog, "alice@example.com: the settings page answers again")) == 1
    assert not _lines(caplog, "data recovered")


async def test_every_source_the_outage_stopped_is_read_at_once_when_back(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    init_integration: MockConfigEntry,
    simulator: SettingsSimulator,
) -> None:
    """A 35 s outage over the slow polls: all is back a minute later, not in ten."""
    await _just_before_the_slow_polls(hass, freezer)
    simulator.faults.drop_connection = True
    # Every source falls due (the balance, do not disturb, the slow ones) and fails.
    await advance(hass, freezer, timedelta(seconds=11))
    await advance(hass, freezer, timedelta(seconds=24))
    simulator.faults.drop_connection = False
    simulator.counters.reset()

    await advance(hass, freezer, timedelta(seconds=37))
    assert hass.states.get(BALANCE).state == "12.3456"
    assert hass.states.get(DND).state == "off"
    assert hass.states.get(FORWARD_BUSY).state == "voice_mailbox"
    assert hass.states.get(VOICEMAIL).state == "alice@vm.example.com"
    # Each once: what the outage stopped, read again as soon as the page answered.
    assert simulator.counters.requests["get_prepaid"] == 1
    assert simulator.counters.requests["get_accept_rules"] == 1
    assert all(simulator.counters.requests[action] == 1 for action in SLOW_ACTIONS)


async def test_a_failed_poll_is_tried_again_within_a_minute(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    init_integration: MockConfigEntry,
    simulator: SettingsSimulator,
) -> None:
    """One source fails while the page answers the others: not ten minutes unavailable."""
    simulator.faults.backend_error = True
    simulator.faults.actions = frozenset({"get_voicemail"})
    await advance(hass, freezer, timedelta(minutes=10, seconds=1))
    assert hass.states.get(VOICEMAIL).state == STATE_UNAVAILABLE
    assert hass.states.get(BALANCE).state == "12.3456"

    simulator.faults = Faults()
    await advance(hass, freezer, timedelta(seconds=61))
    assert hass.states.get(VOICEMAIL).state == "alice@vm.example.com"


async def test_polls_due_together_log_one_outage_once(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    init_integration: MockConfigEntry,
    simulator: SettingsSimulator,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Nine polls fall due in the same second and take turns; the first finds it lost."""
    await _just_before_the_slow_polls(hass, freezer)
    caplog.clear()
    simulator.faults.drop_connection = True
    await advance(hass, freezer, timedelta(seconds=11))
    ours = [
        record.getMessage()
        for record in caplog.records
        if record.name.startswith("custom_components.sipthor") and record.levelno >= logging.WARNING
    ]
    assert len(ours) == 1, ours
    assert ours[0].startswith("alice@example.com: the settings page does not answer")


async def test_the_page_is_back_only_after_it_was_lost(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    init_integration: MockConfigEntry,
    simulator: SettingsSimulator,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A read-back that gets no answer is an outage like any other, logged as one."""
    simulator.faults.drop_connection = True
    simulator.faults.actions = frozenset({"get_call_forwarding"})
    await _forward_busy(hass, init_integration, "0612345678")
    await hass.async_block_till_done(wait_background_tasks=True)
    simulator.faults = Faults()
    await advance(hass, freezer, timedelta(seconds=61))
    changes = [
        "lost" if "does not answer" in message else "back"
        for record in caplog.records
        if "the settings page" in (message := record.getMessage())
        and ("does not answer" in message or "answers again" in message)
    ]
    assert changes == ["lost", "back"]
    assert hass.states.get(FORWARD_BUSY).state == "0612345678@example.com"


async def test_one_failing_source_leaves_the_rest(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    init_integration: MockConfigEntry,
    simulator: SettingsSimulator,
    caplog: pytest.LogCaptureFixture,
) -> None:
    simulator.faults.backend_error = True
    simulator.faults.actions = frozenset({"get_voicemail"})
    await advance(hass, freezer, timedelta(minutes=11))
    assert hass.states.get(VOICEMAIL).state == STATE_UNAVAILABLE
    assert hass.states.get(FORWARD_BUSY).state == "voice_mailbox"
    assert hass.states.get(BALANCE).state == "12.3456"

    await advance(hass, freezer, timedelta(minutes=11))
    failures = _lines(caplog, "Error fetching alice@example.com voicemail data")
    assert len(failures) == 1
    assert "Database unavailable" in failures[0].getMessage()

    simulator.faults.backend_error = False
    await advance(hass, freezer, timedelta(minutes=11))
    assert hass.states.get(VOICEMAIL).state == "alice@vm.example.com"
    assert _lines(caplog, "Fetching alice@example.com voicemail data recovered")


async def test_html_error_before_a_good_answer_is_only_a_warning(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    init_integration: MockConfigEntry,
    simulator: SettingsSimulator,
    caplog: pytest.LogCaptureFixture,
) -> None:
    simulator.faults.html_warning = True
    simulator.faults.actions = frozenset({"get_prepaid"})
    simulator.platform.accounts[ACCOUNT].balance = 3.0
    await advance(hass, freezer, timedelta(minutes=5, seconds=1))
    await advance(hass, freezer, timedelta(minutes=5, seconds=1))
    assert hass.states.get(BALANCE).state == "3.0"
    warnings = [
        r for r in _lines(caplog, "Server warning with get_prepaid") if r.levelno >= logging.WARNING
    ]
    assert len(warnings) == 1, "the same warning is logged once, then at debug level"


async def test_refused_certificate_anywhere_starts_reauth_once(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    init_integration: MockConfigEntry,
    simulator: SettingsSimulator,
) -> None:
    simulator.faults.tls_reject = True
    # Every source falls due: each is refused, one reauthentication is asked for.
    await advance(hass, freezer, timedelta(minutes=11))
    flows = hass.config_entries.flow.async_progress_by_handler(DOMAIN)
    assert [flow["context"]["source"] for flow in flows] == [SOURCE_REAUTH]
    assert hass.states.get(BALANCE).state == STATE_UNAVAILABLE


async def test_monthly_usage_is_not_asked_again(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    init_integration: MockConfigEntry,
    simulator: SettingsSimulator,
    caplog: pytest.LogCaptureFixture,
) -> None:
    assert simulator.counters.requests["get_monthly_usage"] == 1
    await advance(hass, freezer, timedelta(minutes=11))
    await advance(hass, freezer, timedelta(minutes=11))
    assert simulator.counters.requests["get_monthly_usage"] == 1
    assert hass.states.get("sensor.alice_example_com_monthly_calls").state == STATE_UNAVAILABLE
    assert hass.states.get(BALANCE).state == "12.3456"
    # Expected of this server: information, not an error.
    assert not [r for r in _lines(caplog, "monthly usage") if r.levelno >= logging.WARNING]


async def test_polls_only_what_enabled_entities_show(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    entity_registry: er.EntityRegistry,
    init_integration: MockConfigEntry,
    simulator: SettingsSimulator,
) -> None:
    entity_registry.async_update_entity(
        "sensor.alice_example_com_aliases", disabled_by=er.RegistryEntryDisabler.USER
    )
    assert await hass.config_entries.async_reload(init_integration.entry_id)
    await hass.async_block_till_done(wait_background_tasks=True)
    simulator.counters.reset()

    await advance(hass, freezer, timedelta(minutes=11))
    assert simulator.counters.requests["get_call_forwarding"] == 1
    assert "get_aliases" not in simulator.counters.requests


async def test_enabling_an_entity_fetches_its_data_at_once(
    hass: HomeAssistant,
    entity_registry: er.EntityRegistry,
    mock_config_entry: MockConfigEntry,
    stored_certificate,
    simulator: SettingsSimulator,
) -> None:
    await setup_entry(hass, mock_config_entry)
    assert "get_balance_history" not in simulator.counters.requests

    entity_registry.async_update_entity(
        "sensor.alice_example_com_last_balance_change", disabled_by=None
    )
    assert await hass.config_entries.async_reload(mock_config_entry.entry_id)
    await hass.async_block_till_done(wait_background_tasks=True)
    assert simulator.counters.requests["get_balance_history"] == 1
    assert hass.states.get("sensor.alice_example_com_last_balance_change").state == "-0.0627"


async def test_requests_per_hour_at_the_defaults(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    mock_config_entry: MockConfigEntry,
    stored_certificate,
    simulator: SettingsSimulator,
) -> None:
    """At most 120 requests and 60 handshakes an hour, registrations never a minute old."""
    await setup_entry(hass, mock_config_entry)
    simulator.counters.reset()
    for _ in range(60):
        await advance(hass, freezer, timedelta(minutes=1))
    assert simulator.counters.requests == Counter(
        {
            "get_devices": 60,
            "get_prepaid": 12,  # every 5 minutes
            "get_accept_rules": 6,
            **dict.fromkeys(SLOW_ACTIONS, 6),
            "": 1,  # the HTML settings page, for caller-ID privacy: hourly
        }
    )
    assert simulator.counters.requests.total() == 115
    # Polls due together take turns on one kept-alive connection: one TLS handshake (and
    # certificate exchange) a minute, not one per request in flight.
    assert simulator.counters.handshakes == 60


async def test_a_new_call_reads_the_balance_once(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    mock_config_entry: MockConfigEntry,
    stored_certificate,
    simulator: SettingsSimulator,
) -> None:
    await setup_entry(hass, mock_config_entry)
    # Just before the call list is read again, a call ends and costs credit.
    await advance(hass, freezer, timedelta(minutes=9))
    account = simulator.platform.accounts[ACCOUNT]
    simulator.platform.add_call(ACCOUNT, "placed", "sip:+31201234567@example.com", duration=60)
    account.balance = 11.0
    simulator.counters.reset()

    await advance(hass, freezer, timedelta(minutes=1, seconds=1))
    assert simulator.counters.requests["get_history"] == 1
    assert simulator.counters.requests["get_prepaid"] == 1
    assert hass.states.get(BALANCE).state == "11.0"


async def test_timed_dnd_is_read_again_when_it_ends(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    init_integration: MockConfigEntry,
    simulator: SettingsSimulator,
) -> None:
    # Set on the web page for 3 minutes; seen at the next slow poll.
    simulator.platform.set_dnd(simulator.platform.accounts[ACCOUNT], 13)
    await advance(hass, freezer, timedelta(minutes=10, seconds=1))
    assert hass.states.get(DND).state == "on"
    assert hass.states.get(DND_LEFT).state == "3"

    simulator.counters.reset()
    await advance(hass, freezer, timedelta(minutes=3, seconds=10))
    assert simulator.counters.requests["get_accept_rules"] == 1
    assert hass.states.get(DND).state == "off"
    assert hass.states.get(DND_LEFT).state == "0"


async def _wave(hass: HomeAssistant, hold: Hold, *, patience: int = 10) -> list[str]:
    """The answers held together once no more arrive (not released); [] if none came.

    Real time must pass for requests to cross the loopback: the executor sleeps it.
    """
    arrived = -1
    for _ in range(patience):
        await hass.async_add_executor_job(time.sleep, 0.05)
        if hold.waiting and len(hold.waiting) == arrived:
            break
        arrived = len(hold.waiting)
    return sorted(hold.waiting)


async def test_setup_takes_one_round_trip(
    hass: HomeAssistant,
    mock_config_entry: MockConfigEntry,
    stored_certificate,
    simulator: SettingsSimulator,
) -> None:
    """The setup sources go together; the rest follows in one more, in the background."""
    simulator.faults.hold = hold = Hold()
    mock_config_entry.add_to_hass(hass)
    setup = hass.async_create_task(hass.config_entries.async_setup(mock_config_entry.entry_id))

    assert await _wave(hass, hold) == ["get_accept_rules", "get_devices", "get_prepaid"]
    assert not setup.done()
    hold.release()
    # Setup does not wait for the other sources: they are read while it adds entities.
    assert await setup
    assert hass.states.get(BALANCE).state == "12.3456"
    # Not fetched yet: unavailable, not a made-up value.
    assert hass.states.get(FORWARD_BUSY).state == STATE_UNAVAILABLE

    assert await _wave(hass, hold) == sorted(SLOW_ACTIONS)
    hold.release()
    assert await _wave(hass, hold) == []
    await hass.async_block_till_done(wait_background_tasks=True)
    assert hass.states.get(FORWARD_BUSY).state == "voice_mailbox"


async def test_password_setup_asks_for_the_challenge_once(
    hass: HomeAssistant, password_entry: MockConfigEntry, simulator: SettingsSimulator
) -> None:
    """With the SIP password: one request learns the challenge (a 401, not held), and
    the setup sources wait for it, then go together: two round trips, one 401."""
    simulator.faults.hold = hold = Hold()
    password_entry.add_to_hass(hass)
    setup = hass.async_create_task(hass.config_entries.async_setup(password_entry.entry_id))

    first = await _wave(hass, hold)
    hold.release()
    while not setup.done() and await _wave(hass, hold):
        hold.release()
    simulator.faults.hold = None
    hold.release()

    assert setup.result()
    assert first == ["get_accept_rules", "get_devices", "get_prepaid"]
    setup_requests = simulator.counters.log[:4]
    assert [request.authorization == "" for request in setup_requests] == [
        True,
        False,
        False,
        False,
    ]
    assert simulator.counters.challenges == 1
    await hass.async_block_till_done(wait_background_tasks=True)


async def test_a_poll_older_than_a_write_does_not_undo_it(
    hass: HomeAssistant, init_integration: MockConfigEntry, simulator: SettingsSimulator
) -> None:
    """The read-back wins over a poll that read the server before the write."""
    simulator.faults.actions = frozenset({"get_call_forwarding"})
    simulator.faults.hold = hold = Hold(count=1)
    # The slow poll reads the old targets, and its answer is held on the way back.
    async_fire_time_changed(hass, dt_util.utcnow() + timedelta(minutes=11))
    while not hold.waiting:
        await hass.async_add_executor_job(time.sleep, 0.02)

    await _forward_busy(hass, init_integration, "0612345678")
    # The read-back (not held) confirms the write while the older poll is held.
    for _ in range(250):
        if hass.states.get(FORWARD_BUSY).state == "0612345678@example.com":
            break
        await hass.async_add_executor_job(time.sleep, 0.02)
    assert hass.states.get(FORWARD_BUSY).state == "0612345678@example.com"

    assert hold.release() == ["get_call_forwarding"]
    await hass.async_block_till_done(wait_background_tasks=True)
    assert simulator.counters.requests["get_call_forwarding"] == 3  # setup, poll, read-back
    assert hass.states.get(FORWARD_BUSY).state == "0612345678@example.com"


async def test_an_action_returns_when_the_write_is_answered(
    hass: HomeAssistant, init_integration: MockConfigEntry, simulator: SettingsSimulator
) -> None:
    """One round trip: the read-back that confirms the write runs in the background."""
    simulator.faults.actions = frozenset({"get_call_forwarding"})
    simulator.faults.hold = hold = Hold()
    action = hass.async_create_task(_forward_busy(hass, init_integration, "0612345678"))
    try:
        assert await _wave(hass, hold) == ["get_call_forwarding"]
        # The read-back is held on its way; the action has returned, the new target shows.
        assert action.done()
        assert hass.states.get(FORWARD_BUSY).state == "0612345678"
    finally:
        hold.release()
    await action
    await hass.async_block_till_done(wait_background_tasks=True)
    assert hass.states.get(FORWARD_BUSY).state == "0612345678@example.com"


async def test_ten_writes_in_a_row_end_showing_the_last(
    hass: HomeAssistant, init_integration: MockConfigEntry, simulator: SettingsSimulator
) -> None:
    """Ten actions at once; each read-back answers 0 to 150 ms late, in any order."""
    delays = random.Random(5)  # noqa: S311 - reproducible delays, not a secret
    simulator.faults.actions = frozenset({"get_call_forwarding"})
    simulator.faults.answer_delay = lambda _action: delays.uniform(0, 0.15)
    targets = [f"06123456{number:02d}" for number in range(10)]
    await asyncio.gather(*(_forward_busy(hass, init_integration, target) for target in targets))
    await hass.async_block_till_done(wait_background_tasks=True)
    assert (
        simulator.platform.accounts[ACCOUNT].forwarding["FBUS"] == f"sip:{targets[-1]}@example.com"
    )
    assert hass.states.get(FORWARD_BUSY).state == f"{targets[-1]}@example.com"


async def test_a_poll_is_bounded_as_a_whole(
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    simulator: SettingsSimulator,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """However long the client would wait, a poll gives up after 45 s and says so."""
    init_integration.runtime_data.account.client.request_timeout = 600
    simulator.faults.actions = frozenset({"get_devices"})
    simulator.faults.hold = hold = Hold()
    start = dt_util.utcnow()
    try:
        async_fire_time_changed(hass, start + timedelta(seconds=61))
        while not hold.waiting:
            await hass.async_add_executor_job(time.sleep, 0.02)
        async_fire_time_changed(hass, start + timedelta(seconds=61 + 46))
        await hass.async_block_till_done()
    finally:
        hold.release()
    assert hass.states.get(REGISTERED).state == STATE_UNAVAILABLE
    assert _lines(caplog, "alice@example.com: the settings page does not answer (no answer)")


async def test_the_reads_after_setup_reuse_its_connections(
    hass: HomeAssistant,
    mock_config_entry: MockConfigEntry,
    stored_certificate,
    simulator: SettingsSimulator,
) -> None:
    """Setup's three reads keep their connections for the six that follow at once.

    Each new connection costs a TLS handshake and the certificate exchange, on the way
    to every entity showing a value: six (the most in flight at once), not eight.
    Afterwards one connection stays open, as after any burst.
    """
    simulator.faults.latency = 0.05
    await setup_entry(hass, mock_config_entry)

    setup_sources = {"get_prepaid", "get_devices", "get_accept_rules"}
    assert setup_sources | set(SLOW_ACTIONS) <= set(simulator.counters.requests)
    assert simulator.counters.handshakes == 6
