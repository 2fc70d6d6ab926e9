"""Do not disturb and caller-ID privacy, switched for real on the simulator."""

from __future__ import annotations

import asyncio
import contextlib
import copy
from datetime import timedelta
import time
from typing import Any

from freezegun.api import FrozenDateTimeFactory
from homeassistant.components.switch import DOMAIN as SWITCH_DOMAIN
from homeassistant.config_entries import SOURCE_REAUTH
from homeassistant.const import (
    ATTR_ASSUMED_STATE,
    ATTR_ENTITY_ID,
    SERVICE_TURN_OFF,
    SERVICE_TURN_ON,
    STATE_OFF,
    STATE_ON,
    STATE_UNAVAILABLE,
    STATE_UNKNOWN,
)
from homeassistant.core import HomeAssistant
from homeassistant.exceptions import HomeAssistantError
from homeassistant.helpers import entity_registry as er, issue_registry as ir
from homeassistant.helpers.event import async_track_state_change_event
from homeassistant.setup import async_setup_component
from homeassistant.util import dt as dt_util
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.sipthor.api import load_credentials
from custom_components.sipthor.certificate import write_certificate
from custom_components.sipthor.const import DOMAIN
from simulator import Hold, SettingsSimulator
from simulator.server import Faults
from tests.conftest import ACCOUNT
from tests.integration.common import advance, setup_entry, start_certificate_flow

DND = "switch.alice_example_com_do_not_disturb"
DND_LEFT = "sensor.alice_example_com_do_not_disturb_time_left"
DND_UNTIL = "sensor.alice_example_com_do_not_disturb_until"
PRIVACY = "switch.alice_example_com_hide_caller_id"


async def _switch(hass: HomeAssistant, service: str, entity_id: str) -> None:
    """Switch; wait for the read-back the write started in the background."""
    await hass.services.async_call(
        SWITCH_DOMAIN, service, {ATTR_ENTITY_ID: entity_id}, blocking=True
    )
    await hass.async_block_till_done(wait_background_tasks=True)


async def test_dnd_switch_changes_the_account(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    init_integration: MockConfigEntry,
    simulator: SettingsSimulator,
) -> None:
    account = simulator.platform.accounts[ACCOUNT]
    assert hass.states.get(DND).state == STATE_OFF

    await _switch(hass, SERVICE_TURN_ON, DND)
    # On the server: nobody may call, without an end (docs/settings-api.md §6.1).
    assert account.temporary_groups == ["nobody"]
    assert account.dnd_until is None
    assert hass.states.get(DND).state == STATE_ON
    assert hass.states.get(DND_LEFT).state == "unknown", "no end: no time left to show"
    assert hass.states.get(DND_UNTIL).state == "unknown", "no end: no moment to count to"

    # The server reads "nobody, 0 minutes": ambiguous, but this integration set it.
    await advance(hass, freezer, timedelta(seconds=61))
    assert hass.states.get(DND).state == STATE_ON

    await _switch(hass, SERVICE_TURN_OFF, DND)
    assert account.temporary_groups == ["everybody"]
    assert hass.states.get(DND).state == STATE_OFF


async def test_dnd_without_end_survives_a_restart(
    hass: HomeAssistant, init_integration: MockConfigEntry, simulator: SettingsSimulator
) -> None:
    await _switch(hass, SERVICE_TURN_ON, DND)
    assert await hass.config_entries.async_reload(init_integration.entry_id)
    await hass.async_block_till_done(wait_background_tasks=True)
    assert hass.states.get(DND).state == STATE_ON


async def test_dnd_set_elsewhere_with_a_duration(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    init_integration: MockConfigEntry,
    simulator: SettingsSimulator,
) -> None:
    # Do not disturb for 45 minutes, set on the web page; the expiry leaves "nobody"
    # with 0 minutes behind (one of the answers docs/settings-api.md §9 question 4 allows).
    simulator.platform.behaviour.dnd_expiry = "keep"
    ends = dt_util.utcnow() + timedelta(minutes=45)
    simulator.platform.set_dnd(simulator.platform.accounts[ACCOUNT], 45)
    await advance(hass, freezer, timedelta(minutes=10, seconds=1))
    assert hass.states.get(DND).state == STATE_ON
    assert hass.states.get(DND_LEFT).state == "35"
    until = dt_util.parse_datetime(hass.states.get(DND_UNTIL).state)
    assert until is not None
    assert abs(until - ends) <= timedelta(minutes=1)

    # Read again when the server said it ends, not at the next slow poll.
    await advance(hass, freezer, timedelta(minutes=35, seconds=10))
    # Not set here without an end, so it expired.
    assert hass.states.get(DND).state == STATE_OFF
    assert hass.states.get(DND_LEFT).state == "0"
    assert hass.states.get(DND_UNTIL).state == STATE_UNKNOWN


