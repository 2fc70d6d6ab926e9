"""Setting up, unloading and removing an account."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
import operator
from pathlib import Path

from homeassistant.config_entries import SOURCE_REAUTH, ConfigEntryState
from homeassistant.const import EVENT_STATE_CHANGED
from homeassistant.core import Event, EventStateChangedData, HomeAssistant, callback
from homeassistant.helpers import device_registry as dr
from homeassistant.setup import async_setup_component
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.sipthor.api import load_credentials
from custom_components.sipthor.certificate import write_certificate
from custom_components.sipthor.const import DOMAIN
from custom_components.sipthor.entity import ENTITIES_PER_TURN
from simulator import SettingsSimulator
from simulator.certs import issue_client_certificate
from tests.conftest import ACCOUNT
from tests.integration.common import setup_entry


def _reauth_flows(hass: HomeAssistant) -> list[dict]:
    return [
        flow
        for flow in hass.config_entries.flow.async_progress()
        if flow["handler"] == DOMAIN and flow["context"]["source"] == SOURCE_REAUTH
    ]


async def test_setup_and_unload(
    hass: HomeAssistant, init_integration: MockConfigEntry, simulator: SettingsSimulator
) -> None:
    assert init_integration.state is ConfigEntryState.LOADED

    assert await hass.config_entries.async_unload(init_integration.entry_id)
    await hass.async_block_till_done(wait_background_tasks=True)
    assert init_integration.state is ConfigEntryState.NOT_LOADED
    assert hass.states.get("sensor.alice_example_com_balance").state == "unavailable"


async def test_setup_never_asks_for_certificates_or_destructive_actions(
    hass: HomeAssistant, init_integration: MockConfigEntry, simulator: SettingsSimulator
) -> None:
    forbidden = {"get_crt", "get_p12", "delete_account", "get_journal_entries"}
    assert not forbidden & set(simulator.counters.requests)
    assert all(request.params.get("account") == ACCOUNT for request in simulator.counters.log)


async def test_remove_entry_deletes_the_private_key(
    hass: HomeAssistant, init_integration: MockConfigEntry, stored_certificate: Path
) -> None:
    assert stored_certificate.exists()
    assert stored_certificate.stat().st_mode & 0o777 == 0o600
    assert stored_certificate.parent.stat().st_mode & 0o777 == 0o700

    await hass.config_entries.async_remove(init_integration.entry_id)
    await hass.async_block_till_done(wait_background_tasks=True)
    assert not stored_certificate.exists()


async def test_unreachable_server_retries_setup(
    hass: HomeAssistant,
    mock_config_entry: MockConfigEntry,
    stored_certificate: Path,
    simulator: SettingsSimulator,
) -> None:
    simulator.faults.drop_connection = True
    await setup_entry(hass, mock_config_entry)
    assert mock_config_entry.state is ConfigEntryState.SETUP_RETRY
    assert not _reauth_flows(hass)


@pytest.mark.parametrize("fault", ["credentials_error", "tls_reject"])
async def test_refused_certificate_starts_reauthentication(
    hass: HomeAssistant,
    mock_config_entry: MockConfigEntry,
    stored_certificate: Path,
    simulator: SettingsSimulator,
    fault: str,
) -> None:
    setattr(simulator.faults, fault, True)
    await setup_entry(hass, mock_config_entry)
    assert mock_config_entry.state is ConfigEntryState.SETUP_ERROR
    assert len(_reauth_flows(hass)) == 1


async def test_missing_certificate_file_starts_reauthentication(
    hass: HomeAssistant, mock_config_entry: MockConfigEntry
) -> None:
    await setup_entry(hass, mock_config_entry)
    assert mock_config_entry.state is ConfigEntryState.SETUP_ERROR
    assert len(_reauth_flows(hass)) == 1


async def test_expired_certificate_starts_reauthentication(
    hass: HomeAssistant,
    mock_config_entry: MockConfigEntry,
    stored_certificate: Path,
    simulator: SettingsSimulator,
) -> None:
    now = datetime.now(UTC)
    expired = issue_client_certificate(
        simulator.certs.enrollment_authority,
        ACCOUNT,
        not_before=now - timedelta(days=400),
        not_after=now - timedelta(days=1),
        platform_like=False,
    )
    credentials = load_credentials(expired.combined_pem, now=now - timedelta(days=2))
    await hass.async_add_executor_job(write_certificate, stored_certificate, credentials)

    await setup_entry(hass, mock_config_entry)
    assert mock_config_entry.state is ConfigEntryState.SETUP_ERROR
    assert len(_reauth_flows(hass)) == 1


def _account_device(registry: dr.DeviceRegistry, entry: MockConfigEntry) -> dr.DeviceEntry:
    # Not async_get_device(identifiers=…): deprecated since Home Assistant 2026.8.
    return next(
        device
        for device in dr.async_entries_for_config_entry(registry, entry.entry_id)
        if (DOMAIN, ACCOUNT) in device.identifiers
    )


async def test_account_device(
    hass: HomeAssistant, init_integration: MockConfigEntry, device_registry: dr.DeviceRegistry
) -> None:
    device = _account_device(device_registry, init_integration)
    assert device.name == ACCOUNT
    assert device.entry_type is dr.DeviceEntryType.SERVICE
    assert device.manufacturer == "AG Projects"


async def test_account_device_cannot_be_removed(
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    device_registry: dr.DeviceRegistry,
    hass_ws_client,
) -> None:
    assert await async_setup_component(hass, "config", {})
    device = _account_device(device_registry, init_integration)
    client = await hass_ws_client(hass)
    await client.send_json_auto_id(
        {
            "type": "config/device_registry/remove_config_entry",
            "config_entry_id": init_integration.entry_id,
            "device_id": device.id,
        }
    )
    response = await client.receive_json()
    assert not response["success"]
    assert device_registry.async_get(device.id) is not None


async def test_setup_lets_other_work_run_while_adding_entities(
    hass: HomeAssistant,
    mock_config_entry: MockConfigEntry,
    stored_certificate: Path,
    simulator: SettingsSimulator,
) -> None:
    """Adding every entity in one turn would hold the event loop for milliseconds.

    Measured on a reload: a first setup also sets up Home Assistant's entity platforms,
    which spreads it over several turns whatever the integration does.
    """
    await setup_entry(hass, mock_config_entry, all_enabled=True)
    entities = len(hass.states.async_entity_ids())
    assert await hass.config_entries.async_unload(mock_config_entry.entry_id)
    await hass.async_block_till_done(wait_background_tasks=True)
    back: set[str] = set()
    back_at_each_turn: list[int] = [0]

    def other_work() -> None:
        # Runs once in every turn of the loop until every entity is back.
        back_at_each_turn.append(len(back))
        if len(back) < entities:
            hass.loop.call_soon(other_work)

    @callback
    def on_state(event: Event[EventStateChangedData]) -> None:
        if not back:
            hass.loop.call_soon(other_work)
        back.add(event.data["entity_id"])

    unsubscribe = hass.bus.async_listen(EVENT_STATE_CHANGED, on_state)
    await setup_entry(hass, mock_config_entry, all_enabled=True)
    unsubscribe()

    assert len(back) == entities > 3 * ENTITIES_PER_TURN
    assert max(map(operator.sub, back_at_each_turn[1:], back_at_each_turn)) <= ENTITIES_PER_TURN
