"""Sensors: balance, calls, registrations, the end of do not disturb, voicemail."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from homeassistant.components.sensor import (
    DOMAIN as SENSOR_DOMAIN,
    SensorDeviceClass,
    SensorEntity,
    SensorEntityDescription,
    SensorStateClass,
)
from homeassistant.const import CONF_CURRENCY, EntityCategory, UnitOfTime
from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers import entity_registry as er
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback
from homeassistant.helpers.event import async_track_time_change
from homeassistant.helpers.typing import StateType
from homeassistant.util import dt as dt_util

from .api import (
    BalanceEntry,
    CallDirection,
    CertificateInfo,
    Identity,
    MonthlyUsage,
    PrepaidStatus,
    Registration,
    Transport,
    Voicemail,
)
from .call_list import (
    call_attributes,
    caller_name,
    count_attributes,
    count_today,
    newest_received,
    newest_started,
)
from .const import DEFAULT_CURRENCY, DOMAIN
from .coordinator import SipThorCoordinator
from .dnd import AcceptRulesCoordinator, AcceptRulesData
from .entity import (
    RegistrationEntity,
    SipThorEntity,
    account_device_info,
    async_add_entities_in_turns,
    async_add_registration_entities,
)
from .live_entities import async_live_sensors
from .sources import CallRecord, SipThorConfigEntry, SipThorRuntimeData

# Read-only entities updated by the coordinators.
PARALLEL_UPDATES = 0


@dataclass(frozen=True, kw_only=True)
class SipThorSensorEntityDescription[DataT](SensorEntityDescription):
    """A sensor of the account: its coordinator, and how to read it from its data."""

    coordinator_fn: Callable[[SipThorRuntimeData], SipThorCoordinator[DataT]]
    value_fn: Callable[[DataT], StateType | datetime]
    attributes_fn: Callable[[DataT], dict[str, Any] | None] | None = None
    exists_fn: Callable[[DataT], bool] = lambda _data: True
    monetary: bool = False
    # A count since local midnight: starts again at midnight, with ``last_reset`` set.
    resets_daily: bool = False


def _balance_change_attributes(history: list[BalanceEntry]) -> dict[str, Any] | None:
    if not history:
        return None
    newest = history[0]
    return {
        "action": newest.action,
        "description": newest.description,
        "date": newest.date.isoformat() if newest.date else None,
    }


SENSORS: tuple[SipThorSensorEntityDescription[Any], ...] = (
    SipThorSensorEntityDescription[PrepaidStatus | None](
        key="balance",
        translation_key="balance",
        coordinator_fn=lambda runtime: runtime.prepaid,
        device_class=SensorDeviceClass.MONETARY,
        state_class=SensorStateClass.TOTAL,
        suggested_display_precision=2,
        monetary=True,
        value_fn=lambda prepaid: prepaid.balance if prepaid else None,
    ),
    SipThorSensorEntityDescription[PrepaidStatus | None](
        key="active_calls",
        translation_key="active_calls",
        coordinator_fn=lambda runtime: runtime.prepaid,
        state_class=SensorStateClass.MEASUREMENT,
        value_fn=lambda prepaid: prepaid.active_calls if prepaid else None,
        # Only servers whose prepaid status carries the session count
        # (docs/settings-api.md §5.6).
        exists_fn=lambda prepaid: prepaid is not None and prepaid.active_calls is not None,
    ),
    SipThorSensorEntityDescription[list[Registration]](
        key="registered_devices",
        translation_key="registered_devices",
        coordinator_fn=lambda runtime: runtime.registrations,
        state_class=SensorStateClass.MEASUREMENT,
        value_fn=len,
    ),
    SipThorSensorEntityDescription[MonthlyUsage](
        key="monthly_calls",
        translation_key="monthly_calls",
        coordinator_fn=lambda runtime: runtime.monthly_usage,
        state_class=SensorStateClass.TOTAL,
        entity_registry_enabled_default=False,
        value_fn=lambda usage: usage.calls,
    ),
    SipThorSensorEntityDescription[MonthlyUsage](
        key="monthly_cost",
        translation_key="monthly_cost",
        coordinator_fn=lambda runtime: runtime.monthly_usage,
        device_class=SensorDeviceClass.MONETARY,
        state_class=SensorStateClass.TOTAL,
        suggested_display_precision=2,
        monetary=True,
        entity_registry_enabled_default=False,
        value_fn=lambda usage: usage.price,
    ),
    SipThorSensorEntityDescription[list[CallRecord]](
        key="last_received_call",
        translation_key="last_received_call",
        coordinator_fn=lambda runtime: runtime.calls,
        device_class=SensorDeviceClass.TIMESTAMP,
        value_fn=lambda calls: newest_started(calls, missed=False),
        attributes_fn=lambda calls: call_attributes(newest_received(calls, missed=False)),
    ),
    SipThorSensorEntityDescription[list[CallRecord]](
        key="last_received_caller",
        translation_key="last_received_caller",
        coordinator_fn=lambda runtime: runtime.calls,
        value_fn=lambda calls: caller_name(newest_received(calls, missed=False)),
    ),
    SipThorSensorEntityDescription[list[CallRecord]](
        key="last_missed_call",
        translation_key="last_missed_call",
        coordinator_fn=lambda runtime: runtime.calls,
        device_class=SensorDeviceClass.TIMESTAMP,
        value_fn=lambda calls: newest_started(calls, missed=True),
        attributes_fn=lambda calls: call_attributes(newest_received(calls, missed=True)),
    ),
    SipThorSensorEntityDescription[list[CallRecord]](
        key="last_missed_caller",
        translation_key="last_missed_caller",
        coordinator_fn=lambda runtime: runtime.calls,
        value_fn=lambda calls: caller_name(newest_received(calls, missed=True)),
    ),
    SipThorSensorEntityDescription[list[CallRecord]](
        key="missed_calls_today",
        translation_key="missed_calls_today",
        coordinator_fn=lambda runtime: runtime.calls,
        state_class=SensorStateClass.TOTAL,
        resets_daily=True,
        value_fn=count_today(CallDirection.RECEIVED, missed=True),
        attributes_fn=count_attributes(CallDirection.RECEIVED),
    ),
    SipThorSensorEntityDescription[list[CallRecord]](
        key="received_calls_today",
        translation_key="received_calls_today",
        coordinator_fn=lambda runtime: runtime.calls,
        state_class=SensorStateClass.TOTAL,
        resets_daily=True,
        value_fn=count_today(CallDirection.RECEIVED),
        attributes_fn=count_attributes(CallDirection.RECEIVED),
    ),
    SipThorSensorEntityDescription[list[CallRecord]](
        key="placed_calls_today",
        translation_key="placed_calls_today",
        coordinator_fn=lambda runtime: runtime.calls,
        state_class=SensorStateClass.TOTAL,
        resets_daily=True,
        value_fn=count_today(CallDirection.PLACED),
        attributes_fn=count_attributes(CallDirection.PLACED),
    ),
    # The minutes as the server states them: the same figure until the next read, so
    # "Do not disturb until" (which the frontend counts down) is the one to show.
    SipThorSensorEntityDescription[AcceptRulesData](
        key="dnd_minutes_left",
        translation_key="dnd_minutes_left",
        coordinator_fn=lambda runtime: runtime.accept_rules,
        device_class=SensorDeviceClass.DURATION,
        native_unit_of_measurement=UnitOfTime.MINUTES,
        entity_registry_enabled_default=False,
        value_fn=lambda rules: rules.dnd_minutes_left,
    ),
    SipThorSensorEntityDescription[Voicemail | None](
        key="voicemail",
        translation_key="voicemail",
        coordinator_fn=lambda runtime: runtime.voicemail,
        entity_category=EntityCategory.DIAGNOSTIC,
        # Unknown without a mailbox: a state is a value or nothing, never the word "none".
        value_fn=lambda voicemail: (voicemail.account or voicemail.mailbox) if voicemail else None,
        attributes_fn=lambda voicemail: (
            {
                "name": voicemail.name,
                "email": voicemail.email,
                "delete_after_email": voicemail.delete_after_email,
            }
            if voicemail
            else None
        ),
    ),
    SipThorSensorEntityDescription[Identity](
        key="no_answer_timeout",
        translation_key="no_answer_timeout",
        coordinator_fn=lambda runtime: runtime.identity,
        device_class=SensorDeviceClass.DURATION,
        native_unit_of_measurement=UnitOfTime.SECONDS,
        entity_category=EntityCategory.DIAGNOSTIC,
        value_fn=lambda identity: identity.no_answer_timeout,
    ),
    SipThorSensorEntityDescription[list[str]](
        key="aliases",
        translation_key="aliases",
        coordinator_fn=lambda runtime: runtime.aliases,
        entity_category=EntityCategory.DIAGNOSTIC,
        value_fn=len,
        attributes_fn=lambda aliases: {"aliases": list(aliases)},
    ),
    SipThorSensorEntityDescription[list[str]](
        key="enum_numbers",
        translation_key="enum_numbers",
        coordinator_fn=lambda runtime: runtime.enum,
        entity_category=EntityCategory.DIAGNOSTIC,
        value_fn=len,
        attributes_fn=lambda numbers: {"numbers": list(numbers)},
    ),
    SipThorSensorEntityDescription[list[BalanceEntry]](
        key="last_balance_change",
        translation_key="last_balance_change",
        coordinator_fn=lambda runtime: runtime.balance_history,
        device_class=SensorDeviceClass.MONETARY,
        suggested_display_precision=2,
        monetary=True,
        entity_registry_enabled_default=False,
        value_fn=lambda history: history[0].value if history else None,
        attributes_fn=_balance_change_attributes,
    ),
    SipThorSensorEntityDescription[list[str]](
        key="reject_rules",
        translation_key="reject_rules",
        coordinator_fn=lambda runtime: runtime.reject_rules,
        entity_category=EntityCategory.DIAGNOSTIC,
        entity_registry_enabled_default=False,
        value_fn=len,
        attributes_fn=lambda rejected: {"rejected": list(rejected)},
    ),
)

DND_UNTIL = SensorEntityDescription(
    key="dnd_until",
    translation_key="dnd_until",
    device_class=SensorDeviceClass.TIMESTAMP,
)
# The server states whole minutes left: each read places the end within a minute.
DND_END_TOLERANCE = timedelta(minutes=1)

CERTIFICATE_EXPIRY = SensorEntityDescription(
    key="certificate_expiry",
    translation_key="certificate_expiry",
    device_class=SensorDeviceClass.TIMESTAMP,
    entity_category=EntityCategory.DIAGNOSTIC,
)


@dataclass(frozen=True, kw_only=True)
class RegistrationSensorEntityDescription(SensorEntityDescription):
    """A sensor of one registered phone."""

    value_fn: Callable[[Registration], StateType]


REGISTRATION_SENSORS: tuple[RegistrationSensorEntityDescription, ...] = (
    RegistrationSensorEntityDescription(
        key="contact",
        translation_key="contact",
        entity_category=EntityCategory.DIAGNOSTIC,
        value_fn=lambda registration: registration.public_contact,
    ),
    RegistrationSensorEntityDescription(
        key="transport",
        translation_key="transport",
        entity_category=EntityCategory.DIAGNOSTIC,
        device_class=SensorDeviceClass.ENUM,
        options=[transport.value for transport in Transport],
        value_fn=lambda registration: registration.transport.value,
    ),
)


async def async_setup_entry(
    hass: HomeAssistant,
    entry: SipThorConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    """Add the account's sensors, and those of each phone as it registers."""
    runtime = entry.runtime_data
    entities: list[SensorEntity] = []
    certificate = runtime.account.certificate
    if certificate is None:
        _async_remove_certificate_expiry(hass, entry)
    else:
        entities.append(CertificateExpirySensor(entry, certificate))
    entities.append(DndUntilSensor(runtime.accept_rules))
    for description in SENSORS:
        coordinator = description.coordinator_fn(runtime)
        # Only sources fetched during setup can tell whether a sensor exists.
        if not coordinator.fetched or description.exists_fn(coordinator.data):
            entities.append(SipThorSensor(coordinator, description))
    entities.extend(async_live_sensors(hass, entry))
    await async_add_entities_in_turns(async_add_entities, entities)
    async_add_registration_entities(
        hass,
        entry,
        lambda device_id: (
            RegistrationSensor(runtime.registrations, device_id, description)
            for description in REGISTRATION_SENSORS
        ),
        async_add_entities,
    )


