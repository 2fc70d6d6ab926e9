"""Diagnostics: everything useful for a bug report, nothing secret or personal."""

from __future__ import annotations

import json
import logging

from homeassistant.const import CONF_PASSWORD, CONF_URL
from homeassistant.core import HomeAssistant
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry
from pytest_homeassistant_custom_component.components.diagnostics import (
    get_diagnostics_for_config_entry,
)
from syrupy.assertion import SnapshotAssertion
from syrupy.filters import props
from yarl import URL

from simulator import SettingsSimulator
from tests.conftest import ACCOUNT, ACCOUNT_PASSWORD
from tests.integration.common import setup_entry


async def test_diagnostics(
    hass: HomeAssistant,
    hass_client,
    init_integration: MockConfigEntry,
    snapshot: SnapshotAssertion,
) -> None:
    diagnostics = await get_diagnostics_for_config_entry(hass, hass_client, init_integration)
    # The simulator's port and every date (its demo data is relative to now) change
    # from run to run.
    assert diagnostics == snapshot(
        exclude=props(
            "url",
            "not_valid_before",
            "not_valid_after",
            "start_time",
            "stop_time",
            "started",
            "date",
        )
    )


async def test_diagnostics_hold_no_secret_or_number(
    hass: HomeAssistant,
    hass_client,
    init_integration: MockConfigEntry,
    simulator: SettingsSimulator,
    alice_pem: bytes,
) -> None:
    text = json.dumps(await get_diagnostics_for_config_entry(hass, hass_client, init_integration))
    account = simulator.platform.accounts[ACCOUNT]
    key_body = alice_pem.decode().split("-----BEGIN PRIVATE KEY-----")[1][:64]
    for secret in (
        key_body,
        "PRIVATE KEY",
        account.password,
        "4821",  # the voicemail PIN
        account.email,
        account.mobile_number,
        "31208001234",  # the caller ID and the ENUM number
        "bob@example.net",
        "203.0.113.45",
    ):
        assert secret not in text, secret


async def test_diagnostics_show_no_user_info_of_the_url(
    hass: HomeAssistant,
    hass_client,
    mock_config_entry: MockConfigEntry,
    stored_certificate,
    simulator: SettingsSimulator,
) -> None:
    url = URL(simulator.url).with_user("alice").with_password("s3cret-Pa55")
    # An entry stored before the form refused user info in the URL.
    mock_config_entry.add_to_hass(hass)
    hass.config_entries.async_update_entry(
        mock_config_entry, data={**mock_config_entry.data, CONF_URL: str(url)}
    )
    assert await setup_entry(hass, mock_config_entry)
    diagnostics = await get_diagnostics_for_config_entry(hass, hass_client, mock_config_entry)
    assert diagnostics["entry"]["data"][CONF_URL] == simulator.url
    assert "s3cret-Pa55" not in json.dumps(diagnostics)


async def test_diagnostics_of_a_password_entry(
    hass: HomeAssistant,
    hass_client,
    password_entry: MockConfigEntry,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The SIP password is redacted; there is no certificate to describe."""
    caplog.set_level(logging.DEBUG)
    assert await setup_entry(hass, password_entry)
    diagnostics = await get_diagnostics_for_config_entry(hass, hass_client, password_entry)
    assert diagnostics["entry"]["data"][CONF_PASSWORD] == "**REDACTED**"
    assert diagnostics["certificate"] is None
    assert all(source["last_update_success"] for source in diagnostics["sources"].values())
    assert ACCOUNT_PASSWORD not in json.dumps(diagnostics)
    assert ACCOUNT_PASSWORD not in caplog.text
