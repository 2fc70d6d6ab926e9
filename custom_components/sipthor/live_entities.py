"""The entities of the live events: call state, ringing, voicemail, the channel itself.

They exist while the entry has live events (live.py) and show what the SIP channel
says, pushed: no poll. Each is unavailable while the subscription it shows is not
active (the platform does not offer it, the connection is lost, the password was
refused); the Live events sensor is always available and says why.

Without live events (turned off, no SIP password), a setup removes the ones an earlier
setup registered, as core removes the entities an entry's options no longer provide:
otherwise they would stay unavailable for good. The registry remembers a removed entity
by its unique ID, and gives it back its registry ID (device automations) and, from Home
Assistant 2025.6, its entity ID, name, icon, area, labels and the rest when live events
come back. Disabling them instead would keep those on older releases too, but it lists
entities that cannot work, and enabling them again reloads the entry half a minute later
(Home Assistant reloads an entry whose entities' disabled state changed).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from homeassistant.components.binary_sensor import BinarySensorEntity, BinarySensorEntityDescription
from homeassistant.components.sensor import (
    SensorDeviceClass,
    SensorEntity,
    SensorEntityDescription,
    SensorStateClass,
)
from homeassistant.const import EntityCategory, Platform
from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers import entity_registry as er
from homeassistant.helpers.entity import Entity, EntityDescription
from homeassistant.helpers.typing import StateType

from .api.sip import CallState, ChannelState, EventPackage, MessageSummary
from .const import DOMAIN
from .entity import account_device_info
from .live import LiveEvents
from .sources import SipThorConfigEntry


def _unique_id(entry: SipThorConfigEntry, description: EntityDescription) -> str:
    return f"{entry.unique_id}_{description.key}"


class LiveEntity(Entity):
    """An entity of the account's live events; pushed by the channel."""

    _attr_has_entity_name = True
    _attr_should_poll = False
    # The subscription whose state the entity shows (None: the channel's own).
    package: EventPackage | None = None

    def __init__(
        self, entry: SipThorConfigEntry, live: LiveEvents, description: EntityDescription
    ) -> None:
        """Show ``live`` as ``description`` says, on the account's device."""
        self.live = live
        self.entity_description = description
        self._attr_unique_id = _unique_id(entry, description)
        self._attr_device_info = account_device_info(entry)

    async def async_added_to_hass(self) -> None:
        """Write the state at each change the channel announces."""
        await super().async_added_to_hass()
        self.async_on_remove(self.live.async_add_listener(self.async_write_ha_state))

    @property
    def available(self) -> bool:
        """While the subscription it shows is active."""
        return self.package is None or self.live.active(self.package)


@dataclass(frozen=True, kw_only=True)
class LiveSensorEntityDescription(SensorEntityDescription):
    """A sensor of the live events: its package and how to read the channel."""

    package: EventPackage | None
    value_fn: Callable[[LiveEvents], StateType]
    attributes_fn: Callable[[LiveEvents], dict[str, Any] | None] = lambda _live: None


@dataclass(frozen=True, kw_only=True)
class LiveBinarySensorEntityDescription(BinarySensorEntityDescription):
    """A binary sensor of the live events: its package and how to read the channel."""

    package: EventPackage
    is_on_fn: Callable[[LiveEvents], bool | None]


def _new_messages(summary: MessageSummary | None) -> int | None:
    """New voice messages; 0 when the mailbox says none wait, unknown without counts."""
    if summary is None:
        return None
    if summary.voice is not None:
        return summary.voice.new
    return None if summary.messages_waiting else 0


def _message_attributes(live: LiveEvents) -> dict[str, Any] | None:
    summary = live.message_summary
    if summary is None or summary.voice is None:
        return None
    voice = summary.voice
    return {
        "old_messages": voice.old,
        "urgent_new_messages": voice.urgent_new,
        "urgent_old_messages": voice.urgent_old,
    }


def _status_attributes(live: LiveEvents) -> dict[str, Any]:
    """Each subscription's state, why it is not active, where it is; the last NOTIFY.

    Where: whose address (the account's, its mailbox's, the voicemail URI), never the
    address itself.
    """
    status = live.status
    attributes: dict[str, Any] = {}
    for package, subscription in status.subscriptions.items():
        name = package.value.replace("-", "_")
        attributes[name] = subscription.state.value
        attributes[f"{name}_reason"] = subscription.reason.value if subscription.reason else None
        attributes[f"{name}_at"] = subscription.target.value if subscription.target else None
    last_notify = status.last_notify
    attributes["last_notify"] = last_notify.isoformat() if last_notify else None
    return attributes


