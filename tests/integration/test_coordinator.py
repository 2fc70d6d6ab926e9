"""Polling: what is fetched, and what a failure makes unavailable, logged once."""

from __future__ import annotations

from datetime import timedelta
import logging

from freezegun.api import FrozenDateTimeFactory
from homeassistant.config_entries import SOURCE_REAUTH
from homeassistant.const import STATE_UNAVAILABLE
from homeassistant.core import HomeAssistant
from homeassistant.helpers import entity_registry as er
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.sipthor.const import DOMAIN
from simulator import SettingsSimulator
from tests.conftest import ACCOUNT
from tests.integration.conftest import advance, setup_entry

BALANCE = "sensor.alice_example_com_balance"
VOICEMAIL = "sensor.alice_example_com_voicemail"
DND = "switch.alice_example_com_do_not_disturb"
FORWARD_BUSY = "sensor.alice_example_com_forward_when_busy"


async def test_unreachable_then_back(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    init_integration: MockConfigEntry,
    simulator: SettingsSimulator,
    caplog: pytest.LogCaptureFixture,
) -> None:
    simulator.faults.drop_connection = True
    await advance(hass, freezer, timedelta(seconds=61))
    assert hass.states.get(BALANCE).state == STATE_UNAVAILABLE
    assert hass.states.get(DND).state == STATE_UNAVAILABLE
    # The slow data is not due yet: still shown.
    assert hass.states.get(FORWARD_BUSY).state == "<voice-mailbox>"

    await advance(hass, freezer, timedelta(seconds=61))
    lost = [r for r in caplog.records if "Error fetching SIP Thor alice" in r.getMessage()]
    assert len(lost) == 1, "logged once when lost, not at every poll"
    assert "Cannot reach the settings page" in lost[0].getMessage()
    # One clear line; a traceback at most at debug level.
    assert not any(
        r.exc_info
        for r in caplog.records
        if r.name.startswith("custom_components") and r.levelno > logging.DEBUG
    )

    simulator.faults.drop_connection = False
    simulator.platform.accounts[ACCOUNT].balance = 7.5
    await advance(hass, freezer, timedelta(seconds=61))
    assert hass.states.get(BALANCE).state == "7.5"
    assert any(
        "Fetching SIP Thor alice" in r.getMessage() and "recovered" in r.getMessage()
        for r in caplog.records
    )


async def test_one_failing_source_leaves_the_rest(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    init_integration: MockConfigEntry,
    simulator: SettingsSimulator,
    caplog: pytest.LogCaptureFixture,
) -> None:
    simulator.faults.backend_error = True
    simulator.faults.actions = frozenset({"get_voicemail"})
    await advance(hass, freezer, timedelta(seconds=11 * 60))
    assert hass.states.get(VOICEMAIL).state == STATE_UNAVAILABLE
    assert hass.states.get(FORWARD_BUSY).state == "<voice-mailbox>"
    assert hass.states.get(BALANCE).state == "12.3456"

    await advance(hass, freezer, timedelta(seconds=11 * 60))
    failures = [r for r in caplog.records if "reading voicemail failed" in r.getMessage()]
    assert len(failures) == 1
    assert failures[0].levelno == logging.WARNING
    assert "Database unavailable" in failures[0].getMessage()

    simulator.faults.backend_error = False
    await advance(hass, freezer, timedelta(seconds=11 * 60))
    assert hass.states.get(VOICEMAIL).state == "alice@vm.example.com"
    assert any("reading voicemail works again" in r.getMessage() for r in caplog.records)


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
    await advance(hass, freezer, timedelta(seconds=61))
    await advance(hass, freezer, timedelta(seconds=61))
    assert hass.states.get(BALANCE).state == "3.0"
    warnings = [
        r
        for r in caplog.records
        if "Server warning with get_prepaid" in r.getMessage() and r.levelno >= logging.WARNING
    ]
    assert len(warnings) == 1, "the same warning is logged once, then at debug level"


async def test_refused_certificate_during_polling_starts_reauth(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    init_integration: MockConfigEntry,
    simulator: SettingsSimulator,
) -> None:
    simulator.faults.tls_reject = True
    await advance(hass, freezer, timedelta(seconds=61))
    flows = hass.config_entries.flow.async_progress_by_handler(DOMAIN)
    assert [flow["context"]["source"] for flow in flows] == [SOURCE_REAUTH]
    assert hass.states.get(BALANCE).state == STATE_UNAVAILABLE


async def test_every_source_failing_marks_the_coordinator_failed(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    init_integration: MockConfigEntry,
    simulator: SettingsSimulator,
    caplog: pytest.LogCaptureFixture,
) -> None:
    simulator.faults.status = 502
    await advance(hass, freezer, timedelta(seconds=61))
    await advance(hass, freezer, timedelta(seconds=61))
    assert not init_integration.runtime_data.fast.last_update_success
    assert hass.states.get(BALANCE).state == STATE_UNAVAILABLE
    # One line for the account, not one per source and poll.
    lost = [r for r in caplog.records if "Error fetching SIP Thor alice" in r.getMessage()]
    assert len(lost) == 1
    assert "HTTP 502" in lost[0].getMessage()
    assert not [r for r in caplog.records if "reading prepaid failed" in r.getMessage()]


async def test_monthly_usage_is_not_asked_again(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    init_integration: MockConfigEntry,
    simulator: SettingsSimulator,
) -> None:
    assert simulator.counters.requests["get_monthly_usage"] == 1
    await advance(hass, freezer, timedelta(seconds=11 * 60))
    await advance(hass, freezer, timedelta(seconds=11 * 60))
    assert simulator.counters.requests["get_monthly_usage"] == 1
    assert hass.states.get("sensor.alice_example_com_monthly_calls").state == STATE_UNAVAILABLE
    assert hass.states.get(BALANCE).state == "12.3456"


async def test_polls_only_what_enabled_entities_show(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    entity_registry: er.EntityRegistry,
    init_integration: MockConfigEntry,
    simulator: SettingsSimulator,
) -> None:
    entity_registry.async_update_entity(VOICEMAIL, disabled_by=er.RegistryEntryDisabler.USER)
    assert await hass.config_entries.async_reload(init_integration.entry_id)
    await hass.async_block_till_done()
    simulator.counters.reset()

    await advance(hass, freezer, timedelta(seconds=11 * 60))
    assert simulator.counters.requests["get_call_forwarding"] == 1
    assert "get_voicemail" not in simulator.counters.requests
    # Fast data every minute: balance, registrations, accept rules; nothing else.
    assert set(simulator.counters.requests) - {
        "get_prepaid",
        "get_devices",
        "get_accept_rules",
    } == {
        "get_identity",
        "get_call_forwarding",
        "get_aliases",
        "get_enum",
        "get_history",
        "get_balance_history",
    }


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
    await hass.async_block_till_done()
    assert simulator.counters.requests["get_balance_history"] == 1
    assert hass.states.get("sensor.alice_example_com_last_balance_change").state == "-0.0627"
