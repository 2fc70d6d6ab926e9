"""Binary sensors: is anything registered, is each phone registered, is DND on."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from homeassistant.components.binary_sensor import (
    BinarySensorDeviceClass,
    BinarySensorEntity,
    BinarySensorEntityDescription,
)
from homeassistant.core import HomeAssistant
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback

from .coordinator import SipThorConfigEntry, SipThorFastCoordinator, Source
from .entity import RegistrationEntity, SipThorEntity, async_add_registration_entities

PARALLEL_UPDATES = 0


@dataclass(frozen=True, kw_only=True)
class SipThorBinarySensorEntityDescription(BinarySensorEntityDescription):
    """A binary sensor of the account."""

    source: Source
    is_on_fn: Callable[[SipThorFastCoordinator], bool | None]


BINARY_SENSORS: tuple[SipThorBinarySensorEntityDescription, ...] = (
    SipThorBinarySensorEntityDescription(
        key="registered",
        translation_key="registered",
        source=Source.REGISTRATIONS,
        device_class=BinarySensorDeviceClass.CONNECTIVITY,
        is_on_fn=lambda coordinator: bool(coordinator.data.registrations),
    ),
    SipThorBinarySensorEntityDescription(
        key="do_not_disturb",
        translation_key="do_not_disturb",
        source=Source.ACCEPT_RULES,
        is_on_fn=lambda coordinator: coordinator.dnd_active(),
    ),
)

PHONE_REGISTERED = BinarySensorEntityDescription(
    key="registered",
    translation_key="phone_registered",
    device_class=BinarySensorDeviceClass.CONNECTIVITY,
)


async def async_setup_entry(
    hass: HomeAssistant,
    entry: SipThorConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    """Add the account's binary sensors and one per registered phone."""
    async_add_entities(SipThorBinarySensor(entry, description) for description in BINARY_SENSORS)
    async_add_registration_entities(
        hass,
        entry,
        lambda device_id: (PhoneRegisteredBinarySensor(entry, device_id, PHONE_REGISTERED),),
        async_add_entities,
    )


class SipThorBinarySensor(SipThorEntity, BinarySensorEntity):
    """A binary sensor of the SIP account."""

    entity_description: SipThorBinarySensorEntityDescription

    def __init__(
        self, entry: SipThorConfigEntry, description: SipThorBinarySensorEntityDescription
    ) -> None:
        """Create the binary sensor."""
        super().__init__(entry, description, description.source)
        self._fast = entry.runtime_data.fast

    @property
    def is_on(self) -> bool | None:
        """The state, from the fast coordinator."""
        return self.entity_description.is_on_fn(self._fast)


class PhoneRegisteredBinarySensor(RegistrationEntity, BinarySensorEntity):
    """Whether one phone is registered now: off when it drops its registration."""

    @property
    def is_on(self) -> bool:
        """On while the phone appears in the registrations."""
        return self.registration is not None
