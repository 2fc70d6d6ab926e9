"""Coordinators: one per source, each polled at the pace its data changes.

Every request costs the platform 6 to 9 back-end calls (docs/settings-api.md §3), so
each kind of data has its own ``DataUpdateCoordinator``, as in the core ``nextdns``
integration. Home Assistant polls a coordinator only while an entity listens to it: a
disabled entity costs no request.

- Registrations: every ``scan_interval`` seconds (60 by default): a phone that drops
  its registration is what automations wait for.
- Balance: every 5 minutes, and once after the call list shows a new call; it changes
  only when a call ends or credit is added.
- Accept rules (do not disturb): every ``slow_scan_interval`` minutes, again when a
  timed do not disturb ends (the server states the minutes left), and after our writes.
- Identity, forwarding, voicemail, aliases, ENUM, calls, balance history, monthly
  usage, reject rules: every ``slow_scan_interval`` minutes (10 by default).

A source that fails makes only its own entities unavailable; a source the server does
not support is not asked again until the entry reloads.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
import contextlib
from contextlib import asynccontextmanager
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from enum import StrEnum
import logging
from typing import Any, Final
from zoneinfo import ZoneInfo

from homeassistant.config_entries import ConfigEntry
from homeassistant.const import CONF_SCAN_INTERVAL
from homeassistant.core import CALLBACK_TYPE, HomeAssistant, callback
from homeassistant.exceptions import ConfigEntryAuthFailed, HomeAssistantError
from homeassistant.helpers.update_coordinator import DataUpdateCoordinator, UpdateFailed
from homeassistant.util import dt as dt_util

from .api import (
    AcceptRules,
    BalanceEntry,
    Call,
    CallForwarding,
    CertificateInfo,
    DndState,
    ForwardingCondition,
    Identity,
    MonthlyUsage,
    PrepaidStatus,
    Registration,
    SipThorApiError,
    SipThorAuthenticationError,
    SipThorClient,
    SipThorConnectionError,
    SipThorDowngradeError,
    SipThorError,
    SipThorNotSupportedError,
    SipThorWriteTimeoutError,
    Voicemail,
)
from .const import (
    BALANCE_INTERVAL,
    CONF_HISTORY_TIMEZONE,
    CONF_SLOW_SCAN_INTERVAL,
    DEFAULT_SCAN_INTERVAL,
    DEFAULT_SLOW_SCAN_INTERVAL,
    DND_END_MARGIN,
    DOMAIN,
    HISTORY_TIMEZONE_UTC,
    LOGGER,
    POLL_TIMEOUT,
    PRIVACY_INTERVAL,
    WRITE_TIMEOUT,
)
from .repairs import async_certificate_refused, async_digest_downgraded
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
    PRIVACY = "privacy"
    REJECT_RULES = "reject_rules"


# What DataUpdateCoordinator logs (at info) when a coordinator's fetch works again.
_RECOVERED: Final = "Fetching %s data recovered"


class AccountLink(logging.Filter):
    """Whether the account's settings page answers, said once per change for the account.

    When the page cannot be reached (or refuses the credentials), every source fails,
    each at its own time. Home Assistant would log a line for each coordinator that
    fails and another for each that recovers; the user needs one of each. The
    coordinator that meets the outage first logs it, the others fail quietly, and
    instead of each source's recovery the link logs once that the page answers again.
    A failure of one action only (the page answered with an error for it) is that
    source's own, logged by its coordinator, recovery included.
    """

    def __init__(self, entry: SipThorConfigEntry) -> None:
        """Log for ``entry`` through its own logger, which this filter watches."""
        super().__init__()
        self.reachable = True
        self._title = entry.title
        self._quiet_recoveries: set[str] = set()
        # One logger per entry (a child of the integration's): its filter is this link.
        self.logger = LOGGER.getChild(entry.entry_id)
        for earlier in list(self.logger.filters):  # a reload's link replaces the last one
            self.logger.removeFilter(earlier)
        self.logger.addFilter(self)

    def filter(self, record: logging.LogRecord) -> bool:
        """Drop the recovery lines of sources that failed only because of an outage."""
        if record.msg == _RECOVERED and isinstance(record.args, tuple) and record.args:
            name = record.args[0]
            if name in self._quiet_recoveries:
                self._quiet_recoveries.discard(name)
                return False
        return True

    @callback
    def async_answered(self) -> None:
        """The page answered: log once that it is back."""
        if not self.reachable:
            self.reachable = True
            self.logger.info("%s: the settings page answers again", self._title)

    @callback
    def async_unreachable(self, coordinator_name: str) -> None:
        """The page did not answer a coordinator: the account is out of reach."""
        self.reachable = False
        self._quiet_recoveries.add(coordinator_name)

    @callback
    def async_close(self) -> None:
        """The entry unloads: stop filtering its logger."""
        self.logger.removeFilter(self)


class PollQueue:
    """Scheduled polls of one account take turns; setup and its first fetch do not.

    Three requests in flight open three connections, and each new connection costs a
    TLS handshake with the certificate exchange. Polls due at the same moment go one
    after the other over one kept-alive connection instead: one handshake a minute at
    the defaults. Setup is in a hurry and goes at once; so do writes and read-backs,
    which a user is waiting for.
    """

    def __init__(self) -> None:
        """Start open: setup fetches concurrently."""
        self._lock = asyncio.Lock()
        self._open = True

    @callback
    def async_close(self) -> None:
        """From now on, one poll at a time."""
        self._open = False

    @asynccontextmanager
    async def turn(self) -> AsyncIterator[None]:
        """Wait for this poll's turn (at once while open)."""
        if self._open:
            yield
            return
        async with self._lock:
            yield


