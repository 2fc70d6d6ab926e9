"""One SIP Thor account: the owner of everything that talks to its settings page.

A config entry has one :class:`SipThorAccount`. It holds the client and the store, and
every request goes through it, whoever sends it (a poll, a switch, an action):

- **Turns.** Setup, the fetch of what its entities show, and a recovery go at once;
  otherwise polls that fall due together take turns over one kept-alive connection,
  since each new connection costs a TLS handshake with the certificate exchange. The
  accounts of one platform share a bound on their requests in flight (``PAGE_IN_FLIGHT``).
- **Whether the page answers.** That is the account's state, not each source's
  (reachability.py): when a request gets no answer the account is *lost*, every entity
  is unavailable, and polls wait while one request a minute asks again; the first
  answer makes it *answer again*, and every source whose poll the outage stopped is
  read again at once. Each change is logged once.
- **Lifecycle.** :meth:`async_first_refresh` in setup, :meth:`async_start` once the
  entities exist, :meth:`async_stop` when the entry unloads. From the second start on, an
  account starting alone on its host reads what the entities showed at the last one (the
  store remembers) with setup, not once they exist. What else talks to the account's
  platform (the live SIP channel) starts and stops with it, and asks for a
  source to be read once when it has news (:meth:`async_request_refresh`: a call ended,
  read the call list); its failures are its own, never the page's.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from contextlib import asynccontextmanager, nullcontext
from datetime import datetime
from functools import partial
from typing import TYPE_CHECKING, Any

from homeassistant.config_entries import ConfigEntry
from homeassistant.core import CALLBACK_TYPE, HassJob, HomeAssistant, callback
from homeassistant.exceptions import ConfigEntryAuthFailed
from homeassistant.helpers.event import async_call_later
from homeassistant.util.hass_dict import HassKey
from yarl import URL

from .api import (
    CertificateInfo,
    SipThorApiError,
    SipThorAuthenticationError,
    SipThorClient,
    SipThorDowngradeError,
    SipThorError,
    SipThorNotSupportedError,
    SipThorWriteTimeoutError,
)
from .const import DOMAIN, EARLY_READS_AFTER, PAGE_IN_FLIGHT, POLL_TIMEOUT, WRITE_TIMEOUT, Source
from .reachability import AccountUnavailable, PageReachability, PolledSource
from .repairs import async_digest_downgraded
from .store import SipThorStore

if TYPE_CHECKING:
    from .live import LiveEvents

# Requests in flight to one settings page, per host, across the accounts on it.
_PAGE_SLOTS: HassKey[dict[str, asyncio.Semaphore]] = HassKey(f"{DOMAIN}_page_slots")
# Per host, the accounts between the start of their setup and the reads that follow it.
_STARTING: HassKey[dict[str, set[str]]] = HassKey(f"{DOMAIN}_starting")


def _host(url: str) -> str:
    """The host of the settings page ``url`` (the URL itself if it does not parse)."""
    try:
        return URL(url).host or url
    except ValueError:
        return url  # an entry from before the form checked it: its requests fail anyway


class SipThorAccount:
    """The account of one config entry; see the module's description."""

    def __init__(
        self,
        hass: HomeAssistant,
        entry: ConfigEntry[Any],
        client: SipThorClient,
        store: SipThorStore,
        certificate: CertificateInfo | None,
    ) -> None:
        """Own ``client`` and ``store``; ``certificate`` is None for a password account."""
        self.hass = hass
        self.entry = entry
        self.client = client
        self.store = store
        self.certificate = certificate
        # Polls go at once while this is above 0: during setup, the fetches that follow
        # it, and a recovery.
        self._at_once = 1
        self._started = False
        # Sources whose first entity came while setup was adding them.
        self._first_reads: list[PolledSource] = []
        # Setup's reads of what the entities showed at the last start: due, then running.
        self._cancel_early_reads: CALLBACK_TYPE | None = None
        self._early_reads: dict[Source, asyncio.Task[None]] = {}
        self._turn = asyncio.Lock()
        self._sources: dict[Source, PolledSource] = {}
        self._page = PageReachability(hass, entry, certificate, self._sources, self.async_fetch_now)
        # Shared by the accounts of one platform (the same settings page host).
        self._page_slots = hass.data.setdefault(_PAGE_SLOTS, {}).setdefault(
            _host(client.url), asyncio.Semaphore(PAGE_IN_FLIGHT)
        )
        self._starting = hass.data.setdefault(_STARTING, {}).setdefault(_host(client.url), set())
        self._starting.add(entry.entry_id)
        # The live SIP channel (live.py), when the entry has one: set up before the
        # entities, started after them, stopped with the account.
        self.live: LiveEvents | None = None

    @property
    def set_up(self) -> bool:
        """Whether setup's first fetch is done (before it, failures fail the setup)."""
        return self._page.set_up

    @property
    def page_reachable(self) -> bool:
        """Whether the settings page answers and accepts the credentials."""
        return self._page.answers

    # -- lifecycle -------------------------------------------------------------------

    @callback
    def async_add_source(self, coordinator: PolledSource) -> None:
        """Poll ``coordinator``'s source through this account."""
        self._sources[coordinator.source] = coordinator

    async def async_first_refresh(self, coordinators: Iterable[PolledSource]) -> None:
        """Setup's round trip: fetch concurrently; a refused sign-in outranks the rest.

        Each coordinator raises what Home Assistant makes of a failed first refresh (retry
        later, or ask for new credentials). What the entities showed at the last start is
        read beside them, in the background.
        """
        setup = list(coordinators)
        others = self._sources.keys() - {coordinator.source for coordinator in setup}
        early = [source for source in self.store.shown_sources if source in others]
        # Alone, the account reads what its entities show right after, or beside setup
        # (what they showed last time), over setup's connections: TLS handshakes fewer on
        # the way. Accounts starting together wait for the page's slots and each other's
        # setups, and kept connections would hold memory meanwhile (some 300 KiB each).
        alone = self._starting == {self.entry.entry_id}
        with self.client.keep_connections() if alone else nullcontext():
            first_refreshes = asyncio.gather(
                *(coordinator.async_config_entry_first_refresh() for coordinator in setup),
                return_exceptions=True,
            )
            if early and alone:
                self._cancel_early_reads = async_call_later(
                    self.hass,
                    EARLY_READS_AFTER,
                    HassJob(partial(self._async_read_early, early), cancel_on_shutdown=True),
                )
            results = await first_refreshes
        errors = [result for result in results if isinstance(result, BaseException)]
        for error in errors:
            if isinstance(error, ConfigEntryAuthFailed):
                raise error
        if errors:
            raise errors[0]
        self._page.set_up = True

    @callback
    def _async_read_early(self, sources: list[Source], _now: datetime) -> None:
        self._cancel_early_reads = None
        if self._starting != {self.entry.entry_id}:
            return  # another account started meanwhile: setups first, as for it
        for source in sources:
            self._early_reads[source] = self.entry.async_create_background_task(
                self.hass,
                self._sources[source].async_read_early(),
                f"{self.entry.title}: {source} read at setup",
            )

    @callback
    def async_fetch_now(self, coordinator: PolledSource) -> None:
        """Read ``coordinator``'s source at once, in the background (its first entity came).

        While setup adds the entities, the reads wait for its end: their TLS handshakes
        would otherwise share the event loop's turns with the entities being added.
        """
        if not self._started:
            self._first_reads.append(coordinator)
            return
        self._at_once += 1
        self.entry.async_create_background_task(
            self.hass,
            self._async_refresh_at_once(
                coordinator, self._early_reads.pop(coordinator.source, None)
            ),
            f"{self.entry.title}: first read of {coordinator.source}",
        )

    async def _async_refresh_at_once(
        self, coordinator: PolledSource, early_read: asyncio.Task[None] | None
    ) -> None:
        try:
            if early_read is not None:
                # Setup is reading it already: read again only if that failed.
                await asyncio.wait([early_read])
                if coordinator.fetched:
                    return
            await coordinator.async_refresh()
        finally:
            self._at_once -= 1

    @callback
    def async_start(self) -> None:
        """The entities exist: read what they show; once that is done, polls take turns."""
        self._started = True
        self._starting.discard(self.entry.entry_id)
        if self._cancel_early_reads is not None:
            # Reads setup has not started by now are the entities' first reads instead.
            self._cancel_early_reads()
        self.store.async_remember_shown_sources(
            source for source, coordinator in self._sources.items() if coordinator.has_listeners
        )
        for coordinator in self._first_reads:
            self.async_fetch_now(coordinator)
        self._first_reads.clear()
        for source, early_read in self._early_reads.items():
            if not (coordinator := self._sources[source]).has_listeners:
                # Shown at the last start, not now (its entities were turned off).
                early_read.cancel()
                coordinator.async_forget_early_read()
        self._early_reads.clear()
        self._at_once -= 1

    async def async_stop(self) -> None:
        """The entry unloads: stop asking, stop the live channel, write what the store holds.

        The coordinators stop themselves (Home Assistant shuts them down with the entry).
        """
        self._starting.discard(self.entry.entry_id)
        if self._cancel_early_reads is not None:
            self._cancel_early_reads()
        self._page.async_cancel_probe()
        if self.live is not None:
            await self.live.async_stop()
        await self.store.async_flush()

    async def async_request_refresh(self, source: Source) -> None:
        """Read ``source`` once soon, if an entity shows it (another source had news)."""
        coordinator = self._sources.get(source)
        if coordinator is not None and coordinator.has_listeners:
            await coordinator.async_request_refresh()

    # -- requests --------------------------------------------------------------------

    async def async_poll[T](
        self, source: Source, fetch: Callable[[SipThorClient], Awaitable[T]]
    ) -> T:
        """A poll of ``source``, in its turn, bounded as a whole.

        Raises :class:`AccountUnavailable` when the page is lost (or was found lost by
        this poll, or refuses the credentials) once the entry is set up; otherwise the
        client's error, a ``TimeoutError`` for the bound.
        """
        deadline = asyncio.get_running_loop().time() + POLL_TIMEOUT
        try:
            async with self._async_turn(deadline):
                # Decided in its turn: the poll before it may have found the page lost.
                self._page.check_may_poll(source)
                answer = await self._async_send(lambda: fetch(self.client), deadline, source)
        except (SipThorApiError, SipThorNotSupportedError):
            raise
        except (SipThorError, TimeoutError, AccountUnavailable) as err:
            if not self._page.set_up:
                raise
            self._page.missed.add(source)
            raise AccountUnavailable from err
        self._page.missed.discard(source)
        return answer

    async def async_read[T](
        self, fetch: Callable[[SipThorClient], Awaitable[T]], source: Source | None = None
    ) -> T:
        """A read a user waits for (a read-back, an action's check): at once, bounded.

        A read of ``source`` that gets no answer has it read again when the page answers.
        """
        deadline = asyncio.get_running_loop().time() + POLL_TIMEOUT
        try:
            return await self._async_send(lambda: fetch(self.client), deadline, source)
        except (SipThorApiError, SipThorNotSupportedError, SipThorAuthenticationError):
            raise
        except (SipThorError, TimeoutError):
            if source is not None and self._page.set_up:
                self._page.missed.add(source)
            raise

    async def async_write[T](self, write: Callable[[SipThorClient], Awaitable[T]]) -> T:
        """A write, sent even while the page is lost (a user asked for it), bounded.

        Raises ``SipThorWriteTimeoutError`` when no answer came in time: the server may
        have applied it.
        """
        deadline = asyncio.get_running_loop().time() + WRITE_TIMEOUT
        try:
            return await self._async_send(lambda: write(self.client), deadline)
        except TimeoutError as err:
            raise SipThorWriteTimeoutError("The write", WRITE_TIMEOUT) from err

    @asynccontextmanager
    async def _async_turn(self, deadline: float) -> AsyncIterator[None]:
        if self._at_once:
            yield
            return
        try:
            async with asyncio.timeout_at(deadline):
                await self._turn.acquire()
        except TimeoutError:
            # The polls before it kept the page busy that long: no answer in time.
            self._page.async_unanswered(self._page.epoch, "no turn within the time limit")
            raise
        try:
            yield
        finally:
            self._turn.release()

    async def _async_send[T](
        self, send: Callable[[], Awaitable[T]], deadline: float, source: Source | None = None
    ) -> T:
        """Send; let the answer, or its absence, tell whether the page answers."""
        epoch = self._page.epoch
        try:
            async with asyncio.timeout_at(deadline), self._page_slots:
                # What the state was when it was sent, not while it waited for a slot.
                epoch = self._page.epoch
                answer = await send()
        except (SipThorApiError, SipThorNotSupportedError):
            # The page answered, with an error of this action's own.
            self._page.async_answered(epoch, source)
            raise
        except SipThorAuthenticationError as err:
            self._page.async_refused(epoch, err)
            raise
        except SipThorDowngradeError as err:
            # Not a wrong password (no reauthentication): the user decides in the repair
            # issue; until then the page is out of reach like any other that cannot sign in.
            async_digest_downgraded(self.hass, self.entry, err)
            self._page.async_unanswered(epoch, err)
            raise
        except (SipThorError, TimeoutError) as err:
            self._page.async_unanswered(
                epoch, err if isinstance(err, SipThorError) else "no answer"
            )
            raise
        self._page.async_answered(epoch, source)
        return answer
