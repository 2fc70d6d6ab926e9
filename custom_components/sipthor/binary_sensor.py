"""Binary sensors: is anything registered, is each phone registered."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from homeassistant.components.binary_sensor import (
    BinarySensorDeviceClass,
    BinarySensorEntity,
    BinarySensorEntityDescription,
)
from homeassistant.const import Platform
from homeassistant.core import HomeAssistant
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback

from .api import Registration
from .coordinator import SipThorCoordinator
from .entity import RegistrationEntity, SipThorEntity, async_add_registration_entities
from .live_entities import async_live_binary_sensors
from .repairs import ISSUE_DND_SENSOR_REMOVED, async_remove_entities
from .sources import SipThorConfigEntry, SipThorRuntimeData

PARALLEL_UPDATES = 0


@dataclass(frozen=True, kw_only=True)
class SipThorBinarySensorEntityDescription[DataT](BinarySensorEntityDescription):
    """A binary sensor of the account: its coordinator, and how to read its data."""

    coordinator_fn: Callable[[SipThorRuntimeData], SipThorCoordinator[DataT]]
    is_on_fn: Callable[[DataT], bool | None]


BINARY_SENSORS: tuple[SipThorBinarySensorEntityDescription[Any], ...] = (
    SipThorBinarySensorEntityDescription[list[Registration]](
        key="registered",
        translation_key="registered",
        coordinator_fn=lambda runtime: runtime.registrations,
        device_class=BinarySensorDeviceClass.CONNECTIVITY,
        is_on_fn=bool,
    ),
)
# Up to 0.1.0 a binary sensor showed do not disturb, beside the switch that shows the same
# and changes it: two entities with one name and one state.
REMOVED_DND_SENSOR = "do_not_disturb"

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
    async_remove_entities(
        hass,
        entry,
        ISSUE_DND_SENSOR_REMOVED,
        [(Platform.BINARY_SENSOR, f"{entry.unique_id}_{REMOVED_DND_SENSOR}")],
    )
    runtime = entry.runtime_data
    async_add_entities(
        [
            *(
                SipThorBinarySensor(description.coordinator_fn(runtime), description)
                for description in BINARY_SENSORS
            ),
            *async_live_binary_sensors(hass, entry),
        ]
    )
    async_add_registration_entities(
        hass,
        entry,
        lambda device_id: (
            PhoneRegisteredBinarySensor(runtime.registrations, device_id, PHONE_REGISTERED),
        ),
        async_add_entities,
    )


class SipThorBinarySensor[DataT](SipThorEntity[SipThorCoordinator[DataT]], BinarySensorEntity):
    """A binary sensor of the SIP account."""

    entity_description: SipThorBinarySensorEntityDescription[DataT]

    @property
    def is_on(self) -> bool | None:
        """The state, read from the coordinator's data."""
        return self.entity_description.is_on_fn(self.coordinator.data)


class PhoneRegisteredBinarySensor(RegistrationEntity, BinarySensorEntity):
    """Whether one phone is registered now: off when it drops its registration."""

    @property
    def is_on(self) -> bool:
        """On while the phone appears in the registrations."""
        return self.registration is not None
