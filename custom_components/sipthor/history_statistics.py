"""The account's past as long-term statistics: the balance and the calls, hour by hour.

The settings page lists the calls of the last 14 days and the last balance changes (up
to 200). Imported into the recorder as statistics of this integration's own
(``sipthor:<account>_balance``, ``…_received_calls``, ``…_missed_calls``,
``…_placed_calls``), as core's opower and tibber import their history, a balance graph
and the calls per day show that past as soon as the account is added, and go on from
there. The sensors' own statistics, which start on the day they were added, are not
touched.

Imports are idempotent, so nothing is counted twice however often they run:

- calls: each hour holds the calls that started in it. Where the list surely holds
  every call (the last 13 days, unless it is full), an hour holds what the list shows,
  so a call that moves (the zone option changed) moves in the statistics; before that
  an hour only grows (a call that dropped out of the list stays counted). The sums
  after a changed hour are shifted to match;
- balance: each hour holds the balance at its end, as state and as sum, so "change"
  gives the net change of a period and writing an hour again writes the same row.

Without the recorder (it is in ``after_dependencies``) nothing is imported.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Iterable
from datetime import datetime, timedelta, tzinfo
from functools import partial
import itertools
from typing import Final, Literal

from homeassistant.components.recorder.models import (
    StatisticData,
    StatisticMeanType,
    StatisticMetaData,
)
from homeassistant.components.recorder.statistics import (
    StatisticsRow,
    async_add_external_statistics,
    get_last_statistics,
    statistics_during_period,
)
from homeassistant.const import CONF_CURRENCY
from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers.recorder import get_instance
from homeassistant.util import dt as dt_util, slugify

from .api import BalanceEntry, CallDirection
from .const import (
    CALL_LIST_LIMIT,
    CONF_HISTORY_TIMEZONE,
    DEFAULT_CURRENCY,
    DOMAIN,
    HISTORY_TIMEZONE_UTC,
    LOGGER,
)
from .sources import CallRecord, SipThorConfigEntry, SipThorRuntimeData

HOUR: Final = timedelta(hours=1)
# The call list covers the last 14 days: the last 13 are surely all in it, and none is
# older than 16 (a margin for the server's clock and zone).
CALL_LIST_COMPLETE: Final = timedelta(days=13)
CALL_LIST_REACH: Final = timedelta(days=16)
# A balance change the server lists late (it is read when the balance changes) lands in
# an hour already written: each import writes the last day again.
BALANCE_REWRITE: Final = timedelta(days=1)
# The first import goes back at most this far: one row per hour, two weeks at a time.
BALANCE_HORIZON: Final = timedelta(days=366)
BALANCE_BATCH: Final = 14 * 24
# Home Assistant 2025.10 and newer want the unit class in the metadata; 2025.4 refuses
# any key it does not know.
_HAS_UNIT_CLASS: Final = "unit_class" in StatisticMetaData.__annotations__

type CallKind = Literal["received_calls", "missed_calls", "placed_calls"]
CALL_KINDS: Final[tuple[CallKind, ...]] = ("received_calls", "missed_calls", "placed_calls")
_CALL_NAMES: Final[dict[CallKind, str]] = {
    "received_calls": "received calls",
    "missed_calls": "missed calls",
    "placed_calls": "placed calls",
}
# Received and missed calls share the incoming list, and its limit of 50.
_DIRECTIONS: Final[dict[CallKind, CallDirection]] = {
    "received_calls": CallDirection.RECEIVED,
    "missed_calls": CallDirection.RECEIVED,
    "placed_calls": CallDirection.PLACED,
}


def statistic_id(entry: SipThorConfigEntry, kind: str) -> str:
    """``sipthor:alice_example_com_balance``: the account, then what is counted."""
    return f"{DOMAIN}:{slugify(str(entry.unique_id))}_{kind}"


def _complete_from(records: list[CallRecord], direction: CallDirection, now: datetime) -> datetime:
    """The first hour from which the list holds every call of ``direction``.

    The list covers 14 days (a day's margin for the server's clock and zone), unless it
    is full: then calls older than its oldest one have dropped out, some perhaps from
    that same hour.
    """
    starts = [record.started for record in records if record.call.direction is direction]
    if len(starts) >= CALL_LIST_LIMIT:
        oldest = min((start for start in starts if start is not None), default=now)
        return _hour(oldest) + HOUR
    return _hour(now - CALL_LIST_COMPLETE)


def _call_kind(record: CallRecord) -> CallKind:
    if record.call.direction is CallDirection.PLACED:
        return "placed_calls"
    return "missed_calls" if record.call.missed else "received_calls"


def _hour(moment: datetime) -> datetime:
    return dt_util.as_utc(moment).replace(minute=0, second=0, microsecond=0)


def _metadata(
    entry: SipThorConfigEntry, kind: str, name: str, unit: str | None
) -> StatisticMetaData:
    metadata = StatisticMetaData(
        mean_type=StatisticMeanType.NONE,
        has_sum=True,
        name=f"{entry.title} {name}",
        source=DOMAIN,
        statistic_id=statistic_id(entry, kind),
        unit_of_measurement=unit,
    )
    if _HAS_UNIT_CLASS:
        metadata["unit_class"] = None  # type: ignore[typeddict-unknown-key]
    return metadata


class HistoryStatistics:
    """Imports one account's call list and balance history; listens for new data.

    The call list is imported whenever it is read. The balance history is read (one
    request) after setup and again only when the balance changes, which is when it
    gets a new line.
    """

    def __init__(self, hass: HomeAssistant, entry: SipThorConfigEntry) -> None:
        """Import for ``entry``, whose runtime data holds the coordinators."""
        self._hass = hass
        self._entry = entry
        self._runtime: SipThorRuntimeData = entry.runtime_data
        self._lock = asyncio.Lock()
        self._balance_due = True
        self._balance_seen: float | None = None
        # The balance history last imported (a new read is a new list).
        self._history_imported: list[BalanceEntry] | None = None

    @callback
    def async_start(self) -> None:
        """Listen to the call list and the balance, until the entry unloads."""
        runtime = self._runtime
        self._balance_seen = self._balance()
        self._entry.async_on_unload(runtime.calls.async_add_listener(self._async_calls_read))
        self._entry.async_on_unload(runtime.prepaid.async_add_listener(self._async_balance_read))
        if runtime.calls.usable:
            # Read while the entities were added, before this listened.
            self._schedule()

    def _balance(self) -> float | None:
        prepaid = self._runtime.prepaid
        return prepaid.data.balance if prepaid.usable and prepaid.data else None

    @callback
    def _async_calls_read(self) -> None:
        self._schedule()

    @callback
    def _async_balance_read(self) -> None:
        balance = self._balance()
        if balance is not None and balance != self._balance_seen:
            self._balance_seen = balance
            self._balance_due = True
            self._schedule()

    def _schedule(self) -> None:
        self._entry.async_create_background_task(
            self._hass, self._async_import(), f"{self._entry.title}: statistics import"
        )

    async def _async_import(self) -> None:
        async with self._lock:
            calls = self._runtime.calls
            if calls.usable:
                await self._async_import_calls(calls.data)
            history = self._runtime.balance_history
            if self._balance_due and history.supported:
                await history.async_refresh()
                # Until it is read, tried again with each call list and balance change.
                self._balance_due = not history.usable
            if history.usable:
                await self._async_import_balance(history.data)

    # -- calls ----------------------------------------------------------------------

    async def _async_import_calls(self, records: list[CallRecord]) -> None:
        now = dt_util.utcnow()
        listed: dict[CallKind, Counter[datetime]] = {kind: Counter() for kind in CALL_KINDS}
        for record in records:
            # Outside the 14 days the list covers, a start time is nonsense.
            if record.started is not None and now - CALL_LIST_REACH <= record.started <= now:
                listed[_call_kind(record)][_hour(record.started)] += 1
        complete = {kind: _complete_from(records, _DIRECTIONS[kind], now) for kind in CALL_KINDS}
        since = min([*complete.values(), *(hour for counts in listed.values() for hour in counts)])
        ids = {statistic_id(self._entry, kind) for kind in CALL_KINDS}
        stored = await get_instance(self._hass).async_add_executor_job(
            statistics_during_period,
            self._hass,
            since,
            None,
            ids,
            "hour",
            None,
            {"state", "sum"},
        )
        for kind in CALL_KINDS:
            kind_id = statistic_id(self._entry, kind)
            rows = await self._async_call_rows(
                kind_id, listed[kind], stored.get(kind_id, []), complete[kind]
            )
            if rows:
                async_add_external_statistics(
                    self._hass, _metadata(self._entry, kind, _CALL_NAMES[kind], None), rows
                )
                LOGGER.debug("%s: %d hours of %s imported", self._entry.title, len(rows), kind)

    async def _async_call_rows(
        self,
        kind_id: str,
        listed: Counter[datetime],
        stored: list[StatisticsRow],
        complete: datetime,
    ) -> list[StatisticData]:
        """The hours whose count changes, and every hour after them (their sums move).

        From ``complete`` on, an hour holds what the list shows (the zone option moved
        a call to another hour, or it was never there); before, it only grows (the
        list has lost calls there).
        """
        counts = {
            dt_util.utc_from_timestamp(row["start"]): row.get("state") or 0.0 for row in stored
        }
        hours = sorted(counts.keys() | listed.keys())
        wanted = {
            hour: float(listed[hour])
            if hour >= complete
            else max(counts.get(hour, 0.0), listed[hour])
            for hour in hours
        }
        changed = next((hour for hour in hours if wanted[hour] != counts.get(hour, 0.0)), None)
        if changed is None:
            return []
        if stored:
            # The sum before the first hour read.
            total = (stored[0].get("sum") or 0.0) - (stored[0].get("state") or 0.0)
        else:
            last = await self._async_last_row(kind_id)
            total = (last.get("sum") or 0.0) if last else 0.0
        rows = []
        for hour in hours:
            total += wanted[hour]
            if hour >= changed and (wanted[hour] or hour in counts):
                rows.append(StatisticData(start=hour, state=wanted[hour], sum=total))
        return rows

    # -- balance --------------------------------------------------------------------

    async def _async_import_balance(self, history: list[BalanceEntry]) -> None:
        """Write the balance of each hour, up to the current one.

        Each call list extends it; a history read since the last import writes the last
        day again, where a change the server listed late belongs.
        """
        zone = self._zone()
        changes = sorted(
            (moment, entry.balance)
            for entry in history
            if entry.date is not None
            and entry.balance is not None
            and (moment := _utc(entry.date, zone)) is not None
        )
        if not changes:
            return
        kind_id = statistic_id(self._entry, "balance")
        now = _hour(dt_util.utcnow())
        since = now - BALANCE_HORIZON
        if last := await self._async_last_row(kind_id):
            since = dt_util.utc_from_timestamp(last["start"])
            if history is not self._history_imported:
                since -= BALANCE_REWRITE
        self._history_imported = history
        currency = self._entry.options.get(CONF_CURRENCY, DEFAULT_CURRENCY)
        metadata = _metadata(self._entry, "balance", "balance", currency)
        rows = _balance_rows(changes, max(since, _hour(changes[0][0])), now)
        for batch in itertools.batched(rows, BALANCE_BATCH, strict=False):
            async_add_external_statistics(self._hass, metadata, list(batch))
            LOGGER.debug("%s: %d hours of balance imported", self._entry.title, len(batch))
            # A year of hours at once would hold the event loop for about 20 ms.
            await asyncio.sleep(0)

    async def _async_last_row(self, kind_id: str) -> StatisticsRow | None:
        """The newest hour stored for ``kind_id``, with its sum."""
        last = await get_instance(self._hass).async_add_executor_job(
            partial(get_last_statistics, self._hass, 1, kind_id, convert_units=True, types={"sum"})
        )
        rows = last.get(kind_id)
        return rows[0] if rows else None

    def _zone(self) -> tzinfo:
        """The zone of the call list: the server prints both without one."""
        if self._entry.options.get(CONF_HISTORY_TIMEZONE) == HISTORY_TIMEZONE_UTC:
            return dt_util.UTC
        calls = self._runtime.calls
        records = calls.data if calls.fetched else []
        zones = (record.started.tzinfo for record in records if record.started)
        return next((zone for zone in zones if zone is not None), dt_util.get_default_time_zone())


def _utc(naive: datetime, zone: tzinfo) -> datetime | None:
    """``naive`` in ``zone``, as UTC; None for a date UTC cannot hold (year 1, 9999)."""
    try:
        return dt_util.as_utc(naive.replace(tzinfo=zone))
    except OverflowError:
        return None


def _balance_rows(
    changes: list[tuple[datetime, float]], since: datetime, until: datetime
) -> Iterable[StatisticData]:
    """One row per hour from ``since`` to ``until``: the balance at the end of the hour."""
    index = 0
    balance: float | None = None
    hour = since
    while hour <= until:
        end = hour + HOUR
        while index < len(changes) and changes[index][0] < end:
            balance = changes[index][1]
            index += 1
        if balance is not None:
            yield StatisticData(start=hour, state=balance, sum=balance)
        hour = end


@callback
def async_setup_history_statistics(hass: HomeAssistant, entry: SipThorConfigEntry) -> None:
    """Import the account's history into the recorder, if Home Assistant records."""
    if "recorder" not in hass.config.components:
        LOGGER.debug("%s: no recorder, so no statistics of the history", entry.title)
        return
    HistoryStatistics(hass, entry).async_start()
