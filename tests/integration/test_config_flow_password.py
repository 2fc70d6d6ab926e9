"""What only signing in with the SIP password does: setup, reauthentication, reconfiguration.

Everything runs against the simulator's Digest page (docs/settings-api.md §2.5) over
real TLS, verified against the simulator's CA; certificates go through Home
Assistant's real ``/api/file_upload`` endpoint.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

from homeassistant.config_entries import ConfigEntryState
from homeassistant.const import CONF_PASSWORD, CONF_URL, CONF_VERIFY_SSL, STATE_UNAVAILABLE
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType
from homeassistant.helpers import entity_registry as er
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.sipthor.api import DEFAULT_URL, DIGEST_URL
from custom_components.sipthor.certificate import certificate_file_name, certificate_path
from custom_components.sipthor.const import (
    CONF_ACCOUNT,
    CONF_CERTIFICATE_FILE,
    CONF_CERTIFICATE_UPLOAD,
    DOMAIN,
)
from simulator import SettingsSimulator
from tests.conftest import ACCOUNT, ACCOUNT_PASSWORD
from tests.integration.common import (
    ADVANCED,
    Upload,
    setup_entry,
    shown,
    start_password_flow,
    start_reconfigure_flow,
)

NEW_PASSWORD = "a-new-sip-password"
STORED_FILE = certificate_file_name(ACCOUNT)
EXPIRY_SENSOR_ID = f"{ACCOUNT}_certificate_expiry"


def _password_input(
    simulator: SettingsSimulator,
    account: str = ACCOUNT,
    password: str = ACCOUNT_PASSWORD,
    url: str | None = None,
) -> dict[str, Any]:
    """The password form as sent: the address, the password, the advanced section."""
    return {
        CONF_ACCOUNT: account,
        CONF_PASSWORD: password,
        ADVANCED: {CONF_URL: url or simulator.digest_url, CONF_VERIFY_SSL: True},
    }


def _key_file(hass: HomeAssistant) -> Path:
    return certificate_path(hass, STORED_FILE)


def _expiry_sensor(hass: HomeAssistant) -> str | None:
    return er.async_get(hass).async_get_entity_id("sensor", DOMAIN, EXPIRY_SENSOR_ID)


# -- adding an account -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("account", "error"),
    [
        ("", "invalid_sip_address"),
        ("alice", "invalid_sip_address"),
        ("alice @example.com", "invalid_sip_address"),
        ("@example.com", "invalid_sip_address"),
        # CDRTool's page cannot read RFC 7616's username* (docs/settings-api.md §2.5).
        ("élise@example.com", "non_ascii_user"),
        ("ali\u0007ce@example.com", "invalid_sip_address"),
    ],
)
async def test_password_flow_refuses_the_address(
    hass: HomeAssistant, simulator: SettingsSimulator, account: str, error: str
) -> None:
    """An address the page cannot sign in is refused before any request."""
    result = await start_password_flow(hass)
    # The URL and verification wait in a collapsed section: few need them.
    assert result["data_schema"].schema[ADVANCED].options == {"collapsed": True}
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], _password_input(simulator, account=account)
    )
    assert result["type"] is FlowResultType.FORM
    assert result["errors"] == {CONF_ACCOUNT: error}
    assert shown(result["data_schema"], CONF_ACCOUNT) == account.strip()
    # The address was wrong, not the password: it stays, to be sent with the fixed one.
    assert shown(result["data_schema"], CONF_PASSWORD) == ACCOUNT_PASSWORD
    assert not simulator.counters.log


async def test_password_flow_on_the_certificate_page(
    hass: HomeAssistant, simulator: SettingsSimulator
) -> None:
    """The page behind client certificates is not a wrong password: the form says which.

    Apache answers a client that offers no certificate with 403 (or a TLS alert); the
    Digest page refuses a password with 401.
    """
    result = await start_password_flow(hass)
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], _password_input(simulator, url=simulator.url)
    )
    assert result["type"] is FlowResultType.FORM
    assert result["errors"] == {"base": "certificate_page"}
    # The password may well be right: it stays, with the URL to correct.
    assert shown(result["data_schema"], CONF_PASSWORD) == ACCOUNT_PASSWORD
    assert shown(result["data_schema"], CONF_URL) == simulator.url

    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], _password_input(simulator)
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    await hass.async_block_till_done(wait_background_tasks=True)


@pytest.mark.parametrize(
    ("account", "password"),
    [(ACCOUNT, "not-the-sip-password"), ("nobody@example.com", ACCOUNT_PASSWORD)],
)
async def test_password_flow_refused(
    hass: HomeAssistant,
    simulator: SettingsSimulator,
    caplog: pytest.LogCaptureFixture,
    account: str,
    password: str,
) -> None:
    """A wrong password and an unknown user are one error; the next attempt can succeed."""
    caplog.set_level(logging.DEBUG)
    result = await start_password_flow(hass)
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], _password_input(simulator, account=account, password=password)
    )
    assert result["type"] is FlowResultType.FORM
    assert result["errors"] == {"base": "password_refused"}
    assert shown(result["data_schema"], CONF_PASSWORD) is None  # never shown again
    assert simulator.counters.challenges >= 2  # answered, and refused

    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], _password_input(simulator)
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    await hass.async_block_till_done(wait_background_tasks=True)
    assert password not in caplog.text
    assert ACCOUNT_PASSWORD not in caplog.text


async def test_password_flow_web_password(
    hass: HomeAssistant, simulator: SettingsSimulator
) -> None:
    """Where the provider set a web password, the page takes it (docs/settings-api.md §2.5)."""
    simulator.platform.accounts[ACCOUNT].web_password = "the-web-password"
    result = await start_password_flow(hass)
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], _password_input(simulator)
    )
    assert result["errors"] == {"base": "password_refused"}
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], _password_input(simulator, password="the-web-password")
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["data"][CONF_PASSWORD] == "the-web-password"
    await hass.async_block_till_done(wait_background_tasks=True)


# -- reauthentication ------------------------------------------------------------------


async def test_reauth_password(
    hass: HomeAssistant,
    simulator: SettingsSimulator,
    password_entry: MockConfigEntry,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The password changed on the platform: setup asks for it, and it works again."""
    caplog.set_level(logging.DEBUG)
    simulator.platform.accounts[ACCOUNT].password = NEW_PASSWORD
    assert not await setup_entry(hass, password_entry)
    assert password_entry.state is ConfigEntryState.SETUP_ERROR
    (flow,) = hass.config_entries.flow.async_progress_by_handler(DOMAIN)
    assert flow["context"]["source"] == "reauth"
    assert flow["step_id"] == "reauth_password"

    result = await hass.config_entries.flow.async_configure(
        flow["flow_id"], {CONF_PASSWORD: "still-wrong"}
    )
    assert result["type"] is FlowResultType.FORM
    assert result["errors"] == {"base": "password_refused"}
    assert result["description_placeholders"]["account"] == ACCOUNT
    assert shown(result["data_schema"], CONF_PASSWORD) is None

    simulator.faults.drop_connection = True
    result = await hass.config_entries.flow.async_configure(
        flow["flow_id"], {CONF_PASSWORD: NEW_PASSWORD}
    )
    assert result["errors"] == {"base": "cannot_connect"}
    assert shown(result["data_schema"], CONF_PASSWORD) == NEW_PASSWORD
    simulator.faults.drop_connection = False

    result = await hass.config_entries.flow.async_configure(
        flow["flow_id"], {CONF_PASSWORD: NEW_PASSWORD}
    )
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "reauth_successful"
    await hass.async_block_till_done(wait_background_tasks=True)
    assert password_entry.data[CONF_PASSWORD] == NEW_PASSWORD
    assert password_entry.state is ConfigEntryState.LOADED
    for secret in (ACCOUNT_PASSWORD, NEW_PASSWORD, "still-wrong"):
        assert secret not in caplog.text


