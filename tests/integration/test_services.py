"""The actions: call forwarding, do not disturb with a duration, aliases."""

from __future__ import annotations

from datetime import timedelta
import logging
import re
import traceback
from typing import Any

from freezegun.api import FrozenDateTimeFactory
from homeassistant.core import Event, EventStateChangedData, HomeAssistant, callback
from homeassistant.exceptions import HomeAssistantError, ServiceValidationError
from homeassistant.helpers import entity_registry as er
from homeassistant.helpers.event import async_track_state_change_event
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry
from pytest_homeassistant_custom_component.typing import WebSocketGenerator

from custom_components.sipthor.const import DOMAIN
from simulator import SettingsSimulator
from simulator.server import Faults
from tests.conftest import ACCOUNT
from tests.integration.common import advance, setup_entry


async def _call(hass: HomeAssistant, service: str, entry: MockConfigEntry, **data: Any) -> None:
    """Call the action; wait for the read-back it started in the background."""
    await hass.services.async_call(
        DOMAIN, service, {"config_entry_id": entry.entry_id, **data}, blocking=True
    )
    await hass.async_block_till_done(wait_background_tasks=True)


def _state(hass: HomeAssistant, entity_id: str) -> str:
    return hass.states.get(entity_id).state


async def test_set_call_forwarding(
    hass: HomeAssistant, init_integration: MockConfigEntry, simulator: SettingsSimulator
) -> None:
    account = simulator.platform.accounts[ACCOUNT]
    await _call(
        hass,
        "set_call_forwarding",
        init_integration,
        always="<mobile-number>",
        busy="",
        unavailable="0612345678",
    )
    # Stored as the server normalises it (docs/settings-api.md §5.17); the rest is left alone.
    assert account.forwarding == {
        "FUNC": "sip:+31612345678@example.com",
        "FNOA": "<voice-mailbox>",
        "FUNV": "sip:0612345678@example.com",
    }
    # Read back at once, without waiting for the slow poll.
    # The mobile number comes back as a number: the select knows it for the mobile's.
    assert _state(hass, "select.alice_example_com_forward_all_calls") == "mobile_number"
    assert _state(hass, "select.alice_example_com_forward_when_busy") == "off"
    assert _state(hass, "select.alice_example_com_forward_when_not_answered") == "voice_mailbox"
    assert _state(hass, "select.alice_example_com_forward_when_unavailable") == (
        "0612345678@example.com"
    )


async def test_forwarding_target_reaches_the_server_unchanged(
    hass: HomeAssistant, init_integration: MockConfigEntry, simulator: SettingsSimulator
) -> None:
    target = "bob+home@example.net"
    await _call(hass, "set_call_forwarding", init_integration, not_online=target)
    assert simulator.counters.last("set_call_forwarding").params["FNOL"] == target
    assert _state(hass, "select.alice_example_com_forward_when_not_online") == target


async def test_forwarding_only_reads_back_forwarding(
    hass: HomeAssistant, init_integration: MockConfigEntry, simulator: SettingsSimulator
) -> None:
    simulator.counters.reset()
    await _call(hass, "set_call_forwarding", init_integration, busy="<voice-mailbox>")
    # The mailbox is known to exist from the last poll: not asked again (2 round trips).
    assert simulator.counters.requests == {"set_call_forwarding": 1, "get_call_forwarding": 1}


async def test_forwarding_shows_the_new_target_before_the_read_back(
    hass: HomeAssistant, init_integration: MockConfigEntry, simulator: SettingsSimulator
) -> None:
    """The server said success: the new target shows at once, then is confirmed."""
    shown: list[str] = []
    entity_id = "select.alice_example_com_forward_when_busy"

    @callback
    def on_change(event: Event[EventStateChangedData]) -> None:
        if (new_state := event.data["new_state"]) is not None:
            shown.append(new_state.state)

    async_track_state_change_event(hass, entity_id, on_change)
    simulator.faults.backend_error = True
    simulator.faults.actions = frozenset({"get_call_forwarding"})
    await _call(hass, "set_call_forwarding", init_integration, busy="0612345678")
    # The read-back failed, yet the state the server accepted is shown.
    assert shown == ["0612345678"]