async def test_dnd_until_is_a_moment_that_stays_put(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    init_integration: MockConfigEntry,
    simulator: SettingsSimulator,
) -> None:
    """The frontend counts down to the end; the state does not move while it does.

    "Time left" read 30, and 20 ten minutes later: a number that changes only when
    read. The end is one moment, the same at every read.
    """
    changes: list[str] = []
    async_track_state_change_event(
        hass, DND_UNTIL, lambda event: changes.append(event.data["new_state"].state)
    )
    await hass.services.async_call(
        DOMAIN,
        "enable_dnd",
        {"config_entry_id": init_integration.entry_id, "duration": 30},
        blocking=True,
    )
    # The read-back, before the clock jumps (it would find its request 10 minutes late).
    await hass.async_block_till_done(wait_background_tasks=True)
    ends = dt_util.utcnow() + timedelta(minutes=30)
    state = hass.states.get(DND_UNTIL)
    assert state.attributes["device_class"] == "timestamp"
    until = dt_util.parse_datetime(state.state)
    assert until is not None
    assert abs(until - ends) <= timedelta(minutes=1)
    for _ in range(2):  # two slow polls: the server states 20, then 10 minutes left
        await advance(hass, freezer, timedelta(minutes=10, seconds=1))
        assert hass.states.get(DND).state == STATE_ON
        assert hass.states.get(DND_UNTIL).state == state.state
    assert changes == [state.state], "one change: to the end, and it stays"

    await advance(hass, freezer, timedelta(minutes=10))
    assert hass.states.get(DND).state == STATE_OFF
    assert hass.states.get(DND_UNTIL).state == STATE_UNKNOWN


@pytest.mark.parametrize(
    ("fault", "expected"),
    [
        # The page refused the write: the switch stays as it was.
        ({"backend_error": True}, ("server_refused", "Error (SipPort)", STATE_OFF)),
        # No answer from the page: the account is lost until it answers again.
        ({"status": 500}, ("server_error", "HTTP 500", STATE_UNAVAILABLE)),
        ({"drop_connection": True}, ("communication_error", "Cannot reach", STATE_UNAVAILABLE)),
    ],
)
async def test_dnd_write_failures(
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    simulator: SettingsSimulator,
    fault: dict[str, object],
    expected: tuple[str, str, str],
) -> None:
    translation_key, detail, state = expected
    for name, value in fault.items():
        setattr(simulator.faults, name, value)
    simulator.faults.actions = frozenset({"set_dnd_on"})
    with pytest.raises(HomeAssistantError) as raised:
        await _switch(hass, SERVICE_TURN_ON, DND)
    assert raised.value.translation_key == translation_key
    assert detail in str(raised.value)
    # Nothing was applied: no new state shown, nothing read back.
    await hass.async_block_till_done(wait_background_tasks=True)
    assert hass.states.get(DND).state == state
    assert simulator.counters.requests["get_accept_rules"] == 1


async def test_dnd_shows_on_when_the_server_accepts(
    hass: HomeAssistant, init_integration: MockConfigEntry, simulator: SettingsSimulator
) -> None:
    """One round trip to the new state; the read-back only confirms it."""
    simulator.faults.backend_error = True
    simulator.faults.actions = frozenset({"get_accept_rules"})
    await _switch(hass, SERVICE_TURN_ON, DND)
    assert hass.states.get(DND).state == STATE_ON


async def test_refused_certificate_while_switching_starts_reauth(
    hass: HomeAssistant, init_integration: MockConfigEntry, simulator: SettingsSimulator
) -> None:
    simulator.faults.credentials_error = True
    with pytest.raises(HomeAssistantError) as raised:
        await _switch(hass, SERVICE_TURN_OFF, DND)
    assert raised.value.translation_key == "authentication_failed"
    flows = hass.config_entries.flow.async_progress_by_handler(DOMAIN)
    assert [flow["context"]["source"] for flow in flows] == [SOURCE_REAUTH]