class SipThorSensor[DataT](SipThorEntity[SipThorCoordinator[DataT]], SensorEntity):
    """A sensor of the SIP account."""

    entity_description: SipThorSensorEntityDescription[DataT]

    def __init__(
        self,
        coordinator: SipThorCoordinator[DataT],
        description: SipThorSensorEntityDescription[DataT],
    ) -> None:
        """Create the sensor; monetary ones take the currency from the options."""
        super().__init__(coordinator, description)
        if description.monetary:
            self._attr_native_unit_of_measurement = coordinator.config_entry.options.get(
                CONF_CURRENCY, DEFAULT_CURRENCY
            )

    async def async_added_to_hass(self) -> None:
        """Listen to the coordinator; a daily count also to the clock at midnight."""
        await super().async_added_to_hass()
        if self.entity_description.resets_daily:
            # The call list is read every few minutes: without this the count would
            # carry yesterday's calls until the first poll after midnight.
            self.async_on_remove(
                async_track_time_change(self.hass, self._async_midnight, hour=0, minute=0, second=0)
            )

    @callback
    def _async_midnight(self, _now: datetime) -> None:
        self.async_write_ha_state()

    @property
    def native_value(self) -> StateType | datetime:
        """The state, read from the coordinator's data."""
        return self.entity_description.value_fn(self.coordinator.data)

    @property
    def last_reset(self) -> datetime | None:
        """Local midnight for a daily count: the statistics see each day start from 0."""
        return dt_util.start_of_local_day() if self.entity_description.resets_daily else None

    @property
    def extra_state_attributes(self) -> dict[str, Any] | None:
        """Details that do not deserve an entity of their own."""
        if self.entity_description.attributes_fn is None:
            return None
        return self.entity_description.attributes_fn(self.coordinator.data)