# -- reconfiguration -------------------------------------------------------------------


async def test_reconfigure_password_errors(
    hass: HomeAssistant, simulator: SettingsSimulator, password_entry: MockConfigEntry
) -> None:
    """A refused password or a wrong URL is a form error; the stored password stays."""
    await setup_entry(hass, password_entry)
    simulator.platform.accounts[ACCOUNT].password = NEW_PASSWORD
    result = await start_reconfigure_flow(hass, password_entry, "password")
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"],
        {CONF_PASSWORD: "wrong", ADVANCED: {CONF_URL: "http://x", CONF_VERIFY_SSL: True}},
    )
    assert result["errors"] == {ADVANCED: "invalid_url"}
    assert shown(result["data_schema"], CONF_URL) == "http://x"
    assert shown(result["data_schema"], CONF_PASSWORD) == "wrong", "kept: the URL was wrong"
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"],
        {CONF_PASSWORD: "wrong", ADVANCED: {CONF_URL: simulator.digest_url, CONF_VERIFY_SSL: True}},
    )
    assert result["errors"] == {"base": "password_refused"}
    assert shown(result["data_schema"], CONF_PASSWORD) is None, "dropped: it was refused"
    assert password_entry.data[CONF_PASSWORD] == ACCOUNT_PASSWORD

    result = await hass.config_entries.flow.async_configure(
        result["flow_id"],
        {
            CONF_PASSWORD: NEW_PASSWORD,
            ADVANCED: {CONF_URL: simulator.digest_url, CONF_VERIFY_SSL: True},
        },
    )
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "reconfigure_successful"
    await hass.async_block_till_done(wait_background_tasks=True)
    assert password_entry.data[CONF_PASSWORD] == NEW_PASSWORD
    assert password_entry.state is ConfigEntryState.LOADED


