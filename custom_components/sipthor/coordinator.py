"""The coordinator of one source: it fetches the source and writes to it, nothing more.

Every request costs the platform 6 to 9 back-end calls (docs/settings-api.md §3), so
each kind of data has its own ``DataUpdateCoordinator``, as in the core ``nextdns``
integration, polled at the pace its data changes (sources.py declares them). Home
Assistant polls a coordinator only while an entity listens to it: a disabled entity
costs no request. Everything else (turns, whether the page answers, a refused sign-in)
is the account's (account.py).

- A poll the account could not send, or that found the page lost, changes nothing: the
  account says so once and has the source read again when the page answers.
- An error the page gives for this source's action is its own ``UpdateFailed``; the
  source is read again within a minute, not after its whole interval.
- A source the server does not support is not asked again until the entry reloads.

Writes are confirmed in one round trip: the method returns when the server has
answered, the entities show the new state at once, and the source is read back in the
background. A generation counter orders what is shown: writes and read-backs raise it,
and a poll or read-back that started before the latest of them is dropped, since it
may have read the server before the change.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from homeassistant.config_entries import ConfigEntry
from homeassistant.core import CALLBACK_TYPE, callback
from homeassistant.exceptions import ConfigEntryAuthFailed
from homeassistant.helpers.update_coordinator import DataUpdateCoordinator, UpdateFailed

from .account import SipThorAccount
from .api import (
    SipThorAuthenticationError,
    SipThorClient,
    SipThorError,
    SipThorNotSupportedError,
    SipThorWriteTimeoutError,
)
from .const import LOGGER, RETRY_INTERVAL, Source
from .errors import translated
from .reachability import AccountUnavailable


class SipThorCoordinator[DataT](DataUpdateCoordinator[DataT]):
    """Polls one source of one account, and writes to it."""

    config_entry: ConfigEntry[Any]

    def __init__(self, account: SipThorAccount, description: SourceDescription[DataT]) -> None:
        """Poll ``description``'s source through ``account``."""
        entry = account.entry
        self._interval = description.interval(entry.options)
        super().__init__(
            account.hass,
            LOGGER,
            config_entry=entry,
            name=f"{entry.title} {description.source.replace('_', ' ')}",
            update_interval=self._interval,
        )
        self.account = account
        self.source = description.source
        self.supported = True
        self._fetch = description.fetch
        self._fetched = False
        self._generation = 0
        self._writes_on_their_way = 0
        # While setup reads the source before its entities exist (account.py).
        self._early = False
        account.async_add_source(self)

    @property
    def fetched(self) -> bool:
        """Whether the source was read (its data is not Home Assistant's None)."""
        return self._fetched

    @property
    def usable(self) -> bool:
        """Whether entities of this source have current data to show."""
        return (
            self.supported
            and self._fetched
            and self.last_update_success
            and self.account.page_reachable
        )

    @callback
    def async_add_listener(
        self, update_callback: CALLBACK_TYPE, context: Any = None
    ) -> Callable[[], None]:
        """Listen for updates; the first listener of a source never read reads it now.

        A listener without a context has itself as its context: ``DataUpdateCoordinator``
        keeps its listeners private but their contexts public, so with one for every
        listener ``has_listeners`` needs nothing private.
        """
        first = not self.has_listeners
        remove = super().async_add_listener(
            update_callback, update_callback if context is None else context
        )
        if first and not self._fetched and self.supported and self.account.set_up:
            self.account.async_fetch_now(self)
        return remove

    @property
    def has_listeners(self) -> bool:
        """Whether anything listens to this source (only then is it polled)."""
        return next(self.async_contexts(), None) is not None

    async def async_read_early(self) -> None:
        """Read the source during setup, before its entities exist (they showed it last time).

        A failure is silent and leaves the source unread: setup's own sources tell whether
        the page answers and accepts the sign-in, and the first entity to listen reads the
        source again as usual, with the usual logging.
        """
        self._early = True
        try:
            await self.async_refresh()
        finally:
            self._early = False

    @callback
    def async_forget_early_read(self) -> None:
        """No entity shows the source after all: what setup read would only grow stale.

        Nothing polls a source no entity listens to, so an action asks the server again.
        """
        self._fetched = False

    async def _async_update_data(self) -> DataT:
        sent_at = self._generation

        async def fetch(client: SipThorClient) -> Any:
            nonlocal sent_at
            sent_at = self._generation
            return await self._fetch(client)

        try:
            answer = await self.account.async_poll(self.source, fetch)
        except AccountUnavailable:
            # The account has said so, and reads this source again when the page answers.
            return self.data
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
        except SipThorAuthenticationError as err:
            if self._early:
                return self.data
            # Only during setup: later the account asks for new credentials itself.
            raise translated(err, ConfigEntryAuthFailed) from err
        except (SipThorError, TimeoutError) as err:
            if self._early:
                return self.data
            # The page answered the others: try this one again soon.
            self.update_interval = min(self._interval, RETRY_INTERVAL)
            raise translated(err, UpdateFailed) from err
        if self._fetched and (sent_at != self._generation or self._writes_on_their_way):
            # A write or read-back happened since this poll was sent, or a write is on
            # its way: what it read may predate the change.
            LOGGER.debug("%s: dropping a poll older than the last write", self.name)
            return self.data
        return self._async_fetched(await self._async_prepare(answer))

    @callback
    def _async_fetched(self, data: DataT) -> DataT:
        self._fetched = True
        self.update_interval = self._next_interval(data)
        return data

    def _next_interval(self, data: DataT) -> timedelta:
        """When to poll after ``data`` arrived (hook)."""
        return self._interval

    async def _async_prepare(self, answer: Any) -> DataT:
        """Turn the client's answer into this coordinator's data (hook)."""
        return answer  # type: ignore[no-any-return]

    async def async_write(
        self,
        write: Callable[[SipThorClient], Awaitable[object]],
        *,
        applied: Callable[[DataT], DataT] | None = None,
    ) -> None:
        """Send one write; return once the server accepts it, showing its effect.

        ``applied`` derives the state the server now holds from the current data. The
        source is then read back in the background; also when no answer came in time,
        since the server may have applied the write anyway. Raises the client's errors.
        """
        self._generation += 1
        self._writes_on_their_way += 1
        try:
            await self.account.async_write(write)
        except SipThorWriteTimeoutError:
            self.async_read_back()
            raise
        finally:
            self._writes_on_their_way -= 1
        # Polls sent while the write was on its way may have read the old state.
        self._generation += 1
        if applied is not None and self._fetched:
            self.async_set_updated_data(applied(self.data))
        self.async_read_back()

    @callback
    def async_read_back(self) -> None:
        """Read the source again in the background; this answer wins over older ones."""
        if not self.supported or not self.has_listeners:
            # No entity shows it: nothing to confirm, no request to spend.
            return
        self._generation += 1
        self.config_entry.async_create_background_task(
            self.hass, self._async_read_back(self._generation), f"{self.name} read-back"
        )

    async def _async_read_back(self, generation: int) -> None:
        try:
            answer = await self.account.async_read(self._fetch, self.source)
        except SipThorAuthenticationError:
            return  # the account asks for new credentials
        except (SipThorError, TimeoutError) as err:
            # The write itself worked: the next poll shows the state.
            LOGGER.warning("%s: could not read back %s: %s", self.name, self.source, err)
            return
        data = await self._async_prepare(answer)
        if generation == self._generation:
            self.async_set_updated_data(self._async_fetched(data))


@dataclass(frozen=True, slots=True)
class SourceDescription[DataT]:
    """One row of the sources' table: what to fetch, how often, which coordinator.

    ``DataT`` is what the coordinator holds; ``fetch`` answers what its
    :meth:`SipThorCoordinator._async_prepare` turns into it (the same for the base class).
    """

    source: Source
    fetch: Callable[[SipThorClient], Awaitable[Any]]
    # The source's poll interval, from the entry's options.
    interval: Callable[[Mapping[str, Any]], timedelta]
    coordinator: type[SipThorCoordinator[Any]] = SipThorCoordinator