async def test_privacy_switch_reads_the_settings_page(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    init_integration: MockConfigEntry,
    simulator: SettingsSimulator,
) -> None:
    account = simulator.platform.accounts[ACCOUNT]
    # Read at setup from the page's checkbox: known, not assumed.
    state = hass.states.get(PRIVACY)
    assert state.state == STATE_OFF
    assert not state.attributes.get(ATTR_ASSUMED_STATE)

    simulator.counters.reset()
    await _switch(hass, SERVICE_TURN_ON, PRIVACY)
    assert account.privacy is True
    assert hass.states.get(PRIVACY).state == STATE_ON
    # Confirmed by reading the page again.
    assert simulator.counters.requests[""] == 1

    await _switch(hass, SERVICE_TURN_OFF, PRIVACY)
    assert account.privacy is False
    assert hass.states.get(PRIVACY).state == STATE_OFF

    # Changed on the web page: shown within the hour.
    account.privacy = True
    await advance(hass, freezer, timedelta(minutes=30))
    assert hass.states.get(PRIVACY).state == STATE_OFF
    await advance(hass, freezer, timedelta(minutes=31))
    assert hass.states.get(PRIVACY).state == STATE_ON


async def test_privacy_switch_without_checkbox_is_assumed(
    hass: HomeAssistant,
    mock_config_entry: MockConfigEntry,
    stored_certificate,
    simulator: SettingsSimulator,
) -> None:
    # PSTN access off: the page shows no checkbox (docs/settings-api.md §6.2).
    simulator.platform.behaviour.privacy_checkbox = False
    await setup_entry(hass, mock_config_entry, all_enabled=True)
    account = simulator.platform.accounts[ACCOUNT]
    state = hass.states.get(PRIVACY)
    assert state.state == STATE_UNKNOWN
    assert state.attributes[ATTR_ASSUMED_STATE] is True

    await _switch(hass, SERVICE_TURN_ON, PRIVACY)
    assert account.privacy is True
    assert hass.states.get(PRIVACY).state == STATE_ON
    assert hass.states.get(PRIVACY).attributes[ATTR_ASSUMED_STATE] is True

    await _switch(hass, SERVICE_TURN_OFF, PRIVACY)
    assert account.privacy is False
    assert hass.states.get(PRIVACY).state == STATE_OFF


async def test_privacy_page_failing_falls_back_to_the_last_set_state(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    init_integration: MockConfigEntry,
    simulator: SettingsSimulator,
) -> None:
    await _switch(hass, SERVICE_TURN_ON, PRIVACY)
    simulator.faults = Faults(actions=frozenset({""}), status=500)
    await advance(hass, freezer, timedelta(hours=1, minutes=1))
    state = hass.states.get(PRIVACY)
    assert state.state == STATE_ON
    assert state.attributes[ATTR_ASSUMED_STATE] is True


async def test_privacy_refusal_keeps_the_state(
    hass: HomeAssistant, init_integration: MockConfigEntry, simulator: SettingsSimulator
) -> None:
    await _switch(hass, SERVICE_TURN_ON, PRIVACY)
    # NGNPro may refuse adding the account to "anonymous" twice (docs/settings-api.md §9
    # question 5).
    simulator.platform.behaviour.privacy_on_fails_when_set = True
    with pytest.raises(HomeAssistantError, match="already in group anonymous"):
        await _switch(hass, SERVICE_TURN_ON, PRIVACY)
    assert hass.states.get(PRIVACY).state == STATE_ON


async def test_privacy_state_kept_across_a_restart(
    hass: HomeAssistant,
    mock_config_entry: MockConfigEntry,
    stored_certificate,
    simulator: SettingsSimulator,
) -> None:
    simulator.platform.behaviour.privacy_checkbox = False
    await setup_entry(hass, mock_config_entry)
    await _switch(hass, SERVICE_TURN_ON, PRIVACY)
    simulator.counters.reset()

    assert await hass.config_entries.async_reload(mock_config_entry.entry_id)
    await hass.async_block_till_done(wait_background_tasks=True)
    state = hass.states.get(PRIVACY)
    assert state.state == STATE_ON
    assert state.attributes[ATTR_ASSUMED_STATE] is True
    # Remembering asks nothing of the server.
    assert "set_privacy_on" not in simulator.counters.requests


async def test_page_wins_over_the_remembered_state(
    hass: HomeAssistant, init_integration: MockConfigEntry, simulator: SettingsSimulator
) -> None:
    await _switch(hass, SERVICE_TURN_ON, PRIVACY)
    # Turned off on the web page while Home Assistant was down.
    simulator.platform.accounts[ACCOUNT].privacy = False
    assert await hass.config_entries.async_reload(init_integration.entry_id)
    await hass.async_block_till_done(wait_background_tasks=True)
    assert hass.states.get(PRIVACY).state == STATE_OFF


