"""Forwarding in one tap: a select per condition, changed for real on the simulator."""

from __future__ import annotations

from datetime import timedelta
import time

from freezegun.api import FrozenDateTimeFactory
from homeassistant.components.select import (
    ATTR_OPTION,
    ATTR_OPTIONS,
    DOMAIN as SELECT_DOMAIN,
    SERVICE_SELECT_OPTION,
)
from homeassistant.const import ATTR_ENTITY_ID, STATE_UNAVAILABLE
from homeassistant.core import HomeAssistant
from homeassistant.exceptions import ServiceValidationError
from homeassistant.helpers import entity_registry as er, issue_registry as ir
from homeassistant.setup import async_setup_component
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.sipthor.const import DOMAIN
from simulator import Hold, SettingsSimulator
from tests.conftest import ACCOUNT
from tests.integration.common import advance, setup_entry

ALWAYS = "select.alice_example_com_forward_all_calls"
BUSY = "select.alice_example_com_forward_when_busy"
NO_ANSWER = "select.alice_example_com_forward_when_not_answered"
NOT_ONLINE = "select.alice_example_com_forward_when_not_online"
UNAVAILABLE = "select.alice_example_com_forward_when_unavailable"
FIXED = ["off", "voice_mailbox", "mobile_number"]


async def _select(hass: HomeAssistant, entity_id: str, option: str) -> None:
    """Select ``option``; wait for the read-back the write started in the background."""
    await hass.services.async_call(
        SELECT_DOMAIN,
        SERVICE_SELECT_OPTION,
        {ATTR_ENTITY_ID: entity_id, ATTR_OPTION: option},
        blocking=True,
    )
    await hass.async_block_till_done(wait_background_tasks=True)


def _state(hass: HomeAssistant, entity_id: str) -> str:
    state = hass.states.get(entity_id)
    assert state is not None, entity_id
    return state.state


def _options(hass: HomeAssistant, entity_id: str) -> list[str]:
    state = hass.states.get(entity_id)
    assert state is not None, entity_id
    return list(state.attributes[ATTR_OPTIONS])


@pytest.mark.parametrize(
    ("entity_id", "condition", "option", "stored"),
    [
        (ALWAYS, "FUNC", "mobile_number", "sip:+31612345678@example.com"),
        (ALWAYS, "FUNC", "voice_mailbox", "<voice-mailbox>"),
        (NOT_ONLINE, "FNOL", "mobile_number", "sip:+31612345678@example.com"),
        (UNAVAILABLE, "FUNV", "voice_mailbox", "<voice-mailbox>"),
        (BUSY, "FBUS", "mobile_number", "sip:+31612345678@example.com"),
        (BUSY, "FBUS", "off", None),
        (NO_ANSWER, "FNOA", "off", None),
    ],
)
async def test_each_option_writes_its_target(
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    simulator: SettingsSimulator,
    *,
    entity_id: str,
    condition: str,
    option: str,
    stored: str | None,
) -> None:
    account = simulator.platform.accounts[ACCOUNT]
    before = dict(account.forwarding)
    simulator.counters.reset()
    await _select(hass, entity_id, option)

    assert account.forwarding.get(condition) == stored
    # Only this condition was sent: the others stay as they were.
    sent = simulator.counters.last("set_call_forwarding").params.keys()
    assert sent - {"account", "action"} == {condition}
    assert {key: value for key, value in account.forwarding.items() if key != condition} == {
        key: value for key, value in before.items() if key != condition
    }
    # Read back at once: the mobile number comes back as a number, shown as the option.
    assert simulator.counters.requests["get_call_forwarding"] == 1
    assert _state(hass, entity_id) == option


async def test_the_new_option_shows_before_the_read_back(
    hass: HomeAssistant, init_integration: MockConfigEntry, simulator: SettingsSimulator
) -> None:
    simulator.faults.backend_error = True
    simulator.faults.actions = frozenset({"get_call_forwarding"})
    await _select(hass, ALWAYS, "mobile_number")
    # The server accepted; the read-back failed: the accepted state shows all the same.
    assert _state(hass, ALWAYS) == "mobile_number"
    assert simulator.platform.accounts[ACCOUNT].forwarding["FUNC"] == (
        "sip:+31612345678@example.com"
    )