async def test_reconfigure_from_certificate_to_password(
    hass: HomeAssistant,
    simulator: SettingsSimulator,
    init_integration: MockConfigEntry,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The account signs in with its password from now on; the key file is deleted."""
    caplog.set_level(logging.DEBUG)
    entry = init_integration
    assert _key_file(hass).exists()
    expiry = _expiry_sensor(hass)
    assert expiry is not None
    assert hass.states.get(expiry).state != STATE_UNAVAILABLE

    result = await start_reconfigure_flow(hass, entry, "password")
    # Not the certificate page: the Digest page is another one.
    assert shown(result["data_schema"], CONF_URL) == DIGEST_URL
    advanced = {CONF_URL: simulator.digest_url, CONF_VERIFY_SSL: True}
    result = await hass.config_entries.flow.async_configure(result["flow_id"], {ADVANCED: advanced})
    assert result["type"] is FlowResultType.FORM
    assert result["errors"] == {CONF_PASSWORD: "password_required"}
    assert _key_file(hass).exists()

    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_PASSWORD: ACCOUNT_PASSWORD, ADVANCED: advanced}
    )
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "reconfigure_successful"
    await hass.async_block_till_done(wait_background_tasks=True)
    assert entry.data == {
        CONF_URL: simulator.digest_url,
        CONF_ACCOUNT: ACCOUNT,
        CONF_VERIFY_SSL: True,
        CONF_PASSWORD: ACCOUNT_PASSWORD,
    }
    assert entry.state is ConfigEntryState.LOADED
    assert not _key_file(hass).exists()
    # The certificate's sensor does not stay behind, unavailable.
    assert _expiry_sensor(hass) is None
    assert hass.states.get(expiry) is None
    assert ACCOUNT_PASSWORD not in caplog.text


async def test_reconfigure_from_password_to_certificate(
    hass: HomeAssistant,
    simulator: SettingsSimulator,
    password_entry: MockConfigEntry,
    upload: Upload,
    alice_pem: bytes,
) -> None:
    """The account signs in with a certificate from now on; the password is forgotten."""
    await setup_entry(hass, password_entry)
    result = await start_reconfigure_flow(hass, password_entry, "certificate")
    assert result["step_id"] == "reconfigure_certificate"
    form = {CONF_URL: simulator.url, CONF_VERIFY_SSL: True}
    # No certificate to keep: one must be uploaded.
    result = await hass.config_entries.flow.async_configure(result["flow_id"], form)
    assert result["type"] is FlowResultType.FORM
    assert result["errors"] == {CONF_CERTIFICATE_UPLOAD: "certificate_required"}

    result = await hass.config_entries.flow.async_configure(
        result["flow_id"],
        form | {CONF_CERTIFICATE_UPLOAD: await upload(alice_pem, f"{ACCOUNT}.crt")},
    )
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "reconfigure_successful"
    await hass.async_block_till_done(wait_background_tasks=True)
    assert password_entry.data == {
        CONF_URL: simulator.url,
        CONF_ACCOUNT: ACCOUNT,
        CONF_VERIFY_SSL: True,
        CONF_CERTIFICATE_FILE: STORED_FILE,
    }
    assert ACCOUNT_PASSWORD not in json.dumps(password_entry.as_dict(), default=str)
    assert _key_file(hass).exists()
    assert password_entry.state is ConfigEntryState.LOADED
    assert _expiry_sensor(hass) is not None


async def test_reconfigure_certificate_suggests_the_certificate_page(
    hass: HomeAssistant, password_entry: MockConfigEntry
) -> None:
    """From the password, the certificate form offers the certificate page, not the Digest one."""
    await setup_entry(hass, password_entry)
    result = await start_reconfigure_flow(hass, password_entry, "certificate")
    (url_key,) = (key for key in result["data_schema"].schema if key == CONF_URL)
    assert url_key.description["suggested_value"] == DEFAULT_URL


async def test_removing_a_password_entry(
    hass: HomeAssistant, password_entry: MockConfigEntry
) -> None:
    """Removing an entry without a certificate file removes its state, and nothing else."""
    await setup_entry(hass, password_entry)
    await hass.config_entries.async_remove(password_entry.entry_id)
    await hass.async_block_till_done()
    assert not hass.config_entries.async_entries(DOMAIN)
