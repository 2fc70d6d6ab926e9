"""Whether an account's settings page answers: the account's state, not each source's.

When a request gets no answer (no connection, a timeout, something that is not the
settings page) the page is *lost*: every entity is unavailable, and polls wait while one
request a minute asks again. The first answer makes it *answer again*, and every source
whose poll the outage stopped is read again at once. Each change is logged once. A
request's outcome changes the state only if nothing changed it while the request was on
its way (``epoch``): concurrent requests cannot log an outage twice, nor its end without
its start. An error the page gives for one action only is that source's own (its
coordinator's ``UpdateFailed``); a refused sign-in asks for new credentials once.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from enum import Enum, auto
from typing import Any, Protocol

from homeassistant.config_entries import ConfigEntry
from homeassistant.core import CALLBACK_TYPE, HomeAssistant, callback
from homeassistant.helpers.event import async_call_later

from .api import CertificateInfo, SipThorAuthenticationError
from .const import LOGGER, RETRY_INTERVAL, Source
from .repairs import async_certificate_refused


class PolledSource(Protocol):
    """What the account needs of a source's coordinator (coordinator.py)."""

    source: Source

    @property
    def has_listeners(self) -> bool:
        """Whether an entity shows the source (only then is it polled)."""

    @property
    def fetched(self) -> bool:
        """Whether the source was read since the entry was set up."""

    async def async_config_entry_first_refresh(self) -> None:
        """Setup's read: raise what Home Assistant makes of a failure."""

    async def async_refresh(self) -> None:
        """Poll now."""

    async def async_read_early(self) -> None:
        """Read during setup, before any entity listens; a failure leaves it unread."""

    def async_forget_early_read(self) -> None:
        """Drop what that read fetched (no entity shows the source after all)."""

    async def async_request_refresh(self) -> None:
        """Poll soon; requests close together make one poll."""

    def async_update_listeners(self) -> None:
        """Have the entities write their state again."""


class AccountUnavailable(Exception):  # noqa: N818 - a state, not a failure of its own
    """The poll was not sent, or got no answer: the account has said so, once."""


class _Page(Enum):
    ANSWERS = auto()
    LOST = auto()
    REFUSED = auto()


class PageReachability:
    """Whether one account's settings page answers; see the module's description."""

    def __init__(
        self,
        hass: HomeAssistant,
        entry: ConfigEntry[Any],
        certificate: CertificateInfo | None,
        sources: Mapping[Source, PolledSource],
        fetch_now: Callable[[PolledSource], None],
    ) -> None:
        """Watch the page of ``entry``'s account.

        ``sources`` is the account's own mapping, filled as coordinators come;
        ``fetch_now`` reads one of them at once (a source the outage stopped).
        """
        self.hass = hass
        self.entry = entry
        self.certificate = certificate
        self._sources = sources
        self._fetch_now = fetch_now
        # Whether setup's first fetch is done: before it, failures fail the setup and
        # change nothing here.
        self.set_up = False
        self._page = _Page.ANSWERS
        # Changes with every change of ``_page``: what a request saw when it was sent.
        self.epoch = 0
        # Sources whose poll found the page lost, read again when it answers.
        self.missed: set[Source] = set()
        # The one source whose poll may ask while the page is lost.
        self._probing: Source | None = None
        self._cancel_probe: CALLBACK_TYPE | None = None

    @property
    def answers(self) -> bool:
        """Whether the settings page answers and accepts the credentials."""
        return self._page is _Page.ANSWERS

    def check_may_poll(self, source: Source) -> None:
        """Raise :class:`AccountUnavailable` unless ``source`` may ask the page now."""
        if self._page is _Page.REFUSED or (
            self._page is _Page.LOST and source is not self._probing
        ):
            raise AccountUnavailable

    @callback
    def async_answered(self, epoch: int, source: Source | None) -> None:
        """A request sent in ``epoch`` got an answer (one of ``source``'s own, if any)."""
        if epoch != self.epoch or self._page is _Page.ANSWERS:
            return
        self._async_set_page(_Page.ANSWERS)
        LOGGER.info("%s: the settings page answers again", self.entry.title)
        self.async_cancel_probe()
        # Every source whose poll the outage stopped, at once (this one has its answer).
        missed = [self._sources[item] for item in Source if item in self.missed - {source}]
        self.missed.clear()
        for coordinator in missed:
            if coordinator.has_listeners:
                self._fetch_now(coordinator)

    @callback
    def async_unanswered(self, epoch: int, reason: object) -> None:
        """A request sent in ``epoch`` got no answer, for ``reason``."""
        if not self.set_up or epoch != self.epoch or self._page is not _Page.ANSWERS:
            return
        self._async_set_page(_Page.LOST)
        LOGGER.warning(
            "%s: the settings page does not answer (%s); the account's entities are "
            "unavailable until it does",
            self.entry.title,
            reason,
        )
        self._async_probe_later()

    @callback
    def async_refused(self, epoch: int, err: SipThorAuthenticationError) -> None:
        """The page refused the sign-in of a request sent in ``epoch``."""
        # The certificate's repair issue, whenever the server refuses it.
        async_certificate_refused(self.hass, self.entry, self.certificate)
        if not self.set_up or epoch != self.epoch or self._page is _Page.REFUSED:
            return
        self._async_set_page(_Page.REFUSED)
        self.async_cancel_probe()
        LOGGER.error(
            "%s: the settings page refused the sign-in (%s); Home Assistant asks for new "
            "credentials",
            self.entry.title,
            err,
        )
        self.entry.async_start_reauth(self.hass)

    @callback
    def _async_set_page(self, page: _Page) -> None:
        self._page = page
        self.epoch += 1
        # Every entity is available or not with the page: let each write its state.
        for coordinator in self._sources.values():
            coordinator.async_update_listeners()

    @callback
    def _async_probe_later(self) -> None:
        self.async_cancel_probe()
        self._cancel_probe = async_call_later(self.hass, RETRY_INTERVAL, self._async_probe)

    @callback
    def async_cancel_probe(self) -> None:
        """Stop asking again (the page answers, or the entry unloads)."""
        if self._cancel_probe is not None:
            self._cancel_probe()
            self._cancel_probe = None

    @callback
    def _async_probe(self, _now: datetime) -> None:
        """Ask the page again with one poll: a source that missed one, else any shown."""
        self._cancel_probe = None
        listened = [
            item
            for item in Source
            if (coordinator := self._sources.get(item)) and coordinator.has_listeners
        ]
        source = next((item for item in listened if item in self.missed), None) or next(
            iter(listened), None
        )
        if source is None:
            self._async_probe_later()
            return
        self.entry.async_create_background_task(
            self.hass, self._async_probe_with(source), f"{self.entry.title}: is the page back?"
        )

    async def _async_probe_with(self, source: Source) -> None:
        self._probing = source
        try:
            await self._sources[source].async_refresh()
        finally:
            self._probing = None
        if self._page is _Page.LOST:
            self._async_probe_later()
