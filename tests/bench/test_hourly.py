"""Requests and TLS handshakes per hour, and how stale the registrations get.

A frozen clock moves through one hour in steps of a second. The simulator runs on Home
Assistant's loop with no latency, so that the same clock drives its keep-alive: like
Apache, it closes a connection idle for 5 s, and the next request pays a new handshake.
Counting starts after setup and the fetch that follows it. Nothing here asserts a
timing.
"""

from __future__ import annotations

from collections import Counter
from datetime import timedelta
from pathlib import Path
from unittest.mock import patch

from freezegun.api import FrozenDateTimeFactory
from homeassistant.core import HomeAssistant
import pytest

from simulator import SettingsSimulator
from tests.bench.harness import PAGE, NaivePoller, SimulatedHour, add_entry, align_clock, settle
from tests.bench.table import record
from tests.conftest import ACCOUNT

pytestmark = pytest.mark.bench

STEP = timedelta(seconds=1)
# Upstream CDRTool: one request costs 6 to 9 NGNPro SOAP calls (docs/settings-api.md §3).
BACKEND_CALLS = (6, 9)
REGISTRATIONS = "get_devices"


class _RegistrationReads:
    """The largest gap between two reads of the registrations, in simulated seconds."""

    def __init__(self, simulator: SettingsSimulator) -> None:
        self._requests = simulator.counters.requests
        self._count = self._requests[REGISTRATIONS]
        self._last = 0.0
        self.largest_gap = 0.0

    def on_step(self, elapsed: float) -> None:
        if self._requests[REGISTRATIONS] != self._count:
            self._count = self._requests[REGISTRATIONS]
            self.largest_gap = max(self.largest_gap, elapsed - self._last)
            self._last = elapsed

    def finish(self, elapsed: float) -> float:
        return max(self.largest_gap, elapsed - self._last)


def _report(title: str, requests: Counter[str], handshakes: int, gap: float) -> None:
    total = requests.total()
    print(f"\n{title}")
    for action, count in sorted(requests.items(), key=lambda item: (-item[1], item[0])):
        print(f"  {action or PAGE:<22} {count:>5} /h")
    low, high = (total * calls for calls in BACKEND_CALLS)
    print(f"  {'all requests':<22} {total:>5} /h  (= {low}-{high} back-end SOAP calls /h)")
    print(f"  {'TLS handshakes':<22} {handshakes:>5} /h")
    print(f"  {'registrations age':<22} {gap:>5.0f} s at most")


async def _design_hour(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    simulator: SettingsSimulator,
    certs_dir: Path,
    *,
    all_enabled: bool,
) -> tuple[Counter[str], int, float]:
    align_clock(freezer)
    entry = await add_entry(hass, certs_dir, ACCOUNT, simulator.url)
    if all_enabled:
        with patch(
            "homeassistant.helpers.entity.Entity.entity_registry_enabled_default",
            return_value=True,
        ):
            assert await hass.config_entries.async_setup(entry.entry_id)
            await settle(hass)
    else:
        assert await hass.config_entries.async_setup(entry.entry_id)
    await settle(hass)
    simulator.counters.reset()
    registrations = _RegistrationReads(simulator)
    await SimulatedHour(hass, freezer, STEP, registrations.on_step).run()
    gap = registrations.finish(3600)
    return Counter(simulator.counters.requests), simulator.counters.handshakes, gap


async def test_design_hour_default_entities(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    loop_simulator: SettingsSimulator,
    sim_certs_dir: Path,
) -> None:
    requests, handshakes, gap = await _design_hour(
        hass, freezer, loop_simulator, sim_certs_dir, all_enabled=False
    )
    _report("This design, default options and entities:", requests, handshakes, gap)
    assert requests[REGISTRATIONS] > 0
    record("requests", "design", requests.total())
    record("handshakes", "design", handshakes)
    record("registrations_age", "design", gap)


async def test_design_hour_every_entity(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    loop_simulator: SettingsSimulator,
    sim_certs_dir: Path,
) -> None:
    requests, handshakes, gap = await _design_hour(
        hass, freezer, loop_simulator, sim_certs_dir, all_enabled=True
    )
    _report("This design, default options, every entity enabled:", requests, handshakes, gap)
    assert requests[REGISTRATIONS] > 0
    record("requests_all", "design", requests.total())


async def test_naive_hour(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    loop_simulator: SettingsSimulator,
    sim_certs_dir: Path,
) -> None:
    align_clock(freezer)
    naive = await NaivePoller.create(hass, sim_certs_dir, ACCOUNT, loop_simulator.url)
    await naive.read_all()
    stop = naive.poll_every_30_s(hass)
    loop_simulator.counters.reset()
    registrations = _RegistrationReads(loop_simulator)
    await SimulatedHour(hass, freezer, STEP, registrations.on_step).run()
    stop()
    requests = Counter(loop_simulator.counters.requests)
    gap = registrations.finish(3600)
    _report(
        "The naive design (every read every 30 s):",
        requests,
        loop_simulator.counters.handshakes,
        gap,
    )
    # The harness fired every 30 s poll of the hour, each asking all twelve actions.
    assert requests.total() == 120 * len(naive.reads)
    record("requests", "naive", requests.total())
    record("requests_all", "naive", requests.total())
    record("handshakes", "naive", loop_simulator.counters.handshakes)
    record("registrations_age", "naive", gap)