@dataclass(frozen=True, slots=True)
class CallRecord:
    """A call with its start as an aware time (the server prints naive times)."""

    call: Call
    started: datetime | None


class SipThorCoordinator[DataT](DataUpdateCoordinator[DataT]):
    """Polls one source of one account.

    Writes and read-backs raise a generation counter: a poll that started before them
    read the server before the change, so its answer is dropped rather than shown.
    """

    config_entry: SipThorConfigEntry

    def __init__(
        self,
        hass: HomeAssistant,
        entry: SipThorConfigEntry,
        client: SipThorClient,
        *,
        source: Source,
        fetch: Callable[[SipThorClient], Awaitable[Any]],
        update_interval: timedelta,
        queue: PollQueue,
        link: AccountLink,
    ) -> None:
        """Poll ``source`` with ``fetch`` every ``update_interval``.

        ``fetch`` answers what :meth:`_async_prepare` turns into the data (the same
        unless a subclass says otherwise).
        """
        super().__init__(
            hass,
            link.logger,
            config_entry=entry,
            name=f"{entry.title} {source.replace('_', ' ')}",
            update_interval=update_interval,
        )
        self._link = link
        self.client = client
        self.source = source
        self.supported = True
        self._fetch = fetch
        self._fetched = False
        self._generation = 0
        self._queue = queue

    @property
    def usable(self) -> bool:
        """Whether entities of this source have current data to show."""
        return self.supported and self._fetched and self.last_update_success

    @callback
    def async_add_listener(
        self, update_callback: CALLBACK_TYPE, context: Any = None
    ) -> Callable[[], None]:
        """Listen for updates; a listener without a context has itself as its context.

        ``DataUpdateCoordinator`` keeps its listeners private but their contexts public:
        with one for every listener, ``has_listeners`` needs nothing private.
        """
        return super().async_add_listener(
            update_callback, update_callback if context is None else context
        )

    @property
    def has_listeners(self) -> bool:
        """Whether anything listens to this source (only then is it polled)."""
        return next(self.async_contexts(), None) is not None

    async def _async_refresh(
        self,
        log_failures: bool = True,
        raise_on_auth_failed: bool = False,
        scheduled: bool = False,
        raise_on_entry_error: bool = False,
    ) -> None:
        # While the account is out of reach, the coordinator that found out has said so.
        await super()._async_refresh(
            log_failures=log_failures and self._link.reachable,
            raise_on_auth_failed=raise_on_auth_failed,
            scheduled=scheduled,
            raise_on_entry_error=raise_on_entry_error,
        )

    async def _async_update_data(self) -> DataT:
        generation = self._generation
        try:
            answer = await self._async_fetch(queued=True)
        except SipThorNotSupportedError as err:
            self.supported = False
            # Stop polling: the answer will not change before the entry reloads.
            self.update_interval = None
            LOGGER.info(
                "%s: the server does not support %s (%s); not asking again until reload",
                self.config_entry.title,
                self.source,
                err,
            )
            return self.data
        if generation != self._generation and self._fetched:
            # A write or read-back happened while this poll waited for its answer:
            # what it read may predate the change.
            LOGGER.debug("%s: dropping a poll older than the last write", self.name)
            return self.data
        data = await self._async_prepare(answer)
        self._fetched = True
        return data

    async def _async_fetch(self, *, queued: bool = False) -> Any:
        """Fetch the source within one bound, errors translated for Home Assistant.

        ``queued``: a poll, which waits for its turn (inside the bound).
        """
        try:
            answer = await self._async_fetch_within_bound(queued=queued)
        except SipThorDowngradeError as err:
            # Not a wrong password: the user decides in the repair issue.
            async_digest_downgraded(self.hass, self.config_entry, err)
            raise UpdateFailed(
                translation_domain=DOMAIN,
                translation_key="digest_downgrade",
                translation_placeholders={"offered": err.offered, "strongest": err.strongest},
            ) from err
        except SipThorAuthenticationError as err:
            async_certificate_refused(self.hass, self.config_entry)
            raise ConfigEntryAuthFailed(
                translation_domain=DOMAIN,
                translation_key="authentication_failed",
                translation_placeholders={"error": str(err)},
            ) from err
        except SipThorNotSupportedError:
            raise
        except TimeoutError as err:
            raise UpdateFailed(
                translation_domain=DOMAIN,
                translation_key="poll_timeout",
                translation_placeholders={"seconds": f"{POLL_TIMEOUT:g}"},
            ) from err
        except SipThorConnectionError as err:
            raise UpdateFailed(
                translation_domain=DOMAIN,
                translation_key="communication_error",
                translation_placeholders={"error": str(err)},
            ) from err
        except SipThorError as err:
            raise UpdateFailed(
                translation_domain=DOMAIN,
                translation_key="server_error",
                translation_placeholders={"error": str(err)},
            ) from err
        return answer

    async def _async_fetch_within_bound(self, *, queued: bool) -> Any:
        """Fetch the source; tell the account's link whether the page answered."""
        try:
            async with asyncio.timeout(POLL_TIMEOUT):
                async with self._queue.turn() if queued else contextlib.nullcontext():
                    answer = await self._fetch(self.client)
        except (SipThorApiError, SipThorNotSupportedError):
            # The page answered, with an error of this action's own.
            self._link.async_answered()
            raise
        except (SipThorError, TimeoutError):
            # No answer, a refusal, or not the settings page: the account is out of reach.
            self._link.async_unreachable(self.name)
            raise
        self._link.async_answered()
        return answer

    async def _async_prepare(self, answer: Any) -> DataT:
        """Turn the client's answer into this coordinator's data (hook)."""
        return answer  # type: ignore[no-any-return]

    async def async_read_back(self) -> None:
        """Read the source again after a write; this answer wins over older polls."""
        if not self.supported or not self.has_listeners:
            # No entity shows it: nothing to confirm, no request to spend.
            return
        self._generation += 1
        try:
            answer = await self._async_fetch()
        except ConfigEntryAuthFailed:
            self.config_entry.async_start_reauth(self.hass)
            return
        except (UpdateFailed, SipThorNotSupportedError) as err:
            # The write itself worked: the next poll shows the state.
            LOGGER.warning("%s: could not read back %s: %s", self.name, self.source, err)
            return
        data = await self._async_prepare(answer)
        self._fetched = True
        self.async_set_updated_data(data)

    async def async_write(
        self,
        write: Callable[[], Awaitable[object]],
        *,
        applied: Callable[[DataT], DataT] | None = None,
        sent: Callable[[], None] | None = None,
    ) -> None:
        """Send one write, show its effect at once, and confirm it by reading back.

        ``applied`` derives the state the server now holds from the current data;
        ``sent`` runs once the server may hold the change (success, or no answer).
        When no answer comes in time the change may have been applied anyway: the
        source is read again and the user is told so.
        """
        self._generation += 1
        try:
            async with asyncio.timeout(WRITE_TIMEOUT):
                await write()
        except (SipThorWriteTimeoutError, TimeoutError) as err:
            if sent is not None:
                sent()
            await self.async_read_back()
            raise HomeAssistantError(
                translation_domain=DOMAIN, translation_key="write_timeout"
            ) from err
        except SipThorError as err:
            raise translated_error(self.hass, self.config_entry, err) from err
        # Polls that started while the write was on its way may have read the old state.
        self._generation += 1
        if sent is not None:
            sent()
        if applied is not None and self._fetched:
            self.async_set_updated_data(applied(self.data))
        await self.async_read_back()


