"""The SIP Thor integration: a SIP Thor (SIP2SIP, AG Projects) account."""

from __future__ import annotations

import asyncio
from functools import partial

from homeassistant.const import CONF_URL, Platform
from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers import (
    config_validation as cv,
    device_registry as dr,
    entity_registry as er,
)
from homeassistant.helpers.typing import ConfigType
from homeassistant.util.hass_dict import HassKey
from yarl import URL

from .account import SipThorAccount
from .certificate import (
    certificate_file_name,
    certificate_path,
    move_certificate,
    remove_certificate,
)
from .client_factory import async_client_of_entry
from .const import (
    CONF_ACCOUNT,
    CONF_CERTIFICATE_FILE,
    DOMAIN,
    LOGGER,
    OPTIONS_NEED_UPDATE_LISTENER,
    Source,
)
from .entity import (
    async_add_account_device,
    async_let_due_work_run,
    registration_id_of_device,
    registration_identifier,
)
from .history_statistics import async_setup_history_statistics
from .live import async_create_live
from .phones import id_of_family, phone_model, registration_id
from .repairs import async_check_certificate_expiry, async_delete_issues
from .services import async_setup_services
from .sources import SipThorConfigEntry, create_runtime_data
from .store import SipThorStore

PLATFORMS = [
    Platform.BINARY_SENSOR,
    Platform.EVENT,
    Platform.SELECT,
    Platform.SENSOR,
    Platform.SWITCH,
]
CONFIG_SCHEMA = cv.config_entry_only_config_schema(DOMAIN)
# Config entry 1.2: certificate files named with a hash of the account.
_MINOR_VERSION_HASHED_FILE_NAMES = 2
# Config entry 1.3: a phone is identified by its family, not its firmware and address.
_MINOR_VERSION_PHONE_FAMILIES = 3
# Entries migrate one at a time: two of them may still share one certificate file.
_MIGRATION_LOCK: HassKey[asyncio.Lock] = HassKey(f"{DOMAIN}_migration_lock")


async def async_setup(hass: HomeAssistant, config: ConfigType) -> bool:
    """Register the actions, which name their account."""
    async_setup_services(hass)
    return True


async def async_setup_entry(hass: HomeAssistant, entry: SipThorConfigEntry) -> bool:
    """Build the account (SIP password or certificate) and start polling."""
    store = SipThorStore(hass, entry.entry_id)
    (client, certificate), _ = await asyncio.gather(
        async_client_of_entry(hass, entry.data), store.async_load()
    )
    account = SipThorAccount(hass, entry, client, store, certificate)
    entry.async_on_unload(account.async_stop)
    runtime = entry.runtime_data = create_runtime_data(account)
    # Before the entities: which live entities exist depends on it.
    account.live = async_create_live(
        hass, entry, lambda: account.async_request_refresh(Source.CALLS), runtime.voicemail
    )
    # One round trip: the three setup sources are asked at once.
    await account.async_first_refresh(runtime.setup_coordinators)
    async_check_certificate_expiry(hass, entry, certificate)
    if OPTIONS_NEED_UPDATE_LISTENER:
        entry.async_on_unload(entry.add_update_listener(_async_reload))
    async_add_account_device(hass, entry)
    # Adding every entity in one go holds the event loop for several milliseconds (about
    # 6 ms for 30 entities on a small machine): one platform at a time, and what became
    # due meanwhile runs in between (the sensors also come a few at a time). Then every
    # source an entity shows and setup did not read is read, all at once; its entities
    # are unavailable until it arrives.
    for platform in PLATFORMS:
        await hass.config_entries.async_forward_entry_setups(entry, [platform])
        await async_let_due_work_run()
    async_setup_history_statistics(hass, entry)
    account.async_start()
    if account.live is not None:
        await account.live.async_start()
    return True


async def _async_reload(hass: HomeAssistant, entry: SipThorConfigEntry) -> None:
    """Apply new options (Home Assistant before 2025.8 has no OptionsFlowWithReload).

    The listener hears every change of the entry; reauthentication and reconfiguration
    reload it themselves, so only a change of the options reloads here.
    """
    if entry.options != entry.runtime_data.options:
        await hass.config_entries.async_reload(entry.entry_id)


async def async_unload_entry(hass: HomeAssistant, entry: SipThorConfigEntry) -> bool:
    """Stop polling and remove the entities."""
    return await hass.config_entries.async_unload_platforms(entry, PLATFORMS)


async def async_migrate_entry(hass: HomeAssistant, entry: SipThorConfigEntry) -> bool:
    """Bring an entry stored by an older version up to date."""
    if entry.version > 1:
        return False  # stored by a newer version: downgraded
    if entry.minor_version < _MINOR_VERSION_HASHED_FILE_NAMES:
        async with hass.data.setdefault(_MIGRATION_LOCK, asyncio.Lock()):
            if not await _async_migrate_to_1_2(hass, entry):
                return False
    if entry.minor_version < _MINOR_VERSION_PHONE_FAMILIES:
        await _async_migrate_to_1_3(hass, entry)
    return True