class DndUntilSensor(SipThorEntity[AcceptRulesCoordinator], SensorEntity):
    """When a timed do not disturb ends: a moment, which the frontend counts down to.

    Unknown while do not disturb is off or has no end. The server states the minutes
    left, so each read places the end only within a minute; an end read again within a
    minute of the one shown is the same end, and is kept, so that the state does not
    move by a few seconds at every poll.
    """

    entity_description = DND_UNTIL

    def __init__(self, coordinator: AcceptRulesCoordinator) -> None:
        """Follow the accept rules."""
        super().__init__(coordinator, DND_UNTIL)
        self._until: datetime | None = None

    async def async_added_to_hass(self) -> None:
        """Place the end stated by the rules read at setup."""
        await super().async_added_to_hass()
        self._place_end()

    @callback
    def _handle_coordinator_update(self) -> None:
        self._place_end()
        super()._handle_coordinator_update()

    @callback
    def _place_end(self) -> None:
        # The accept rules are read at setup: an entry without them is not set up.
        data: AcceptRulesData = self.coordinator.data
        minutes = data.dnd_minutes_left
        if not minutes:  # off (0) or without an end (None)
            self._until = None
            return
        until = dt_util.utcnow().replace(microsecond=0) + timedelta(minutes=minutes)
        if self._until is None or abs(until - self._until) >= DND_END_TOLERANCE:
            self._until = until

    @property
    def native_value(self) -> datetime | None:
        """The end of the timed do not disturb."""
        return self._until