async def test_privacy_state_of_a_deleted_entry_is_not_restored(
    hass: HomeAssistant,
    mock_config_entry: MockConfigEntry,
    stored_certificate,
    simulator: SettingsSimulator,
) -> None:
    """A deleted and re-added account starts unknown, though its entity id is the same."""
    simulator.platform.behaviour.privacy_checkbox = False
    await setup_entry(hass, mock_config_entry)
    await _switch(hass, SERVICE_TURN_ON, PRIVACY)
    assert await hass.config_entries.async_remove(mock_config_entry.entry_id)
    await hass.async_block_till_done(wait_background_tasks=True)

    again = MockConfigEntry(
        domain=DOMAIN,
        title=ACCOUNT,
        unique_id=ACCOUNT,
        data=mock_config_entry.data,
        options=mock_config_entry.options,
    )
    await hass.async_add_executor_job(
        write_certificate,
        stored_certificate,
        load_credentials(simulator.client_certificate(f"{ACCOUNT}.crt").read_bytes()),
    )
    await setup_entry(hass, again)
    assert hass.states.get(PRIVACY).state == STATE_UNKNOWN


async def test_whole_path_from_upload_to_entity_state(
    hass: HomeAssistant,
    simulator: SettingsSimulator,
    upload,
    alice_pem: bytes,
) -> None:
    """Certificate upload → entry → entities → switch → simulator state → entity state."""
    result = await start_certificate_flow(hass)
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"],
        {
            "url": simulator.url,
            "certificate": await upload(alice_pem, f"{ACCOUNT}.crt"),
            "verify_ssl": True,
        },
    )
    assert result["type"] == "create_entry"
    await hass.async_block_till_done(wait_background_tasks=True)
    assert hass.states.get(DND).state == STATE_OFF

    await _switch(hass, SERVICE_TURN_ON, DND)
    assert simulator.platform.accounts[ACCOUNT].temporary_groups == ["nobody"]
    assert hass.states.get(DND).state == STATE_ON


async def test_dnd_write_without_an_answer_is_read_back(
    hass: HomeAssistant, init_integration: MockConfigEntry, simulator: SettingsSimulator
) -> None:
    """The server applied the change but the answer came too late."""
    init_integration.runtime_data.account.client.write_timeout = 0.2
    simulator.faults.actions = frozenset({"set_dnd_on"})
    simulator.faults.hold = hold = Hold()
    try:
        with pytest.raises(HomeAssistantError) as raised:
            await _switch(hass, SERVICE_TURN_ON, DND)
    finally:
        hold.release()
    assert raised.value.translation_key == "write_timeout"
    assert "may have been applied" in str(raised.value)
    # Read back: on, as the server now holds it.
    await hass.async_block_till_done(wait_background_tasks=True)
    assert simulator.counters.requests["get_accept_rules"] == 2
    assert hass.states.get(DND).state == STATE_ON


@pytest.mark.usefixtures("simulator", "stored_certificate")
async def test_the_dnd_binary_sensor_is_removed_and_its_users_named(
    hass: HomeAssistant,
    entity_registry: er.EntityRegistry,
    issue_registry: ir.IssueRegistry,
    mock_config_entry: MockConfigEntry,
) -> None:
    """Up to 0.1.0 a binary sensor named "Do not disturb" said what the switch says.

    Two entities with one name and one state: history and entity lists showed the name
    twice. It is removed; an automation still on it would never run again, so a notice
    names it and points at the switch.
    """
    old = "binary_sensor.alice_example_com_do_not_disturb"
    assert await async_setup_component(
        hass,
        "automation",
        {
            "automation": {
                "id": "quiet_watch",
                "alias": "Quiet watch",
                "triggers": [{"trigger": "state", "entity_id": old}],
                "actions": [],
            }
        },
    )
    mock_config_entry.add_to_hass(hass)
    entity_registry.async_get_or_create(
        "binary_sensor",
        DOMAIN,
        f"{ACCOUNT}_do_not_disturb",
        config_entry=mock_config_entry,
        suggested_object_id="alice_example_com_do_not_disturb",
    )
    await setup_entry(hass, mock_config_entry)

    assert entity_registry.async_get(old) is None
    assert hass.states.get(old) is None
    names = [
        state.attributes["friendly_name"]
        for state in hass.states.async_all()
        if state.entity_id.startswith(("switch.", "binary_sensor.", "sensor.alice"))
    ]
    assert names.count("alice@example.com Do not disturb") == 1
    issue = issue_registry.async_get_issue(
        DOMAIN, f"dnd_sensor_removed_{mock_config_entry.entry_id}"
    )
    assert issue is not None
    assert issue.is_persistent
    assert issue.translation_placeholders == {
        "account": ACCOUNT,
        "entities": old,
        "users": "automation.quiet_watch",
    }


