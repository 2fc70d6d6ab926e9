"""1, 10 and 50 accounts in one Home Assistant: CPU time per hour, memory per account.

The accounts are copies of Alice, each with a certificate of its own. The simulator runs
in a thread, so that its work counts neither in the Home Assistant thread's CPU time nor
(much) in the memory measured; the clock is frozen and moved through an hour in steps
of 5 s.

- CPU: ``time.thread_time()`` of the Home Assistant thread over the simulated hour,
  minus the same hour stepped with no account loaded (the harness's own cost).
- Memory: ``tracemalloc``, after garbage collection, from before the setups until after
  the fetch that follows them and the close of the idle connections, divided by N.

Nothing here asserts a timing.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import timedelta
import gc
from pathlib import Path
import time
import tracemalloc

from freezegun.api import FrozenDateTimeFactory
from homeassistant.config_entries import ConfigEntryState
from homeassistant.core import HomeAssistant
import pytest

from simulator import Platform
from tests.bench.harness import (
    APACHE_KEEPALIVE,
    NaivePoller,
    SimulatedHour,
    ThreadedSimulator,
    add_alice_copies,
    add_entry,
    align_clock,
    settle,
)
from tests.bench.table import SCALES, record

pytestmark = pytest.mark.bench

STEP = timedelta(seconds=5)
# The naive design sends 1,440 requests per account and hour: beyond 10 accounts its
# hour would keep the two shared cores busy for minutes.
NAIVE_CPU_UP_TO = 10


async def _cpu_of_an_hour(hass: HomeAssistant, freezer: FrozenDateTimeFactory) -> float:
    start = time.thread_time()
    await SimulatedHour(hass, freezer, STEP).run()
    return time.thread_time() - start


async def _memory_of(hass: HomeAssistant, start: Callable[[], Awaitable[None]]) -> int:
    """Bytes still allocated after ``start`` and the close of idle connections."""
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        await start()
        await settle(hass)
        # The simulator closes idle connections after 5 s of real time (Apache's
        # keep-alive); between polls nothing is open, so measure after that.
        await hass.async_add_executor_job(time.sleep, APACHE_KEEPALIVE + 1)
        await settle(hass)
        gc.collect()
        return tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()


async def _accounts(
    hass: HomeAssistant, platform: Platform, certs_dir: Path, count: int
) -> list[str]:
    return await hass.async_add_executor_job(add_alice_copies, platform, certs_dir, count)


@pytest.mark.parametrize("accounts", SCALES)
async def test_design_at_scale(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    threaded_simulator: ThreadedSimulator,
    accounts: int,
) -> None:
    url = threaded_simulator.server.url
    platform = threaded_simulator.server.platform
    sim_certs_dir = threaded_simulator.server.certs.directory
    align_clock(freezer)
    *addresses, warm_up = await _accounts(hass, platform, sim_certs_dir, accounts + 1)
    # One account set up and removed first: what every later account finds loaded
    # (modules, translations) is not counted as a cost per account.
    entry = await add_entry(hass, sim_certs_dir, warm_up, url)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await settle(hass)
    assert await hass.config_entries.async_remove(entry.entry_id)
    await settle(hass)
    harness = await _cpu_of_an_hour(hass, freezer)

    entries = [await add_entry(hass, sim_certs_dir, address, url) for address in addresses]

    async def _set_up() -> None:
        results = await asyncio.gather(
            *(hass.config_entries.async_setup(entry.entry_id) for entry in entries)
        )
        assert all(results)

    memory = await _memory_of(hass, _set_up)
    threaded_simulator.server.counters.reset()
    cpu = await _cpu_of_an_hour(hass, freezer) - harness

    assert all(entry.state is ConfigEntryState.LOADED for entry in entries)
    requests = threaded_simulator.server.counters.requests.total()
    print(
        f"\nThis design, {accounts} accounts: {cpu:.2f} s CPU per hour "
        f"(harness {harness:.2f} s subtracted), {requests} requests per hour, "
        f"{memory / accounts / 1024:.0f} KiB per account"
    )
    assert requests > 0
    record(f"cpu_{accounts}", "design", cpu)
    record(f"memory_{accounts}", "design", memory / accounts)


@pytest.mark.parametrize("accounts", SCALES)
async def test_naive_at_scale(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    threaded_simulator: ThreadedSimulator,
    accounts: int,
) -> None:
    url = threaded_simulator.server.url
    platform = threaded_simulator.server.platform
    sim_certs_dir = threaded_simulator.server.certs.directory
    align_clock(freezer)
    *addresses, warm_up = await _accounts(hass, platform, sim_certs_dir, accounts + 1)
    await (await NaivePoller.create(hass, sim_certs_dir, warm_up, url)).read_all()
    harness = await _cpu_of_an_hour(hass, freezer)

    pollers: list[NaivePoller] = []

    async def _start() -> None:
        pollers.extend(
            [await NaivePoller.create(hass, sim_certs_dir, address, url) for address in addresses]
        )
        await asyncio.gather(*(poller.read_all() for poller in pollers))

    memory = await _memory_of(hass, _start)
    record(f"memory_{accounts}", "naive", memory / accounts)
    line = (
        f"\nThe naive design, {accounts} accounts: {memory / accounts / 1024:.0f} KiB per account"
    )
    if accounts <= NAIVE_CPU_UP_TO:
        stops = [poller.poll_every_30_s(hass) for poller in pollers]
        threaded_simulator.server.counters.reset()
        cpu = await _cpu_of_an_hour(hass, freezer) - harness
        for stop in stops:
            stop()
        requests = threaded_simulator.server.counters.requests.total()
        assert requests > 0
        line += f", {cpu:.2f} s CPU per hour, {requests} requests per hour"
        record(f"cpu_{accounts}", "naive", cpu)
    print(line)