def _async_remove_certificate_expiry(hass: HomeAssistant, entry: SipThorConfigEntry) -> None:
    """Forget the expiry sensor of an account that signs in with its password now.

    After reconfiguration from the certificate to the password it would stay behind,
    unavailable for good.
    """
    registry = er.async_get(hass)
    unique_id = f"{entry.unique_id}_{CERTIFICATE_EXPIRY.key}"
    if entity_id := registry.async_get_entity_id(SENSOR_DOMAIN, DOMAIN, unique_id):
        registry.async_remove(entity_id)


class CertificateExpirySensor(SensorEntity):
    """When the client certificate expires: known from the file, nothing to poll."""

    _attr_has_entity_name = True
    _attr_should_poll = False
    entity_description = CERTIFICATE_EXPIRY

    def __init__(self, entry: SipThorConfigEntry, certificate: CertificateInfo) -> None:
        """Read the expiry of the entry's certificate."""
        self._attr_unique_id = f"{entry.unique_id}_{CERTIFICATE_EXPIRY.key}"
        self._attr_device_info = account_device_info(entry)
        self._attr_native_value = certificate.not_valid_after


class RegistrationSensor(RegistrationEntity, SensorEntity):
    """A sensor of one registered phone; unknown while the phone is not registered."""

    entity_description: RegistrationSensorEntityDescription

    @property
    def native_value(self) -> StateType:
        """The value while registered; unknown otherwise."""
        registration = self.registration
        return self.entity_description.value_fn(registration) if registration else None