LIVE_SENSORS: tuple[LiveSensorEntityDescription, ...] = (
    LiveSensorEntityDescription(
        key="call_state",
        translation_key="call_state",
        device_class=SensorDeviceClass.ENUM,
        options=[state.value for state in CallState],
        package=EventPackage.DIALOG,
        value_fn=lambda live: live.call_state.value,
    ),
    LiveSensorEntityDescription(
        key="voicemail_messages",
        translation_key="voicemail_messages",
        state_class=SensorStateClass.MEASUREMENT,
        package=EventPackage.MESSAGE_SUMMARY,
        value_fn=lambda live: _new_messages(live.message_summary),
        attributes_fn=_message_attributes,
    ),
    LiveSensorEntityDescription(
        key="live_events",
        translation_key="live_events",
        device_class=SensorDeviceClass.ENUM,
        entity_category=EntityCategory.DIAGNOSTIC,
        options=[state.value for state in ChannelState],
        package=None,
        value_fn=lambda live: live.status.state.value,
        attributes_fn=_status_attributes,
    ),
)

LIVE_BINARY_SENSORS: tuple[LiveBinarySensorEntityDescription, ...] = (
    LiveBinarySensorEntityDescription(
        key="ringing",
        translation_key="ringing",
        package=EventPackage.DIALOG,
        is_on_fn=lambda live: live.call_state is CallState.RINGING,
    ),
    LiveBinarySensorEntityDescription(
        key="message_waiting",
        translation_key="message_waiting",
        package=EventPackage.MESSAGE_SUMMARY,
        is_on_fn=lambda live: (
            live.message_summary.messages_waiting if live.message_summary else None
        ),
    ),
)


class LiveSensor(LiveEntity, SensorEntity):
    """A sensor of the live events."""

    entity_description: LiveSensorEntityDescription

    def __init__(
        self, entry: SipThorConfigEntry, live: LiveEvents, description: LiveSensorEntityDescription
    ) -> None:
        """Show ``description``'s part of the channel."""
        super().__init__(entry, live, description)
        self.package = description.package

    @property
    def native_value(self) -> StateType:
        """The state, read from the channel."""
        return self.entity_description.value_fn(self.live)

    @property
    def extra_state_attributes(self) -> dict[str, Any] | None:
        """Details of the state."""
        return self.entity_description.attributes_fn(self.live)


class LiveBinarySensor(LiveEntity, BinarySensorEntity):
    """A binary sensor of the live events."""

    entity_description: LiveBinarySensorEntityDescription

    def __init__(
        self,
        entry: SipThorConfigEntry,
        live: LiveEvents,
        description: LiveBinarySensorEntityDescription,
    ) -> None:
        """Show ``description``'s part of the channel."""
        super().__init__(entry, live, description)
        self.package = description.package

    @property
    def is_on(self) -> bool | None:
        """The state, read from the channel."""
        return self.entity_description.is_on_fn(self.live)


@callback
def _async_live_entities[DescriptionT: EntityDescription, EntityT: LiveEntity](
    hass: HomeAssistant,
    entry: SipThorConfigEntry,
    platform: Platform,
    descriptions: Sequence[DescriptionT],
    entity: Callable[[SipThorConfigEntry, LiveEvents, DescriptionT], EntityT],
) -> list[EntityT]:
    """One ``entity`` per description; without live events none, and none left registered."""
    live = entry.runtime_data.account.live
    if live is not None:
        return [entity(entry, live, description) for description in descriptions]
    registry = er.async_get(hass)
    for description in descriptions:
        unique_id = _unique_id(entry, description)
        if entity_id := registry.async_get_entity_id(platform, DOMAIN, unique_id):
            registry.async_remove(entity_id)
    return []


@callback
def async_live_sensors(hass: HomeAssistant, entry: SipThorConfigEntry) -> list[LiveSensor]:
    """The live sensors of ``entry``: none without live events."""
    return _async_live_entities(hass, entry, Platform.SENSOR, LIVE_SENSORS, LiveSensor)


@callback
def async_live_binary_sensors(
    hass: HomeAssistant, entry: SipThorConfigEntry
) -> list[LiveBinarySensor]:
    """The live binary sensors of ``entry``: none without live events."""
    return _async_live_entities(
        hass, entry, Platform.BINARY_SENSOR, LIVE_BINARY_SENSORS, LiveBinarySensor
    )