def translated_error(
    hass: HomeAssistant, entry: SipThorConfigEntry, err: SipThorError
) -> HomeAssistantError:
    """The translated error a user sees for a failed action.

    A refused password or certificate also starts reauthentication, so the user is
    asked for a new one. A refusal by the server carries the server's own message.
    """
    if isinstance(err, SipThorAuthenticationError):
        async_certificate_refused(hass, entry)
        entry.async_start_reauth(hass)
        return HomeAssistantError(
            translation_domain=DOMAIN,
            translation_key="authentication_failed",
            translation_placeholders={"error": str(err)},
        )
    if isinstance(err, SipThorConnectionError):
        return HomeAssistantError(
            translation_domain=DOMAIN,
            translation_key="communication_error",
            translation_placeholders={"error": str(err)},
        )
    if isinstance(err, SipThorApiError):
        return HomeAssistantError(
            translation_domain=DOMAIN,
            translation_key="server_refused",
            translation_placeholders={"message": err.message},
        )
    return HomeAssistantError(
        translation_domain=DOMAIN,
        translation_key="server_error",
        translation_placeholders={"error": str(err)},
    )


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


class AcceptRulesCoordinator(SipThorCoordinator[AcceptRulesData]):
    """The accept rules, and the one owner of do not disturb."""

    def __init__(
        self,
        hass: HomeAssistant,
        entry: SipThorConfigEntry,
        client: SipThorClient,
        store: SipThorStore,
        *,
        update_interval: timedelta,
        queue: PollQueue,
        link: AccountLink,
    ) -> None:
        """Poll at the slow pace; sooner when a timed do not disturb ends."""
        super().__init__(
            hass,
            entry,
            client,
            source=Source.ACCEPT_RULES,
            fetch=lambda client: client.get_accept_rules(),
            update_interval=update_interval,
            queue=queue,
            link=link,
        )
        self.store = store
        self._slow_interval = update_interval

    async def async_set_dnd(self, *, on: bool, duration: int | None = None) -> None:
        """Turn do not disturb on (for ``duration`` minutes, or without an end) or off.

        The switch and the ``sipthor.enable_dnd`` action both come here: write,
        remember "without an end", show the new state, read back.
        """
        without_end = on and duration is None
        if on:
            groups, minutes = ["nobody"], duration or 0
        else:
            groups, minutes = ["everybody"], 0
        await self.async_write(
            (lambda: self.client.set_dnd_on(duration)) if on else self.client.set_dnd_off,
            applied=lambda data: AcceptRulesData(
                replace(data.rules, temporary_groups=groups, temporary_minutes=minutes),
                without_end=without_end,
            ),
            sent=lambda: self.store.async_remember_dnd(without_end=without_end),
        )

    async def _async_prepare(self, answer: Any) -> AcceptRulesData:
        rules: AcceptRules = answer
        if rules.dnd_state is not DndState.ON_OR_EXPIRED:
            # Turned off, or set with a duration, by someone else: forget ours.
            self.store.async_remember_dnd(without_end=False)
        # Read again as soon as a timed do not disturb ends, not at the slow pace.
        interval = self._slow_interval
        if (minutes := rules.dnd_minutes_left) is not None:
            interval = min(interval, timedelta(minutes=minutes) + DND_END_MARGIN)
        self.update_interval = interval
        return AcceptRulesData(rules, without_end=self.store.dnd_without_end)


