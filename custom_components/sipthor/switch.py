"""Switches: do not disturb, and caller-ID privacy."""

from __future__ import annotations

from typing import Any

from homeassistant.components.switch import SwitchEntity, SwitchEntityDescription
from homeassistant.const import STATE_OFF, STATE_ON
from homeassistant.core import HomeAssistant
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback
from homeassistant.helpers.restore_state import RestoreEntity

from .coordinator import SipThorConfigEntry, Source
from .entity import SipThorEntity
from .helpers import translated_errors

# Each switch writes to the server: one request at a time.
PARALLEL_UPDATES = 1

DO_NOT_DISTURB = SwitchEntityDescription(key="do_not_disturb", translation_key="do_not_disturb")


PRIVACY = SwitchEntityDescription(key="privacy", translation_key="privacy")


async def async_setup_entry(
    hass: HomeAssistant,
    entry: SipThorConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    """Add the two switches."""
    async_add_entities([DoNotDisturbSwitch(entry, DO_NOT_DISTURB), PrivacySwitch(entry, PRIVACY)])


class DoNotDisturbSwitch(SipThorEntity, SwitchEntity):
    """Do not disturb: on rejects every call (forwarded as "unavailable", if set).

    The state is read back from the accept rules after each change; turning it on
    sets it without an end, the ``sipthor.enable_dnd`` action takes a duration.
    """

    def __init__(self, entry: SipThorConfigEntry, description: SwitchEntityDescription) -> None:
        """Show the accept rules of the fast coordinator."""
        super().__init__(entry, description, Source.ACCEPT_RULES)
        self._entry = entry

    @property
    def is_on(self) -> bool | None:
        """Whether do not disturb is on."""
        return self._entry.runtime_data.fast.dnd_active()

    async def async_turn_on(self, **kwargs: Any) -> None:
        """Turn do not disturb on, without an end."""
        runtime = self._entry.runtime_data
        async with translated_errors(self.hass, self._entry):
            await runtime.client.set_dnd_on()
        runtime.store.async_remember_dnd(without_end=True)
        await runtime.fast.async_refresh_sources(Source.ACCEPT_RULES)

    async def async_turn_off(self, **kwargs: Any) -> None:
        """Turn do not disturb off."""
        runtime = self._entry.runtime_data
        async with translated_errors(self.hass, self._entry):
            await runtime.client.set_dnd_off()
        runtime.store.async_remember_dnd(without_end=False)
        await runtime.fast.async_refresh_sources(Source.ACCEPT_RULES)


class PrivacySwitch(SipThorEntity, SwitchEntity, RestoreEntity):
    """Hide the caller ID on outgoing calls.

    No action of the API reads this back (docs/settings-api.md §6.2), so the state is the one this
    switch last set, restored across restarts, and shown as assumed.
    """

    _attr_assumed_state = True

    def __init__(self, entry: SipThorConfigEntry, description: SwitchEntityDescription) -> None:
        """Create the switch; it needs no polled data."""
        super().__init__(entry, description, None)
        self._entry = entry
        self._attr_is_on = None

    async def async_added_to_hass(self) -> None:
        """Restore the state last set."""
        await super().async_added_to_hass()
        if (last := await self.async_get_last_state()) is not None and last.state in (
            STATE_ON,
            STATE_OFF,
        ):
            self._attr_is_on = last.state == STATE_ON

    async def async_turn_on(self, **kwargs: Any) -> None:
        """Hide the caller ID."""
        async with translated_errors(self.hass, self._entry):
            await self._entry.runtime_data.client.set_privacy_on()
        self._attr_is_on = True
        self.async_write_ha_state()

    async def async_turn_off(self, **kwargs: Any) -> None:
        """Show the caller ID."""
        async with translated_errors(self.hass, self._entry):
            await self._entry.runtime_data.client.set_privacy_off()
        self._attr_is_on = False
        self.async_write_ha_state()
