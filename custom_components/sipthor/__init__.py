"""The SIP Thor integration: a SIP Thor (SIP2SIP, AG Projects) account."""

from __future__ import annotations

from functools import partial

from homeassistant.const import Platform
from homeassistant.core import HomeAssistant
from homeassistant.exceptions import ConfigEntryAuthFailed
from homeassistant.helpers import config_validation as cv, device_registry as dr
from homeassistant.helpers.aiohttp_client import async_get_clientsession
from homeassistant.helpers.typing import ConfigType

from .api import SipThorClient, SipThorCredentialsError, create_ssl_context
from .certificate import certificate_path, read_certificate, remove_certificate
from .config_flow import OPTIONS_NEED_UPDATE_LISTENER
from .const import CONF_ACCOUNT, CONF_CERTIFICATE_FILE, CONF_URL, CONF_VERIFY_SSL, DOMAIN
from .coordinator import (
    SipThorConfigEntry,
    SipThorFastCoordinator,
    SipThorRuntimeData,
    SipThorSlowCoordinator,
)
from .entity import registration_id, registration_id_of_device
from .repairs import async_check_certificate_expiry
from .services import async_setup_services
from .store import SipThorStore

PLATFORMS = [
    Platform.BINARY_SENSOR,
    Platform.EVENT,
    Platform.SENSOR,
    Platform.SWITCH,
]
CONFIG_SCHEMA = cv.config_entry_only_config_schema(DOMAIN)


async def async_setup(hass: HomeAssistant, config: ConfigType) -> bool:
    """Register the actions, which name their account."""
    async_setup_services(hass)
    return True


async def async_setup_entry(hass: HomeAssistant, entry: SipThorConfigEntry) -> bool:
    """Load the certificate, build the client and start polling."""
    path = certificate_path(hass, entry.data[CONF_CERTIFICATE_FILE])
    try:
        credentials = await hass.async_add_executor_job(read_certificate, path)
    except (OSError, SipThorCredentialsError) as err:
        # A missing, unreadable or expired certificate: only a new one helps.
        raise ConfigEntryAuthFailed(
            translation_domain=DOMAIN,
            translation_key="certificate_unusable",
            translation_placeholders={"error": str(err)},
        ) from err
    # Loading CA stores and keys blocks: the executor builds the entry's own context.
    ssl_context = await hass.async_add_executor_job(
        partial(create_ssl_context, credentials, verify_server=entry.data[CONF_VERIFY_SSL])
    )
    client = SipThorClient(
        entry.data[CONF_ACCOUNT],
        ssl_context,
        url=entry.data[CONF_URL],
        session=async_get_clientsession(hass),
    )
    store = SipThorStore(hass, entry.entry_id)
    await store.async_load()
    entry.async_on_unload(store.async_flush)
    fast = SipThorFastCoordinator(hass, entry, client, store)
    slow = SipThorSlowCoordinator(hass, entry, client)
    entry.runtime_data = SipThorRuntimeData(
        client=client,
        certificate=credentials.info,
        store=store,
        fast=fast,
        slow=slow,
        options=dict(entry.options),
    )
    await fast.async_config_entry_first_refresh()
    await slow.async_config_entry_first_refresh()
    async_check_certificate_expiry(hass, entry)
    if OPTIONS_NEED_UPDATE_LISTENER:
        entry.async_on_unload(entry.add_update_listener(_async_reload))
    await hass.config_entries.async_forward_entry_setups(entry, PLATFORMS)
    # The entities have now said what they show; setup fetched what those enabled by
    # default show, so fetch what the user enabled on top of them.
    await fast.async_fetch_missing()
    await slow.async_fetch_missing()
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


async def async_remove_entry(hass: HomeAssistant, entry: SipThorConfigEntry) -> None:
    """Delete the private certificate file and the remembered state."""
    path = certificate_path(hass, entry.data[CONF_CERTIFICATE_FILE])
    await hass.async_add_executor_job(remove_certificate, path)
    await SipThorStore(hass, entry.entry_id).async_remove()


async def async_remove_config_entry_device(
    hass: HomeAssistant, entry: SipThorConfigEntry, device: dr.DeviceEntry
) -> bool:
    """Let the user delete a phone that is no longer registered; never the account."""
    device_id = registration_id_of_device(entry, device)
    if device_id is None:
        return False
    registered = {registration_id(reg) for reg in entry.runtime_data.fast.data.registrations}
    return device_id not in registered
