"""Registered phones as devices: they come, they go, the user may remove them."""

from __future__ import annotations

from datetime import timedelta

from freezegun.api import FrozenDateTimeFactory
from homeassistant.core import HomeAssistant
from homeassistant.helpers import device_registry as dr
from homeassistant.setup import async_setup_component
from pytest_homeassistant_custom_component.common import MockConfigEntry

from simulator import SettingsSimulator
from tests.conftest import ACCOUNT
from tests.integration.common import advance

DESK_PHONE = "binary_sensor.grandstream_ht802_1_0_53_2_198_51_100_20_registered"
DESK_TRANSPORT = "sensor.grandstream_ht802_1_0_53_2_198_51_100_20_transport"
NEW_PHONE = {
    "contact": "10.0.0.7:5062",
    "publicContact": "203.0.113.45:40001",
    "expires": 600,
    "user_agent": "Yealink SIP-T46U 108.86.0.45",
    "transport": "tcp",
}


def _phones(hass: HomeAssistant, entry: MockConfigEntry) -> set[str]:
    registry = dr.async_get(hass)
    return {
        device.name or ""
        for device in dr.async_entries_for_config_entry(registry, entry.entry_id)
        if device.entry_type is None
    }


async def test_phones_are_devices(hass: HomeAssistant, init_integration: MockConfigEntry) -> None:
    assert _phones(hass, init_integration) == {
        "Blink 6.0.2 (Linux) (192.168.1.23)",
        "Grandstream HT802 1.0.53.2 (198.51.100.20)",
    }
    assert hass.states.get(DESK_PHONE).state == "on"
    assert hass.states.get(DESK_TRANSPORT).state == "udp"


async def test_new_phone_appears_without_reload(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    init_integration: MockConfigEntry,
    simulator: SettingsSimulator,
) -> None:
    simulator.platform.accounts[ACCOUNT].registrations.append(NEW_PHONE)
    await advance(hass, freezer, timedelta(seconds=61))
    assert "Yealink SIP-T46U 108.86.0.45 (10.0.0.7)" in _phones(hass, init_integration)
    assert (
        hass.states.get("binary_sensor.yealink_sip_t46u_108_86_0_45_10_0_0_7_registered").state
        == "on"
    )
    assert hass.states.get("sensor.alice_example_com_registered_devices").state == "3"


async def test_dropped_phone_reads_off_and_survives_restart(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    init_integration: MockConfigEntry,
    simulator: SettingsSimulator,
) -> None:
    registrations = simulator.platform.accounts[ACCOUNT].registrations
    registrations[:] = [r for r in registrations if not r["user_agent"].startswith("Grandstream")]
    await advance(hass, freezer, timedelta(seconds=61))
    assert hass.states.get(DESK_PHONE).state == "off"
    assert hass.states.get(DESK_TRANSPORT).state == "unknown"

    assert await hass.config_entries.async_reload(init_integration.entry_id)
    await hass.async_block_till_done(wait_background_tasks=True)
    # Still there, still off: an automation on it keeps working.
    assert hass.states.get(DESK_PHONE).state == "off"


async def test_only_unregistered_phones_can_be_removed(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    init_integration: MockConfigEntry,
    simulator: SettingsSimulator,
    hass_ws_client,
) -> None:
    assert await async_setup_component(hass, "config", {})
    registry = dr.async_get(hass)
    desk = next(
        device
        for device in dr.async_entries_for_config_entry(registry, init_integration.entry_id)
        if (device.name or "").startswith("Grandstream")
    )
    client = await hass_ws_client(hass)

    async def remove() -> bool:
        await client.send_json_auto_id(
            {
                "type": "config/device_registry/remove_config_entry",
                "config_entry_id": init_integration.entry_id,
                "device_id": desk.id,
            }
        )
        return bool((await client.receive_json())["success"])

    assert not await remove(), "a registered phone stays"
    registrations = simulator.platform.accounts[ACCOUNT].registrations
    registrations[:] = [r for r in registrations if not r["user_agent"].startswith("Grandstream")]
    await advance(hass, freezer, timedelta(seconds=61))
    assert await remove()
    assert registry.async_get(desk.id) is None
