"""Sensors: balance, calls, registrations, do-not-disturb time, forwarding, voicemail."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from homeassistant.components.sensor import (
    SensorDeviceClass,
    SensorEntity,
    SensorEntityDescription,
    SensorStateClass,
)
from homeassistant.const import CONF_CURRENCY, EntityCategory, UnitOfTime
from homeassistant.core import HomeAssistant
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback
from homeassistant.helpers.typing import StateType
from homeassistant.util import dt as dt_util

from .api import CallDirection, ForwardingCondition, Registration, Transport, strip_sip_scheme
from .const import DEFAULT_CURRENCY
from .coordinator import AccountData, CallRecord, SipThorConfigEntry, Source
from .entity import RegistrationEntity, SipThorEntity, async_add_registration_entities

# Read-only entities updated by the coordinators.
PARALLEL_UPDATES = 0

FORWARDING_OFF = "off"


@dataclass(frozen=True, kw_only=True)
class SipThorSensorEntityDescription(SensorEntityDescription):
    """A sensor of the account, and how to read it from the coordinators' data."""

    source: Source | None
    value_fn: Callable[[AccountData, SipThorConfigEntry], StateType | datetime]
    attributes_fn: Callable[[AccountData], dict[str, Any] | None] | None = None
    exists_fn: Callable[[AccountData], bool] = lambda _data: True
    monetary: bool = False


def _newest(data: AccountData, *, missed: bool) -> CallRecord | None:
    """The newest received call that was (not) missed; the list is newest first."""
    return next(
        (
            record
            for record in data.calls
            if record.call.direction is CallDirection.RECEIVED and record.call.missed is missed
        ),
        None,
    )


def _caller(record: CallRecord | None) -> str | None:
    if record is None:
        return None
    return record.call.display_name or strip_sip_scheme(record.call.remote_party)


def _call_attributes(record: CallRecord | None) -> dict[str, Any] | None:
    if record is None:
        return None
    return {
        "remote_party": strip_sip_scheme(record.call.remote_party),
        "display_name": record.call.display_name or None,
        "duration": record.call.duration,
    }


def _missed_today(data: AccountData) -> int:
    start = dt_util.start_of_local_day()
    return sum(
        1
        for record in data.calls
        if record.call.missed and record.started is not None and record.started >= start
    )


def _dnd_minutes_left(data: AccountData, entry: SipThorConfigEntry) -> int | None:
    """0 while calls come through; unknown while do not disturb has no end."""
    active = entry.runtime_data.fast.dnd_active()
    if active is None or data.accept_rules is None:
        return None
    return data.accept_rules.dnd_minutes_left if active else 0


def _forwarding(condition: ForwardingCondition) -> SipThorSensorEntityDescription:
    return SipThorSensorEntityDescription(
        key=f"forwarding_{condition.name.lower()}",
        translation_key=f"forwarding_{condition.name.lower()}",
        source=Source.CALL_FORWARDING,
        entity_category=EntityCategory.DIAGNOSTIC,
        value_fn=lambda data, _entry: (
            (data.call_forwarding.target(condition) or FORWARDING_OFF)
            if data.call_forwarding
            else None
        ),
    )


