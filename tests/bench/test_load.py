"""Load and latency figures, printed; nothing here asserts a timing.

Run with ``scripts/bench``. What it measures:

- the requests one account sends to the settings page in an hour of simulated time, per
  action, with the default options and all entities that are enabled by default, and the
  TLS handshakes that cost (each new connection asks for the client certificate again);
- the same with every entity enabled;
- the client's round trip to the simulator over mutual TLS on loopback, per request.
"""

from __future__ import annotations

from collections import Counter
from datetime import timedelta
import statistics
import time

from freezegun.api import FrozenDateTimeFactory
from homeassistant.core import HomeAssistant
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.sipthor.api import SipThorClient, create_ssl_context
from simulator import SettingsSimulator
from tests.conftest import ACCOUNT
from tests.integration.conftest import advance, setup_entry

pytestmark = pytest.mark.bench

# Upstream CDRTool: one request costs 6 to 9 NGNPro SOAP calls (docs/settings-api.md §3).
BACKEND_CALLS = (6, 9)


async def _hour(hass: HomeAssistant, freezer: FrozenDateTimeFactory) -> None:
    for _ in range(60):
        await advance(hass, freezer, timedelta(minutes=1))


def _report(title: str, requests: Counter[str], handshakes: int) -> None:
    total = sum(requests.values())
    print(f"\n{title}")
    for action, count in sorted(requests.items(), key=lambda item: -item[1]):
        print(f"  {action:<22} {count:>5} /h")
    low, high = (total * calls for calls in BACKEND_CALLS)
    print(f"  {'all requests':<22} {total:>5} /h  (= {low}-{high} back-end SOAP calls /h)")
    print(f"  {'TLS handshakes':<22} {handshakes:>5} /h")


async def _run(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    entry: MockConfigEntry,
    simulator: SettingsSimulator,
    *,
    all_enabled: bool,
) -> tuple[Counter[str], int]:
    await setup_entry(hass, entry, all_enabled=all_enabled)
    simulator.counters.reset()
    await _hour(hass, freezer)
    return Counter(simulator.counters.requests), simulator.counters.handshakes


async def test_requests_per_hour_default(
    freezer: FrozenDateTimeFactory,
    hass: HomeAssistant,
    mock_config_entry: MockConfigEntry,
    stored_certificate,
    simulator: SettingsSimulator,
) -> None:
    requests, handshakes = await _run(
        hass, freezer, mock_config_entry, simulator, all_enabled=False
    )
    _report("One account, default options, default entities:", requests, handshakes)


async def test_requests_per_hour_everything_enabled(
    freezer: FrozenDateTimeFactory,
    hass: HomeAssistant,
    mock_config_entry: MockConfigEntry,
    stored_certificate,
    simulator: SettingsSimulator,
) -> None:
    requests, handshakes = await _run(hass, freezer, mock_config_entry, simulator, all_enabled=True)
    _report("One account, default options, every entity enabled:", requests, handshakes)


async def test_round_trip(simulator: SettingsSimulator, alice_credentials) -> None:
    context = create_ssl_context(alice_credentials, cafile=str(simulator.certs.server_ca))
    rounds = 200
    async with SipThorClient(ACCOUNT, context, url=simulator.url) as client:
        await client.get_prepaid()  # the connection and its certificate exchange
        timings = []
        for _ in range(rounds):
            start = time.perf_counter()
            await client.get_prepaid()
            timings.append((time.perf_counter() - start) * 1000)
    first = simulator.counters.handshakes
    async with SipThorClient(ACCOUNT, context, url=simulator.url) as client:
        cold = []
        for _ in range(20):
            start = time.perf_counter()
            await client.get_prepaid()
            cold.append((time.perf_counter() - start) * 1000)
            await client.close()
    timings.sort()
    print(f"\nget_prepaid over mutual TLS to the simulator on loopback ({rounds} requests):")
    print(
        f"  kept-alive connection: median {statistics.median(timings):.2f} ms, "
        f"p95 {timings[int(rounds * 0.95)]:.2f} ms"
    )
    print(
        f"  new connection each time (handshake + post-handshake certificate): "
        f"median {statistics.median(cold):.2f} ms over {len(cold)} requests"
    )
    print(
        f"  handshakes: {first} for the kept-alive run, "
        f"{simulator.counters.handshakes - first} for the cold run"
    )
