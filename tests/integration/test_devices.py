"""Registered phones as devices: they come, they go, they keep their device, the user may
remove them; each is reached through the account's device."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from freezegun.api import FrozenDateTimeFactory
from homeassistant.const import CONF_URL
from homeassistant.core import HomeAssistant
from homeassistant.helpers import device_registry as dr, entity_registry as er
from homeassistant.setup import async_setup_component
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry
from pytest_homeassistant_custom_component.typing import WebSocketGenerator

from custom_components.sipthor.const import DOMAIN
from custom_components.sipthor.phones import phone_model
from simulator import SettingsSimulator
from tests.conftest import ACCOUNT
from tests.integration.common import advance, setup_entry

DESK_PHONE = "binary_sensor.grandstream_ht802_registered"
DESK_TRANSPORT = "sensor.grandstream_ht802_transport"
NEW_PHONE = {
    "contact": "10.0.0.7:5062",
    "publicContact": "203.0.113.45:40001",
    "expires": 600,
    "user_agent": "Yealink SIP-T46U 108.86.0.45",
    "transport": "tcp",
}


def _phones(hass: HomeAssistant, entry: MockConfigEntry) -> dict[str, dr.DeviceEntry]:
    registry = dr.async_get(hass)
    return {
        device.name or "": device
        for device in dr.async_entries_for_config_entry(registry, entry.entry_id)
        if device.entry_type is None
    }


def _made_by(
    hass: HomeAssistant, entry: MockConfigEntry, manufacturer: str
) -> list[dr.DeviceEntry]:
    registry = dr.async_get(hass)
    return [
        device
        for device in dr.async_entries_for_config_entry(registry, entry.entry_id)
        if device.manufacturer == manufacturer
    ]


def _account_device(hass: HomeAssistant, entry: MockConfigEntry) -> dr.DeviceEntry:
    """The account's service device, found as every Home Assistant line allows.

    ``async_get_device`` and the registry's ``devices`` mapping are deprecated from
    2026.8, ``async_get_device_by_identifier`` missing before.
    """
    (device,) = (
        device
        for device in dr.async_entries_for_config_entry(dr.async_get(hass), entry.entry_id)
        if (DOMAIN, ACCOUNT) in device.identifiers
    )
    return device


def _registrations(simulator: SettingsSimulator) -> list[dict[str, Any]]:
    registrations: list[dict[str, Any]] = simulator.platform.accounts[ACCOUNT].registrations
    return registrations


# Real user agents, as phones and softphones send them: maker, model, firmware, name.
USER_AGENTS = [
    ("Yealink SIP-T46U 108.86.0.45", "Yealink", "T46U", "108.86.0.45", "Yealink T46U"),
    ("Yealink SIP VP-T49G 51.80.0.125", "Yealink", "VP-T49G", "51.80.0.125", "Yealink VP-T49G"),
    ("Yealink W60B 77.85.0.25", "Yealink", "W60B", "77.85.0.25", "Yealink W60B"),
    ("Grandstream HT802 1.0.53.2", "Grandstream", "HT802", "1.0.53.2", "Grandstream HT802"),
    ("Grandstream GXP2170 1.0.11.16", "Grandstream", "GXP2170", "1.0.11.16", "Grandstream GXP2170"),
    ("snom320/8.7.3.25.5", "Snom", "320", "8.7.3.25.5", "Snom 320"),
    ("snomD785/10.1.46.16", "Snom", "D785", "10.1.46.16", "Snom D785"),
    ("snom870-SIP 8.7.3.19", "Snom", "870", "8.7.3.19", "Snom 870"),
    ("Cisco/SPA504G-7.6.2c", "Cisco", "SPA504G", "7.6.2c", "Cisco SPA504G"),
    ("Cisco/SPA112-1.4.1(SR1)", "Cisco", "SPA112", "1.4.1(SR1)", "Cisco SPA112"),
    ("Linksys/SPA942-6.1.5(a)", "Linksys", "SPA942", "6.1.5(a)", "Linksys SPA942"),
    ("Linksys/PAP2T-5.1.6(LS)", "Linksys", "PAP2T", "5.1.6(LS)", "Linksys PAP2T"),
    ("Cisco-CP8841-3PCC/11.3.1", "Cisco", "CP8841", "11.3.1", "Cisco CP8841"),
    ("PolycomVVX-VVX_410-UA/5.9.5.0614", "Polycom", "VVX 410", "5.9.5.0614", "Polycom VVX 410"),
    (
        "PolycomSoundPointIP-SPIP_331-UA/4.0.15.1009",
        "Polycom",
        "SoundPoint IP 331",
        "4.0.15.1009",
        "Polycom SoundPoint IP 331",
    ),
    (
        "Gigaset N510 IP PRO/42.245.00.000.000",
        "Gigaset",
        "N510 IP PRO",
        "42.245.00.000.000",
        "Gigaset N510 IP PRO",
    ),
    (
        "AVM FRITZ!Box 7590 154.07.29 (Jan 26 2022)",
        "AVM",
        "FRITZ!Box 7590",
        "154.07.29",
        "FRITZ!Box 7590",
    ),
    (
        "AVM FRITZ!Box Fon WLAN 7390 84.06.83",
        "AVM",
        "FRITZ!Box Fon WLAN 7390",
        "84.06.83",
        "FRITZ!Box Fon WLAN 7390",
    ),
    ("Blink 6.0.2 (Linux)", "AG Projects", "Blink (Linux)", "6.0.2", "Blink (Linux)"),
    (
        "Blink Pro 4.6.0 (MacOSX)",
        "AG Projects",
        "Blink Pro (MacOSX)",
        "4.6.0",
        "Blink Pro (MacOSX)",
    ),
    (
        "Linphone/4.4.0 (belle-sip/4.4.0)",
        "Belledonne Communications",
        "Linphone",
        "4.4.0",
        "Linphone",
    ),
    (
        "LinphoneAndroid/4.6.14 (Pixel 6) LinphoneSDK/5.2.0 (tags/5.2.0)",
        "Belledonne Communications",
        "Linphone Android",
        "4.6.14",
        "Linphone Android",
    ),
    (
        "Linphone Desktop/4.4.10 (Ubuntu 22.04.1 LTS, Qt 5.15.2) LinphoneCore/5.1.64",
        "Belledonne Communications",
        "Linphone Desktop",
        "4.4.10",
        "Linphone Desktop",
    ),
    ("Z 5.6.1 v2.10.18.4", "Securax", "Zoiper 5", "5.6.1", "Zoiper 5"),
    ("Zoiper rv2.10.19.0", "Securax", "Zoiper", "2.10.19.0", "Zoiper"),
    ("Bria 5 release 5.9.1 stamp 104297", "CounterPath", "Bria 5", "5.9.1", "Bria 5"),
    ("Bria iOS release 6.4.3 stamp 4432", "CounterPath", "Bria iOS", "6.4.3", "Bria iOS"),
    ("X-Lite release 5.8.3 stamp 102651", "CounterPath", "X-Lite", "5.8.3", "X-Lite"),
    ("MicroSIP/3.21.3", "MicroSIP", "MicroSIP", "3.21.3", "MicroSIP"),
    ("OBIHAI/OBi202-3.2.2.5921", "Obihai", "OBi202", "3.2.2.5921", "Obihai OBi202"),
    ("Aastra 6737i/3.3.1.4322", "Aastra", "6737i", "3.3.1.4322", "Aastra 6737i"),
    ("Mitel 6867i/5.1.0.2051", "Mitel", "6867i", "5.1.0.2051", "Mitel 6867i"),
    ("Panasonic_KX-UT123/01.133 (0080f0c6e1b7)", "Panasonic", "KX-UT123", "01.133", None),
    ("Fanvil X6U 2.8.20.1 0c383e0ba9f1", "Fanvil", "X6U", "2.8.20.1", "Fanvil X6U"),
    ("Htek UC926 2.0.4.4.41 001fc1123456", "Htek", "UC926", "2.0.4.4.41", "Htek UC926"),
    ("AUDC-IPPhone/2.2.12.172 (405HD-Rev1; 00908F5A1B2C)", "AudioCodes", "405HD", None, None),
    ("Groundwire/6.2.3 (build 1234; iOS 15.1)", "Acrobits", "Groundwire", "6.2.3", "Groundwire"),
    ("Asterisk PBX 18.11.2", "Sangoma", "Asterisk", "18.11.2", "Asterisk"),
    ("baresip v2.0.2 (x86_64/linux)", "baresip", "baresip", "2.0.2", "baresip"),
    # Nobody's form: the text without its version numbers.
    ("SomePhone X100 1.2.3", None, "SomePhone X100", "1.2.3", "SomePhone X100"),
    ("Acme Softphone v2.1.3 (build 77)", None, "Acme Softphone", "2.1.3", "Acme Softphone"),
    ("", None, None, None, "SIP device"),
]


@pytest.mark.parametrize(
    ("user_agent", "manufacturer", "model", "firmware", "name"),
    USER_AGENTS,
    ids=[case[0] or "empty" for case in USER_AGENTS],
)
def test_maker_model_and_firmware_from_the_user_agent(
    user_agent: str, manufacturer: str | None, model: str | None, firmware: str | None, name: str
) -> None:
    phone = phone_model(user_agent)
    assert (phone.manufacturer, phone.model) == (manufacturer, model)
    if firmware is not None:
        assert phone.firmware == firmware
    assert phone.name == (name or f"{manufacturer} {model}")


@pytest.mark.parametrize(
    ("before", "after"),
    [
        ("Grandstream HT802 1.0.53.2", "Grandstream HT802 1.0.55.1"),
        ("Yealink SIP-T46U 108.86.0.45", "Yealink SIP-T46U 108.87.0.20"),
        ("Blink 6.0.2 (Linux)", "Blink 6.0.4 (Linux)"),
        ("SomePhone X100 1.2.3", "SomePhone X100 1.3"),
    ],
)
def test_a_firmware_update_keeps_the_family(before: str, after: str) -> None:
    assert phone_model(before).family == phone_model(after).family
    assert phone_model(before).firmware != phone_model(after).firmware


async def test_phones_are_devices_reached_through_the_account(
    hass: HomeAssistant, init_integration: MockConfigEntry, simulator: SettingsSimulator
) -> None:
    phones = _phones(hass, init_integration)
    assert set(phones) == {"Blink (Linux)", "Grandstream HT802"}
    desk = phones["Grandstream HT802"]
    assert (desk.manufacturer, desk.model, desk.sw_version) == ("Grandstream", "HT802", "1.0.53.2")
    blink = phones["Blink (Linux)"]
    assert (blink.manufacturer, blink.model, blink.sw_version) == (
        "AG Projects",
        "Blink (Linux)",
        "6.0.2",
    )
    account = _account_device(hass, init_integration)
    assert desk.via_device_id == account.id
    assert blink.via_device_id == account.id
    # The account's "Visit" link: the settings page it signs in to.
    assert account.configuration_url == init_integration.data[CONF_URL] == simulator.url


async def test_a_phone_keeps_its_device_across_a_firmware_update_and_a_new_lease(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    init_integration: MockConfigEntry,
    simulator: SettingsSimulator,
) -> None:
    """The desk phone updates its firmware and gets another address from DHCP.

    It used to become a new device, the old one left "off" for good.
    """
    desk = _phones(hass, init_integration)["Grandstream HT802"]
    registration = next(
        item for item in _registrations(simulator) if item["user_agent"].startswith("Grandstream")
    )
    registration |= {
        "user_agent": "Grandstream HT802 1.0.55.1",
        "contact": "198.51.100.77:5060",
        "publicContact": "198.51.100.77:5060",
    }
    await advance(hass, freezer, timedelta(seconds=61))

    phones = _phones(hass, init_integration)
    assert set(phones) == {"Blink (Linux)", "Grandstream HT802"}
    assert phones["Grandstream HT802"].id == desk.id
    assert phones["Grandstream HT802"].sw_version == "1.0.55.1"
    assert hass.states.get(DESK_PHONE).state == "on"


async def test_a_contact_instance_id_identifies_the_phone(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    init_integration: MockConfigEntry,
    simulator: SettingsSimulator,
) -> None:
    """A server that passes the registered Contact on: its +sip.instance (RFC 5626) stays.

    Even a new user agent (another app build on the same handset) is the same phone,
    and two handsets of one model are two phones.
    """
    instance = '<sip:alice@10.0.0.7:5062;transport=tcp>;+sip.instance="<urn:uuid:{}>"'
    first = NEW_PHONE | {"contact": instance.format("00000000-0000-0000-0000-0000000000a1")}
    second = NEW_PHONE | {"contact": instance.format("00000000-0000-0000-0000-0000000000b2")}
    _registrations(simulator)[:] = [first, second]
    await advance(hass, freezer, timedelta(seconds=61))
    yealinks = _made_by(hass, init_integration, "Yealink")
    assert len(yealinks) == 2

    first["user_agent"] = "Yealink SIP-T46U 108.87.0.20"
    await advance(hass, freezer, timedelta(seconds=61))
    after = _made_by(hass, init_integration, "Yealink")
    assert {device.id for device in after} == {device.id for device in yealinks}
    assert sorted(device.sw_version or "" for device in after) == ["108.86.0.45", "108.87.0.20"]


async def test_new_phone_appears_without_reload(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    init_integration: MockConfigEntry,
    simulator: SettingsSimulator,
) -> None:
    _registrations(simulator).append(NEW_PHONE)
    await advance(hass, freezer, timedelta(seconds=61))
    assert "Yealink T46U" in _phones(hass, init_integration)
    assert hass.states.get("binary_sensor.yealink_t46u_registered").state == "on"
    assert hass.states.get("sensor.alice_example_com_registered_devices").state == "3"


async def test_dropped_phone_reads_off_and_survives_restart(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    init_integration: MockConfigEntry,
    simulator: SettingsSimulator,
) -> None:
    registrations = _registrations(simulator)
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
    hass_ws_client: WebSocketGenerator,
) -> None:
    assert await async_setup_component(hass, "config", {})
    registry = dr.async_get(hass)
    desk = _phones(hass, init_integration)["Grandstream HT802"]
    client = await hass_ws_client(hass)

    async def remove(device: dr.DeviceEntry) -> bool:
        await client.send_json_auto_id(
            {
                "type": "config/device_registry/remove_config_entry",
                "config_entry_id": init_integration.entry_id,
                "device_id": device.id,
            }
        )
        return bool((await client.receive_json())["success"])

    assert not await remove(desk), "a registered phone stays"
    assert not await remove(_account_device(hass, init_integration)), "the account stays"
    registrations = _registrations(simulator)
    registrations[:] = [r for r in registrations if not r["user_agent"].startswith("Grandstream")]
    await advance(hass, freezer, timedelta(seconds=61))
    assert await remove(desk)
    assert registry.async_get(desk.id) is None


# -- phones known by an earlier release ---------------------------------------------------


def _old_phone(
    hass: HomeAssistant, entry: MockConfigEntry, old_id: str, user_agent: str, host: str
) -> tuple[dr.DeviceEntry, er.RegistryEntry]:
    """A phone as releases up to 0.1.0 registered it: id of user agent and address."""
    device = dr.async_get(hass).async_get_or_create(
        config_entry_id=entry.entry_id,
        identifiers={(DOMAIN, f"{ACCOUNT}_registration_{old_id}")},
        name=f"{user_agent} ({host})",
        model=user_agent,
    )
    slug = f"{user_agent} {host}".lower().replace(" ", "_").replace(".", "_")
    entity = er.async_get(hass).async_get_or_create(
        "binary_sensor",
        DOMAIN,
        f"{ACCOUNT}_{old_id}_registered",
        config_entry=entry,
        device_id=device.id,
        suggested_object_id=f"{slug}_registered",
    )
    return device, entity


@pytest.mark.usefixtures("stored_certificate")
async def test_phones_of_an_earlier_release_keep_their_devices_and_entities(
    hass: HomeAssistant,
    mock_config_entry: MockConfigEntry,
    simulator: SettingsSimulator,
) -> None:
    """The device and the entity IDs automations use stay; the identity is the family's.

    A firmware update had already split the desk phone into two devices: the older one
    (with the automations made first) becomes the phone; the other stays, off.
    """
    mock_config_entry.add_to_hass(hass)
    hass.config_entries.async_update_entry(mock_config_entry, minor_version=2)
    account = dr.async_get(hass).async_get_or_create(
        config_entry_id=mock_config_entry.entry_id,
        identifiers={(DOMAIN, ACCOUNT)},
        name=ACCOUNT,
        entry_type=dr.DeviceEntryType.SERVICE,
    )
    desk, desk_entity = _old_phone(
        hass, mock_config_entry, "0123456789ab", "Grandstream HT802 1.0.51.9", "198.51.100.20"
    )
    split, split_entity = _old_phone(
        hass, mock_config_entry, "ba9876543210", "Grandstream HT802 1.0.53.2", "198.51.100.21"
    )
    blink, blink_entity = _old_phone(
        hass, mock_config_entry, "a1b2c3d4e5f6", "Blink 6.0.2 (Linux)", "192.168.1.23"
    )
    assert await setup_entry(hass, mock_config_entry)
    assert mock_config_entry.minor_version == 3

    registry = dr.async_get(hass)
    for device, entity, name in (
        (desk, desk_entity, "Grandstream HT802"),
        (blink, blink_entity, "Blink (Linux)"),
    ):
        migrated = registry.async_get(device.id)
        assert migrated is not None
        assert migrated.name == name
        assert migrated.via_device_id == account.id
        assert hass.states.get(entity.entity_id).state == "on", entity.entity_id
    assert registry.async_get(desk.id).sw_version == "1.0.53.2"  # as registered now
    # The split-off device is left for the user to delete: off, and deletable.
    assert registry.async_get(split.id) is not None
    assert hass.states.get(split_entity.entity_id).state == "off"
    # No phone got a device of its own beside the migrated ones.
    assert len(_phones(hass, mock_config_entry)) == 3