SENSORS: tuple[SipThorSensorEntityDescription, ...] = (
    SipThorSensorEntityDescription(
        key="balance",
        translation_key="balance",
        source=Source.PREPAID,
        device_class=SensorDeviceClass.MONETARY,
        state_class=SensorStateClass.TOTAL,
        suggested_display_precision=2,
        monetary=True,
        value_fn=lambda data, _entry: data.prepaid.balance if data.prepaid else None,
    ),
    SipThorSensorEntityDescription(
        key="active_calls",
        translation_key="active_calls",
        source=Source.PREPAID,
        state_class=SensorStateClass.MEASUREMENT,
        value_fn=lambda data, _entry: data.prepaid.active_calls if data.prepaid else None,
        # Only servers whose prepaid status carries the session count (docs/settings-api.md §5.6).
        exists_fn=lambda data: data.prepaid is not None and data.prepaid.active_calls is not None,
    ),
    SipThorSensorEntityDescription(
        key="registered_devices",
        translation_key="registered_devices",
        source=Source.REGISTRATIONS,
        state_class=SensorStateClass.MEASUREMENT,
        value_fn=lambda data, _entry: len(data.registrations),
    ),
    SipThorSensorEntityDescription(
        key="monthly_calls",
        translation_key="monthly_calls",
        source=Source.MONTHLY_USAGE,
        state_class=SensorStateClass.TOTAL,
        entity_registry_enabled_default=False,
        value_fn=lambda data, _entry: data.monthly_usage.calls if data.monthly_usage else None,
    ),
    SipThorSensorEntityDescription(
        key="monthly_cost",
        translation_key="monthly_cost",
        source=Source.MONTHLY_USAGE,
        device_class=SensorDeviceClass.MONETARY,
        state_class=SensorStateClass.TOTAL,
        suggested_display_precision=2,
        monetary=True,
        entity_registry_enabled_default=False,
        value_fn=lambda data, _entry: data.monthly_usage.price if data.monthly_usage else None,
    ),
    SipThorSensorEntityDescription(
        key="last_received_call",
        translation_key="last_received_call",
        source=Source.CALLS,
        device_class=SensorDeviceClass.TIMESTAMP,
        value_fn=lambda data, _entry: (
            record.started if (record := _newest(data, missed=False)) else None
        ),
        attributes_fn=lambda data: _call_attributes(_newest(data, missed=False)),
    ),
    SipThorSensorEntityDescription(
        key="last_received_caller",
        translation_key="last_received_caller",
        source=Source.CALLS,
        value_fn=lambda data, _entry: _caller(_newest(data, missed=False)),
    ),
    SipThorSensorEntityDescription(
        key="last_missed_call",
        translation_key="last_missed_call",
        source=Source.CALLS,
        device_class=SensorDeviceClass.TIMESTAMP,
        value_fn=lambda data, _entry: (
            record.started if (record := _newest(data, missed=True)) else None
        ),
        attributes_fn=lambda data: _call_attributes(_newest(data, missed=True)),
    ),
    SipThorSensorEntityDescription(
        key="last_missed_caller",
        translation_key="last_missed_caller",
        source=Source.CALLS,
        value_fn=lambda data, _entry: _caller(_newest(data, missed=True)),
    ),
    SipThorSensorEntityDescription(
        key="missed_calls_today",
        translation_key="missed_calls_today",
        source=Source.CALLS,
        value_fn=lambda data, _entry: _missed_today(data),
    ),
    SipThorSensorEntityDescription(
        key="dnd_minutes_left",
        translation_key="dnd_minutes_left",
        source=Source.ACCEPT_RULES,
        device_class=SensorDeviceClass.DURATION,
        native_unit_of_measurement=UnitOfTime.MINUTES,
        value_fn=_dnd_minutes_left,
    ),
    SipThorSensorEntityDescription(
        key="certificate_expiry",
        translation_key="certificate_expiry",
        source=None,
        device_class=SensorDeviceClass.TIMESTAMP,
        entity_category=EntityCategory.DIAGNOSTIC,
        value_fn=lambda _data, entry: entry.runtime_data.certificate.not_valid_after,
    ),
    *(_forwarding(condition) for condition in ForwardingCondition),
    SipThorSensorEntityDescription(
        key="voicemail",
        translation_key="voicemail",
        source=Source.VOICEMAIL,
        entity_category=EntityCategory.DIAGNOSTIC,
        value_fn=lambda data, _entry: (
            (data.voicemail.account or data.voicemail.mailbox) if data.voicemail else "none"
        ),
        attributes_fn=lambda data: (
            {
                "name": data.voicemail.name,
                "email": data.voicemail.email,
                "delete_after_email": data.voicemail.delete_after_email,
            }
            if data.voicemail
            else None
        ),
    ),
    SipThorSensorEntityDescription(
        key="no_answer_timeout",
        translation_key="no_answer_timeout",
        source=Source.IDENTITY,
        device_class=SensorDeviceClass.DURATION,
        native_unit_of_measurement=UnitOfTime.SECONDS,
        entity_category=EntityCategory.DIAGNOSTIC,
        value_fn=lambda data, _entry: data.identity.no_answer_timeout if data.identity else None,
    ),
    SipThorSensorEntityDescription(
        key="aliases",
        translation_key="aliases",
        source=Source.ALIASES,
        entity_category=EntityCategory.DIAGNOSTIC,
        value_fn=lambda data, _entry: len(data.aliases),
        attributes_fn=lambda data: {"aliases": list(data.aliases)},
    ),
    SipThorSensorEntityDescription(
        key="enum_numbers",
        translation_key="enum_numbers",
        source=Source.ENUM,
        entity_category=EntityCategory.DIAGNOSTIC,
        value_fn=lambda data, _entry: len(data.enum),
        attributes_fn=lambda data: {"numbers": list(data.enum)},
    ),
    SipThorSensorEntityDescription(
        key="last_balance_change",
        translation_key="last_balance_change",
        source=Source.BALANCE_HISTORY,
        device_class=SensorDeviceClass.MONETARY,
        suggested_display_precision=2,
        monetary=True,
        entity_registry_enabled_default=False,
        value_fn=lambda data, _entry: (
            data.balance_history[0].value if data.balance_history else None
        ),
        attributes_fn=lambda data: (
            {
                "action": data.balance_history[0].action,
                "description": data.balance_history[0].description,
                "date": data.balance_history[0].date.isoformat()
                if data.balance_history[0].date
                else None,
            }
            if data.balance_history
            else None
        ),
    ),
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
    fast_data = entry.runtime_data.fast.data
    async_add_entities(
        SipThorSensor(entry, description)
        for description in SENSORS
        if description.exists_fn(fast_data)
    )
    async_add_registration_entities(
        hass,
        entry,
        lambda device_id: (
            RegistrationSensor(entry, device_id, description)
            for description in REGISTRATION_SENSORS
        ),
        async_add_entities,
    )


class SipThorSensor(SipThorEntity, SensorEntity):
    """A sensor of the SIP account."""

    entity_description: SipThorSensorEntityDescription

    def __init__(
        self, entry: SipThorConfigEntry, description: SipThorSensorEntityDescription
    ) -> None:
        """Create the sensor; monetary ones take the currency from the options."""
        super().__init__(entry, description, description.source)
        self._entry = entry
        if description.monetary:
            self._attr_native_unit_of_measurement = entry.options.get(
                CONF_CURRENCY, DEFAULT_CURRENCY
            )

    @property
    def native_value(self) -> StateType | datetime:
        """The state, read from the coordinator's data."""
        return self.entity_description.value_fn(self.coordinator.data, self._entry)

    @property
    def extra_state_attributes(self) -> dict[str, Any] | None:
        """Details that do not deserve an entity of their own."""
        if self.entity_description.attributes_fn is None:
            return None
        return self.entity_description.attributes_fn(self.coordinator.data)


class RegistrationSensor(RegistrationEntity, SensorEntity):
    """A sensor of one registered phone; unknown while the phone is not registered."""

    entity_description: RegistrationSensorEntityDescription

    @property
    def native_value(self) -> StateType:
        """The value while registered; unknown otherwise."""
        registration = self.registration
        return self.entity_description.value_fn(registration) if registration else None