class CallForwardingCoordinator(SipThorCoordinator[CallForwarding]):
    """The forwarding targets."""

    async def async_set_targets(self, targets: dict[ForwardingCondition, str | None]) -> None:
        """Set the conditions in ``targets`` ("" or None clears one)."""
        await self.async_write(
            lambda: self.client.set_call_forwarding(targets),
            applied=lambda forwarding: replace(
                forwarding,
                targets=forwarding.targets | {key: value or None for key, value in targets.items()},
            ),
        )


class AliasesCoordinator(SipThorCoordinator[list[str]]):
    """The aliases of the account."""

    async def async_add_alias(self, username: str) -> None:
        """Add ``username@<account domain>``."""
        domain = self.client.account.partition("@")[2]
        await self.async_write(
            lambda: self.client.add_alias(username),
            applied=lambda aliases: [*aliases, f"{username}@{domain}"],
        )


class CallsCoordinator(SipThorCoordinator[list[CallRecord]]):
    """The call list; a new call in it makes the balance worth reading again."""

    def __init__(
        self,
        hass: HomeAssistant,
        entry: SipThorConfigEntry,
        client: SipThorClient,
        *,
        update_interval: timedelta,
        queue: PollQueue,
        link: AccountLink,
        on_new_call: Callable[[], None],
    ) -> None:
        """Poll the call list; call ``on_new_call`` when a call appears in it."""
        super().__init__(
            hass,
            entry,
            client,
            source=Source.CALLS,
            fetch=lambda client: client.get_call_history(),
            update_interval=update_interval,
            queue=queue,
            link=link,
        )
        self._on_new_call = on_new_call
        self._zones: dict[str, ZoneInfo | None] = {}

    async def _async_prepare(self, answer: Any) -> list[CallRecord]:
        records = [CallRecord(call, await self._aware(call)) for call in answer.calls]
        if self.data is not None and {record.call.key for record in records} - {
            record.call.key for record in self.data
        }:
            self._on_new_call()
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


