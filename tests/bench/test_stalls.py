"""How long hostile answers hold the event loop, on the wall clock (issue 17).

The client reads, on Home Assistant's loop, what a simulator in a thread of its own
sends: answers of every shape at the size cap, settings pages built to slow an HTML
reader down, and floods of Digest challenges. The watchdog measures the largest gap
between two turns of the loop; each case runs five times and the median is printed,
as the issue's figures are medians. A busy machine adds to every figure: compare with
the stall measured with nothing to do, printed first. The simulator's thread shares the
interpreter lock, so its own work (4 MB of headers to write, say) counts as well; the
CPU time of the loop's thread, printed beside, counts only the client's. Nothing here
asserts a timing.

Also here, because it is the other figure of issue 17: the round trips of setting up
an entry that signs in with the SIP password, counted from when its requests reached
the server, and its time.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
import contextlib
from pathlib import Path
import ssl
import statistics
import time
from typing import Any

from aiohttp import hdrs
from homeassistant.core import HomeAssistant
from multidict import CIMultiDict
import pytest

from custom_components.sipthor.api import MAX_BODY_SIZE, SipThorClient, SipThorError
from custom_components.sipthor.api.digest import DigestAuth, DigestChallengeError
from simulator.certs import SERVER_CA
from tests.api.hostile import PAGE_CAP, SHAPES
from tests.bench.harness import StallWatchdog, add_password_entry, settle
from tests.bench.server_process import ChallengeProcess
from tests.bench.table import record
from tests.bench.threaded import ThreadedSimulator
from tests.conftest import ACCOUNT, ACCOUNT_PASSWORD

pytestmark = pytest.mark.bench

RUNS = 5
IDLE_WATCH = 2.0
BOX = "<input type=checkbox name=anonymous checked>"


def _fill(unit: str, size: int = PAGE_CAP) -> str:
    return (unit * (size // len(unit) + 1))[:size]


# Settings pages at the cap: the floods that slowed html.parser down, and the scan's own
# slowest shapes, the box at the end.
PAGES: dict[str, str] = {
    "<a flood": _fill("<a", PAGE_CAP - 100) + ">" + BOX,
    "< flood": _fill("<", PAGE_CAP - 100) + BOX,
    "comments": _fill("<!---->", PAGE_CAP - 100) + BOX,
    "script end tags": "<script>" + _fill("</x", PAGE_CAP - 200) + "</script>" + BOX,
    "one long tag": "<a " + _fill("= ", PAGE_CAP - 100) + ">" + BOX,
    "CDRTool's page": (
        "<FORM><TABLE>"
        + _fill("<TR><TD class=label>Setting<TD><INPUT type=text name=f value='" + "x" * 200 + "'>")
        + BOX
    )[-PAGE_CAP:],
}
# What aiohttp accepts: header lines up to 8190 bytes, hundreds of them.
CHALLENGES: dict[str, tuple[bytes, ...]] = {
    "512 headers of 8 KB": (b"Digest " + b"a=" * 4080,) * 512,
    "128 headers of 8 KB, quotes": (b'Digest realm="' + b'\\"' * 4080,) * 128,
    "bytes outside UTF-8": (b'Digest realm="caf\xe9", qop="auth", nonce="n"',) * 64,
}
ORDINARY_CHALLENGE = b'Digest realm="example.com", qop="auth", nonce="MTIz", algorithm=MD5'


async def _median_stall(call: Callable[[], Awaitable[Any]]) -> tuple[float, float]:
    """The median of the largest stalls of ``RUNS`` calls: wall clock and CPU, in ms."""
    walls: list[float] = []
    cpus: list[float] = []
    for _ in range(RUNS):
        async with StallWatchdog() as watchdog:
            with contextlib.suppress(SipThorError):
                await call()
        walls.append(watchdog.largest * 1000)
        cpus.append(watchdog.largest_cpu * 1000)
    return statistics.median(walls), statistics.median(cpus)


def _print(title: str, wall: float, cpu: float, target: float) -> None:
    mark = "" if wall <= target else "  (over the target)"
    print(f"  {title:<40} {wall:6.1f} ms (CPU {cpu:5.1f} ms), target ≤ {target:g} ms{mark}")


def _server_context(threaded: ThreadedSimulator) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=str(threaded.server.certs.server_ca))


async def test_stalls_of_hostile_answers(
    hass: HomeAssistant, threaded_simulator: ThreadedSimulator
) -> None:
    server = threaded_simulator.server
    context = _server_context(threaded_simulator)
    answers = SipThorClient(ACCOUNT, context, password=ACCOUNT_PASSWORD, url=server.digest_url)
    try:
        await answers.get_identity()
        async with StallWatchdog() as idle:
            await asyncio.sleep(IDLE_WATCH)
        print(
            f"\nLargest stall with nothing to do: {idle.largest * 1000:.1f} ms "
            "(what this machine adds to every figure below)"
        )
        print(f"Answers of {MAX_BODY_SIZE // 1024} KiB, median of {RUNS}:")
        worst = 0.0
        for kind, shape in SHAPES.items():
            server.faults.body = shape.body(MAX_BODY_SIZE)
            wall, cpu = await _median_stall(getattr(answers, shape.read))
            _print(kind, wall, cpu, 20)
            worst = max(worst, wall)
        record("stall_answers", "design", worst)

        print(f"Settings pages of {PAGE_CAP // 1024} KiB, median of {RUNS}:")
        worst = 0.0
        for kind, page in PAGES.items():
            server.faults.body = page
            wall, cpu = await _median_stall(answers.get_privacy)
            _print(kind, wall, cpu, 5)
            worst = max(worst, wall)
        record("stall_privacy", "design", worst)
    finally:
        await answers.close()


async def test_stalls_of_hostile_challenges(
    hass: HomeAssistant, sim_certs_dir: Path, socket_enabled: None
) -> None:
    """Floods of Digest challenges, from a server in a process of its own.

    The 401 comes from a child process (``ChallengeProcess``), not the simulator's
    thread: writing 4 MB of headers from a thread holds the interpreter lock, and the
    loop waits for it up to the switch interval (5 ms) whatever the client does. Beside
    the wall clock and the loop's CPU time, the integration's own part: reading the
    challenges out of the headers aiohttp parsed (``getall`` and ``read_challenge``),
    the largest CPU time of ``RUNS`` tries. The rest of the loop's largest step is
    aiohttp's and the ssl module's: decrypting and parsing up to 256 KiB of headers at a
    time, and the client's side of each new TLS handshake.
    """
    context = ssl.create_default_context(cafile=str(sim_certs_dir / SERVER_CA))
    async with StallWatchdog() as idle:
        await asyncio.sleep(IDLE_WATCH)
    print(f"\nLargest stall with nothing to do: {idle.largest * 1000:.1f} ms")
    print(f"Digest challenges from another process, median of {RUNS}:")
    # What any new connection costs the loop, for comparison: one ordinary challenge.
    wall, cpu = await _challenge_stall(sim_certs_dir, context, (ORDINARY_CHALLENGE,))
    _print("one ordinary challenge (for comparison)", wall, cpu, 5)
    worst = worst_cpu = worst_read = 0.0
    for kind, challenges in CHALLENGES.items():
        wall, cpu = await _challenge_stall(sim_certs_dir, context, challenges)
        read = _integration_read_cpu(challenges)
        _print(kind, wall, cpu, 5)
        print(f"  {'':<40} of which the integration's reading: {read:.2f} ms (CPU)")
        worst, worst_cpu, worst_read = max(worst, wall), max(worst_cpu, cpu), max(worst_read, read)
    record("stall_digest", "design", worst)
    record("stall_digest_cpu", "design", worst_cpu)
    record("digest_read", "design", worst_read)


async def _challenge_stall(
    certs_dir: Path, context: ssl.SSLContext, challenges: tuple[bytes, ...]
) -> tuple[float, float]:
    """The median largest stall of a fresh client refused with ``challenges``."""
    refusing = ChallengeProcess(certs_dir, challenges)
    refusing.start()
    try:
        client = SipThorClient(
            ACCOUNT,
            context,
            password=ACCOUNT_PASSWORD,
            url=f"https://127.0.0.1:{refusing.port}/settings_digest.phtml",
        )
        try:
            return await _median_stall(client.get_identity)
        finally:
            await client.close()
    finally:
        refusing.stop()


def _integration_read_cpu(challenges: tuple[bytes, ...]) -> float:
    """The largest CPU time, in ms, of reading ``challenges`` as the client reads a 401."""
    headers = CIMultiDict(
        (hdrs.WWW_AUTHENTICATE, value.decode("utf-8", "surrogateescape")) for value in challenges
    )
    largest = 0.0
    for _ in range(RUNS):
        started = time.thread_time()
        with contextlib.suppress(DigestChallengeError):
            DigestAuth(ACCOUNT, ACCOUNT_PASSWORD).read_refusal(
                None, headers.getall(hdrs.WWW_AUTHENTICATE, ())
            )
        largest = max(largest, time.thread_time() - started)
    return largest * 1000


def _round_trips(arrivals: list[float], latency: float) -> list[int]:
    """The round trip in which each request went, for a server holding every answer L.

    A request that reached the server after an earlier one's answer had left it (its
    arrival plus L) may have waited for that answer: it goes one round trip after it.
    Requests side by side arrive within milliseconds of each other, in the same one.
    ``arrivals`` in the order they arrived.
    """
    rounds: list[int] = []
    for index, arrival in enumerate(arrivals):
        earlier = [rounds[i] for i in range(index) if arrivals[i] + latency <= arrival]
        rounds.append(1 + max(earlier, default=0))
    return rounds


async def test_password_setup_round_trips(
    hass: HomeAssistant,
    threaded_simulator: ThreadedSimulator,
    sim_certs_dir: Path,
    latency: float,
) -> None:
    """One unauthenticated request learns the challenge; the setup sources follow it.

    The figure with the target is a count: the round trips of the requests setup waits
    for (those whose answer left the server before setup returned), from when each
    reached the server. The time setup took is printed beside it.
    """
    server = threaded_simulator.server
    entry = await add_password_entry(hass, ACCOUNT, ACCOUNT_PASSWORD, server.digest_url)
    # The first setup imports the platforms, as the first start after installing does.
    assert await hass.config_entries.async_setup(entry.entry_id)
    await settle(hass)
    assert await hass.config_entries.async_unload(entry.entry_id)
    await settle(hass)
    server.counters.reset()
    server.faults.latency = latency
    started = time.perf_counter()
    assert await hass.config_entries.async_setup(entry.entry_id)
    ended = time.perf_counter()
    seconds = ended - started
    await settle(hass)
    # What setup waited for; the reads of the other sources start at its end.
    setup_requests = [
        request for request in server.counters.log if request.received + latency <= ended
    ]
    rounds = _round_trips([request.received for request in setup_requests], latency)
    round_trips = max(rounds)
    unauthenticated = [request.authorization for request in setup_requests].count("")
    # Beyond the one that learns the challenge, a request going later waited for another.
    waited = [
        request.action
        for request, round_trip in zip(setup_requests, rounds, strict=True)
        if round_trip > 1 + (unauthenticated > 0)
    ]
    timeline = ", ".join(
        f"{request.action} {'with' if request.authorization else 'without'} credentials "
        f"{(request.received - started) * 1000:.1f} ms (round trip {round_trip})"
        for request, round_trip in zip(setup_requests, rounds, strict=True)
    )
    # The server holds each answer L: the last setup source's answer left it then.
    last_answer = max(request.received for request in setup_requests) + latency
    local = ended - last_answer
    print(
        f"\nSetup with the SIP password, L = {latency:g} s: {round_trips} round trips, "
        f"{len(setup_requests)} requests, {unauthenticated} without credentials, "
        f"{len(waited)} waiting for another beyond the challenge{': ' if waited else ''}"
        f"{', '.join(waited)}; arriving: {timeline}. Wall clock {seconds / latency:.2f} RT; "
        f"after the last answer left the server {local * 1000:.1f} ms "
        f"({local / latency:.3f} RT) to the end of setup"
    )
    record("setup_password", "design", round_trips)
    record("setup_password_time", "design", seconds / latency)
    record("setup_password_local", "design", local * 1000)