async def _async_migrate_to_1_2(hass: HomeAssistant, entry: SipThorConfigEntry) -> bool:
    """Give the certificate file a name no other account shares; clean the URL.

    Before 1.2 ``a/b@x``, ``a_b@x`` and ``a!b@x`` all used ``a_b@x.pem``. An entry that
    still shares its file with another gets a copy, so that neither loses it now or
    when the other is removed. The form now refuses user info, a query and a fragment
    in the URL; an older entry may hold them, and the password would be logged and
    sent with every request.
    """
    old_name = entry.data[CONF_CERTIFICATE_FILE]
    new_name = certificate_file_name(entry.data[CONF_ACCOUNT])
    shared = any(
        other.data.get(CONF_CERTIFICATE_FILE) == old_name
        for other in hass.config_entries.async_entries(DOMAIN)
        if other.entry_id != entry.entry_id
    )
    try:
        await hass.async_add_executor_job(
            partial(
                move_certificate,
                certificate_path(hass, old_name),
                certificate_path(hass, new_name),
                keep_source=shared,
            )
        )
    except OSError as err:
        LOGGER.error("Cannot rename the certificate file of %s: %s", entry.title, err)
        return False
    data = {**entry.data, CONF_CERTIFICATE_FILE: new_name}
    try:
        url = URL(entry.data[CONF_URL])
    except ValueError:
        pass  # never worked; reconfiguration fixes it
    else:
        page = url.with_user(None).with_query(None).with_fragment(None)
        if page != url:
            LOGGER.warning(
                "Removed the user name, password, query or fragment from the settings page "
                "URL of %s: %s",
                entry.title,
                page,
            )
            data[CONF_URL] = str(page)
    hass.config_entries.async_update_entry(
        entry, data=data, minor_version=_MINOR_VERSION_HASHED_FILE_NAMES
    )
    return True


async def _async_migrate_to_1_3(hass: HomeAssistant, entry: SipThorConfigEntry) -> None:
    """Identify each known phone by its family: the same device after a firmware update.

    Before 1.3 a phone's id was a hash of its whole user agent and its private address,
    so a firmware update or a new DHCP lease made a new device and left the old one
    off. The device keeps its registry id (automations and scripts name it by that) and
    gets the identifier of its family; its entities get the unique IDs that go with it,
    keeping their entity IDs. Where updates already split one phone into several
    devices, the oldest takes the family's identifier; the others stay as they are, off,
    for the user to delete.
    """
    devices = dr.async_get(hass)
    renamed: dict[str, str] = {}
    for device in dr.async_entries_for_config_entry(devices, entry.entry_id):
        old_id = registration_id_of_device(entry, device)
        if old_id is None:
            continue
        # The device's model held the whole user agent (none: it sent none).
        user_agent = device.model or ""
        new_id = id_of_family(user_agent)
        if new_id in renamed.values():
            continue
        renamed[old_id] = new_id
        phone = phone_model(user_agent)
        devices.async_update_device(
            device.id,
            new_identifiers={registration_identifier(entry, new_id)},
            name=phone.name,
            manufacturer=phone.manufacturer,
            model=phone.model,
            sw_version=phone.firmware,
            # An entry with phones has a settings page URL the account device can link to.
            via_device_id=async_add_account_device(hass, entry).id,
        )

    @callback
    def new_unique_id(entity: er.RegistryEntry) -> dict[str, str] | None:
        device_id, _, key = entity.unique_id.removeprefix(f"{entry.unique_id}_").partition("_")
        if device_id not in renamed:
            return None
        return {"new_unique_id": f"{entry.unique_id}_{renamed[device_id]}_{key}"}

    if renamed:
        await er.async_migrate_entries(hass, entry.entry_id, new_unique_id)
        LOGGER.info("%s: %d phones now identified by their family", entry.title, len(renamed))
    hass.config_entries.async_update_entry(entry, minor_version=_MINOR_VERSION_PHONE_FAMILIES)


async def async_remove_entry(hass: HomeAssistant, entry: SipThorConfigEntry) -> None:
    """Delete the private certificate file and the remembered state."""
    file_name = entry.data.get(CONF_CERTIFICATE_FILE)
    # Entries not migrated yet (a disabled one is not set up) may still share a file.
    if file_name is not None and not any(
        other.data.get(CONF_CERTIFICATE_FILE) == file_name
        for other in hass.config_entries.async_entries(DOMAIN)
        if other.entry_id != entry.entry_id
    ):
        await hass.async_add_executor_job(remove_certificate, certificate_path(hass, file_name))
    await SipThorStore(hass, entry.entry_id).async_remove()
    async_delete_issues(hass, entry.entry_id)


async def async_remove_config_entry_device(
    hass: HomeAssistant, entry: SipThorConfigEntry, device: dr.DeviceEntry
) -> bool:
    """Let the user delete a phone that is no longer registered; never the account."""
    device_id = registration_id_of_device(entry, device)
    if device_id is None:
        return False
    registered = {registration_id(reg) for reg in entry.runtime_data.registrations.data}
    return device_id not in registered