@dataclass(slots=True, kw_only=True)
class SipThorRuntimeData:
    """What a loaded entry holds: the client, what it remembers, one coordinator per source."""

    client: SipThorClient
    # None when the account signs in with its SIP password.
    certificate: CertificateInfo | None
    store: SipThorStore
    poll_queue: PollQueue
    link: AccountLink
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
    # True or False as the settings page's checkbox shows it; None where it has none.
    privacy: SipThorCoordinator[bool | None]
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


def create_runtime_data(
    hass: HomeAssistant,
    entry: SipThorConfigEntry,
    client: SipThorClient,
    certificate: CertificateInfo | None,
    store: SipThorStore,
) -> SipThorRuntimeData:
    """One coordinator per source, each at the pace its data changes."""
    fast = timedelta(seconds=entry.options.get(CONF_SCAN_INTERVAL, DEFAULT_SCAN_INTERVAL))
    slow = timedelta(minutes=entry.options.get(CONF_SLOW_SCAN_INTERVAL, DEFAULT_SLOW_SCAN_INTERVAL))
    balance = max(fast, min(BALANCE_INTERVAL, slow))
    queue = PollQueue()
    link = AccountLink(entry)

    def simple[T](
        source: Source, fetch: Callable[[SipThorClient], Awaitable[T]], interval: timedelta
    ) -> SipThorCoordinator[T]:
        return SipThorCoordinator(
            hass,
            entry,
            client,
            source=source,
            fetch=fetch,
            update_interval=interval,
            queue=queue,
            link=link,
        )

    prepaid = simple(Source.PREPAID, lambda client: client.get_prepaid(), balance)

    @callback
    def on_new_call() -> None:
        # A call that ended may have cost credit: read the balance now, not in 5 min.
        if prepaid.has_listeners:
            entry.async_create_background_task(
                hass, prepaid.async_request_refresh(), f"{prepaid.name} after a new call"
            )

    return SipThorRuntimeData(
        client=client,
        certificate=certificate,
        store=store,
        poll_queue=queue,
        link=link,
        options=dict(entry.options),
        prepaid=prepaid,
        registrations=simple(Source.REGISTRATIONS, lambda client: client.get_devices(), fast),
        accept_rules=AcceptRulesCoordinator(
            hass, entry, client, store, update_interval=slow, queue=queue, link=link
        ),
        identity=simple(Source.IDENTITY, lambda client: client.get_identity(), slow),
        call_forwarding=CallForwardingCoordinator(
            hass,
            entry,
            client,
            source=Source.CALL_FORWARDING,
            fetch=lambda client: client.get_call_forwarding(),
            update_interval=slow,
            queue=queue,
            link=link,
        ),
        voicemail=simple(Source.VOICEMAIL, lambda client: client.get_voicemail(), slow),
        aliases=AliasesCoordinator(
            hass,
            entry,
            client,
            source=Source.ALIASES,
            fetch=lambda client: client.get_aliases(),
            update_interval=slow,
            queue=queue,
            link=link,
        ),
        enum=simple(Source.ENUM, lambda client: client.get_enum(), slow),
        calls=CallsCoordinator(
            hass,
            entry,
            client,
            update_interval=slow,
            queue=queue,
            link=link,
            on_new_call=on_new_call,
        ),
        balance_history=simple(
            Source.BALANCE_HISTORY, lambda client: client.get_balance_history(), slow
        ),
        monthly_usage=simple(Source.MONTHLY_USAGE, lambda client: client.get_monthly_usage(), slow),
        privacy=simple(Source.PRIVACY, lambda client: client.get_privacy(), PRIVACY_INTERVAL),
        reject_rules=simple(Source.REJECT_RULES, lambda client: client.get_reject_rules(), slow),
    )
