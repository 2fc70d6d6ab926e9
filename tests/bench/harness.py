"""What the benchmarks measure with: entries, state timing, a stall watchdog, the clock.

The simulator serves from a process of its own (server_process.py), except in the hourly
rows, where a frozen clock must drive its keep-alive.

Everything here goes through public behaviour only (config entries, entity states,
actions, the simulator's counters), so the figures stay comparable whatever design of
coordinators the integration has.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
import contextlib
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
import importlib
from pathlib import Path
import time
from typing import Any, Self

from freezegun.api import FrozenDateTimeFactory
from homeassistant import config_entries
from homeassistant.const import CONF_CURRENCY, CONF_PASSWORD, CONF_URL, CONF_VERIFY_SSL
from homeassistant.core import Event, EventStateChangedData, HomeAssistant, callback
from homeassistant.helpers import entity_registry as er
from homeassistant.helpers.aiohttp_client import async_get_clientsession
from homeassistant.helpers.event import async_track_time_interval
from pytest_homeassistant_custom_component.common import MockConfigEntry, async_fire_time_changed

from custom_components.sipthor.api import (
    SipThorClient,
    SipThorError,
    create_ssl_context,
    load_credentials,
)
from custom_components.sipthor.certificate import (
    certificate_file_name,
    certificate_path,
    write_certificate,
)
from custom_components.sipthor.const import CONF_ACCOUNT, CONF_CERTIFICATE_FILE, DOMAIN

HOUR = timedelta(hours=1)
# What the output calls a request without an action: the settings page's HTML (privacy).
PAGE = "(settings page)"
# The watchdog's own sleep, subtracted from every gap it sees.
WATCHDOG_TICK = 0.001


def _flow_version() -> tuple[int, int]:
    """The entry version the config flow writes: no migration runs in a measured setup."""
    importlib.import_module("custom_components.sipthor.config_flow")
    flow = config_entries.HANDLERS[DOMAIN]
    return flow.VERSION, flow.MINOR_VERSION


async def add_entry(
    hass: HomeAssistant, certs_dir: Path, address: str, url: str
) -> MockConfigEntry:
    """A config entry as the config flow makes it, its certificate stored; not set up."""
    name = certificate_file_name(address)
    pem = (certs_dir / f"{address}.crt").read_bytes()
    await hass.async_add_executor_job(
        write_certificate, certificate_path(hass, name), load_credentials(pem)
    )
    return _added_entry(
        hass,
        address,
        {
            CONF_URL: url,
            CONF_ACCOUNT: address,
            CONF_VERIFY_SSL: True,
            CONF_CERTIFICATE_FILE: name,
        },
    )


async def add_password_entry(
    hass: HomeAssistant, address: str, password: str, url: str
) -> MockConfigEntry:
    """A config entry that signs in with the SIP password, as the flow makes it; not set up.

    It does not verify the server: Home Assistant's shared session trusts certifi's
    bundle, read once, not the simulator's CA; verification is not what is measured.
    """
    return _added_entry(
        hass,
        address,
        {CONF_URL: url, CONF_ACCOUNT: address, CONF_VERIFY_SSL: False, CONF_PASSWORD: password},
    )


def _added_entry(hass: HomeAssistant, address: str, data: dict[str, Any]) -> MockConfigEntry:
    """An entry with ``data``, of the version the config flow writes, added to ``hass``."""
    version, minor_version = _flow_version()
    entry = MockConfigEntry(
        domain=DOMAIN,
        version=version,
        minor_version=minor_version,
        title=address,
        unique_id=address,
        data=data,
        options={CONF_CURRENCY: "EUR"},
    )
    entry.add_to_hass(hass)
    return entry


async def settle(hass: HomeAssistant) -> None:
    """Wait for everything started, background fetches included."""
    await hass.async_block_till_done(wait_background_tasks=True)


def entity_ids(hass: HomeAssistant, entry: MockConfigEntry) -> list[str]:
    """The entry's entities that are enabled."""
    registry = er.async_get(hass)
    return [
        entity.entity_id
        for entity in er.async_entries_for_config_entry(registry, entry.entry_id)
        if entity.disabled_by is None
    ]


def dnd_switch(hass: HomeAssistant, entry: MockConfigEntry) -> str:
    """The do-not-disturb switch, found by its translation key."""
    registry = er.async_get(hass)
    return next(
        entity.entity_id
        for entity in er.async_entries_for_config_entry(registry, entry.entry_id)
        if entity.domain == "switch" and entity.translation_key == "do_not_disturb"
    )


@dataclass
class StateTimes:
    """When each entity first showed a value, and when each state was first seen."""

    start: float = field(default_factory=time.perf_counter)
    available: dict[str, float] = field(default_factory=dict)
    first_state: dict[tuple[str, str], float] = field(default_factory=dict)

    @callback
    def on_state(self, event: Event[EventStateChangedData]) -> None:
        new = event.data["new_state"]
        if new is None:
            return
        now = time.perf_counter() - self.start
        self.first_state.setdefault((new.entity_id, new.state), now)
        if new.state != "unavailable":
            self.available.setdefault(new.entity_id, now)