async def test_forwarding_asks_for_what_is_not_known(
    hass: HomeAssistant,
    entity_registry: er.EntityRegistry,
    init_integration: MockConfigEntry,
    simulator: SettingsSimulator,
) -> None:
    # Nothing shows the voicemail: the sensor and the forwarding selects are disabled.
    for entry in er.async_entries_for_config_entry(entity_registry, init_integration.entry_id):
        if entry.domain == "select" or entry.entity_id == "sensor.alice_example_com_voicemail":
            entity_registry.async_update_entity(
                entry.entity_id, disabled_by=er.RegistryEntryDisabler.USER
            )
    assert await hass.config_entries.async_reload(init_integration.entry_id)
    await hass.async_block_till_done(wait_background_tasks=True)
    simulator.platform.accounts[ACCOUNT].voicemail = None
    with pytest.raises(ServiceValidationError) as raised:
        await _call(hass, "set_call_forwarding", init_integration, busy="<voice-mailbox>")
    assert raised.value.translation_key == "no_voice_mailbox"


@pytest.mark.parametrize(
    ("data", "translation_key"),
    [
        ({}, "no_forwarding_condition"),
    ],
)
async def test_set_call_forwarding_invalid_input(
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    simulator: SettingsSimulator,
    data: dict[str, str],
    translation_key: str,
) -> None:
    with pytest.raises(ServiceValidationError) as raised:
        await _call(hass, "set_call_forwarding", init_integration, **data)
    assert raised.value.translation_key == translation_key
    assert "set_call_forwarding" not in simulator.counters.requests


async def test_unknown_keyword_message_names_the_keywords(
    hass: HomeAssistant, init_integration: MockConfigEntry
) -> None:
    # The keywords reach the message through placeholders, not the translation text;
    # Home Assistant drops the final full stop.
    with pytest.raises(ServiceValidationError) as raised:
        await _call(hass, "set_call_forwarding", init_integration, busy="<other>")
    assert str(raised.value) == (
        "<other> is not a forwarding target. The keywords are <voice-mailbox> and <mobile-number>"
    )


async def test_forwarding_to_a_missing_mailbox_or_mobile(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    init_integration: MockConfigEntry,
    simulator: SettingsSimulator,
) -> None:
    account = simulator.platform.accounts[ACCOUNT]
    account.voicemail = None
    account.mobile_number = ""
    await advance(hass, freezer, timedelta(minutes=11))
    with pytest.raises(ServiceValidationError) as raised:
        await _call(hass, "set_call_forwarding", init_integration, busy="<voice-mailbox>")
    assert raised.value.translation_key == "no_voice_mailbox"
    with pytest.raises(ServiceValidationError) as raised:
        await _call(hass, "set_call_forwarding", init_integration, always="<mobile-number>")
    assert raised.value.translation_key == "no_mobile_number"
    assert "set_call_forwarding" not in simulator.counters.requests


async def test_forwarding_refused_by_the_server(
    hass: HomeAssistant, init_integration: MockConfigEntry, simulator: SettingsSimulator
) -> None:
    # Clearing the last condition may be refused by NGNPro (docs/settings-api.md §9 question 6).
    simulator.platform.behaviour.clear_all_forwarding_fails = True
    with pytest.raises(HomeAssistantError) as raised:
        await _call(hass, "set_call_forwarding", init_integration, busy="", no_answer=None)
    assert raised.value.translation_key == "server_refused"
    assert "Empty diversion set" in str(raised.value)
    assert _state(hass, "select.alice_example_com_forward_when_busy") == "voice_mailbox"


async def test_enable_dnd_with_a_duration(
    hass: HomeAssistant, init_integration: MockConfigEntry, simulator: SettingsSimulator
) -> None:
    await _call(hass, "enable_dnd", init_integration, duration=90)
    assert simulator.counters.last("set_dnd_on").params["duration"] == "90"
    assert _state(hass, "switch.alice_example_com_do_not_disturb") == "on"
    assert _state(hass, "sensor.alice_example_com_do_not_disturb_time_left") == "90"


async def test_enable_dnd_without_a_duration(
    hass: HomeAssistant, init_integration: MockConfigEntry, simulator: SettingsSimulator
) -> None:
    await _call(hass, "enable_dnd", init_integration)
    assert "duration" not in simulator.counters.last("set_dnd_on").params
    assert _state(hass, "switch.alice_example_com_do_not_disturb") == "on"


async def test_add_alias(
    hass: HomeAssistant, init_integration: MockConfigEntry, simulator: SettingsSimulator
) -> None:
    await _call(hass, "add_alias", init_integration, username="  Alice.J ")
    assert "alice.j@example.com" in simulator.platform.accounts[ACCOUNT].aliases
    aliases = hass.states.get("sensor.alice_example_com_aliases")
    assert aliases.state == "3"
    assert "alice.j@example.com" in aliases.attributes["aliases"]


async def test_add_existing_alias_carries_the_server_message(
    hass: HomeAssistant, init_integration: MockConfigEntry
) -> None:
    # The user's input, refused: a validation error, not a failure of the integration.
    with pytest.raises(ServiceValidationError, match="already exists") as raised:
        await _call(hass, "add_alias", init_integration, username="a.jansen")
    assert raised.value.translation_key == "alias_refused"


