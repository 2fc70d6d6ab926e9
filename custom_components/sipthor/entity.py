"""Base entities: one service device per account, one device per registered phone."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable, Sequence
from typing import Any, Final, cast

from homeassistant.const import CONF_URL
from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers import device_registry as dr
from homeassistant.helpers.device_registry import DeviceEntryType, DeviceInfo
from homeassistant.helpers.entity import Entity, EntityDescription
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback
from homeassistant.helpers.update_coordinator import CoordinatorEntity

from .api import Registration
from .const import DOMAIN
from .coordinator import SipThorCoordinator
from .phones import phone_model, registration_id
from .sources import SipThorConfigEntry

REGISTRATION_PREFIX = "registration"
# Home Assistant 2026.8 names the device another is reached through by its registry id
# (via_device_id); before, by its identifier (via_device), which 2027.8 no longer takes.
_VIA_DEVICE_ID: Final = "via_device_id" in DeviceInfo.__annotations__
# Entities added per turn of the event loop: adding one costs Home Assistant about 0.2 ms
# of CPU time on a small machine, and the loop should not be held for more than a few.
ENTITIES_PER_TURN = 10


def account_identifier(entry: SipThorConfigEntry) -> tuple[str, str]:
    """The device-registry identifier of the account's service device."""
    return (DOMAIN, str(entry.unique_id))


def account_device_info(entry: SipThorConfigEntry) -> DeviceInfo:
    """The service device that stands for the SIP account.

    Its "Visit" link opens the settings page the account signs in to: the Digest page
    asks the browser for the SIP address and password.
    """
    return DeviceInfo(
        identifiers={account_identifier(entry)},
        name=entry.title,
        manufacturer="AG Projects",
        model="SIP Thor account",
        entry_type=DeviceEntryType.SERVICE,
        configuration_url=entry.data[CONF_URL],
    )


def registration_identifier(entry: SipThorConfigEntry, device_id: str) -> tuple[str, str]:
    """The device-registry identifier of a registered phone."""
    return (DOMAIN, f"{entry.unique_id}_{REGISTRATION_PREFIX}_{device_id}")


def registration_device_info(
    hass: HomeAssistant, entry: SipThorConfigEntry, device_id: str, registration: Registration
) -> DeviceInfo:
    """A registered phone, as a device of its own, reached through the account."""
    phone = phone_model(registration.user_agent)
    info: dict[str, Any] = {
        "identifiers": {registration_identifier(entry, device_id)},
        "name": phone.name,
        "manufacturer": phone.manufacturer,
        "model": phone.model,
        "sw_version": phone.firmware,
    }
    if _VIA_DEVICE_ID:
        info["via_device_id"] = async_add_account_device(hass, entry).id
    else:
        info["via_device"] = account_identifier(entry)
    return cast("DeviceInfo", info)


def registration_id_of_device(entry: SipThorConfigEntry, device: dr.DeviceEntry) -> str | None:
    """The phone a device-registry entry stands for, if it is one of this account's."""
    prefix = f"{entry.unique_id}_{REGISTRATION_PREFIX}_"
    for domain, identifier in device.identifiers:
        if domain == DOMAIN and identifier.startswith(prefix):
            return identifier.removeprefix(prefix)
    return None


async def async_let_due_work_run() -> None:
    """Resume only after the callbacks and I/O that are due now.

    One ``asyncio.sleep(0)`` resumes first in the loop's next turn, ahead of them; the
    second one queues behind them.
    """
    await asyncio.sleep(0)
    await asyncio.sleep(0)


async def async_add_entities_in_turns(
    add: AddConfigEntryEntitiesCallback, entities: Sequence[Entity]
) -> None:
    """Add ``entities`` a few per turn of the event loop, letting other work in between.

    Other work also runs after the last few, before the caller adds more.
    """
    for start in range(0, len(entities), ENTITIES_PER_TURN):
        add(entities[start : start + ENTITIES_PER_TURN])
        await async_let_due_work_run()


