"""A repair issue asks for a new certificate before the current one expires."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from aiohttp.test_utils import TestClient
from freezegun.api import FrozenDateTimeFactory
from homeassistant.config_entries import SOURCE_REAUTH
from homeassistant.core import HomeAssistant
from homeassistant.exceptions import HomeAssistantError
from homeassistant.helpers import issue_registry as ir
from homeassistant.setup import async_setup_component
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry
from pytest_homeassistant_custom_component.typing import ClientSessionGenerator

from custom_components.sipthor.api import load_credentials
from custom_components.sipthor.certificate import write_certificate
from custom_components.sipthor.const import DOMAIN
from simulator import SettingsSimulator
from simulator.certs import issue_client_certificate
from tests.conftest import ACCOUNT
from tests.integration.common import advance, setup_entry


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


async def _start_fix(
    hass: HomeAssistant, hass_client: ClientSessionGenerator, issue_id: str
) -> tuple[TestClient, dict]:
    """Open the issue's fix flow through the repairs HTTP API, as the frontend does."""
    assert await async_setup_component(hass, "repairs", {})
    client = await hass_client()
    response = await client.post(
        "/api/repairs/issues/fix", json={"handler": DOMAIN, "issue_id": issue_id}
    )
    assert response.status == 200, await response.text()
    return client, dict(await response.json())


async def _fix(hass: HomeAssistant, hass_client: ClientSessionGenerator, issue_id: str) -> dict:
    """Run the issue's fix flow to its end: the form, then submit."""
    client, form = await _start_fix(hass, hass_client, issue_id)
    assert form["type"] == "form"
    assert form["step_id"] == "confirm"
    response = await client.post(f"/api/repairs/issues/fix/{form['flow_id']}", json={})
    assert response.status == 200, await response.text()
    return dict(await response.json())


def _reauth_flows(hass: HomeAssistant, entry: MockConfigEntry) -> list[dict]:
    return [
        flow
        for flow in hass.config_entries.flow.async_progress_by_handler(DOMAIN)
        if flow["context"]["source"] == SOURCE_REAUTH
        and flow["context"]["entry_id"] == entry.entry_id
    ]


async def test_expiry_issue_fix_starts_reauthentication(
    hass: HomeAssistant,
    hass_client: ClientSessionGenerator,
    mock_config_entry: MockConfigEntry,
    stored_certificate: Path,
    simulator: SettingsSimulator,
) -> None:
    await _setup_with_certificate_expiring_in(
        hass, mock_config_entry, stored_certificate, simulator, days=10
    )
    issue_id = f"certificate_expiring_{mock_config_entry.entry_id}"
    assert ir.async_get(hass).async_get_issue(DOMAIN, issue_id).is_fixable
    assert not _reauth_flows(hass, mock_config_entry)

    result = await _fix(hass, hass_client, issue_id)

    assert result["type"] == "create_entry"
    # The user is now asked for the new certificate.
    assert len(_reauth_flows(hass, mock_config_entry)) == 1


async def test_fix_flow_of_a_removed_entry_aborts(
    hass: HomeAssistant,
    hass_client: ClientSessionGenerator,
) -> None:
    # The integration is loaded (its actions, its repairs platform) but the entry the
    # issue names was deleted meanwhile.
    assert await async_setup_component(hass, DOMAIN, {})
    ir.async_create_issue(
        hass,
        DOMAIN,
        "certificate_expiring_gone",
        is_fixable=True,
        severity=ir.IssueSeverity.WARNING,
        translation_key="certificate_expiring",
        translation_placeholders={"account": ACCOUNT, "date": "2030-01-01"},
        data={"entry_id": "gone"},
    )
    _, result = await _start_fix(hass, hass_client, "certificate_expiring_gone")
    assert result["type"] == "abort"
    assert result["reason"] == "entry_removed"


async def test_removing_the_entry_removes_its_issues(
    hass: HomeAssistant,
    issue_registry: ir.IssueRegistry,
    mock_config_entry: MockConfigEntry,
    stored_certificate: Path,
    simulator: SettingsSimulator,
) -> None:
    await _setup_with_certificate_expiring_in(
        hass, mock_config_entry, stored_certificate, simulator, days=10
    )
    await hass.config_entries.async_remove(mock_config_entry.entry_id)
    await hass.async_block_till_done()
    assert not [issue for issue in issue_registry.issues.values() if issue.domain == DOMAIN]


