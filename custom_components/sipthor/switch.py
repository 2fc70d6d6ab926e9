"""Switches: do not disturb, and caller-ID privacy."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Self

from homeassistant.components.switch import SwitchEntity, SwitchEntityDescription
from homeassistant.core import HomeAssistant
from homeassistant.exceptions import HomeAssistantError
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback
from homeassistant.helpers.restore_state import ExtraStoredData, RestoreEntity

from .coordinator import (
    AcceptRulesCoordinator,
    AcceptRulesData,
    SipThorConfigEntry,
    SipThorCoordinator,
    SipThorRuntimeData,
)
from .entity import SipThorEntity

# Each switch writes to the server: one request at a time.
PARALLEL_UPDATES = 1


@dataclass(frozen=True, kw_only=True)
class SipThorSwitchEntityDescription[CoordinatorT: SipThorCoordinator[Any]](
    SwitchEntityDescription
):
    """A switch backed by a polled source: how to read it and how to set it."""

    coordinator_fn: Callable[[SipThorRuntimeData], CoordinatorT]
    is_on_fn: Callable[[CoordinatorT], bool | None]
    set_fn: Callable[[CoordinatorT, bool], Awaitable[None]]


def _dnd_is_on(coordinator: AcceptRulesCoordinator) -> bool | None:
    data: AcceptRulesData | None = coordinator.data
    return data.dnd_active if data is not None else None


SWITCHES: tuple[SipThorSwitchEntityDescription[Any], ...] = (
    # On rejects every call (forwarded as "unavailable", if set), without an end; the
    # sipthor.enable_dnd action takes a duration.
    SipThorSwitchEntityDescription[AcceptRulesCoordinator](
        key="do_not_disturb",
        translation_key="do_not_disturb",
        coordinator_fn=lambda runtime: runtime.accept_rules,
        is_on_fn=_dnd_is_on,
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
    def is_on(self) -> bool | None:
        """The state, from the coordinator."""
        return self.entity_description.is_on_fn(self.coordinator)

    async def async_turn_on(self, **kwargs: Any) -> None:
        """Turn on."""
        await self._async_set(on=True)

    async def async_turn_off(self, **kwargs: Any) -> None:
        """Turn off."""
        await self._async_set(on=False)

    async def _async_set(self, *, on: bool) -> None:
        await self.entity_description.set_fn(self.coordinator, on)


@dataclass(frozen=True, slots=True)
class PrivacyState(ExtraStoredData):
    """What the privacy switch last set, and for which config entry."""

    config_entry_id: str
    is_on: bool

    def as_dict(self) -> dict[str, Any]:
        """For the restore-state store."""
        return {"config_entry_id": self.config_entry_id, "is_on": self.is_on}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Self | None:
        """Read back what :meth:`as_dict` wrote; None for anything else."""
        entry_id, is_on = data.get("config_entry_id"), data.get("is_on")
        if isinstance(entry_id, str) and isinstance(is_on, bool):
            return cls(entry_id, is_on)
        return None


class PrivacySwitch(SipThorEntity[SipThorCoordinator[bool | None]], SwitchEntity, RestoreEntity):
    """Hide the caller ID on outgoing calls.

    No JSON action reads this back; the HTML settings tab does (docs/settings-api.md
    §6.2), and is read at setup, hourly and after each change. Where the page has no
    checkbox (PSTN access is off for the platform), or cannot be read, the state is the
    one this switch last set, restored across restarts and shown as assumed. Home
    Assistant restores by entity id: the state of a deleted account would pass to a new
    one with the same address, so only what this very config entry saved is restored.
    """

    def __init__(self, coordinator: SipThorCoordinator[bool | None]) -> None:
        """Show what the page says, else what this switch last set."""
        super().__init__(coordinator, PRIVACY)
        self._last_set: bool | None = None

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
        """The page's checkbox, else what this switch last set."""
        page = self.page_state
        return page if page is not None else self._last_set

    async def async_added_to_hass(self) -> None:
        """Restore the state this entry last set."""
        await super().async_added_to_hass()
        if (extra := await self.async_get_last_extra_data()) is None:
            return
        state = PrivacyState.from_dict(extra.as_dict())
        if state is not None and state.config_entry_id == self.coordinator.config_entry.entry_id:
            self._last_set = state.is_on

    @property
    def extra_restore_state_data(self) -> PrivacyState | None:
        """Saved with the entry's id, see the class docstring."""
        if (is_on := self.is_on) is None:
            return None
        return PrivacyState(self.coordinator.config_entry.entry_id, is_on)

    async def async_turn_on(self, **kwargs: Any) -> None:
        """Hide the caller ID."""
        await self._async_set(on=True)

    async def async_turn_off(self, **kwargs: Any) -> None:
        """Show the caller ID."""
        await self._async_set(on=False)

    async def _async_set(self, *, on: bool) -> None:
        client = self.coordinator.client
        try:
            await self.coordinator.async_write(
                client.set_privacy_on if on else client.set_privacy_off,
                applied=lambda _shown: on,
            )
        except HomeAssistantError as err:
            if err.translation_key == "write_timeout":
                # Perhaps applied; the page (if it has the box) was read again, and
                # without it the state is unknown now.
                self._last_set = None
                self.async_write_ha_state()
            raise
        self._last_set = on
        self.async_write_ha_state()
