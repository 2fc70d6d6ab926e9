"""What the integration remembers about an account across restarts.

Three things the server cannot say: whether do not disturb was turned on without an end
(it reads the same as one that expired, docs/settings-api.md §6.1), what the privacy
switch last set where the settings page shows no checkbox, and which calls were already
announced by the call event entity. And one that saves a round trip at every start after
the first: which sources the entities showed, so that setup can read them at once,
before the entities exist again.

A write that changes what is remembered is announced here first, and saved at once
(not with the usual delay), before the request leaves: Home Assistant may stop, or the
machine lose power, while the server applies it. At the next start the intent is
reconciled with what the server holds (the accept rules), or, where nothing can be read
back (privacy without a checkbox), the state is unknown rather than the one before.
"""

from __future__ import annotations

from collections.abc import Iterable
from enum import StrEnum
from typing import Any, Final, TypedDict

from homeassistant.core import HomeAssistant, callback
from homeassistant.exceptions import HomeAssistantError
from homeassistant.helpers.storage import Store

from .const import DOMAIN, LOGGER, STORAGE_VERSION, Source

_SAVE_DELAY = 5
# The call list holds at most 2 x 50 calls; remembering more keys than that keeps a
# call from being announced twice when a list comes back shorter for a while.
MAX_SEEN_CALLS: Final = 500


class DndIntent(StrEnum):
    """A do-not-disturb write on its way: sent, not known to be applied."""

    ON_WITHOUT_END = "on_without_end"
    ON_TIMED = "on_timed"
    OFF = "off"


class _Stored(TypedDict, total=False):
    dnd_without_end: bool
    dnd_intent: str
    # None or absent: unknown (never set here, or a change whose outcome nobody saw).
    privacy_last_set: bool | None
    privacy_intent: bool
    # Oldest first.
    seen_calls: list[str]
    # The sources an entity showed at the last start, in the order of ``Source``.
    shown_sources: list[str]


