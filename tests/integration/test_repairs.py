"""A repair issue asks for a new certificate before the current one expires."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from homeassistant.core import HomeAssistant
from homeassistant.helpers import issue_registry as ir
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.sipthor.api import load_credentials
from custom_components.sipthor.certificate import write_certificate
from custom_components.sipthor.const import DOMAIN
from simulator import SettingsSimulator
from simulator.certs import issue_client_certificate
from tests.conftest import ACCOUNT
from tests.integration.common import setup_entry


async def _setup_with_certificate_expiring_in(
    hass: HomeAssistant,
    entry: MockConfigEntry,
    path: Path,
    simulator: SettingsSimulator,
    days: int,
) -> None:
    issued = issue_client_certificate(
        simulator.certs.enrollment_authority,
        ACCOUNT,
        not_after=datetime.now(UTC) + timedelta(days=days),
    )
    await hass.async_add_executor_job(
        write_certificate, path, load_credentials(issued.combined_pem)
    )
    await setup_entry(hass, entry)


async def test_certificate_expiring_soon_raises_a_repair_issue(
    hass: HomeAssistant,
    issue_registry: ir.IssueRegistry,
    mock_config_entry: MockConfigEntry,
    stored_certificate: Path,
    simulator: SettingsSimulator,
) -> None:
    await _setup_with_certificate_expiring_in(
        hass, mock_config_entry, stored_certificate, simulator, days=10
    )
    issue = issue_registry.async_get_issue(
        DOMAIN, f"certificate_expiring_{mock_config_entry.entry_id}"
    )
    assert issue is not None
    assert issue.severity is ir.IssueSeverity.WARNING
    assert issue.translation_placeholders["account"] == ACCOUNT
    # Still working meanwhile.
    assert hass.states.get("sensor.alice_example_com_balance").state == "12.3456"

    # Unloading the entry takes the issue along.
    await hass.config_entries.async_unload(mock_config_entry.entry_id)
    assert not issue_registry.issues


async def test_certificate_with_time_left_raises_none(
    hass: HomeAssistant,
    issue_registry: ir.IssueRegistry,
    init_integration: MockConfigEntry,
) -> None:
    assert not [issue for issue in issue_registry.issues.values() if issue.domain == DOMAIN]
