"""What the logbook card shows for the call event entity: a row per call, nothing else."""

from __future__ import annotations

from datetime import datetime, timedelta

from aiohttp.test_utils import TestClient
from freezegun.api import FrozenDateTimeFactory
from homeassistant.components.recorder import Recorder
from homeassistant.const import EVENT_STATE_CHANGED, STATE_UNAVAILABLE, STATE_UNKNOWN
from homeassistant.core import HomeAssistant
from homeassistant.setup import async_setup_component
from homeassistant.util import dt as dt_util
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry, async_capture_events
from pytest_homeassistant_custom_component.components.recorder.common import (
    async_wait_recording_done,
)
from pytest_homeassistant_custom_component.typing import ClientSessionGenerator

from custom_components.sipthor.const import CONF_SLOW_SCAN_INTERVAL
from simulator import SettingsSimulator
from tests.conftest import ACCOUNT
from tests.integration.common import advance, setup_entry

CALL = "event.alice_example_com_call"


@pytest.fixture(autouse=True)
def auto_enable_custom_integrations(
    recorder_mock: Recorder, enable_custom_integrations: None
) -> None:
    """The recorder first: it must exist before Home Assistant does."""


async def _logbook(hass: HomeAssistant, client: TestClient, start: datetime) -> list[str]:
    """The Call rows of the logbook since ``start``."""
    await async_wait_recording_done(hass)
    response = await client.get(f"/api/logbook/{start.isoformat()}", params={"entity": CALL})
    assert response.status == 200
    return [row["state"] for row in await response.json()]


@pytest.mark.usefixtures("stored_certificate")
async def test_the_logbook_shows_a_row_only_for_a_call(
    hass: HomeAssistant,
    hass_client: ClientSessionGenerator,
    freezer: FrozenDateTimeFactory,
    mock_config_entry: MockConfigEntry,
    simulator: SettingsSimulator,
) -> None:
    """The logbook words any change of an event entity as "Call detected an event".

    Setup (the call list arrives in the background) and a call list that cannot be read
    for a while change nothing a person reads there; a call does.
    """
    assert await async_setup_component(hass, "logbook", {})
    # Polled at the fastest pace: an access token lives 30 minutes of the moving clock.
    mock_config_entry.add_to_hass(hass)
    hass.config_entries.async_update_entry(
        mock_config_entry, options={**mock_config_entry.options, CONF_SLOW_SCAN_INTERVAL: 5}
    )
    client = await hass_client()
    start = dt_util.utcnow()
    changes = async_capture_events(hass, EVENT_STATE_CHANGED)

    await setup_entry(hass, mock_config_entry)
    assert hass.states.get(CALL).state == STATE_UNKNOWN
    simulator.faults.drop_connection = True
    simulator.faults.actions = frozenset({"get_history"})
    await advance(hass, freezer, timedelta(minutes=6))
    assert hass.states.get("sensor.alice_example_com_last_missed_call").state == (STATE_UNAVAILABLE)
    simulator.faults.drop_connection = False
    await advance(hass, freezer, timedelta(minutes=6))
    assert [
        event.data["new_state"].state for event in changes if event.data["entity_id"] == CALL
    ] == [STATE_UNKNOWN], "added once, then left alone"
    assert await _logbook(hass, client, start) == []

    simulator.platform.add_call(ACCOUNT, "received", "sip:dave@example.org")
    await advance(hass, freezer, timedelta(minutes=6))
    announced = hass.states.get(CALL).state
    assert await _logbook(hass, client, start) == [announced]
