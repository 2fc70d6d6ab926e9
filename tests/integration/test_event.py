"""The call event entity: one event per new call, none for history, none twice."""

from __future__ import annotations

from datetime import timedelta

from freezegun.api import FrozenDateTimeFactory
from homeassistant.const import EVENT_STATE_CHANGED, STATE_UNAVAILABLE, STATE_UNKNOWN
from homeassistant.core import HomeAssistant, State
import pytest
from pytest_homeassistant_custom_component.common import (
    MockConfigEntry,
    async_capture_events,
    mock_restore_cache_with_extra_data,
)

from simulator import SettingsSimulator
from tests.conftest import ACCOUNT
from tests.integration.common import CALL_EVENT, advance, fired_calls, setup_entry

CALL = CALL_EVENT


async def test_history_is_not_replayed(
    hass: HomeAssistant, init_integration: MockConfigEntry
) -> None:
    assert hass.states.get(CALL).state == STATE_UNKNOWN


async def test_each_new_call_fires_once(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    init_integration: MockConfigEntry,
    simulator: SettingsSimulator,
) -> None:
    events = async_capture_events(hass, EVENT_STATE_CHANGED)
    platform = simulator.platform
    platform.add_call(ACCOUNT, "received", "sip:dave@example.org", display_name="Dave")
    platform.add_call(ACCOUNT, "received", "sip:erin@example.org", duration=75, seconds_ago=30)
    platform.add_call(ACCOUNT, "placed", "sip:+31201234567@example.com", duration=20, price=0.01)
    await advance(hass, freezer, timedelta(minutes=11))

    assert sorted(fired_calls(events)) == sorted(
        [
            ("missed", "dave@example.org"),
            ("received", "erin@example.org"),
            ("placed", "+31201234567@example.com"),
        ]
    )
    last = hass.states.get(CALL)
    assert last.attributes["duration"] in (0, 20, 75)

    events.clear()
    await advance(hass, freezer, timedelta(minutes=11))
    assert fired_calls(events) == [], "a call already announced is not announced again"


async def test_calls_during_downtime_are_announced_after_restart(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    init_integration: MockConfigEntry,
    simulator: SettingsSimulator,
) -> None:
    assert await hass.config_entries.async_unload(init_integration.entry_id)
    await hass.async_block_till_done(wait_background_tasks=True)
    simulator.platform.add_call(ACCOUNT, "received", "sip:frank@example.org", seconds_ago=10)

    events = async_capture_events(hass, EVENT_STATE_CHANGED)
    assert await hass.config_entries.async_setup(init_integration.entry_id)
    await hass.async_block_till_done(wait_background_tasks=True)
    assert fired_calls(events) == [("missed", "frank@example.org")]


async def test_a_long_call_that_ended_during_downtime_is_announced(
    hass: HomeAssistant, init_integration: MockConfigEntry, simulator: SettingsSimulator
) -> None:
    """Decided by the calls announced, not by start time.

    The call started two days ago, before the newest call already announced, and ended
    while Home Assistant was down: it is new all the same.
    """
    assert await hass.config_entries.async_unload(init_integration.entry_id)
    await hass.async_block_till_done(wait_background_tasks=True)
    simulator.platform.add_call(
        ACCOUNT, "placed", "sip:+31201234567@example.com", duration=3600, seconds_ago=2 * 86400
    )

    events = async_capture_events(hass, EVENT_STATE_CHANGED)
    assert await hass.config_entries.async_setup(init_integration.entry_id)
    await hass.async_block_till_done(wait_background_tasks=True)
    assert fired_calls(events) == [("placed", "+31201234567@example.com")]


async def test_the_last_call_survives_a_restart(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    init_integration: MockConfigEntry,
    simulator: SettingsSimulator,
) -> None:
    simulator.platform.add_call(ACCOUNT, "received", "sip:dave@example.org", display_name="Dave")
    await advance(hass, freezer, timedelta(minutes=11))
    fired = hass.states.get(CALL)
    assert fired.attributes["event_type"] == "missed"

    assert await hass.config_entries.async_reload(init_integration.entry_id)
    await hass.async_block_till_done(wait_background_tasks=True)
    assert hass.states.get(CALL).state == fired.state
    assert hass.states.get(CALL).attributes["remote_party"] == "dave@example.org"


@pytest.mark.usefixtures("stored_certificate")
async def test_a_re_added_account_does_not_show_the_old_ones_last_call(
    hass: HomeAssistant, mock_config_entry: MockConfigEntry
) -> None:
    """Restored by entity id, the deleted account's last call would show."""
    mock_restore_cache_with_extra_data(
        hass,
        [
            (
                State(CALL, "2026-11-20T10:00:00+00:00"),
                {
                    "last_event_type": "missed",
                    "last_event_attributes": {"remote_party": "mallory@example.org"},
                },
            )
        ],
    )
    assert await setup_entry(hass, mock_config_entry)
    state = hass.states.get(CALL)
    assert state.state == STATE_UNKNOWN
    assert "remote_party" not in state.attributes


async def test_a_reload_comes_back_to_the_same_state(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    init_integration: MockConfigEntry,
    simulator: SettingsSimulator,
) -> None:
    """Between unload and setup Home Assistant shows every entity as unavailable.

    That is Home Assistant's own (the logbook words it as an event too); the entity
    itself comes back with the state it had, and changes it no more until a call.
    """
    simulator.platform.add_call(ACCOUNT, "received", "sip:dave@example.org")
    await advance(hass, freezer, timedelta(minutes=11))
    before = hass.states.get(CALL).state
    changes = async_capture_events(hass, EVENT_STATE_CHANGED)
    assert await hass.config_entries.async_reload(init_integration.entry_id)
    await hass.async_block_till_done(wait_background_tasks=True)
    await advance(hass, freezer, timedelta(minutes=11))
    assert [
        event.data["new_state"].state for event in changes if event.data["entity_id"] == CALL
    ] == [STATE_UNAVAILABLE, before]
