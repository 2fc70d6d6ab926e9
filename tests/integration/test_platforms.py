"""Every entity of every platform, as Home Assistant shows it: a snapshot per platform.

As core's snapshot_platform takes them, in a form both Home Assistant lines share.

The clock is frozen, so the simulator's demo data (relative to now) is the same at
every run, and the stored certificate is replaced by one with fixed dates.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from enum import Enum
from pathlib import Path
from typing import Any
from unittest.mock import patch

from homeassistant.const import Platform
from homeassistant.core import HomeAssistant
from homeassistant.helpers import entity_registry as er
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry
from pytest_homeassistant_custom_component.syrupy import HomeAssistantSnapshotExtension
from syrupy.assertion import SnapshotAssertion

from custom_components.sipthor.api import load_credentials
from custom_components.sipthor.certificate import write_certificate
from simulator import SettingsSimulator
from simulator.certs import issue_client_certificate
from tests.conftest import ACCOUNT
from tests.integration.common import setup_entry

# What the entity registry holds that a user sees or that decides how an entity behaves.
# Not the whole entry, as core's snapshot_platform takes it: its form differs between
# Home Assistant lines (2026 keeps aliases as a list holding None, 2025.4 as a set), and
# these tests run on both.
ENTRY_FIELDS = (
    "entity_id",
    "unique_id",
    "platform",
    "translation_key",
    "has_entity_name",
    "original_name",
    "original_icon",
    "original_device_class",
    "entity_category",
    "capabilities",
    "supported_features",
    "unit_of_measurement",
    "disabled_by",
    "hidden_by",
)
NOT_BEFORE = datetime(2026, 1, 1, tzinfo=UTC)
NOT_AFTER = datetime(2028, 1, 1, tzinfo=UTC)


def _plain(value: Any) -> Any:
    """``value`` with the same form on every Home Assistant line.

    2026 keys attributes and capabilities by enum members where 2025.4 has strings.
    """
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, Mapping):
        return {str(_plain(key)): _plain(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(item) for item in value]
    if isinstance(value, set | frozenset):
        return sorted(_plain(item) for item in value)
    if isinstance(value, datetime):
        return value.isoformat()
    return value


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
    entries = er.async_entries_for_config_entry(entity_registry, mock_config_entry.entry_id)
    assert entries
    assert {entry.domain for entry in entries} == {platform}
    for entry in entries:
        fields = {name: _plain(getattr(entry, name)) for name in ENTRY_FIELDS}
        assert fields == snapshot(name=f"{entry.entity_id}-entry")
        state = hass.states.get(entry.entity_id)
        assert state is not None
        shown = {"state": state.state, "attributes": _plain(state.attributes)}
        assert shown == snapshot(name=f"{entry.entity_id}-state")
