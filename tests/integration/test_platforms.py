"""Every entity of every platform, as Home Assistant shows it: a snapshot per platform.

The clock is frozen, so the simulator's demo data (relative to now) is the same at
every run, and the stored certificate is replaced by one with fixed dates.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from unittest.mock import patch

from homeassistant.const import Platform
from homeassistant.core import HomeAssistant
from homeassistant.helpers import entity_registry as er
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry, snapshot_platform
from pytest_homeassistant_custom_component.syrupy import HomeAssistantSnapshotExtension
from syrupy.assertion import SnapshotAssertion

from custom_components.sipthor.api import load_credentials
from custom_components.sipthor.certificate import write_certificate
from simulator import SettingsSimulator
from simulator.certs import issue_client_certificate
from tests.conftest import ACCOUNT
from tests.integration.common import setup_entry

NOT_BEFORE = datetime(2026, 1, 1, tzinfo=UTC)
NOT_AFTER = datetime(2028, 1, 1, tzinfo=UTC)


@pytest.fixture
def snapshot(snapshot: SnapshotAssertion) -> SnapshotAssertion:
    """Snapshots as core takes them: registry ids and times of change left out."""
    return snapshot.use_extension(HomeAssistantSnapshotExtension)


@pytest.fixture
async def certificate_with_fixed_dates(
    hass: HomeAssistant, stored_certificate: Path, simulator: SettingsSimulator
) -> None:
    """A certificate the platform would issue, valid over fixed dates."""
    issued = issue_client_certificate(
        simulator.certs.enrollment_authority,
        ACCOUNT,
        not_before=NOT_BEFORE,
        not_after=NOT_AFTER,
        platform_like=False,
    )
    credentials = load_credentials(issued.combined_pem)
    await hass.async_add_executor_job(write_certificate, stored_certificate, credentials)


@pytest.mark.freeze_time("2026-11-27 10:30:00+00:00")
@pytest.mark.usefixtures("certificate_with_fixed_dates", "simulator")
@pytest.mark.parametrize(
    "platform",
    [Platform.BINARY_SENSOR, Platform.EVENT, Platform.SELECT, Platform.SENSOR, Platform.SWITCH],
)
async def test_entities(
    hass: HomeAssistant,
    entity_registry: er.EntityRegistry,
    snapshot: SnapshotAssertion,
    mock_config_entry: MockConfigEntry,
    platform: Platform,
) -> None:
    with patch("custom_components.sipthor.PLATFORMS", [platform]):
        assert await setup_entry(hass, mock_config_entry, all_enabled=True)
    await snapshot_platform(hass, entity_registry, snapshot, mock_config_entry.entry_id)