async def test_unknown_entry(hass: HomeAssistant, init_integration: MockConfigEntry) -> None:
    with pytest.raises(ServiceValidationError) as raised:
        await hass.services.async_call(
            DOMAIN,
            "enable_dnd",
            {"config_entry_id": "no-such-entry"},
            blocking=True,
        )
    assert raised.value.translation_key == "invalid_config_entry"


async def test_unloaded_entry(hass: HomeAssistant, init_integration: MockConfigEntry) -> None:
    await hass.config_entries.async_unload(init_integration.entry_id)
    with pytest.raises(ServiceValidationError) as raised:
        await _call(hass, "enable_dnd", init_integration)
    assert raised.value.translation_key == "unloaded_config_entry"


async def test_entry_of_another_integration(
    hass: HomeAssistant, init_integration: MockConfigEntry
) -> None:
    other = MockConfigEntry(domain="demo")
    other.add_to_hass(hass)
    with pytest.raises(ServiceValidationError) as raised:
        await _call(hass, "enable_dnd", other)
    assert raised.value.translation_key == "invalid_config_entry"


async def test_read_back_failure_does_not_fail_the_write(
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    simulator: SettingsSimulator,
    caplog: pytest.LogCaptureFixture,
) -> None:
    simulator.faults.backend_error = True
    simulator.faults.actions = frozenset({"get_call_forwarding"})
    await _call(hass, "set_call_forwarding", init_integration, always="0612345678")
    assert simulator.platform.accounts[ACCOUNT].forwarding["FUNC"] == ("sip:0612345678@example.com")
    assert "could not read back call_forwarding" in caplog.text


async def test_read_back_refused_starts_reauthentication(
    hass: HomeAssistant, init_integration: MockConfigEntry, simulator: SettingsSimulator
) -> None:
    simulator.faults.credentials_error = True
    simulator.faults.actions = frozenset({"get_accept_rules"})
    await _call(hass, "enable_dnd", init_integration, duration=5)
    flows = hass.config_entries.flow.async_progress_by_handler(DOMAIN)
    assert [flow["context"]["source"] for flow in flows] == ["reauth"]


async def test_nothing_is_read_back_that_no_entity_shows(
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    simulator: SettingsSimulator,
) -> None:
    registry = er.async_get(hass)
    for entry in er.async_entries_for_config_entry(registry, init_integration.entry_id):
        if "forward" in entry.entity_id:
            registry.async_update_entity(entry.entity_id, disabled_by=er.RegistryEntryDisabler.USER)
    assert await hass.config_entries.async_reload(init_integration.entry_id)
    await hass.async_block_till_done(wait_background_tasks=True)
    simulator.counters.reset()
    await _call(hass, "set_call_forwarding", init_integration, always="0612345678")
    assert set(simulator.counters.requests) == {"set_call_forwarding"}


async def test_add_balance_reads_back_the_balance_and_its_history(
    hass: HomeAssistant, init_integration: MockConfigEntry, simulator: SettingsSimulator
) -> None:
    simulator.counters.reset()
    await _call(hass, "add_balance", init_integration, id=1003, number="5502718364950127")

    # The server states no new balance: it is read back at once, not at the next poll.
    assert _state(hass, "sensor.alice_example_com_balance") == "37.3456"
    change = hass.states.get("sensor.alice_example_com_last_balance_change")
    assert change.state == "25.0"
    assert change.attributes["action"] == "Add balance"
    assert simulator.counters.requests == {
        "add_balance": 1,
        "get_prepaid": 1,
        "get_balance_history": 1,
    }


async def test_add_balance_refused_shows_the_servers_message(
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    simulator: SettingsSimulator,
    caplog: pytest.LogCaptureFixture,
) -> None:
    with pytest.raises(ServiceValidationError) as raised:
        await _call(hass, "add_balance", init_integration, id=1004, number="9081736452018836")

    assert raised.value.translation_key == "voucher_refused"
    assert str(raised.value) == (
        "The voucher was not accepted: Error (SipPort): Invalid prepaid card (1051): "
        "Prepaid card already used"
    )
    assert _state(hass, "sensor.alice_example_com_balance") == "12.3456"
    assert "9081736452018836" not in caplog.text


async def test_add_balance_without_an_answer_is_no_validation_error(
    hass: HomeAssistant, init_integration: MockConfigEntry, simulator: SettingsSimulator
) -> None:
    """Only the server's refusal is the input's fault; a page out of reach is not."""
    simulator.faults.drop_connection = True
    simulator.faults.actions = frozenset({"add_balance"})
    with pytest.raises(HomeAssistantError) as raised:
        await _call(hass, "add_balance", init_integration, id=1001, number="4829175530612847")
    assert not isinstance(raised.value, ServiceValidationError)
    assert raised.value.translation_key == "communication_error"


