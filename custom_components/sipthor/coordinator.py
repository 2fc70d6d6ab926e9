"""Coordinators: what is polled, how often, and what a failure makes unavailable.

Every request costs the platform 6 to 9 back-end calls (docs/settings-api.md §3), so each
coordinator fetches only the sources that an enabled entity consumes: entities register their
source when they are added and release it when they are removed (disabled).

- The fast coordinator (every minute by default): balance, registrations, accept rules
  (do not disturb).
- The slow coordinator (every 10 minutes by default): identity, call forwarding,
  voicemail, aliases, ENUM numbers, the call list, balance history, monthly usage.

A source that fails on its own (a back-end error, an HTTP 500 for one action) makes only
its own entities unavailable; a source the server does not support is not asked again.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any
from zoneinfo import ZoneInfo

from homeassistant.config_entries import ConfigEntry
from homeassistant.const import CONF_SCAN_INTERVAL
from homeassistant.core import CALLBACK_TYPE, HomeAssistant, callback
from homeassistant.exceptions import ConfigEntryAuthFailed
from homeassistant.helpers.update_coordinator import DataUpdateCoordinator, UpdateFailed
from homeassistant.util import dt as dt_util

from .api import (
    AcceptRules,
    BalanceEntry,
    Call,
    CallForwarding,
    CertificateInfo,
    DndState,
    Identity,
    MonthlyUsage,
    PrepaidStatus,
    Registration,
    SipThorAuthenticationError,
    SipThorClient,
    SipThorConnectionError,
    SipThorError,
    SipThorNotSupportedError,
    Voicemail,
)
from .const import (
    CONF_HISTORY_TIMEZONE,
    CONF_SLOW_SCAN_INTERVAL,
    DEFAULT_SCAN_INTERVAL,
    DEFAULT_SLOW_SCAN_INTERVAL,
    DOMAIN,
    HISTORY_TIMEZONE_UTC,
    LOGGER,
)
from .store import SipThorStore


class Source(StrEnum):
    """One kind of data, fetched by one API action."""

    PREPAID = "prepaid"
    REGISTRATIONS = "registrations"
    ACCEPT_RULES = "accept_rules"
    IDENTITY = "identity"
    CALL_FORWARDING = "call_forwarding"
    VOICEMAIL = "voicemail"
    ALIASES = "aliases"
    ENUM = "enum"
    CALLS = "calls"
    BALANCE_HISTORY = "balance_history"
    MONTHLY_USAGE = "monthly_usage"


FAST_SOURCES = (Source.PREPAID, Source.REGISTRATIONS, Source.ACCEPT_RULES)
SLOW_SOURCES = (
    Source.IDENTITY,
    Source.CALL_FORWARDING,
    Source.VOICEMAIL,
    Source.ALIASES,
    Source.ENUM,
    Source.CALLS,
    Source.BALANCE_HISTORY,
    Source.MONTHLY_USAGE,
)
# Fetched at setup, before any entity has said what it needs: what the entities that
# are enabled by default consume.
INITIAL_SOURCES = frozenset(
    {
        Source.PREPAID,
        Source.REGISTRATIONS,
        Source.ACCEPT_RULES,
        Source.IDENTITY,
        Source.CALL_FORWARDING,
        Source.VOICEMAIL,
        Source.ALIASES,
        Source.ENUM,
        Source.CALLS,
    }
)


@dataclass(frozen=True, slots=True)
class CallRecord:
    """A call with its start as an aware time (the server prints naive times)."""

    call: Call
    started: datetime | None


@dataclass(frozen=True, slots=True, kw_only=True)
class AccountData:
    """What the coordinators know. A source is usable when fetched and not failing."""

    prepaid: PrepaidStatus | None = None
    registrations: list[Registration] = field(default_factory=list)
    accept_rules: AcceptRules | None = None
    identity: Identity | None = None
    call_forwarding: CallForwarding | None = None
    voicemail: Voicemail | None = None
    aliases: list[str] = field(default_factory=list)
    enum: list[str] = field(default_factory=list)
    calls: list[CallRecord] = field(default_factory=list)
    balance_history: list[BalanceEntry] = field(default_factory=list)
    monthly_usage: MonthlyUsage | None = None
    fetched: frozenset[Source] = frozenset()
    failing: frozenset[Source] = frozenset()
    unsupported: frozenset[Source] = frozenset()

    def usable(self, source: Source) -> bool:
        """Whether entities of ``source`` have current data to show."""
        return source in self.fetched and source not in self.failing | self.unsupported


type Fetcher = Callable[[SipThorClient], Awaitable[Any]]
_FETCHERS: dict[Source, Fetcher] = {
    Source.PREPAID: lambda client: client.get_prepaid(),
    Source.REGISTRATIONS: lambda client: client.get_devices(),
    Source.ACCEPT_RULES: lambda client: client.get_accept_rules(),
    Source.IDENTITY: lambda client: client.get_identity(),
    Source.CALL_FORWARDING: lambda client: client.get_call_forwarding(),
    Source.VOICEMAIL: lambda client: client.get_voicemail(),
    Source.ALIASES: lambda client: client.get_aliases(),
    Source.ENUM: lambda client: client.get_enum(),
    Source.CALLS: lambda client: client.get_call_history(),
    Source.BALANCE_HISTORY: lambda client: client.get_balance_history(),
    Source.MONTHLY_USAGE: lambda client: client.get_monthly_usage(),
}


@dataclass(slots=True)
class SipThorRuntimeData:
    """What a loaded entry holds."""

    client: SipThorClient
    certificate: CertificateInfo
    store: SipThorStore
    fast: SipThorFastCoordinator
    slow: SipThorSlowCoordinator
    # The options the entry was set up with (to tell an options change from others).
    options: dict[str, Any]

    def coordinator_for(self, source: Source) -> SipThorCoordinator:
        """The coordinator that fetches ``source``."""
        return self.fast if source in FAST_SOURCES else self.slow


type SipThorConfigEntry = ConfigEntry[SipThorRuntimeData]


class SipThorCoordinator(DataUpdateCoordinator[AccountData]):
    """Fetches the sources its entities consume, one request at a time."""

    config_entry: SipThorConfigEntry

    def __init__(
        self,
        hass: HomeAssistant,
        entry: SipThorConfigEntry,
        client: SipThorClient,
        *,
        name: str,
        sources: tuple[Source, ...],
        update_interval: timedelta,
    ) -> None:
        """Poll ``sources`` for ``entry`` every ``update_interval``."""
        super().__init__(
            hass,
            LOGGER,
            config_entry=entry,
            name=f"{name} {entry.title}",
            update_interval=update_interval,
        )
        self.client = client
        self.sources = sources
        self._consumers: Counter[Source] = Counter()
        self._consumers_known = False

    @callback
    def async_add_consumer(self, source: Source) -> CALLBACK_TYPE:
        """Register an entity that shows ``source``; returns the call that releases it."""
        self._consumers[source] += 1
        self._consumers_known = True

        @callback
        def release() -> None:
            self._consumers[source] -= 1

        return release

    async def async_fetch_missing(self) -> None:
        """Fetch what entities need but setup did not fetch (an entity enabled later)."""
        data = self.data
        missing = [
            source
            for source in self.wanted_sources()
            if source not in data.fetched | data.failing | data.unsupported
        ]
        if missing:
            await self.async_refresh_sources(*missing)

    def wanted_sources(self) -> list[Source]:
        """The sources to fetch now, in a fixed order."""
        if self._consumers_known:
            wanted = {source for source, count in self._consumers.items() if count > 0}
        else:
            wanted = set(INITIAL_SOURCES)
        return [source for source in self.sources if source in wanted]

    async def _async_update_data(self) -> AccountData:
        return await self._fetch(self.wanted_sources(), raise_when_all_fail=True)

    async def async_refresh_sources(self, *sources: Source) -> None:
        """Read back ``sources`` after a write changed them, if an entity shows them."""
        wanted = [source for source in sources if source in self.wanted_sources()]
        if not wanted:
            return
        try:
            data = await self._fetch(wanted, raise_when_all_fail=False)
        except UpdateFailed as err:
            LOGGER.warning("Could not read back %s: %s", ", ".join(wanted), err)
            return
        except ConfigEntryAuthFailed:
            self.config_entry.async_start_reauth(self.hass)
            return
        self.async_set_updated_data(data)

    async def _fetch(self, sources: Iterable[Source], *, raise_when_all_fail: bool) -> AccountData:
        previous = self.data or AccountData()
        values: dict[str, Any] = {}
        fetched = set(previous.fetched)
        unsupported = set(previous.unsupported)
        answered: list[Source] = []
        failures: dict[Source, str] = {}
        for source in sources:
            if source in unsupported:
                continue
            try:
                value = await _FETCHERS[source](self.client)
            except SipThorAuthenticationError as err:
                raise ConfigEntryAuthFailed(
                    translation_domain=DOMAIN,
                    translation_key="authentication_failed",
                    translation_placeholders={"error": str(err)},
                ) from err
            except SipThorConnectionError as err:
                raise UpdateFailed(
                    translation_domain=DOMAIN,
                    translation_key="communication_error",
                    translation_placeholders={"error": str(err)},
                ) from err
            except SipThorNotSupportedError as err:
                unsupported.add(source)
                LOGGER.info(
                    "%s: the server does not support %s (%s); not asking again until reload",
                    self.config_entry.title,
                    source,
                    err,
                )
                continue
            except SipThorError as err:
                failures[source] = str(err)
                continue
            answered.append(source)
            fetched.add(source)
            values[source.value] = await self._prepare(source, value)

        if raise_when_all_fail and failures and not answered:
            # Nothing answered: the whole account is unavailable, logged once by the
            # coordinator itself rather than once per source.
            raise UpdateFailed(
                translation_domain=DOMAIN,
                translation_key="server_error",
                translation_placeholders={"error": next(iter(failures.values()))},
            )
        for source, message in failures.items():
            if source not in previous.failing:
                LOGGER.warning(
                    "%s: reading %s failed, its entities are unavailable: %s",
                    self.config_entry.title,
                    source,
                    message,
                )
        for source in answered:
            if source in previous.failing:
                LOGGER.info("%s: reading %s works again", self.config_entry.title, source)
        failing = (previous.failing - set(answered)) | failures.keys()
        data = replace(
            previous,
            fetched=frozenset(fetched),
            failing=frozenset(failing),
            unsupported=frozenset(unsupported),
            **values,
        )
        self._after_fetch(data)
        return data

    async def _prepare(self, source: Source, value: Any) -> Any:
        """Turn a client answer into what ``AccountData`` holds for ``source``."""
        return value

    def _after_fetch(self, data: AccountData) -> None:
        """Hook for state derived from fresh data."""


class SipThorFastCoordinator(SipThorCoordinator):
    """Balance, registrations and do not disturb."""

    def __init__(
        self,
        hass: HomeAssistant,
        entry: SipThorConfigEntry,
        client: SipThorClient,
        store: SipThorStore,
    ) -> None:
        """Poll every ``scan_interval`` seconds (option)."""
        seconds = entry.options.get(CONF_SCAN_INTERVAL, DEFAULT_SCAN_INTERVAL)
        super().__init__(
            hass,
            entry,
            client,
            name="SIP Thor",
            sources=FAST_SOURCES,
            update_interval=timedelta(seconds=seconds),
        )
        self.store = store

    def dnd_active(self) -> bool | None:
        """Do not disturb as users understand it; None when unknown.

        The server cannot tell "on without an end" from "expired without reset"
        (docs/settings-api.md §6.1): what this integration last asked for decides.
        """
        if self.data is None or self.data.accept_rules is None:
            return None
        state = self.data.accept_rules.dnd_state
        if state is DndState.ON_OR_EXPIRED:
            return self.store.dnd_without_end
        return state is DndState.ON

    def _after_fetch(self, data: AccountData) -> None:
        rules = data.accept_rules
        if rules is not None and rules.dnd_state is not DndState.ON_OR_EXPIRED:
            # Turned off, or set with a duration, by someone else: forget ours.
            self.store.async_remember_dnd(without_end=False)


class SipThorSlowCoordinator(SipThorCoordinator):
    """Identity, forwarding, voicemail, aliases, ENUM, calls, balance history, usage."""

    def __init__(
        self, hass: HomeAssistant, entry: SipThorConfigEntry, client: SipThorClient
    ) -> None:
        """Poll every ``slow_scan_interval`` minutes (option)."""
        minutes = entry.options.get(CONF_SLOW_SCAN_INTERVAL, DEFAULT_SLOW_SCAN_INTERVAL)
        super().__init__(
            hass,
            entry,
            client,
            name="SIP Thor account",
            sources=SLOW_SOURCES,
            update_interval=timedelta(minutes=minutes),
        )
        self._zones: dict[str, ZoneInfo | None] = {}

    async def _prepare(self, source: Source, value: Any) -> Any:
        if source is not Source.CALLS:
            return value
        return [CallRecord(call, await self._aware(call)) for call in value.calls]

    async def _aware(self, call: Call) -> datetime | None:
        """The call's start in the zone the server printed it in.

        Which zone that is, is an option: docs/settings-api.md §9 question 8.
        """
        if call.start_time is None:
            return None
        if self.config_entry.options.get(CONF_HISTORY_TIMEZONE) == HISTORY_TIMEZONE_UTC:
            return call.start_time.replace(tzinfo=dt_util.UTC)
        name = call.timezone or str(self.hass.config.time_zone)
        if name not in self._zones:
            self._zones[name] = await dt_util.async_get_time_zone(name)
        zone = self._zones[name] or dt_util.get_default_time_zone()
        return call.start_time.replace(tzinfo=zone)