async def test_refused_valid_certificate_raises_a_fixable_issue(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    hass_client: ClientSessionGenerator,
    init_integration: MockConfigEntry,
    simulator: SettingsSimulator,
) -> None:
    issue_id = f"certificate_refused_{init_integration.entry_id}"
    assert ir.async_get(hass).async_get_issue(DOMAIN, issue_id) is None

    # The platform revoked the certificate: the page answers "X.509 Credentials error".
    simulator.faults.credentials_error = True
    await advance(hass, freezer, timedelta(minutes=1))

    issue = ir.async_get(hass).async_get_issue(DOMAIN, issue_id)
    assert issue is not None
    assert issue.severity is ir.IssueSeverity.ERROR
    assert issue.is_fixable
    assert issue.translation_placeholders["account"] == ACCOUNT
    # Reauthentication started on its own; the fix flow leads there as well.
    assert len(_reauth_flows(hass, init_integration)) == 1
    result = await _fix(hass, hass_client, issue_id)
    assert result["type"] == "create_entry"
    assert len(_reauth_flows(hass, init_integration)) == 1

    # Accepted again (here: the fault is over), the issue goes with the next setup.
    simulator.faults.credentials_error = False
    await hass.config_entries.async_reload(init_integration.entry_id)
    await hass.async_block_till_done(wait_background_tasks=True)
    assert ir.async_get(hass).async_get_issue(DOMAIN, issue_id) is None


async def test_refused_write_raises_the_issue_too(
    hass: HomeAssistant, init_integration: MockConfigEntry, simulator: SettingsSimulator
) -> None:
    simulator.faults.credentials_error = True
    with pytest.raises(HomeAssistantError):
        await hass.services.async_call(
            "switch",
            "turn_on",
            {"entity_id": "switch.alice_example_com_do_not_disturb"},
            blocking=True,
        )
    issue_id = f"certificate_refused_{init_integration.entry_id}"
    assert ir.async_get(hass).async_get_issue(DOMAIN, issue_id) is not None


async def test_refused_password_raises_no_certificate_issue(
    hass: HomeAssistant, password_entry: MockConfigEntry, simulator: SettingsSimulator
) -> None:
    # Entries that sign in with a password have no certificate to blame.
    assert await setup_entry(hass, password_entry)
    simulator.platform.accounts[ACCOUNT].password = "changed-on-the-web-page"
    with pytest.raises(HomeAssistantError):
        await hass.services.async_call(
            "switch",
            "turn_on",
            {"entity_id": "switch.alice_example_com_do_not_disturb"},
            blocking=True,
        )
    assert not [issue for issue in ir.async_get(hass).issues.values() if issue.domain == DOMAIN]


async def test_a_weaker_digest_algorithm_raises_an_issue_whose_fix_accepts_it(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    hass_client: ClientSessionGenerator,
    password_entry: MockConfigEntry,
    simulator: SettingsSimulator,
) -> None:
    """The page offered SHA-256, then only MD5: no MD5 answer, no reauthentication, an
    issue that explains; accepting it reloads the entry, which then signs in."""
    simulator.digest_algorithms = ("MD5", "SHA-256")
    assert await setup_entry(hass, password_entry)
    simulator.digest_algorithms = ("MD5",)
    simulator._nonce_key = "rotated"  # the next request meets the weaker challenge

    await advance(hass, freezer, timedelta(minutes=1))

    registered = "sensor.alice_example_com_registered_devices"
    assert hass.states.get(registered).state == "unavailable"
    issue_id = f"digest_downgrade_{password_entry.entry_id}"
    issue = ir.async_get(hass).async_get_issue(DOMAIN, issue_id)
    assert issue is not None
    assert issue.severity is ir.IssueSeverity.ERROR
    assert issue.translation_placeholders == {
        "account": ACCOUNT,
        "offered": "MD5",
        "strongest": "SHA-256",
    }
    assert not _reauth_flows(hass, password_entry)
    assert "algorithm=MD5" not in simulator.counters.log[-1].authorization

    result = await _fix(hass, hass_client, issue_id)
    await hass.async_block_till_done(wait_background_tasks=True)

    assert result["type"] == "create_entry"
    assert hass.states.get(registered).state != "unavailable"
    assert "algorithm=MD5" in simulator.counters.log[-1].authorization
    assert ir.async_get(hass).async_get_issue(DOMAIN, issue_id) is None