@callback
def async_add_registration_entities(
    hass: HomeAssistant,
    entry: SipThorConfigEntry,
    create: Callable[[str], Iterable[Entity]],
    add: AddConfigEntryEntitiesCallback,
) -> None:
    """Add a phone's entities when it first registers, and at start for known phones.

    Phones seen before live in the device registry; their entities come back at
    start-up even while they are not registered, so that "registered" reads off
    instead of vanishing (what an automation about a dropped desk phone needs).
    """
    coordinator = entry.runtime_data.registrations
    added: set[str] = set()
    registry = dr.async_get(hass)

    @callback
    def add_new(device_ids: set[str]) -> None:
        new = device_ids - added
        added.update(new)
        add([entity for device_id in sorted(new) for entity in create(device_id)])

    @callback
    def on_update() -> None:
        if not coordinator.usable:
            return
        registrations = {registration_id(reg): reg for reg in reversed(coordinator.data)}
        add_new(set(registrations))
        # A phone known before may come back with new firmware: its device shows it.
        for device_id, registration in registrations.items():
            if device_id in added:
                registry.async_get_or_create(
                    config_entry_id=entry.entry_id,
                    **registration_device_info(hass, entry, device_id, registration),
                )

    add_new(
        {
            device_id
            for device in dr.async_entries_for_config_entry(registry, entry.entry_id)
            if (device_id := registration_id_of_device(entry, device))
        }
    )
    on_update()
    entry.async_on_unload(coordinator.async_add_listener(on_update))


@callback
def async_add_account_device(hass: HomeAssistant, entry: SipThorConfigEntry) -> dr.DeviceEntry:
    """The account's device, created before its phones name it as the way to reach them.

    Looked up the way every Home Assistant line offers: ``async_get_device`` by
    identifier is deprecated since 2026.8, its successor missing before.
    """
    return dr.async_get(hass).async_get_or_create(
        config_entry_id=entry.entry_id, **account_device_info(entry)
    )


class SipThorEntity[CoordinatorT: SipThorCoordinator[Any]](CoordinatorEntity[CoordinatorT]):
    """An entity of a SIP Thor account, showing the source of its coordinator.

    Available only while the account reaches its settings page and the source has been
    read (and its last read worked): the state and attributes of a subclass are asked
    for only then, so they read the coordinator's data as its type says it is.
    """

    _attr_has_entity_name = True

    def __init__(self, coordinator: CoordinatorT, description: EntityDescription) -> None:
        """Show the coordinator's source as ``description`` says."""
        super().__init__(coordinator)
        entry = coordinator.config_entry
        self.entity_description = description
        self._attr_unique_id = f"{entry.unique_id}_{description.key}"
        self._attr_device_info = account_device_info(entry)

    @property
    def available(self) -> bool:
        """Unavailable until fetched, while failing, and when the server lacks it."""
        return self.coordinator.usable


class RegistrationEntity(SipThorEntity[SipThorCoordinator[list[Registration]]]):
    """An entity of one registered phone, attached to that phone's device."""

    def __init__(
        self,
        coordinator: SipThorCoordinator[list[Registration]],
        device_id: str,
        description: EntityDescription,
    ) -> None:
        """Attach to the phone's device, creating it when the phone is registered now."""
        super().__init__(coordinator, description)
        entry = coordinator.config_entry
        self.device_id = device_id
        self._attr_unique_id = f"{entry.unique_id}_{device_id}_{description.key}"
        registration = self.registration
        self._attr_device_info = (
            registration_device_info(coordinator.hass, entry, device_id, registration)
            if registration
            # A phone known from an earlier registration: link to its device as is.
            else DeviceInfo(identifiers={registration_identifier(entry, device_id)})
        )

    @property
    def registration(self) -> Registration | None:
        """The phone's current registration, None while it is not registered.

        Setup reads the registrations before any entity exists.
        """
        return next(
            (
                registration
                for registration in self.coordinator.data
                if registration_id(registration) == self.device_id
            ),
            None,
        )
