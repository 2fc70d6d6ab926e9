"""Round trips: setup, the DND switch, the forwarding action; and the event-loop stalls.

Real time, no frozen clock: the simulator holds every answer for L seconds
(``--latency``), from a thread of its own so that its TLS work is not counted as a stall
of Home Assistant's loop. A figure in round trips (RT) is the time divided by L.
Nothing here asserts a timing.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from pathlib import Path
import time

from homeassistant.const import EVENT_STATE_CHANGED, STATE_ON
from homeassistant.core import HomeAssistant
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.sipthor.api import MOBILE_NUMBER, VOICE_MAILBOX, ForwardingCondition
from custom_components.sipthor.const import DOMAIN
from tests.bench.harness import (
    PAGE,
    NaivePoller,
    StallWatchdog,
    StateTimes,
    ThreadedSimulator,
    add_entry,
    dnd_switch,
    entity_ids,
    settle,
)
from tests.bench.table import record
from tests.conftest import ACCOUNT

pytestmark = pytest.mark.bench


class _Phases:
    """Prints each phase: its time in round trips, its largest stall, what it sent."""

    def __init__(
        self, threaded: ThreadedSimulator, watchdog: StallWatchdog, latency: float
    ) -> None:
        self._counters = threaded.server.counters
        self._seen: Counter[str] = Counter(self._counters.requests)
        self._watchdog = watchdog
        self.latency = latency

    def skip(self) -> None:
        """Forget what was sent and stalled since the last phase."""
        self._seen = Counter(self._counters.requests)
        self._watchdog.mark()

    def report(self, title: str, seconds: float) -> float:
        """Print the phase; return its time in round trips."""
        now = Counter(self._counters.requests)
        sent = ", ".join(
            f"{action or PAGE} x{count}" for action, count in sorted((now - self._seen).items())
        )
        self._seen = now
        wall, cpu = self._watchdog.mark()
        print(
            f"  {title:<36} {seconds:6.3f} s = {seconds / self.latency:4.1f} RT  "
            f"stall {wall * 1000:5.1f} ms (CPU {cpu * 1000:4.1f} ms)  [{sent}]"
        )
        return seconds / self.latency


# How long the watchdog runs with nothing else to do.
IDLE_WATCH = 2.0


async def _idle_stall() -> float:
    """The largest wall-clock stall while nothing runs: what the machine adds to any phase.

    The other processes of a busy machine and the simulator's thread take the loop's
    thread off the CPU whatever it does; this row tells that apart from the integration.
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


async def _dnd_tap(
    hass: HomeAssistant, entry: MockConfigEntry, phases: _Phases
) -> dict[str, float]:
    switch = dnd_switch(hass, entry)
    assert hass.states.get(switch).state != STATE_ON
    times = StateTimes()
    unsubscribe = hass.bus.async_listen(EVENT_STATE_CHANGED, times.on_state)
    await hass.services.async_call("switch", "turn_on", {"entity_id": switch}, blocking=True)
    confirmed = time.perf_counter() - times.start
    unsubscribe()
    shown = times.first_state[switch, STATE_ON] / phases.latency
    print(f"  {'DND tap → shown on':<36} {shown:15.1f} RT")
    return {
        "dnd_shown": shown,
        "dnd_confirmed": phases.report("DND tap → action returned", confirmed),
    }


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


async def test_design_round_trips(
    hass: HomeAssistant,
    threaded_simulator: ThreadedSimulator,
    sim_certs_dir: Path,
    latency: float,
) -> None:
    entry = await add_entry(hass, sim_certs_dir, ACCOUNT, threaded_simulator.server.url)
    await _first_setup(hass, entry)
    threaded_simulator.server.faults.latency = latency
    print(f"\nThis design, L = {latency:g} s:")
    record("stall_idle", "design", await _idle_stall())
    async with StallWatchdog() as watchdog:
        phases = _Phases(threaded_simulator, watchdog, latency)
        figures = await _setup(hass, entry, phases)
        figures |= await _dnd_tap(hass, entry, phases)
        await settle(hass)
        phases.skip()
        figures |= await _forwarding(hass, entry, phases)
    print(
        f"  largest event-loop stall: {watchdog.largest * 1000:.1f} ms, "
        f"in CPU time {watchdog.largest_cpu * 1000:.1f} ms"
    )

    forwarding = threaded_simulator.server.platform.accounts[ACCOUNT].forwarding
    assert forwarding.get("FBUS") == "<voice-mailbox>"
    for key, value in figures.items():
        record(key, "design", value)
    record("stall", "design", watchdog.largest * 1000)
    record("stall_cpu", "design", watchdog.largest_cpu * 1000)


async def test_naive_round_trips(
    hass: HomeAssistant,
    threaded_simulator: ThreadedSimulator,
    sim_certs_dir: Path,
    latency: float,
) -> None:
    naive = await NaivePoller.create(hass, sim_certs_dir, ACCOUNT, threaded_simulator.server.url)
    threaded_simulator.server.faults.latency = latency
    print(f"\nThe naive design, L = {latency:g} s:")
    record("stall_idle", "naive", await _idle_stall())
    async with StallWatchdog() as watchdog:
        phases = _Phases(threaded_simulator, watchdog, latency)
        start = time.perf_counter()
        await naive.read_all()
        record(
            "setup",
            "naive",
            phases.report("setup: every read, in turn", time.perf_counter() - start),
        )

        start = time.perf_counter()
        await naive.dnd_on()
        dnd = phases.report("DND on, then read back", time.perf_counter() - start)
        # Without coordinators the state is shown when the read-back returns.
        record("dnd_shown", "naive", dnd)
        record("dnd_confirmed", "naive", dnd)

        for key, condition, target in (
            ("forward_voicemail", ForwardingCondition.BUSY, VOICE_MAILBOX),
            ("forward_mobile", ForwardingCondition.ALWAYS, MOBILE_NUMBER),
        ):
            start = time.perf_counter()
            await naive.forward({condition: target})
            record(key, "naive", phases.report(f"forwarding {target}", time.perf_counter() - start))
    print(
        f"  largest event-loop stall: {watchdog.largest * 1000:.1f} ms, "
        f"in CPU time {watchdog.largest_cpu * 1000:.1f} ms"
    )

    forwarding = threaded_simulator.server.platform.accounts[ACCOUNT].forwarding
    assert forwarding.get("FBUS") == "<voice-mailbox>"
    record("stall", "naive", watchdog.largest * 1000)
    record("stall_cpu", "naive", watchdog.largest_cpu * 1000)