async def test_a_custom_target_is_an_option_while_it_is_set(
    hass: HomeAssistant, init_integration: MockConfigEntry, simulator: SettingsSimulator
) -> None:
    await hass.services.async_call(
        DOMAIN,
        "set_call_forwarding",
        {"config_entry_id": init_integration.entry_id, "busy": "bob@example.net"},
        blocking=True,
    )
    assert _state(hass, BUSY) == "bob@example.net"
    assert _options(hass, BUSY) == [*FIXED, "bob@example.net"]
    # Only the condition that has it offers it.
    assert _options(hass, NO_ANSWER) == FIXED

    # Selecting it again writes it again, as the action would.
    simulator.counters.reset()
    await _select(hass, BUSY, "bob@example.net")
    assert simulator.counters.last("set_call_forwarding").params["FBUS"] == "bob@example.net"
    assert simulator.platform.accounts[ACCOUNT].forwarding["FBUS"] == "sip:bob@example.net"

    await _select(hass, BUSY, "voice_mailbox")
    assert _state(hass, BUSY) == "voice_mailbox"
    assert _options(hass, BUSY) == FIXED
    with pytest.raises(ServiceValidationError):
        await _select(hass, BUSY, "bob@example.net")
    assert simulator.platform.accounts[ACCOUNT].forwarding["FBUS"] == "<voice-mailbox>"


async def test_a_custom_target_set_elsewhere_appears_at_the_next_poll(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    init_integration: MockConfigEntry,
    simulator: SettingsSimulator,
) -> None:
    # Changed on the provider's web page.
    simulator.platform.accounts[ACCOUNT].forwarding["FUNV"] = "sip:0201234567@example.com"
    await advance(hass, freezer, timedelta(minutes=11))
    assert _state(hass, UNAVAILABLE) == "0201234567@example.com"
    assert _options(hass, UNAVAILABLE) == [*FIXED, "0201234567@example.com"]


async def test_a_number_the_server_would_mangle_is_not_written_back(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    init_integration: MockConfigEntry,
    simulator: SettingsSimulator,
) -> None:
    # What the page stores for "<other>" (docs/settings-api.md §5.17).
    simulator.platform.accounts[ACCOUNT].forwarding["FUNC"] = "sip:<other>@example.com"
    await advance(hass, freezer, timedelta(minutes=11))
    assert _state(hass, ALWAYS) == "<other>@example.com"

    simulator.counters.reset()
    with pytest.raises(ServiceValidationError) as raised:
        await _select(hass, ALWAYS, "<other>@example.com")
    assert raised.value.translation_key == "unknown_keyword"
    assert "set_call_forwarding" not in simulator.counters.requests


async def test_mobile_number_recognised_in_any_form_the_server_stores(
    hass: HomeAssistant,
    simulator: SettingsSimulator,
    mock_config_entry: MockConfigEntry,
    stored_certificate,
) -> None:
    account = simulator.platform.accounts[ACCOUNT]
    account.mobile_number = "0612345678"
    # Written as <mobile-number>, and as the number with another domain (replaced).
    account.forwarding = {"FUNC": "sip:0612345678@example.com", "FNOL": "0612345678@Example.COM"}
    await setup_entry(hass, mock_config_entry)
    assert _state(hass, ALWAYS) == "mobile_number"
    assert _state(hass, NOT_ONLINE) == "mobile_number"
    # Someone else's number is a custom target.
    account.forwarding = {"FUNC": "sip:0612345679@example.com"}
    await hass.config_entries.async_reload(mock_config_entry.entry_id)
    await hass.async_block_till_done(wait_background_tasks=True)
    assert _state(hass, ALWAYS) == "0612345679@example.com"


@pytest.mark.parametrize(
    ("voicemail", "mobile_number", "options"),
    [
        (False, "+31612345678", ["off", "mobile_number"]),
        (True, "", ["off", "voice_mailbox"]),
        (False, "", ["off"]),
    ],
)
async def test_what_the_account_lacks_is_not_offered(
    hass: HomeAssistant,
    simulator: SettingsSimulator,
    mock_config_entry: MockConfigEntry,
    stored_certificate,
    *,
    voicemail: bool,
    mobile_number: str,
    options: list[str],
) -> None:
    account = simulator.platform.accounts[ACCOUNT]
    if not voicemail:
        account.voicemail = None
    account.mobile_number = mobile_number
    account.forwarding = {}
    await setup_entry(hass, mock_config_entry)
    assert _options(hass, ALWAYS) == options

    simulator.counters.reset()
    for option in {"voice_mailbox", "mobile_number"} - set(options):
        with pytest.raises(ServiceValidationError):
            await _select(hass, ALWAYS, option)
    assert "set_call_forwarding" not in simulator.counters.requests