class SipThorStore:
    """``.storage/sipthor.<entry_id>``: small, private, removed with the entry."""

    def __init__(self, hass: HomeAssistant, entry_id: str) -> None:
        """Bind to the entry's file; call :meth:`async_load` before use."""
        self._store: Store[_Stored] = Store(hass, STORAGE_VERSION, f"{DOMAIN}.{entry_id}")
        self._data: _Stored = {}
        self._dirty = False

    async def async_load(self) -> None:
        """Read the file, if there is one; a damaged one counts as none.

        A privacy change left unanswered when Home Assistant stopped is unknown now.

        What is kept here only spares the user a repeated call event or a do not
        disturb that reads off: losing it must never keep the account from loading.
        Home Assistant's ``Store`` raises for a file of a newer version than this
        release writes (``NotImplementedError``) and for one without its ``version`` or
        ``data`` member (``KeyError``), and cannot read a file it may not open
        (``HomeAssistantError``); a member of the wrong type is dropped here.
        """
        try:
            loaded: Any = await self._store.async_load()
        except (HomeAssistantError, NotImplementedError, KeyError, TypeError, ValueError) as err:
            self._warn_damaged(f"{type(err).__name__}: {err}")
            loaded = None
        self._data = self._valid(loaded)
        if self._data.pop("privacy_intent", None) is not None:
            self._data["privacy_last_set"] = None
            self._schedule_save()

    def _valid(self, loaded: Any) -> _Stored:
        """The members of ``loaded`` that have their type; one warning for the rest."""
        if loaded is None:
            return {}
        if not isinstance(loaded, dict):
            self._warn_damaged(f"its data is a {type(loaded).__name__}, not an object")
            return {}
        data: _Stored = {}
        dropped: list[str] = []
        if "dnd_without_end" in loaded:
            if isinstance(value := loaded["dnd_without_end"], bool):
                data["dnd_without_end"] = value
            else:
                dropped.append("dnd_without_end")
        if "dnd_intent" in loaded:
            value = loaded["dnd_intent"]
            if isinstance(value, str) and value in {intent.value for intent in DndIntent}:
                data["dnd_intent"] = value
            else:
                dropped.append("dnd_intent")
        if "privacy_last_set" in loaded:
            if isinstance(value := loaded["privacy_last_set"], bool | None):
                data["privacy_last_set"] = value
            else:
                dropped.append("privacy_last_set")
        if "privacy_intent" in loaded:
            if isinstance(value := loaded["privacy_intent"], bool):
                data["privacy_intent"] = value
            else:
                dropped.append("privacy_intent")
        if "seen_calls" in loaded:
            seen = loaded["seen_calls"]
            if isinstance(seen, list) and all(isinstance(key, str) for key in seen):
                data["seen_calls"] = seen[-MAX_SEEN_CALLS:]
            else:
                dropped.append("seen_calls")
        if "shown_sources" in loaded:
            shown = loaded["shown_sources"]
            if isinstance(shown, list) and all(isinstance(source, str) for source in shown):
                data["shown_sources"] = shown
            else:
                dropped.append("shown_sources")
        if dropped:
            self._warn_damaged(f"{', '.join(dropped)} of the wrong type")
        return data

    def _warn_damaged(self, reason: str) -> None:
        LOGGER.warning(
            "%s is damaged or from a newer release (%s); starting from defaults: calls "
            "already listed are not announced, and do not disturb without an end may "
            "read off until it is turned on here again",
            self._store.path,
            reason,
        )

    # -- do not disturb ------------------------------------------------------------------

    @property
    def dnd_without_end(self) -> bool:
        """Whether do not disturb was last turned on here without a duration."""
        return self._data.get("dnd_without_end", False)

    @property
    def dnd_intent(self) -> DndIntent | None:
        """The do-not-disturb write not known to be applied, if any."""
        try:
            return DndIntent(self._data["dnd_intent"])
        except (KeyError, ValueError):
            return None

    async def async_intend_dnd(self, intent: DndIntent) -> None:
        """Save, before it is sent, the do-not-disturb write about to go."""
        self._data["dnd_intent"] = intent.value
        await self._async_save_now()

    @callback
    def async_remember_dnd(self, *, without_end: bool) -> None:
        """What the server holds is known: remember it, and that nothing is on its way."""
        if self.dnd_without_end != without_end or "dnd_intent" in self._data:
            self._data["dnd_without_end"] = without_end
            self._data.pop("dnd_intent", None)
            self._schedule_save()

    @callback
    def async_drop_dnd_intent(self) -> None:
        """The write was refused: nothing changed on the server."""
        if self._data.pop("dnd_intent", None) is not None:
            self._schedule_save()

    # -- caller-ID privacy -----------------------------------------------------------------

    @property
    def privacy_last_set(self) -> bool | None:
        """What the privacy switch last set; None when unknown."""
        return self._data.get("privacy_last_set")

    async def async_intend_privacy(self, *, on: bool) -> None:
        """Save, before it is sent, the privacy write about to go."""
        self._data["privacy_intent"] = on
        await self._async_save_now()

    @callback
    def async_remember_privacy(self, on: bool | None) -> None:
        """What the privacy switch set (None: unknown); nothing is on its way."""
        self._data.pop("privacy_intent", None)
        self._data["privacy_last_set"] = on
        self._schedule_save()

    @callback
    def async_drop_privacy_intent(self) -> None:
        """The write was refused: nothing changed on the server."""
        if self._data.pop("privacy_intent", None) is not None:
            self._schedule_save()

    # -- announced calls -------------------------------------------------------------------

    @property
    def seen_calls(self) -> set[str] | None:
        """Calls already announced (or history when first seen); None before any."""
        seen = self._data.get("seen_calls")
        return None if seen is None else set(seen)

    @callback
    def async_add_seen_calls(self, keys: Iterable[str]) -> None:
        """Remember calls as announced, oldest first; the oldest keys go past the bound."""
        seen = self._data.get("seen_calls", [])
        known = set(seen)
        added = [key for key in keys if key not in known]
        if added or "seen_calls" not in self._data:
            self._data["seen_calls"] = [*seen, *added][-MAX_SEEN_CALLS:]
            self._schedule_save()

    # -- what the entities show ---------------------------------------------------------

    @property
    def shown_sources(self) -> list[Source]:
        """The sources an entity showed at the last start (none known before one)."""
        known = {source.value for source in Source}
        # A source a newer release stored, and this one lacks, is skipped.
        return [Source(name) for name in self._data.get("shown_sources", []) if name in known]

    @callback
    def async_remember_shown_sources(self, sources: Iterable[Source]) -> None:
        """Remember the sources the entities show now, for the next start."""
        listed = set(sources)
        shown = [source.value for source in Source if source in listed]
        if self._data.get("shown_sources") != shown:
            self._data["shown_sources"] = shown
            self._schedule_save()

    # -- the file --------------------------------------------------------------------------

    def _schedule_save(self) -> None:
        self._dirty = True
        self._store.async_delay_save(self._snapshot, _SAVE_DELAY)

    async def _async_save_now(self) -> None:
        # Replaces a delayed save that is waiting: that one would write the same.
        await self._store.async_save(self._snapshot())

    async def async_flush(self) -> None:
        """Write now what is waiting (the entry unloads; a reload reads the file)."""
        if self._dirty:
            await self._async_save_now()

    def _snapshot(self) -> _Stored:
        self._dirty = False
        return _Stored(**self._data)

    async def async_remove(self) -> None:
        """Delete the file (the entry is being removed)."""
        await self._store.async_remove()
