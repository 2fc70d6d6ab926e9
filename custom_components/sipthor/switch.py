"""Switches: do not disturb, and caller-ID privacy."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from homeassistant.components.switch import SwitchEntity, SwitchEntityDescription
from homeassistant.core import HomeAssistant
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback

from .coordinator import SipThorCoordinator
from .dnd import AcceptRulesCoordinator
from .entity import SipThorEntity
from .errors import sipthor_exception_handler
from .sources import PrivacyCoordinator, SipThorConfigEntry, SipThorRuntimeData

# Each switch writes to the server: one request at a time.
PARALLEL_UPDATES = 1


@dataclass(frozen=True, kw_only=True)
class SipThorSwitchEntityDescription[CoordinatorT: SipThorCoordinator[Any]](
    SwitchEntityDescription
):
    """A switch backed by a polled source: how to read it and how to set it."""

    coordinator_fn: Callable[[SipThorRuntimeData], CoordinatorT]
    is_on_fn: Callable[[CoordinatorT], bool]
    set_fn: Callable[[CoordinatorT, bool], Awaitable[None]]


SWITCHES: tuple[SipThorSwitchEntityDescription[Any], ...] = (
    # On rejects every call (forwarded as "unavailable", if set), without an end; the
    # sipthor.enable_dnd action takes a duration.
    SipThorSwitchEntityDescription[AcceptRulesCoordinator](
        key="do_not_disturb",
        translation_key="do_not_disturb",
        coordinator_fn=lambda runtime: runtime.accept_rules,
        is_on_fn=lambda coordinator: coordinator.data.dnd_active,
        set_fn=lambda coordinator, on: coordinator.async_set_dnd(on=on),
    ),
)

PRIVACY = SwitchEntityDescription(key="privacy", translation_key="privacy")


async def async_setup_entry(
    hass: HomeAssistant,
    entry: SipThorConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    """Add the switches."""
    runtime = entry.runtime_data
    async_add_entities(
        [
            *(
                SipThorSwitch(description.coordinator_fn(runtime), description)
                for description in SWITCHES
            ),
            PrivacySwitch(runtime.privacy),
        ]
    )


class SipThorSwitch[CoordinatorT: SipThorCoordinator[Any]](
    SipThorEntity[CoordinatorT], SwitchEntity
):
    """A switch of the account: shows the new state once the server accepts it."""

    entity_description: SipThorSwitchEntityDescription[CoordinatorT]

    @property
    def is_on(self) -> bool:
        """The state, from the coordinator."""
        return self.entity_description.is_on_fn(self.coordinator)

    async def async_turn_on(self, **kwargs: Any) -> None:
        """Turn on."""
        await self._async_set(on=True)

    async def async_turn_off(self, **kwargs: Any) -> None:
        """Turn off."""
        await self._async_set(on=False)

    @sipthor_exception_handler
    async def _async_set(self, *, on: bool) -> None:
        await self.entity_description.set_fn(self.coordinator, on)


class PrivacySwitch(SipThorEntity[PrivacyCoordinator], SwitchEntity):
    """Hide the caller ID on outgoing calls.

    No JSON action reads this back; the HTML settings tab does (docs/settings-api.md
    §6.2), and is read at setup, hourly and after each change. Where the page has no
    checkbox (PSTN access is off for the platform), or cannot be read, the state is the
    one this switch last set, kept in the entry's store and shown as assumed. A change
    is saved as intended before it is sent: one that got no answer, in time or before
    Home Assistant stopped, leaves the state unknown rather than the one before. The
    store goes with the config entry, so an account deleted and added again starts
    unknown.
    """

    def __init__(self, coordinator: PrivacyCoordinator) -> None:
        """Show what the page says, else what this switch last set."""
        super().__init__(coordinator, PRIVACY)
        self._store = coordinator.account.store

    @property
    def page_state(self) -> bool | None:
        """The checkbox as the page last showed it; None when it shows none."""
        return self.coordinator.data if self.coordinator.usable else None

    @property
    def available(self) -> bool:
        """Always: without the page, the switch still knows what it last set."""
        return True

    @property
    def assumed_state(self) -> bool:
        """Assumed unless the page answered."""
        return self.page_state is None

    @property
    def is_on(self) -> bool | None:
        """The page's checkbox, else what this switch last set (None: unknown)."""
        page = self.page_state
        return page if page is not None else self._store.privacy_last_set

    async def async_turn_on(self, **kwargs: Any) -> None:
        """Hide the caller ID."""
        await self._async_set(on=True)

    async def async_turn_off(self, **kwargs: Any) -> None:
        """Show the caller ID."""
        await self._async_set(on=False)

    @sipthor_exception_handler
    async def _async_set(self, *, on: bool) -> None:
        try:
            await self.coordinator.async_set_privacy(on=on)
        finally:
            # What the store holds now: the new state, the old one, or unknown.
            self.async_write_ha_state()