async def test_a_mailbox_target_stays_an_option_when_the_mailbox_is_gone(
    hass: HomeAssistant,
    simulator: SettingsSimulator,
    mock_config_entry: MockConfigEntry,
    stored_certificate,
) -> None:
    """The server stores the keyword without a mailbox: what it holds is still shown."""
    simulator.platform.accounts[ACCOUNT].voicemail = None
    await setup_entry(hass, mock_config_entry)
    assert _state(hass, BUSY) == "voice_mailbox"
    assert _options(hass, BUSY) == ["off", "voice_mailbox", "mobile_number"]
    assert _options(hass, ALWAYS) == ["off", "mobile_number"]


async def test_unavailable_until_forwarding_and_identity_are_read(
    hass: HomeAssistant,
    simulator: SettingsSimulator,
    mock_config_entry: MockConfigEntry,
    stored_certificate,
) -> None:
    simulator.platform.accounts[ACCOUNT].forwarding = {"FUNC": "sip:+31612345678@example.com"}
    # The forwarding arrives; the identity is held on its way.
    simulator.faults.actions = frozenset({"get_identity"})
    simulator.faults.hold = hold = Hold()
    mock_config_entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(mock_config_entry.entry_id)
    forwarding = mock_config_entry.runtime_data.call_forwarding
    while not (hold.waiting and forwarding.usable):
        await hass.async_add_executor_job(time.sleep, 0.02)
    # Not shown as a raw number that would turn into "mobile number" a moment later.
    assert _state(hass, ALWAYS) == STATE_UNAVAILABLE

    hold.release()
    await hass.async_block_till_done(wait_background_tasks=True)
    assert _state(hass, ALWAYS) == "mobile_number"


async def test_unavailable_while_forwarding_cannot_be_read(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    init_integration: MockConfigEntry,
    simulator: SettingsSimulator,
) -> None:
    simulator.faults.drop_connection = True
    simulator.faults.actions = frozenset({"get_call_forwarding"})
    await advance(hass, freezer, timedelta(minutes=11))
    assert _state(hass, BUSY) == STATE_UNAVAILABLE
    # Home Assistant skips an unavailable entity: nothing is written blind.
    simulator.counters.reset()
    await _select(hass, BUSY, "off")
    assert "set_call_forwarding" not in simulator.counters.requests
    assert simulator.platform.accounts[ACCOUNT].forwarding["FBUS"] == "<voice-mailbox>"


async def test_identity_failing_later_keeps_the_mobile_number(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    init_integration: MockConfigEntry,
    simulator: SettingsSimulator,
) -> None:
    """A failing identity read must not turn "mobile number" into a raw number."""
    await _select(hass, ALWAYS, "mobile_number")
    simulator.faults.backend_error = True
    simulator.faults.actions = frozenset({"get_identity"})
    await advance(hass, freezer, timedelta(minutes=11))
    assert _state(hass, ALWAYS) == "mobile_number"
    assert "mobile_number" in _options(hass, NOT_ONLINE)


async def test_the_forwarding_sensors_are_removed(
    hass: HomeAssistant,
    entity_registry: er.EntityRegistry,
    simulator: SettingsSimulator,
    mock_config_entry: MockConfigEntry,
    stored_certificate,
) -> None:
    """Up to 0.1.0 a read-only sensor showed each condition; the selects replace them."""
    mock_config_entry.add_to_hass(hass)
    old = entity_registry.async_get_or_create(
        "sensor",
        DOMAIN,
        f"{ACCOUNT}_forwarding_busy",
        config_entry=mock_config_entry,
        suggested_object_id="alice_example_com_forward_when_busy",
    )
    await setup_entry(hass, mock_config_entry)
    assert entity_registry.async_get(old.entity_id) is None
    assert hass.states.get(old.entity_id) is None
    assert entity_registry.async_get_entity_id("select", DOMAIN, f"{ACCOUNT}_forwarding_busy")
    assert _state(hass, BUSY) == "voice_mailbox"


