"""What the integration remembers about an account across restarts.

Two things the server cannot say: whether do not disturb was turned on without an end
(it reads the same as one that expired, docs/settings-api.md §6.1), and which calls were already
announced by the call event entity.
"""

from __future__ import annotations

from typing import TypedDict

from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers.storage import Store

from .const import DOMAIN, STORAGE_VERSION

_SAVE_DELAY = 5


class _Stored(TypedDict, total=False):
    dnd_without_end: bool
    seen_calls: list[str]
    newest_call: str | None


class SipThorStore:
    """``.storage/sipthor.<entry_id>``: small, private, removed with the entry."""

    def __init__(self, hass: HomeAssistant, entry_id: str) -> None:
        """Bind to the entry's file; call :meth:`async_load` before use."""
        self._store: Store[_Stored] = Store(hass, STORAGE_VERSION, f"{DOMAIN}.{entry_id}")
        self._data: _Stored = {}
        self._dirty = False

    async def async_load(self) -> None:
        """Read the file, if there is one."""
        self._data = await self._store.async_load() or {}

    @property
    def dnd_without_end(self) -> bool:
        """Whether do not disturb was last turned on here without a duration."""
        return self._data.get("dnd_without_end", False)

    @property
    def seen_calls(self) -> set[str] | None:
        """Calls already announced; None before the first poll ever."""
        seen = self._data.get("seen_calls")
        return None if seen is None else set(seen)

    @property
    def newest_call(self) -> str | None:
        """Start time (ISO 8601) of the newest call announced."""
        return self._data.get("newest_call")

    @callback
    def async_remember_dnd(self, *, without_end: bool) -> None:
        """Remember how do not disturb was last turned on."""
        if self.dnd_without_end != without_end:
            self._data["dnd_without_end"] = without_end
            self._schedule_save()

    @callback
    def async_set_seen_calls(self, keys: set[str], newest: str | None) -> None:
        """Remember the calls announced so far."""
        self._data["seen_calls"] = sorted(keys)
        self._data["newest_call"] = newest
        self._schedule_save()

    def _schedule_save(self) -> None:
        self._dirty = True
        self._store.async_delay_save(self._snapshot, _SAVE_DELAY)

    async def async_flush(self) -> None:
        """Write now what is waiting (the entry unloads; a reload reads the file)."""
        if self._dirty:
            await self._store.async_save(self._snapshot())

    def _snapshot(self) -> _Stored:
        self._dirty = False
        return _Stored(**self._data)

    async def async_remove(self) -> None:
        """Delete the file (the entry is being removed)."""
        await self._store.async_remove()
