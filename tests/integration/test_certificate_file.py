"""The private certificate files: one per account, migrated from the old names, removed alone.

Before config entry 1.2 the file was named after the account with every character a file
name cannot hold replaced by ``_``: ``a/b@x``, ``a_b@x`` and ``a!b@x`` shared one file.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any
from unittest.mock import patch

from homeassistant.config_entries import ConfigEntryDisabler, ConfigEntryState
from homeassistant.const import CONF_CURRENCY, CONF_URL, CONF_VERIFY_SSL
from homeassistant.core import HomeAssistant
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.sipthor.api import load_credentials
from custom_components.sipthor.certificate import (
    certificate_file_name,
    certificate_path,
    write_certificate,
)
from custom_components.sipthor.const import CONF_ACCOUNT, CONF_CERTIFICATE_FILE, DOMAIN
from simulator import SettingsSimulator
from tests.conftest import ACCOUNT
from tests.integration.common import setup_entry

LEGACY_FILE = f"{ACCOUNT}.pem"
# Three accounts whose files were one before 1.2.
COLLIDING = ("a/b@example.com", "a_b@example.com", "a!b@example.com")


def _legacy_entry(
    url: str, account: str = ACCOUNT, file_name: str = LEGACY_FILE, **kwargs: Any
) -> MockConfigEntry:
    """An entry as version 1.1 stored it."""
    return MockConfigEntry(
        domain=DOMAIN,
        title=account,
        unique_id=account,
        version=1,
        minor_version=1,
        data={
            CONF_URL: url,
            CONF_ACCOUNT: account,
            CONF_VERIFY_SSL: True,
            CONF_CERTIFICATE_FILE: file_name,
        },
        options={CONF_CURRENCY: "EUR"},
        **kwargs,
    )


async def _write(hass: HomeAssistant, file_name: str, pem: bytes) -> Path:
    path = certificate_path(hass, file_name)
    await hass.async_add_executor_job(write_certificate, path, load_credentials(pem))
    return path


def _files(hass: HomeAssistant) -> dict[str, bytes]:
    """Every file in .storage/sipthor/, with its content."""
    directory = certificate_path(hass, "x").parent
    return {path.name: path.read_bytes() for path in sorted(directory.iterdir())}


def test_file_names_do_not_collide() -> None:
    """Accounts that read alike in a file name still get files of their own."""
    names = {certificate_file_name(account) for account in COLLIDING}
    assert len(names) == len(COLLIDING)
    for name in names:
        assert Path(name).name == name
        assert name.endswith(".pem")
    # The exact account decides, not its spelling in the file name.
    assert certificate_file_name(ACCOUNT) == certificate_file_name(ACCOUNT)
    assert certificate_file_name(ACCOUNT).startswith(f"{ACCOUNT}-")


async def test_migration_renames_the_file(
    hass: HomeAssistant, simulator: SettingsSimulator, alice_pem: bytes
) -> None:
    """An entry of 1.1 loads with its file under the new name, private as before."""
    await _write(hass, LEGACY_FILE, alice_pem)
    entry = _legacy_entry(simulator.url)
    assert await setup_entry(hass, entry)

    assert entry.state is ConfigEntryState.LOADED
    # Migrated all the way: 1.2 renamed the file, 1.3 has no phones to migrate.
    assert (entry.version, entry.minor_version) == (1, 3)
    new_name = certificate_file_name(ACCOUNT)
    assert entry.data[CONF_CERTIFICATE_FILE] == new_name
    assert _files(hass) == {new_name: _legacy_bytes(alice_pem)}  # no copy, no temporary
    assert certificate_path(hass, new_name).stat().st_mode & 0o777 == 0o600


def _legacy_bytes(pem: bytes) -> bytes:
    return load_credentials(pem).combined_pem.encode()


async def test_migration_cleans_the_url(
    hass: HomeAssistant,
    simulator: SettingsSimulator,
    alice_pem: bytes,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """User info, a query and a fragment stored by 1.1 are removed, and never logged."""
    await _write(hass, LEGACY_FILE, alice_pem)
    url = simulator.url.replace("https://", "https://alice:url-secret@")
    entry = _legacy_entry(f"{url}?action=set_dnd_on#top")
    assert await setup_entry(hass, entry)

    assert entry.state is ConfigEntryState.LOADED
    assert entry.data[CONF_URL] == simulator.url
    assert simulator.counters.requests["set_dnd_on"] == 0
    assert "url-secret" not in caplog.text
    assert "Removed the user name, password, query or fragment" in caplog.text


async def test_migration_of_a_shared_file(
    hass: HomeAssistant, simulator: SettingsSimulator, alice_pem: bytes
) -> None:
    """Entries that shared one file each get their own; removing one keeps the others'."""
    legacy_name = "a_b@example.com.pem"
    await _write(hass, legacy_name, alice_pem)
    entries = [_legacy_entry(simulator.url, account, legacy_name) for account in COLLIDING]
    for entry in entries:
        entry.add_to_hass(hass)
    # Sets up the integration and with it every entry, each migrated first. The accounts
    # are unknown to the server, so setup then asks for a new certificate.
    await hass.config_entries.async_setup(entries[0].entry_id)
    await hass.async_block_till_done()
    assert all(entry.state is ConfigEntryState.SETUP_ERROR for entry in entries)

    names = [certificate_file_name(account) for account in COLLIDING]
    assert [entry.data[CONF_CERTIFICATE_FILE] for entry in entries] == names
    assert all(entry.minor_version == 3 for entry in entries)
    assert _files(hass) == dict.fromkeys(sorted(names), _legacy_bytes(alice_pem))
    for name in names:
        assert certificate_path(hass, name).stat().st_mode & 0o777 == 0o600

    await hass.config_entries.async_remove(entries[0].entry_id)
    assert sorted(_files(hass)) == sorted(names[1:])