@pytest.mark.usefixtures("simulator", "stored_certificate")
async def test_automations_using_the_removed_sensors_are_named(
    hass: HomeAssistant,
    entity_registry: er.EntityRegistry,
    issue_registry: ir.IssueRegistry,
    mock_config_entry: MockConfigEntry,
) -> None:
    """An automation on a removed sensor would never run again: the user is told which."""
    old = "sensor.alice_example_com_forward_when_busy"
    assert await async_setup_component(
        hass,
        "automation",
        {
            "automation": {
                "id": "busy_watch",
                "alias": "Busy watch",
                "triggers": [{"trigger": "state", "entity_id": old}],
                "actions": [],
            }
        },
    )
    mock_config_entry.add_to_hass(hass)
    for key, object_id in (("busy", "forward_when_busy"), ("always", "forward_all_calls")):
        entity_registry.async_get_or_create(
            "sensor",
            DOMAIN,
            f"{ACCOUNT}_forwarding_{key}",
            config_entry=mock_config_entry,
            suggested_object_id=f"alice_example_com_{object_id}",
        )
    await setup_entry(hass, mock_config_entry)

    issue = issue_registry.async_get_issue(
        DOMAIN, f"forwarding_sensors_replaced_{mock_config_entry.entry_id}"
    )
    assert issue is not None
    assert issue.is_persistent
    assert issue.translation_placeholders == {
        "account": ACCOUNT,
        "entities": "sensor.alice_example_com_forward_all_calls, " + old,
        "users": "automation.busy_watch",
    }


@pytest.mark.usefixtures("simulator", "stored_certificate")
async def test_the_notice_goes_once_nothing_uses_the_removed_sensors(
    hass: HomeAssistant,
    issue_registry: ir.IssueRegistry,
    mock_config_entry: MockConfigEntry,
) -> None:
    # Raised at an earlier start; the automation has been changed since.
    mock_config_entry.add_to_hass(hass)
    issue_id = f"forwarding_sensors_replaced_{mock_config_entry.entry_id}"
    ir.async_create_issue(
        hass,
        DOMAIN,
        issue_id,
        is_fixable=False,
        is_persistent=True,
        severity=ir.IssueSeverity.WARNING,
        translation_key="forwarding_sensors_replaced",
        data={"removed": "sensor.alice_example_com_forward_when_busy"},
    )
    assert await async_setup_component(hass, "automation", {"automation": []})
    await setup_entry(hass, mock_config_entry)
    assert issue_registry.async_get_issue(DOMAIN, issue_id) is None


@pytest.mark.usefixtures("simulator", "stored_certificate")
async def test_no_notice_when_nothing_used_the_removed_sensors(
    hass: HomeAssistant,
    entity_registry: er.EntityRegistry,
    issue_registry: ir.IssueRegistry,
    mock_config_entry: MockConfigEntry,
) -> None:
    mock_config_entry.add_to_hass(hass)
    entity_registry.async_get_or_create(
        "sensor", DOMAIN, f"{ACCOUNT}_forwarding_busy", config_entry=mock_config_entry
    )
    await setup_entry(hass, mock_config_entry)
    assert not [issue for (domain, _), issue in issue_registry.issues.items() if domain == DOMAIN]


async def test_the_selects_alone_keep_identity_and_voicemail_read(
    hass: HomeAssistant,
    entity_registry: er.EntityRegistry,
    init_integration: MockConfigEntry,
    simulator: SettingsSimulator,
) -> None:
    """The selects listen to the identity and the voicemail without being their entities."""
    for entity_id in (
        "sensor.alice_example_com_ring_time_before_no_answer_forwarding",
        "sensor.alice_example_com_voicemail",
    ):
        entity_registry.async_update_entity(entity_id, disabled_by=er.RegistryEntryDisabler.USER)
    assert await hass.config_entries.async_reload(init_integration.entry_id)
    await hass.async_block_till_done(wait_background_tasks=True)
    simulator.counters.reset()
    assert await hass.config_entries.async_reload(init_integration.entry_id)
    await hass.async_block_till_done(wait_background_tasks=True)

    assert simulator.counters.requests["get_identity"] == 1
    assert simulator.counters.requests["get_voicemail"] == 1
    assert _options(hass, ALWAYS) == FIXED
