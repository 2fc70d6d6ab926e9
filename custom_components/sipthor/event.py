"""The call event entity: calls as they happen (live), and each new call in the call list."""

from __future__ import annotations

from homeassistant.components.event import EventEntity, EventEntityDescription, EventExtraStoredData
from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback

from .api import CallDirection, strip_sip_scheme
from .api.sip import CallEvent as LiveCallEvent, CallEventKind
from .entity import SipThorEntity
from .sources import CallRecord, CallsCoordinator, SipThorConfigEntry

PARALLEL_UPDATES = 0

EVENT_RECEIVED = "received"
EVENT_MISSED = "missed"
EVENT_PLACED = "placed"
# Live only (live.py): a received call rings, is answered; "missed" comes from both.
EVENT_RINGING = "ringing"
EVENT_ANSWERED = "answered"
_LIVE_EVENTS = {
    CallEventKind.RINGING: EVENT_RINGING,
    CallEventKind.ANSWERED: EVENT_ANSWERED,
    CallEventKind.MISSED: EVENT_MISSED,
}

CALL_EVENT = EventEntityDescription(
    key="call",
    translation_key="call",
    event_types=[EVENT_RECEIVED, EVENT_MISSED, EVENT_PLACED, EVENT_RINGING, EVENT_ANSWERED],
)


async def async_setup_entry(
    hass: HomeAssistant,
    entry: SipThorConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    """Add the call event entity."""
    async_add_entities([CallEvent(entry.runtime_data.calls, CALL_EVENT)])


class CallEvent(SipThorEntity[CallsCoordinator], EventEntity):
    """Fires ``received``, ``missed`` or ``placed`` once for each new call.

    The call list holds the last 14 days; calls in it when the entity first sees it
    are history, not news. A call is new when it was never announced: the keys of
    the calls announced are kept in the entry's store, so a call that ended while
    Home Assistant was down is announced once when it is back, whenever it started,
    and none twice.

    With live events, a received call also fires ``ringing``, ``answered`` and
    ``missed`` as it happens; the call list then does not announce it again (live.py
    says how a listed call is recognised).
    """

    def __init__(self, coordinator: CallsCoordinator, description: EventEntityDescription) -> None:
        """Follow the call list."""
        super().__init__(coordinator, description)
        self._store = coordinator.account.store

    async def async_get_last_event_data(self) -> EventExtraStoredData | None:
        """The last event, only if this config entry announced it.

        Home Assistant restores by entity id: an account deleted and added again would
        show the deleted one's last call. The entry's store goes with the entry, so an
        entry that never saw a call list never announced anything.
        """
        if self._store.seen_calls is None:
            return None
        return await super().async_get_last_event_data()

    @property
    def available(self) -> bool:
        """Always: the state is the time of the last call announced, not of a read.

        The logbook words every change of an event entity's state as "detected an
        event", unavailable included: an entity that went unavailable until the call
        list arrived after setup, or while the list could not be read, wrote rows for
        calls nobody made. While the list cannot be read, no call is announced; the
        call sensors show that it cannot.
        """
        return True

    async def async_added_to_hass(self) -> None:
        """Follow the live calls; look at the call list already fetched."""
        await super().async_added_to_hass()
        if (live := self.coordinator.account.live) is not None:
            self.async_on_remove(live.async_add_call_listener(self._announce_live_call))
        self._announce_new_calls()

    @callback
    def _announce_live_call(self, event: LiveCallEvent) -> None:
        if (event_type := _LIVE_EVENTS.get(event.kind)) is None:
            return
        caller = strip_sip_scheme(event.remote.uri) if event.remote.uri else None
        self._trigger_event(
            event_type,
            {
                "caller": caller,
                # The name the call list's events use, so one template reads both.
                "remote_party": caller,
                "display_name": event.remote.display_name or None,
            },
        )
        self.async_write_ha_state()

    @callback
    def _handle_coordinator_update(self) -> None:
        self._announce_new_calls()
        super()._handle_coordinator_update()

    @callback
    def _announce_new_calls(self) -> None:
        if not self.coordinator.usable:
            return
        records = self.coordinator.data
        seen = self._store.seen_calls
        if seen is None:
            # The first list ever seen: history, nothing to announce.
            self._store.async_add_seen_calls([record.call.key for record in records])
            return
        new = [record for record in records if record.call.key not in seen]
        if not new:
            return
        live = self.coordinator.account.live
        # Oldest first, so that automations see the calls in the order they happened.
        for record in reversed(new):
            if live is not None and live.announced(record.call, record.started):
                continue  # announced as it happened
            self._trigger_event(_event_type(record), _attributes(record))
            self.async_write_ha_state()
        self._store.async_add_seen_calls([record.call.key for record in reversed(new)])


def _event_type(record: CallRecord) -> str:
    if record.call.direction is CallDirection.PLACED:
        return EVENT_PLACED
    return EVENT_MISSED if record.call.missed else EVENT_RECEIVED


def _attributes(record: CallRecord) -> dict[str, str | int | float | list[str] | None]:
    call = record.call
    return {
        "remote_party": call.caller,
        "display_name": call.display_name or None,
        "start": record.started.isoformat() if record.started else None,
        "duration": call.duration,
        "status": call.status,
        "price": call.price,
        "media": call.media,
    }