@pytest.mark.parametrize(
    "refused",
    [
        ("add_balance", {"id": 1004, "number": "9081736452018836"}, "Prepaid card already used"),
        ("add_alias", {"username": "a.jansen"}, "already exists"),
    ],
    ids=["voucher", "alias"],
)
async def test_refused_input_is_one_log_line_without_a_traceback(
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    hass_ws_client: WebSocketGenerator,
    caplog: pytest.LogCaptureFixture,
    refused: tuple[str, dict[str, Any], str],
) -> None:
    """As the frontend calls an action: the answer says why, the log has one line."""
    service, data, message = refused
    client = await hass_ws_client(hass)
    caplog.clear()
    await client.send_json_auto_id(
        {
            "type": "call_service",
            "domain": DOMAIN,
            "service": service,
            "service_data": {"config_entry_id": init_integration.entry_id, **data},
        }
    )
    answer = await client.receive_json()
    assert not answer["success"]
    assert answer["error"]["code"] == "service_validation_error"
    assert answer["error"]["translation_domain"] == DOMAIN
    assert message in answer["error"]["message"]
    logged = [record for record in caplog.records if record.levelno >= logging.WARNING]
    assert len(logged) == 1, [record.getMessage() for record in logged]
    assert message in logged[0].getMessage()
    assert "Unexpected exception" not in caplog.text
    assert all(record.exc_info is None for record in logged)


async def test_add_balance_without_the_history_sensor_reads_only_the_balance(
    hass: HomeAssistant,
    simulator: SettingsSimulator,
    mock_config_entry: MockConfigEntry,
    stored_certificate,
) -> None:
    """The balance-history sensor is off by default: nothing shows it, nothing is read."""
    await setup_entry(hass, mock_config_entry)
    simulator.counters.reset()
    await _call(hass, "add_balance", mock_config_entry, id=1001, number="4829175530612847")

    assert _state(hass, "sensor.alice_example_com_balance") == "22.3456"
    assert simulator.counters.requests == {"add_balance": 1, "get_prepaid": 1}


async def test_add_balance_never_shows_the_voucher_number(
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    simulator: SettingsSimulator,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Issue 17: a page that repeats the number in groups reached the error and the log."""
    caplog.set_level(logging.DEBUG)
    simulator.faults.body = "<html><p>Voucher 5502 7183 6495 0127 is blocked</p></html>"
    simulator.faults.actions = frozenset({"add_balance"})
    number = "5502718364950127"

    with pytest.raises(HomeAssistantError) as raised:
        await _call(hass, "add_balance", init_integration, id=1003, number=number)

    chain = "".join(traceback.format_exception(raised.value))
    shown = re.sub(r"[\W_]", "", str(raised.value) + chain + caplog.text)
    assert "Voucher ******** is blocked" in str(raised.value)
    assert number not in shown


async def test_a_refusal_that_repeats_the_voucher_number_is_masked(
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    simulator: SettingsSimulator,
    hass_ws_client: WebSocketGenerator,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A refused voucher is the user's input (a translated message, one log line), and
    the server's message in it shows the number in no form (on main: as the server
    wrote it, upper case and grouped)."""
    number = "Ab12Cd34Ef56Gh78"
    simulator.faults = Faults(
        backend_error=True,
        backend_message="Error (SipPort): Card AB12-CD34-EF56-GH78 is blocked (1052): ",
        actions=frozenset({"add_balance"}),
    )
    client = await hass_ws_client(hass)
    caplog.clear()

    await client.send_json_auto_id(
        {
            "type": "call_service",
            "domain": DOMAIN,
            "service": "add_balance",
            "service_data": {
                "config_entry_id": init_integration.entry_id,
                "id": 1003,
                "number": number,
            },
        }
    )
    answer = await client.receive_json()

    assert answer["error"]["code"] == "service_validation_error"
    assert "Card ******** is blocked" in answer["error"]["message"]
    logged = [record for record in caplog.records if record.levelno >= logging.WARNING]
    assert len(logged) == 1, [record.getMessage() for record in logged]
    # Home Assistant's websocket logs the message as the user sent it, at debug level.
    ours = [record for record in caplog.records if record.name.startswith("custom_components")]
    texts = [answer["error"]["message"], *(r.getMessage() for r in [*logged, *ours])]
    assert number.lower() not in re.sub(r"[\W_]", "", " ".join(texts)).lower()