async def _stop_while_on_its_way(
    hass: HomeAssistant,
    hass_storage: dict[str, Any],
    entry: MockConfigEntry,
    simulator: SettingsSimulator,
    *,
    switch: tuple[str, str],
    action: str,
    arrives: bool,
) -> None:
    """Switch; Home Assistant stops (the power goes) while the write is on its way.

    ``arrives``: the server applies the write and its answer is held; otherwise the
    client gives up before the server reads it. Then Home Assistant starts with what
    was on disk at that moment.
    """
    key = f"{DOMAIN}.{entry.entry_id}"
    simulator.faults = Faults(actions=frozenset({action}))
    if arrives:
        simulator.faults.hold = hold = Hold()
    else:
        simulator.faults.latency = 0.5
    service, entity_id = switch
    task = hass.async_create_task(
        hass.services.async_call(SWITCH_DOMAIN, service, {ATTR_ENTITY_ID: entity_id}, blocking=True)
    )
    for _ in range(250):
        if hold.waiting if arrives else simulator.counters.requests[action]:
            break
        await hass.async_add_executor_job(time.sleep, 0.02)
    on_disk = copy.deepcopy(hass_storage.get(key))
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    if arrives:
        hold.release()
    else:
        # The server finds the client gone when its delay is over, and applies nothing.
        await hass.async_add_executor_job(time.sleep, 0.6)
    simulator.faults = Faults()
    assert await hass.config_entries.async_unload(entry.entry_id)
    await hass.async_block_till_done(wait_background_tasks=True)
    hass_storage.pop(key, None)
    if on_disk is not None:
        hass_storage[key] = on_disk
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done(wait_background_tasks=True)


async def test_dnd_applied_while_home_assistant_stops(
    hass: HomeAssistant,
    hass_storage: dict[str, Any],
    init_integration: MockConfigEntry,
    simulator: SettingsSimulator,
) -> None:
    """The server applied "on, without an end"; after the restart the switch says so."""
    await _stop_while_on_its_way(
        hass,
        hass_storage,
        init_integration,
        simulator,
        switch=(SERVICE_TURN_ON, DND),
        action="set_dnd_on",
        arrives=True,
    )
    assert simulator.platform.accounts[ACCOUNT].temporary_groups == ["nobody"]
    assert hass.states.get(DND).state == STATE_ON
    assert hass.states.get(DND_LEFT).state == STATE_UNKNOWN, "no end: no time left"


async def test_dnd_off_lost_while_home_assistant_stops(
    hass: HomeAssistant,
    hass_storage: dict[str, Any],
    init_integration: MockConfigEntry,
    simulator: SettingsSimulator,
) -> None:
    """An "off" that never reached the server leaves do not disturb on, without an end."""
    await _switch(hass, SERVICE_TURN_ON, DND)
    await _stop_while_on_its_way(
        hass,
        hass_storage,
        init_integration,
        simulator,
        switch=(SERVICE_TURN_OFF, DND),
        action="set_dnd_off",
        arrives=False,
    )
    assert simulator.platform.accounts[ACCOUNT].temporary_groups == ["nobody"]
    assert hass.states.get(DND).state == STATE_ON


async def test_privacy_change_unanswered_when_home_assistant_stops_is_unknown(
    hass: HomeAssistant,
    hass_storage: dict[str, Any],
    mock_config_entry: MockConfigEntry,
    stored_certificate,
    simulator: SettingsSimulator,
) -> None:
    """Without a checkbox to read back, the state before is no longer known."""
    simulator.platform.behaviour.privacy_checkbox = False
    await setup_entry(hass, mock_config_entry)
    await _switch(hass, SERVICE_TURN_OFF, PRIVACY)
    assert hass.states.get(PRIVACY).state == STATE_OFF
    await _stop_while_on_its_way(
        hass,
        hass_storage,
        mock_config_entry,
        simulator,
        switch=(SERVICE_TURN_ON, PRIVACY),
        action="set_privacy_on",
        arrives=True,
    )
    assert simulator.platform.accounts[ACCOUNT].privacy is True
    state = hass.states.get(PRIVACY)
    assert state.state == STATE_UNKNOWN
    assert state.attributes[ATTR_ASSUMED_STATE] is True
