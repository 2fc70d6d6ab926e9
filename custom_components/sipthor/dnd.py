"""Do not disturb: the accept rules, and what the server cannot say about them.

The server cannot tell "on without an end" from "expired without reset"
(docs/settings-api.md §6.1): what this integration last asked for decides, remembered
in the entry's store, and saved before each change is sent.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import timedelta
from typing import Any

from .api import AcceptRules, DndState, SipThorClient, SipThorError, SipThorWriteTimeoutError
from .const import DND_END_MARGIN
from .coordinator import SipThorCoordinator
from .store import DndIntent


@dataclass(frozen=True, slots=True)
class AcceptRulesData:
    """The accept rules, and what the server cannot say about do not disturb.

    The server cannot tell "on without an end" from "expired without reset"
    (docs/settings-api.md §6.1): what this integration last asked for decides.
    """

    rules: AcceptRules
    # Do not disturb was last turned on here without a duration.
    without_end: bool

    @property
    def dnd_active(self) -> bool:
        """Do not disturb as users understand it."""
        state = self.rules.dnd_state
        if state is DndState.ON_OR_EXPIRED:
            return self.without_end
        return state is DndState.ON

    @property
    def dnd_minutes_left(self) -> int | None:
        """0 while calls come through; None while do not disturb has no end."""
        return self.rules.dnd_minutes_left if self.dnd_active else 0


def dnd_without_end(rules: AcceptRules, remembered: bool, intent: DndIntent | None) -> bool:
    """Whether do not disturb has no end, as far as what was asked here tells.

    ``intent`` is a write not known to have been applied (Home Assistant stopped while it
    was on its way, or it got no answer in time): what the server holds says whether it
    arrived. An "off" that arrived reads as off; one that did not leaves what was before.
    """
    if rules.dnd_state is not DndState.ON_OR_EXPIRED:
        # Off, or on with minutes left: not on without an end, whoever set it.
        return False
    if intent is DndIntent.ON_WITHOUT_END:
        return True
    if intent is DndIntent.ON_TIMED:
        return False  # it arrived and has run out
    return remembered


class AcceptRulesCoordinator(SipThorCoordinator[AcceptRulesData]):
    """The accept rules, and the one owner of do not disturb."""

    async def async_set_dnd(self, *, on: bool, duration: int | None = None) -> None:
        """Turn do not disturb on (for ``duration`` minutes, or without an end) or off.

        The switch and the ``sipthor.enable_dnd`` action both come here. What is asked
        is saved first, so that a restart while it is on its way is reconciled.
        """
        store = self.account.store
        without_end = on and duration is None
        if not on:
            intent, groups, minutes = DndIntent.OFF, ["everybody"], 0
        elif duration is None:
            intent, groups, minutes = DndIntent.ON_WITHOUT_END, ["nobody"], 0
        else:
            intent, groups, minutes = DndIntent.ON_TIMED, ["nobody"], duration
        await store.async_intend_dnd(intent)
        try:
            await self.async_write(
                (lambda client: client.set_dnd_on(duration)) if on else SipThorClient.set_dnd_off,
                applied=lambda data: AcceptRulesData(
                    replace(data.rules, temporary_groups=groups, temporary_minutes=minutes),
                    without_end=without_end,
                ),
            )
        except SipThorWriteTimeoutError:
            raise  # perhaps applied: the read-back reconciles the intent
        except SipThorError:
            store.async_drop_dnd_intent()
            raise
        store.async_remember_dnd(without_end=without_end)

    async def _async_prepare(self, answer: Any) -> AcceptRulesData:
        rules: AcceptRules = answer
        store = self.account.store
        without_end = dnd_without_end(rules, store.dnd_without_end, store.dnd_intent)
        store.async_remember_dnd(without_end=without_end)
        return AcceptRulesData(rules, without_end=without_end)

    def _next_interval(self, data: AcceptRulesData) -> timedelta:
        # Read again as soon as a timed do not disturb ends, not at the slow pace.
        if (minutes := data.rules.dnd_minutes_left) is not None:
            return min(self._interval, timedelta(minutes=minutes) + DND_END_MARGIN)
        return self._interval
