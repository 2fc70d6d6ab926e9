"""1, 10 and 50 accounts in one Home Assistant: CPU time per hour, memory per account.

The accounts are copies of Alice, each with a certificate of its own. The simulator runs
in a process of its own, so that its work counts neither in the Home Assistant thread's
CPU time nor in its memory; the clock is frozen and moved through an hour in steps of 5 s.

- Resident memory (RSS): the growth of the process's resident set from before the
  setups (all at once, as at a start) until after the fetch that follows them and the
  close of the idle connections, divided by N: what the operating system gives the
  accounts, OpenSSL's and the allocator's share included.
- The Python heap: ``tracemalloc`` over the same setups, run a second time (tracing
  itself costs resident memory, so it is not on during the first).
- CPU: ``time.thread_time()`` of the Home Assistant thread over the simulated hour,
  minus the same hour stepped with no account loaded (the harness's own cost).

Nothing here asserts a timing.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterator
import contextlib
from datetime import timedelta
import gc
from pathlib import Path
import time
import tracemalloc

from freezegun.api import FrozenDateTimeFactory
from homeassistant.config_entries import ConfigEntryState
from homeassistant.core import HomeAssistant
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry, async_fire_time_changed

from tests.bench.harness import NaivePoller, SimulatedHour, add_entry, align_clock, settle
from tests.bench.server_process import APACHE_KEEPALIVE, ServerProcess
from tests.bench.table import SCALES, Column, record

pytestmark = pytest.mark.bench

STEP = timedelta(seconds=5)
# The naive design sends 1,440 requests per account and hour: beyond 10 accounts its
# hour would keep the two shared cores busy for minutes.
NAIVE_CPU_UP_TO = 10
_PAGE = 4096


def _resident() -> int:
    """The process's resident set, in bytes."""
    return int(Path("/proc/self/statm").read_text().split()[1]) * _PAGE


async def _cpu_of_an_hour(hass: HomeAssistant, freezer: FrozenDateTimeFactory) -> float:
    start = time.thread_time()
    await SimulatedHour(hass, freezer, STEP).run()
    return time.thread_time() - start


async def _idle(hass: HomeAssistant, freezer: FrozenDateTimeFactory) -> None:
    """Wait for the fetches, then for the server to close the idle connections.

    The frozen clock moves through the same time: what Home Assistant's timers do in it
    happens (aiohttp aborts closed TLS transports 2 s later on Python 3.13.0).
    """
    await settle(hass)
    # Between polls nothing is open; each open TLS connection holds buffers of its own.
    await hass.async_add_executor_job(time.sleep, APACHE_KEEPALIVE + 1)
    freezer.tick(APACHE_KEEPALIVE + 1)
    async_fire_time_changed(hass)
    await settle(hass)
    gc.collect()


async def _resident_growth(
    hass: HomeAssistant, freezer: FrozenDateTimeFactory, start: Callable[[], Awaitable[None]]
) -> int:
    """Bytes the resident set grew by over ``start`` and the idle time after it."""
    gc.collect()
    before = _resident()
    await start()
    await _idle(hass, freezer)
    return _resident() - before


async def _python_heap(
    hass: HomeAssistant, freezer: FrozenDateTimeFactory, start: Callable[[], Awaitable[None]]
) -> int:
    """Bytes still allocated by Python after ``start`` and the idle time after it."""
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        await start()
        await _idle(hass, freezer)
        return tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()


@contextlib.contextmanager
def _server(certs_dir: Path, accounts: int) -> Iterator[ServerProcess]:
    server = ServerProcess(certs_dir, accounts=accounts)
    server.start()
    try:
        yield server
    finally:
        server.stop()


def _report(column: Column, accounts: int, rss: int, heap: int, cpu: str = "") -> None:
    record(f"rss_{accounts}", column, rss / accounts)
    record(f"memory_{accounts}", column, heap / accounts)
    who = "This design" if column == "design" else "The naive design"
    print(
        f"\n{who}, {accounts} accounts: {rss / accounts / 1024:.0f} KiB resident and "
        f"{heap / accounts / 1024:.0f} KiB of Python heap per account{cpu}"
    )


@pytest.mark.parametrize("accounts", SCALES)
async def test_design_at_scale(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    sim_certs_dir: Path,
    socket_enabled: None,
    accounts: int,
) -> None:
    align_clock(freezer)
    with _server(sim_certs_dir, accounts + 1) as server:
        *addresses, warm_up = server.addresses
        # One account set up and removed first: what every later account finds loaded
        # (modules, translations) is not counted as a cost per account.
        entry = await add_entry(hass, sim_certs_dir, warm_up, server.url)
        assert await hass.config_entries.async_setup(entry.entry_id)
        await settle(hass)
        assert await hass.config_entries.async_remove(entry.entry_id)
        await settle(hass)
        harness = await _cpu_of_an_hour(hass, freezer)

        entries: list[MockConfigEntry] = []

        async def _set_up() -> None:
            entries[:] = [await add_entry(hass, sim_certs_dir, a, server.url) for a in addresses]
            results = await asyncio.gather(
                *(hass.config_entries.async_setup(entry.entry_id) for entry in entries)
            )
            assert all(results)

        rss = await _resident_growth(hass, freezer, _set_up)
        server.reset()
        cpu = await _cpu_of_an_hour(hass, freezer) - harness
        assert all(entry.state is ConfigEntryState.LOADED for entry in entries)
        requests = server.requests().total()
        assert requests > 0
        record(f"cpu_{accounts}", "design", cpu)

        for entry in entries:
            assert await hass.config_entries.async_remove(entry.entry_id)
        await settle(hass)
        heap = await _python_heap(hass, freezer, _set_up)
    _report(
        "design",
        accounts,
        rss,
        heap,
        f"; {cpu:.2f} s CPU per hour (harness {harness:.2f} s subtracted), "
        f"{requests} requests per hour",
    )


@pytest.mark.parametrize("accounts", SCALES)
async def test_naive_at_scale(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    sim_certs_dir: Path,
    socket_enabled: None,
    accounts: int,
) -> None:
    align_clock(freezer)
    with _server(sim_certs_dir, accounts + 1) as server:
        *addresses, warm_up = server.addresses
        await (await NaivePoller.create(hass, sim_certs_dir, warm_up, server.url)).read_all()
        harness = await _cpu_of_an_hour(hass, freezer)
        pollers: list[NaivePoller] = []

        async def _start() -> None:
            pollers[:] = [
                await NaivePoller.create(hass, sim_certs_dir, address, server.url)
                for address in addresses
            ]
            await asyncio.gather(*(poller.read_all() for poller in pollers))

        rss = await _resident_growth(hass, freezer, _start)
        cpu_line = ""
        if accounts <= NAIVE_CPU_UP_TO:
            stops = [poller.poll_every_30_s(hass) for poller in pollers]
            server.reset()
            cpu = await _cpu_of_an_hour(hass, freezer) - harness
            for stop in stops:
                stop()
            requests = server.requests().total()
            assert requests > 0
            cpu_line = f"; {cpu:.2f} s CPU per hour, {requests} requests per hour"
            record(f"cpu_{accounts}", "naive", cpu)
        heap = await _python_heap(hass, freezer, _start)
    _report("naive", accounts, rss, heap, cpu_line)
