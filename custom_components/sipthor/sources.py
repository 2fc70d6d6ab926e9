"""The sources of an account, in one table: what each fetches, how often, and with what.

- Registrations: every ``scan_interval`` seconds (60 by default): a phone that drops
  its registration is what automations wait for.
- Balance: every 5 minutes, and once after the call list shows a new call; it changes
  only when a call ends or credit is added.
- Accept rules (do not disturb): every ``slow_scan_interval`` minutes, again when a
  timed do not disturb ends (the server states the minutes left), and after our writes.
- Caller-ID privacy: hourly; the HTML page costs a full render (docs/settings-api.md §6.2).
- The rest: every ``slow_scan_interval`` minutes (10 by default).

A new source from a new read action is a row of :data:`SOURCES`, a client method, a
description of the entities that show it, their translations and tests.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from homeassistant.config_entries import ConfigEntry
from homeassistant.const import CONF_SCAN_INTERVAL
from homeassistant.util import dt as dt_util

from .account import SipThorAccount
from .api import (
    BalanceEntry,
    Call,
    CallForwarding,
    CallHistory,
    ForwardingCondition,
    Identity,
    MonthlyUsage,
    PrepaidStatus,
    Registration,
    SipThorClient,
    SipThorError,
    SipThorWriteTimeoutError,
    Voicemail,
)
from .const import (
    BALANCE_INTERVAL,
    CONF_HISTORY_TIMEZONE,
    CONF_SLOW_SCAN_INTERVAL,
    DEFAULT_SCAN_INTERVAL,
    DEFAULT_SLOW_SCAN_INTERVAL,
    HISTORY_TIMEZONE_UTC,
    PRIVACY_INTERVAL,
    Source,
)
from .coordinator import SipThorCoordinator, SourceDescription
from .dnd import AcceptRulesCoordinator, AcceptRulesData


class CallForwardingCoordinator(SipThorCoordinator[CallForwarding]):
    """The forwarding targets."""

    async def async_set_targets(self, targets: dict[ForwardingCondition, str | None]) -> None:
        """Set the conditions in ``targets`` ("" or None clears one)."""
        await self.async_write(
            lambda client: client.set_call_forwarding(targets),
            applied=lambda forwarding: replace(
                forwarding,
                targets=forwarding.targets | {key: value or None for key, value in targets.items()},
            ),
        )


class AliasesCoordinator(SipThorCoordinator[list[str]]):
    """The aliases of the account."""

    async def async_add_alias(self, username: str) -> None:
        """Add ``username@<account domain>``."""
        domain = self.account.client.account.partition("@")[2]
        await self.async_write(
            lambda client: client.add_alias(username),
            applied=lambda aliases: [*aliases, f"{username}@{domain}"],
        )


class PrivacyCoordinator(SipThorCoordinator[bool | None]):
    """The settings page's privacy checkbox: True or False, None where it shows none.

    Where the page cannot tell, the switch shows what it last set, kept in the store.
    """

    async def async_set_privacy(self, *, on: bool) -> None:
        """Hide (``on``) or show the caller ID; saved as intended before it is sent."""
        store = self.account.store
        await store.async_intend_privacy(on=on)
        try:
            await self.async_write(
                SipThorClient.set_privacy_on if on else SipThorClient.set_privacy_off,
                applied=lambda shown: None if shown is None else on,
            )
        except SipThorWriteTimeoutError:
            store.async_remember_privacy(None)  # perhaps applied: unknown now
            raise
        except SipThorError:
            store.async_drop_privacy_intent()
            raise
        store.async_remember_privacy(on)


@dataclass(frozen=True, slots=True)
class CallRecord:
    """A call with its start as an aware time (the server prints naive times)."""

    call: Call
    started: datetime | None


class CallsCoordinator(SipThorCoordinator[list[CallRecord]]):
    """The call list; a new call in it makes the balance worth reading again."""

    def __init__(
        self, account: SipThorAccount, description: SourceDescription[list[CallRecord]]
    ) -> None:
        """Poll the call list; the time zones it names are looked up once."""
        super().__init__(account, description)
        self._zones: dict[str, ZoneInfo | None] = {}

    async def _async_prepare(self, answer: Any) -> list[CallRecord]:
        history: CallHistory = answer
        records = [CallRecord(call, await self._aware(call)) for call in history.calls]
        if self.fetched and {record.call.key for record in records} - {
            record.call.key for record in self.data
        }:
            # A call that ended may have cost credit: read the balance now, not in 5 min.
            self.config_entry.async_create_background_task(
                self.hass,
                self.account.async_request_refresh(Source.PREPAID),
                f"{self.name}: the balance after a new call",
            )
        return records

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


def _fast(options: Mapping[str, Any]) -> timedelta:
    return timedelta(seconds=options.get(CONF_SCAN_INTERVAL, DEFAULT_SCAN_INTERVAL))


def _slow(options: Mapping[str, Any]) -> timedelta:
    return timedelta(minutes=options.get(CONF_SLOW_SCAN_INTERVAL, DEFAULT_SLOW_SCAN_INTERVAL))


def _balance(options: Mapping[str, Any]) -> timedelta:
    # Between the two options: never more often than the registrations.
    return max(_fast(options), min(BALANCE_INTERVAL, _slow(options)))


def _hourly(_options: Mapping[str, Any]) -> timedelta:
    return PRIVACY_INTERVAL


SOURCES: tuple[SourceDescription[Any], ...] = (
    SourceDescription[PrepaidStatus | None](Source.PREPAID, SipThorClient.get_prepaid, _balance),
    SourceDescription[list[Registration]](Source.REGISTRATIONS, SipThorClient.get_devices, _fast),
    SourceDescription[AcceptRulesData](
        Source.ACCEPT_RULES, SipThorClient.get_accept_rules, _slow, AcceptRulesCoordinator
    ),
    SourceDescription[Identity](Source.IDENTITY, SipThorClient.get_identity, _slow),
    SourceDescription[CallForwarding](
        Source.CALL_FORWARDING,
        SipThorClient.get_call_forwarding,
        _slow,
        CallForwardingCoordinator,
    ),
    SourceDescription[Voicemail | None](Source.VOICEMAIL, SipThorClient.get_voicemail, _slow),
    SourceDescription[list[str]](
        Source.ALIASES, SipThorClient.get_aliases, _slow, AliasesCoordinator
    ),
    SourceDescription[list[str]](Source.ENUM, SipThorClient.get_enum, _slow),
    SourceDescription[list[CallRecord]](
        Source.CALLS, SipThorClient.get_call_history, _slow, CallsCoordinator
    ),
    SourceDescription[list[BalanceEntry]](
        Source.BALANCE_HISTORY, SipThorClient.get_balance_history, _slow
    ),
    SourceDescription[MonthlyUsage](Source.MONTHLY_USAGE, SipThorClient.get_monthly_usage, _slow),
    SourceDescription[bool | None](
        Source.PRIVACY, SipThorClient.get_privacy, _hourly, PrivacyCoordinator
    ),
    SourceDescription[list[str]](Source.REJECT_RULES, SipThorClient.get_reject_rules, _slow),
)


@dataclass(slots=True, kw_only=True)
class SipThorRuntimeData:
    """What a loaded entry holds: the account, and one coordinator per source."""

    account: SipThorAccount
    # The options the entry was set up with (to tell an options change from others).
    options: dict[str, Any]
    prepaid: SipThorCoordinator[PrepaidStatus | None]
    registrations: SipThorCoordinator[list[Registration]]
    accept_rules: AcceptRulesCoordinator
    identity: SipThorCoordinator[Identity]
    call_forwarding: CallForwardingCoordinator
    voicemail: SipThorCoordinator[Voicemail | None]
    aliases: AliasesCoordinator
    enum: SipThorCoordinator[list[str]]
    calls: CallsCoordinator
    balance_history: SipThorCoordinator[list[BalanceEntry]]
    monthly_usage: SipThorCoordinator[MonthlyUsage]
    privacy: PrivacyCoordinator
    reject_rules: SipThorCoordinator[list[str]]

    @property
    def coordinators(self) -> tuple[SipThorCoordinator[Any], ...]:
        """Every coordinator, in the order of ``Source``."""
        return tuple(getattr(self, source.value) for source in Source)

    @property
    def setup_coordinators(self) -> tuple[SipThorCoordinator[Any], ...]:
        """What setup fetches before the entities exist (concurrently: one round trip).

        The balance decides whether the active-calls sensor exists, the registrations
        which phones get entities; the accept rules are the switch users reach for.
        """
        return (self.prepaid, self.registrations, self.accept_rules)


type SipThorConfigEntry = ConfigEntry[SipThorRuntimeData]


def create_runtime_data(account: SipThorAccount) -> SipThorRuntimeData:
    """One coordinator per row of :data:`SOURCES`."""
    coordinators: dict[str, Any] = {
        row.source.value: row.coordinator(account, row) for row in SOURCES
    }
    return SipThorRuntimeData(account=account, options=dict(account.entry.options), **coordinators)