async def test_removal_keeps_a_file_another_entry_uses(
    hass: HomeAssistant, simulator: SettingsSimulator, alice_pem: bytes
) -> None:
    """Disabled entries are not set up, so not migrated: they may still share a file."""
    legacy_name = "a_b@example.com.pem"
    await _write(hass, legacy_name, alice_pem)
    first, second = (
        _legacy_entry(simulator.url, account, legacy_name, disabled_by=ConfigEntryDisabler.USER)
        for account in COLLIDING[:2]
    )
    first.add_to_hass(hass)
    second.add_to_hass(hass)

    await hass.config_entries.async_remove(first.entry_id)
    assert list(_files(hass)) == [legacy_name]
    await hass.config_entries.async_remove(second.entry_id)
    assert _files(hass) == {}


async def test_migration_from_a_newer_version(
    hass: HomeAssistant, simulator: SettingsSimulator, alice_pem: bytes
) -> None:
    """An entry stored by a newer version (a downgrade) is left as it is."""
    path = await _write(hass, certificate_file_name(ACCOUNT), alice_pem)
    entry = _legacy_entry(simulator.url, file_name=path.name)
    entry.add_to_hass(hass)
    hass.config_entries.async_update_entry(entry, version=2)
    assert not await hass.config_entries.async_setup(entry.entry_id)
    assert entry.state is ConfigEntryState.MIGRATION_ERROR
    assert path.exists()


async def test_migration_cannot_rename(
    hass: HomeAssistant,
    simulator: SettingsSimulator,
    alice_pem: bytes,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A file system that refuses the rename (cannot be produced as root): nothing changes."""
    path = await _write(hass, LEGACY_FILE, alice_pem)
    entry = _legacy_entry(simulator.url)
    entry.add_to_hass(hass)
    with patch(
        "custom_components.sipthor.move_certificate", side_effect=PermissionError("read-only")
    ):
        assert not await hass.config_entries.async_setup(entry.entry_id)
    assert entry.state is ConfigEntryState.MIGRATION_ERROR
    assert (entry.minor_version, entry.data[CONF_CERTIFICATE_FILE]) == (1, LEGACY_FILE)
    assert path.exists()
    assert "Cannot rename the certificate file of alice@example.com: read-only" in caplog.text
    assert "Traceback" not in caplog.text


async def test_migration_keeps_a_url_that_does_not_parse(
    hass: HomeAssistant, simulator: SettingsSimulator, alice_pem: bytes
) -> None:
    """A stored URL that never worked is migrated as it is: reconfiguration fixes it."""
    await _write(hass, LEGACY_FILE, alice_pem)
    entry = _legacy_entry("https://[::1/settings.phtml")
    await setup_entry(hass, entry)

    assert entry.state is ConfigEntryState.SETUP_RETRY
    assert entry.minor_version == 3
    assert entry.data[CONF_URL] == "https://[::1/settings.phtml"
    assert list(_files(hass)) == [certificate_file_name(ACCOUNT)]
