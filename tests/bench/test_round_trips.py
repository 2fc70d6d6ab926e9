"""Round trips: setup, the DND switch, the forwarding action; and the event-loop stalls.

Real time, no frozen clock, the simulator in a process of its own (server_process.py),
in two models of a round trip L (``--latency``): the server holding every answer L, then
a network delaying every byte L/2 each way, where a new connection also pays its TCP and
TLS handshakes and the certificate asked for after the request. A figure in round trips
(RT) is the time divided by L. Nothing here asserts a timing.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from pathlib import Path
import statistics
import time
from typing import Any

from homeassistant.const import CONF_URL, EVENT_STATE_CHANGED, STATE_OFF, STATE_ON
from homeassistant.core import HomeAssistant
from homeassistant.helpers.storage import Store
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.sipthor.api import MOBILE_NUMBER, VOICE_MAILBOX, ForwardingCondition
from custom_components.sipthor.const import DOMAIN, STORAGE_VERSION
from tests.bench.harness import (
    PAGE,
    NaivePoller,
    StallWatchdog,
    StateTimes,
    add_entry,
    dnd_switch,
    entity_ids,
    settle,
)
from tests.bench.server_process import APACHE_KEEPALIVE, ServerProcess
from tests.bench.table import Column, record
from tests.conftest import ACCOUNT

pytestmark = pytest.mark.bench


class _Phases:
    """Prints each phase: its time in round trips, its largest stall, what it sent."""

    def __init__(self, server: ServerProcess, watchdog: StallWatchdog, latency: float) -> None:
        self._server = server
        self._seen = server.requests()
        self._watchdog = watchdog
        self.latency = latency

    def skip(self) -> None:
        """Forget what was sent and stalled since the last phase."""
        self._seen = self._server.requests()
        self._watchdog.mark()

    def report(self, title: str, seconds: float) -> float:
        """Print the phase; return its time in round trips."""
        now = self._server.requests()
        sent = ", ".join(
            f"{action or PAGE} x{count}" for action, count in sorted((now - self._seen).items())
        )
        self._seen = now
        wall, cpu = self._watchdog.mark()
        print(
            f"  {title:<40} {seconds:6.3f} s = {seconds / self.latency:5.2f} RT  "
            f"stall {wall * 1000:5.1f} ms (CPU {cpu * 1000:4.1f} ms)  [{sent}]"
        )
        return seconds / self.latency


# How long the watchdog runs with nothing else to do.
IDLE_WATCH = 2.0


async def _idle_stall() -> float:
    """The largest wall-clock stall while nothing runs: what the machine adds to any phase.

    The other processes of a busy machine take the loop's thread off the CPU whatever it
    does; this row tells that apart from the integration.
    """
    async with StallWatchdog() as watchdog:
        await asyncio.sleep(IDLE_WATCH)
    print(f"  largest stall with nothing to do: {watchdog.largest * 1000:.1f} ms")
    return watchdog.largest * 1000


async def _first_setup(hass: HomeAssistant, entry: MockConfigEntry) -> None:
    """Set up and unload once: the figures are of the setups after it.

    A first setup imports the platforms and fills the registries, as the first start
    after installing does; every later start, reload or option change finds them.
    """
    assert await hass.config_entries.async_setup(entry.entry_id)
    await settle(hass)
    assert await hass.config_entries.async_unload(entry.entry_id)
    await settle(hass)


async def _setup(hass: HomeAssistant, entry: MockConfigEntry, phases: _Phases) -> dict[str, float]:
    times = StateTimes()
    unsubscribe = hass.bus.async_listen(EVENT_STATE_CHANGED, times.on_state)
    assert await hass.config_entries.async_setup(entry.entry_id)
    setup = phases.report("setup", time.perf_counter() - times.start)
    await settle(hass)
    unsubscribe()
    enabled = entity_ids(hass, entry)
    never = sorted(set(enabled) - set(times.available))
    last = max(times.available[entity_id] for entity_id in enabled if entity_id in times.available)
    available = phases.report("every default entity available", last)
    if never:
        print(f"    never available: {', '.join(never)}")
    return {"setup": setup, "setup_available": available}


# Setups measured per model; the table shows the median. On a machine shared with other
# work one setup may lose tens of milliseconds to it, which is 0.1 RT and more.
SETUPS = 3


async def _setups(hass: HomeAssistant, entry: MockConfigEntry, phases: _Phases) -> dict[str, float]:
    """Set up :data:`SETUPS` times (unloading in between); the median of each figure."""
    runs: list[dict[str, float]] = []
    for number in range(SETUPS):
        if number:
            assert await hass.config_entries.async_unload(entry.entry_id)
            # The server closes the idle connections: each setup starts with none open.
            await hass.async_add_executor_job(time.sleep, APACHE_KEEPALIVE + 0.5)
            await settle(hass)
            phases.skip()
        runs.append(await _setup(hass, entry, phases))
    medians = {key: statistics.median(run[key] for run in runs) for key in runs[0]}
    print(
        f"  {f'median of {SETUPS} setups':<40} {medians['setup']:16.2f} RT, "
        f"every entity available {medians['setup_available']:.2f} RT"
    )
    return medians


async def _first_start(
    hass: HomeAssistant, entry: MockConfigEntry, phases: _Phases
) -> dict[str, float]:
    """A setup with nothing remembered, as at the account's first start.

    The store forgets which sources the entities showed: setup reads its own three, and
    the rest only once the entities exist.
    """
    assert await hass.config_entries.async_unload(entry.entry_id)
    await Store[Any](hass, STORAGE_VERSION, f"{DOMAIN}.{entry.entry_id}").async_remove()
    await hass.async_add_executor_job(time.sleep, APACHE_KEEPALIVE + 0.5)
    await settle(hass)
    phases.skip()
    print("  the account's first start, nothing remembered:")
    return {"setup_available_first": (await _setup(hass, entry, phases))["setup_available"]}


async def _dnd_tap(
    hass: HomeAssistant, entry: MockConfigEntry, phases: _Phases, title: str
) -> tuple[float, float]:
    """Switch do not disturb over; the round trips until shown and until confirmed."""
    switch = dnd_switch(hass, entry)
    to = STATE_OFF if hass.states.get(switch).state == STATE_ON else STATE_ON
    times = StateTimes()
    unsubscribe = hass.bus.async_listen(EVENT_STATE_CHANGED, times.on_state)
    service = "turn_on" if to == STATE_ON else "turn_off"
    await hass.services.async_call("switch", service, {"entity_id": switch}, blocking=True)
    confirmed = time.perf_counter() - times.start
    unsubscribe()
    shown = times.first_state[switch, to] / phases.latency
    print(f"  {f'{title} → shown {to}':<40} {shown:16.2f} RT")
    return shown, phases.report(f"{title} → action returned", confirmed)


async def _forwarding(
    hass: HomeAssistant, entry: MockConfigEntry, phases: _Phases
) -> dict[str, float]:
    figures: dict[str, float] = {}
    for key, field, target in (
        ("forward_voicemail", "busy", VOICE_MAILBOX),
        ("forward_mobile", "always", MOBILE_NUMBER),
    ):
        start = time.perf_counter()
        await hass.services.async_call(
            DOMAIN,
            "set_call_forwarding",
            {"config_entry_id": entry.entry_id, field: target},
            blocking=True,
        )
        figures[key] = phases.report(f"forwarding {field}: {target}", time.perf_counter() - start)
        await settle(hass)
        phases.skip()
    return figures


async def _design_phases(
    hass: HomeAssistant, entry: MockConfigEntry, phases: _Phases
) -> dict[str, float]:
    """Setup, a DND tap, the forwarding action, and a DND tap once the connections closed."""
    figures = await _setups(hass, entry, phases)
    figures |= await _first_start(hass, entry, phases)
    await settle(hass)
    phases.skip()
    figures["dnd_shown"], figures["dnd_confirmed"] = await _dnd_tap(hass, entry, phases, "DND")
    await settle(hass)
    phases.skip()
    figures |= await _forwarding(hass, entry, phases)
    # The server closes a connection idle for 5 s: a tap later finds none open.
    await hass.async_add_executor_job(time.sleep, APACHE_KEEPALIVE + phases.latency + 0.5)
    phases.skip()
    figures["dnd_cold"], _ = await _dnd_tap(hass, entry, phases, "DND, connections closed")
    await settle(hass)
    return figures


def _record(figures: dict[str, float], column: Column) -> None:
    for key, value in figures.items():
        record(key, column, value)


async def test_design_round_trips(
    hass: HomeAssistant, server_process: ServerProcess, sim_certs_dir: Path, latency: float
) -> None:
    entry = await add_entry(hass, sim_certs_dir, ACCOUNT, server_process.url)
    await _first_setup(hass, entry)
    server_process.set_latency(latency)
    print(f"\nThis design, the server model, L = {latency:g} s:")
    record("stall_idle", "design", await _idle_stall())
    async with StallWatchdog() as watchdog:
        phases = _Phases(server_process, watchdog, latency)
        _record(await _design_phases(hass, entry, phases), "design")
    print(
        f"  largest event-loop stall: {watchdog.largest * 1000:.1f} ms, "
        f"in CPU time {watchdog.largest_cpu * 1000:.1f} ms"
    )
    assert server_process.forwarding(ACCOUNT).get("FBUS") == "<voice-mailbox>"
    record("stall", "design", watchdog.largest * 1000)
    record("stall_cpu", "design", watchdog.largest_cpu * 1000)

    assert await hass.config_entries.async_unload(entry.entry_id)
    await settle(hass)
    server_process.set_latency(0)
    proxy = server_process.network(latency)
    hass.config_entries.async_update_entry(entry, data={**entry.data, CONF_URL: proxy})
    # Nothing open through the proxy yet: the setup starts as Home Assistant's start does.
    print(f"\nThis design, the network model, L = {latency:g} s:")
    async with StallWatchdog() as watchdog:
        phases = _Phases(server_process, watchdog, latency)
        _record(await _design_phases(hass, entry, phases), "design_network")


async def _naive_phases(naive: NaivePoller, phases: _Phases) -> dict[str, float]:
    start = time.perf_counter()
    await naive.read_all()
    setup = phases.report("setup: every read, in turn", time.perf_counter() - start)
    start = time.perf_counter()
    await naive.dnd_on()
    # Without coordinators the state is shown when the read-back returns.
    dnd = phases.report("DND on, then read back", time.perf_counter() - start)
    figures = {
        "setup": setup,
        "setup_available": setup,
        "setup_available_first": setup,
        "dnd_shown": dnd,
        "dnd_confirmed": dnd,
    }
    for key, condition, target in (
        ("forward_voicemail", ForwardingCondition.BUSY, VOICE_MAILBOX),
        ("forward_mobile", ForwardingCondition.ALWAYS, MOBILE_NUMBER),
    ):
        start = time.perf_counter()
        await naive.forward({condition: target})
        figures[key] = phases.report(f"forwarding {target}", time.perf_counter() - start)
    return figures


async def test_naive_round_trips(
    hass: HomeAssistant, server_process: ServerProcess, sim_certs_dir: Path, latency: float
) -> None:
    server_process.set_latency(latency)
    naive = await NaivePoller.create(hass, sim_certs_dir, ACCOUNT, server_process.url)
    print(f"\nThe naive design, the server model, L = {latency:g} s:")
    record("stall_idle", "naive", await _idle_stall())
    async with StallWatchdog() as watchdog:
        _record(await _naive_phases(naive, _Phases(server_process, watchdog, latency)), "naive")
    print(
        f"  largest event-loop stall: {watchdog.largest * 1000:.1f} ms, "
        f"in CPU time {watchdog.largest_cpu * 1000:.1f} ms"
    )
    assert server_process.forwarding(ACCOUNT).get("FBUS") == "<voice-mailbox>"
    record("stall", "naive", watchdog.largest * 1000)
    record("stall_cpu", "naive", watchdog.largest_cpu * 1000)

    server_process.set_latency(0)
    proxy = server_process.network(latency)
    naive = await NaivePoller.create(hass, sim_certs_dir, ACCOUNT, proxy)
    print(f"\nThe naive design, the network model, L = {latency:g} s:")
    async with StallWatchdog() as watchdog:
        phases = _Phases(server_process, watchdog, latency)
        _record(await _naive_phases(naive, phases), "naive_network")
    assert Counter(server_process.requests())["set_call_forwarding"] == 4