class StallWatchdog:
    """The largest gap between two turns of the event loop, minus its own sleep.

    Two clocks: the wall clock (``perf_counter``), which also counts the time the
    operating system gives the other processes of a busy machine, and the CPU time of
    the loop's thread (``thread_time``), which counts only the work done on the loop.
    Real time only: with a frozen clock ``asyncio.sleep`` never returns.
    """

    def __init__(self) -> None:
        self.largest = 0.0
        self.largest_cpu = 0.0
        self._since_mark = (0.0, 0.0)
        self._task: asyncio.Task[None] | None = None

    def mark(self) -> tuple[float, float]:
        """The largest stall since the previous mark (or the start): wall clock, CPU."""
        largest, self._since_mark = self._since_mark, (0.0, 0.0)
        return largest

    async def _watch(self) -> None:
        last, last_cpu = time.perf_counter(), time.thread_time()
        while True:
            await asyncio.sleep(WATCHDOG_TICK)
            now, now_cpu = time.perf_counter(), time.thread_time()
            gap, gap_cpu = now - last - WATCHDOG_TICK, now_cpu - last_cpu
            self.largest = max(self.largest, gap)
            self.largest_cpu = max(self.largest_cpu, gap_cpu)
            wall, cpu = self._since_mark
            self._since_mark = (max(wall, gap), max(cpu, gap_cpu))
            last, last_cpu = now, now_cpu

    async def __aenter__(self) -> Self:
        self._task = asyncio.get_running_loop().create_task(self._watch())
        await asyncio.sleep(0)
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        assert self._task is not None
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task


def align_clock(freezer: FrozenDateTimeFactory) -> None:
    """Move the frozen clock to the next whole second.

    Home Assistant schedules a poll at a whole second plus a random fraction below
    0.5 s; from a whole second the steps then fire every poll at the same step, and an
    hour holds the same number of polls in every run.
    """
    now = datetime.now(UTC)
    freezer.move_to(now.replace(microsecond=0) + timedelta(seconds=1))


class SimulatedHour:
    """Move a frozen clock through an hour in small steps, firing what falls due."""

    def __init__(
        self,
        hass: HomeAssistant,
        freezer: FrozenDateTimeFactory,
        step: timedelta,
        on_step: Callable[[float], None] | None = None,
    ) -> None:
        self.hass = hass
        self.freezer = freezer
        self.step = step
        self.on_step = on_step

    async def run(self, duration: timedelta = HOUR) -> None:
        elapsed = timedelta()
        while elapsed < duration:
            self.freezer.tick(self.step)
            elapsed += self.step
            async_fire_time_changed(self.hass)
            await settle(self.hass)
            if self.on_step is not None:
                self.on_step(elapsed.total_seconds())


# -- the naive design, for comparison ------------------------------------------------------


class NaivePoller:
    """Every read action, one at a time, every 30 s; a write is the write plus a read-back.

    No coordinators, no schedules: what an integration without any of the issue's design
    would send. It uses Home Assistant's shared client session, as the integration does.
    """

    INTERVAL = timedelta(seconds=30)

    def __init__(self, client: SipThorClient) -> None:
        self.client = client
        self.reads: tuple[Callable[[], Coroutine[Any, Any, Any]], ...] = (
            client.get_prepaid,
            client.get_devices,
            client.get_accept_rules,
            client.get_reject_rules,
            client.get_identity,
            client.get_call_forwarding,
            client.get_voicemail,
            client.get_aliases,
            client.get_enum,
            client.get_call_history,
            client.get_balance_history,
            client.get_monthly_usage,
        )

    @classmethod
    async def create(
        cls, hass: HomeAssistant, certs_dir: Path, address: str, url: str
    ) -> NaivePoller:
        credentials = load_credentials((certs_dir / f"{address}.crt").read_bytes())
        context = await hass.async_add_executor_job(create_ssl_context, credentials)
        return cls(SipThorClient(address, context, url=url, session=async_get_clientsession(hass)))

    async def read_all(self) -> None:
        for read in self.reads:
            # get_monthly_usage fails upstream (HTTP 500); the naive design asks anyway.
            with contextlib.suppress(SipThorError):
                await read()

    def poll_every_30_s(self, hass: HomeAssistant) -> Callable[[], None]:
        async def _poll(_now: Any) -> None:
            await self.read_all()

        return async_track_time_interval(hass, _poll, self.INTERVAL)

    async def dnd_on(self) -> None:
        await self.client.set_dnd_on()
        await self.client.get_accept_rules()

    async def forward(self, targets: dict[Any, str]) -> None:
        await self.client.set_call_forwarding(targets)
        await self.client.get_call_forwarding()
