"""The call event entity: one event per new call in the call list."""

from __future__ import annotations

from homeassistant.components.event import EventEntity, EventEntityDescription
from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback
from homeassistant.util import dt as dt_util

from .api import CallDirection, strip_sip_scheme
from .coordinator import CallRecord, SipThorConfigEntry, Source
from .entity import SipThorEntity

PARALLEL_UPDATES = 0

EVENT_RECEIVED = "received"
EVENT_MISSED = "missed"
EVENT_PLACED = "placed"

CALL_EVENT = EventEntityDescription(
    key="call",
    translation_key="call",
    event_types=[EVENT_RECEIVED, EVENT_MISSED, EVENT_PLACED],
)


async def async_setup_entry(
    hass: HomeAssistant,
    entry: SipThorConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    """Add the call event entity."""
    async_add_entities([CallEvent(entry, CALL_EVENT)])


class CallEvent(SipThorEntity, EventEntity):
    """Fires ``received``, ``missed`` or ``placed`` once for each new call.

    The call list holds the last 14 days; calls in it when the entity first sees it
    are history, not news. Calls announced are remembered across restarts, so that
    calls made while Home Assistant was down are announced once when it is back,
    and none twice.
    """

    def __init__(self, entry: SipThorConfigEntry, description: EventEntityDescription) -> None:
        """Follow the call list of the slow coordinator."""
        super().__init__(entry, description, Source.CALLS)
        self._entry = entry
        self._seen: set[str] | None = None

    async def async_added_to_hass(self) -> None:
        """Look at the call list already fetched."""
        await super().async_added_to_hass()
        self._announce_new_calls()

    @callback
    def _handle_coordinator_update(self) -> None:
        self._announce_new_calls()
        super()._handle_coordinator_update()

    @callback
    def _announce_new_calls(self) -> None:
        data = self.coordinator.data
        if data is None or not data.usable(Source.CALLS):
            return
        store = self._entry.runtime_data.store
        records = data.calls
        if self._seen is None:
            self._seen = store.seen_calls
            if self._seen is None:
                # The first list ever seen: history, nothing to announce.
                self._remember(records)
                return
            newest = dt_util.parse_datetime(store.newest_call or "")
            new = [
                record
                for record in records
                if record.call.key not in self._seen
                and (newest is None or record.started is None or record.started >= newest)
            ]
        else:
            new = [record for record in records if record.call.key not in self._seen]
        # Oldest first, so that automations see the calls in the order they happened.
        for record in reversed(new):
            self._trigger_event(_event_type(record), _attributes(record))
            self.async_write_ha_state()
        if new or self._seen != {record.call.key for record in records}:
            self._remember(records)

    def _remember(self, records: list[CallRecord]) -> None:
        self._seen = {record.call.key for record in records}
        newest = max((record.started for record in records if record.started), default=None)
        self._entry.runtime_data.store.async_set_seen_calls(
            self._seen, newest.isoformat() if newest else None
        )


def _event_type(record: CallRecord) -> str:
    if record.call.direction is CallDirection.PLACED:
        return EVENT_PLACED
    return EVENT_MISSED if record.call.missed else EVENT_RECEIVED


def _attributes(record: CallRecord) -> dict[str, str | int | float | list[str] | None]:
    call = record.call
    return {
        "remote_party": strip_sip_scheme(call.remote_party),
        "display_name": call.display_name or None,
        "start": record.started.isoformat() if record.started else None,
        "duration": call.duration,
        "status": call.status,
        "price": call.price,
        "media": call.media,
    }
