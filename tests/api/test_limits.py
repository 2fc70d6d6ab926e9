"""What a slow, broken or hostile server can cost: answer size, loop time, waiting.

Every answer here comes from the simulator over real mutual TLS. The loop watchdog
measures real time (``time.perf_counter``): these tests do not freeze any clock.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
import contextlib
from dataclasses import dataclass
import json
import logging
import time
from typing import Any

import pytest

from custom_components.sipthor.api import (
    DEFAULT_TIMEOUT,
    DEFAULT_WRITE_TIMEOUT,
    MAX_BODY_SIZE,
    MAX_IN_FLIGHT,
    SipThorClient,
    SipThorConnectionError,
    SipThorServerError,
    SipThorWriteTimeoutError,
)
from simulator import SettingsSimulator
from tests.api.conftest import ClientFactory

_LOGGER = logging.getLogger(__name__)
# The goal of issue 7: no answer up to the cap holds the event loop longer than this.
MAX_STALL = 0.020
_TICK = 0.001


# -- the size cap ----------------------------------------------------------------------------


async def test_an_announced_length_over_the_cap_is_refused_unread(
    simulator: SettingsSimulator, make_client: ClientFactory
) -> None:
    """A 200 MB answer used to be read whole; now its header is enough to refuse it."""
    simulator.faults.body = "["
    simulator.faults.body_framing = "announced"
    simulator.faults.announced_length = 200 * 1024 * 1024
    # The simulator sends one byte and then waits: only a refusal on the header can
    # end this before the timeout.
    client = make_client(request_timeout=10)
    started = time.perf_counter()

    with pytest.raises(SipThorServerError, match=r"announced 209715200 bytes, more than 512 KiB"):
        await client.get_balance_history()

    assert time.perf_counter() - started < 5


async def test_an_endless_answer_is_read_up_to_the_cap(
    simulator: SettingsSimulator, client: SipThorClient
) -> None:
    """Without a length, the client stops reading where the cap is reached."""
    simulator.faults.body = "<p>" + "x" * 60_000 + "</p>"
    simulator.faults.body_framing = "endless"

    with pytest.raises(SipThorServerError, match=r"sent a longer body, more than 512 KiB"):
        await client.get_balance_history()

    # The connection was dropped, not drained: the next request works.
    simulator.faults.body = None
    assert await client.get_enum() == ["+31208001234"]


@pytest.mark.parametrize("framing", ["length", "chunked"])
async def test_an_answer_of_exactly_the_cap_is_read(
    simulator: SettingsSimulator, client: SipThorClient, framing: Any
) -> None:
    simulator.faults.body = balance_history_of_size(MAX_BODY_SIZE)
    simulator.faults.body_framing = framing

    entries = await client.get_balance_history()

    assert entries
    assert entries[0].action == "Debit balance"


@pytest.mark.parametrize("framing", ["length", "chunked"])
async def test_one_byte_over_the_cap_is_refused(
    simulator: SettingsSimulator, client: SipThorClient, framing: Any
) -> None:
    simulator.faults.body = balance_history_of_size(MAX_BODY_SIZE + 1)
    simulator.faults.body_framing = framing

    with pytest.raises(SipThorServerError, match="more than 512 KiB"):
        await client.get_balance_history()


@pytest.mark.parametrize(
    "body",
    [
        "[" * 100_000,
        "<p>Error</p>" + "[" * 100_000 + "]" * 100_000,
        '{"balance":' + "9" * 5_000 + "}",
    ],
    ids=["open", "nested-after-html", "digits"],
)
async def test_a_body_python_cannot_decode_is_a_server_error(
    simulator: SettingsSimulator, client: SipThorClient, body: str
) -> None:
    """A RecursionError used to escape the client, logged with a traceback at every poll."""
    simulator.faults.body = body

    with pytest.raises(SipThorServerError, match="get_prepaid answered without JSON"):
        await client.get_prepaid()


# -- the event loop ---------------------------------------------------------------------------


@dataclass
class LoopWatchdog:
    """Wakes every millisecond and keeps the longest time the loop was held beyond that."""

    worst: float = 0.0

    async def run(self) -> None:
        loop_time = time.perf_counter
        while True:
            before = loop_time()
            await asyncio.sleep(_TICK)
            self.worst = max(self.worst, loop_time() - before - _TICK)


@contextlib.asynccontextmanager
async def watched_loop() -> AsyncIterator[LoopWatchdog]:
    watchdog = LoopWatchdog()
    task = asyncio.create_task(watchdog.run())
    await asyncio.sleep(0)
    try:
        yield watchdog
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


def balance_history_of_size(size: int) -> str:
    """A get_balance_history answer, as PHP prints it, of exactly ``size`` bytes."""
    session = "a84b4c76e66710@198.51.100.7"
    entry = {
        "date": "2025-05-03 14:05:40",
        "action": "Debit balance",
        "description": "Session to 31201234567 for 209s",
        "value": -0.0627,
        "balance": 12.3456,
        "session": session,
    }
    one = json.dumps(entry, separators=(",", ":"))
    count = max((size - 2) // (len(one) + 1), 1)
    body = "[" + ",".join([one] * count) + "]"
    # Pad the last entry's session to the exact size.
    padding = size - len(body)
    assert padding >= 0
    return body[: -len(session + '"}]')] + session + " " * padding + '"}]'


def html_page_of_size(size: int) -> str:
    """A proxy's or maintenance page: HTML without any JSON at its end."""
    row = '<div class="row"><p>Maintenance &amp; upgrade, back soon.</p></div>\n'
    head = "<!DOCTYPE html><html><head><title>Maintenance</title></head><body>\n"
    tail = "</body></html>"
    rows = row * ((size - len(head) - len(tail)) // len(row))
    filler = " " * (size - len(head) - len(rows) - len(tail))
    return head + rows + filler + tail


def warning_then_json_of_size(size: int) -> str:
    """An HTML warning (as the page prints before a good answer), then the JSON."""
    json_part = balance_history_of_size(max(size // 2, 200))
    alert = "<div class='alert alert-error'>Error (SipPort): slow (1030): busy</div>"
    html_part = html_page_of_size(size - len(json_part) - len(alert))
    return html_part + alert + json_part


type BodyOfSize = Callable[[int], str]

BODIES: dict[str, BodyOfSize] = {
    "json": balance_history_of_size,
    "html": html_page_of_size,
    "html+json": warning_then_json_of_size,
    "openers": lambda size: "[" * size,
    "closers": lambda size: "]" * size,
    "quotes": lambda size: '"' * (size - 1) + "]",
    "escaped-quotes": lambda size: " " + '\\"' * ((size - 2) // 2) + "]",
    "bracketed-strings": lambda size: '"]' * (size // 2),
    # The parser's slowest shape: a step per bracket, never nested deeper than two.
    "shallow-brackets": lambda size: (
        "[" + '[""]' * ((size - 2) // 4) + " " * ((size - 2) % 4) + "]"
    ),
}
# Sizes up to the cap, by factors of four, and the cap itself.
SIZES = [*(1024 * 4**power for power in range(5)), MAX_BODY_SIZE]


async def worst_stall(
    simulator: SettingsSimulator, call: Callable[[], Awaitable[Any]], body: str
) -> tuple[float, Any]:
    """The loop's longest stall while ``call`` reads ``body``, and what it gave or raised.

    A stall made by this code happens every time; one made by another process on a
    busy machine (the interpreter lock's holder descheduled) does not. So a stall over
    the limit is measured again, up to four times, and the least is kept, as timeit
    keeps the fastest run.
    """
    simulator.faults.body = body
    stalls: list[float] = []
    outcome: Any = None
    for _ in range(5):
        async with watched_loop() as watchdog:
            try:
                outcome = await call()
            except SipThorServerError as err:
                outcome = err
        stalls.append(watchdog.worst)
        if watchdog.worst <= MAX_STALL:
            break
    return min(stalls), outcome


@pytest.mark.parametrize("kind", BODIES)
async def test_no_answer_up_to_the_cap_stalls_the_loop(
    simulator: SettingsSimulator, client: SipThorClient, kind: str
) -> None:
    """On main a 1 MB HTML answer held the loop for 37 s; the goal is 20 ms."""
    make_body = BODIES[kind]
    stalls: dict[int, float] = {}
    for size in SIZES:
        body = make_body(size)
        assert len(body.encode()) == size
        stall, outcome = await worst_stall(simulator, client.get_balance_history, body)
        stalls[size] = stall
        if kind in ("json", "html+json"):
            assert isinstance(outcome, list), outcome
            assert outcome[0].balance == 12.3456
        else:
            assert isinstance(outcome, SipThorServerError)
            assert "without JSON" in str(outcome)

    _LOGGER.info(
        "Worst stall, %s: %s",
        kind,
        {size: f"{stall * 1e3:.1f} ms" for size, stall in stalls.items()},
    )
    assert max(stalls.values()) <= MAX_STALL, stalls


@pytest.mark.parametrize("kind", ["json", "html"])
async def test_above_the_cap_is_a_server_error_without_a_stall(
    simulator: SettingsSimulator, client: SipThorClient, kind: str
) -> None:
    body = BODIES[kind](MAX_BODY_SIZE + 1)

    stall, outcome = await worst_stall(simulator, client.get_balance_history, body)

    assert isinstance(outcome, SipThorServerError)
    assert "no answer is that long" in str(outcome)
    assert stall <= MAX_STALL


# -- requests in flight -------------------------------------------------------------------------


async def requests_seen(simulator: SettingsSimulator, count: int) -> None:
    """Wait until the simulator has received ``count`` requests."""
    async with asyncio.timeout(5):
        while simulator.counters.requests.total() < count:
            await asyncio.sleep(0.005)


async def test_reads_overlap_up_to_the_limit_and_one_more_waits(
    simulator: SettingsSimulator, client: SipThorClient
) -> None:
    assert MAX_IN_FLIGHT == 6
    simulator.faults.latency = 0.5
    reads = [asyncio.create_task(client.get_enum()) for _ in range(MAX_IN_FLIGHT + 1)]

    await requests_seen(simulator, MAX_IN_FLIGHT)
    await asyncio.sleep(0.2)
    # Six are held by the server; the seventh has not been sent.
    assert simulator.counters.requests.total() == MAX_IN_FLIGHT
    assert not any(read.done() for read in reads)

    answers = await asyncio.gather(*reads)

    assert simulator.counters.requests.total() == MAX_IN_FLIGHT + 1
    assert all(answer == ["+31208001234"] for answer in answers)


async def test_writes_go_one_at_a_time(simulator: SettingsSimulator, client: SipThorClient) -> None:
    """Two writes never overlap, while a read may run beside one."""
    simulator.faults.latency = 0.5
    privacy = asyncio.create_task(client.set_privacy_on())
    dnd = asyncio.create_task(client.set_dnd_on(10))
    read = asyncio.create_task(client.get_enum())

    await requests_seen(simulator, 2)
    await asyncio.sleep(0.2)
    requests = simulator.counters.requests
    assert requests["set_privacy_on"] + requests["set_dnd_on"] == 1
    assert requests["get_enum"] == 1

    assert (await privacy).success
    assert (await dnd).success
    assert await read == ["+31208001234"]
    assert requests.total() == 3


async def test_the_wait_for_a_turn_counts_in_the_timeout(
    simulator: SettingsSimulator, client: SipThorClient
) -> None:
    """A slow server makes a queued call fail within its timeout, not queue behind others."""
    simulator.faults.latency = 0.6
    busy = [asyncio.create_task(client.get_enum()) for _ in range(MAX_IN_FLIGHT)]
    await requests_seen(simulator, MAX_IN_FLIGHT)
    client.request_timeout = 0.2
    started = time.perf_counter()

    with pytest.raises(SipThorConnectionError, match=r"get_aliases was not sent"):
        await client.get_aliases()

    assert time.perf_counter() - started < 0.5
    client.request_timeout = DEFAULT_TIMEOUT
    assert all(answer == ["+31208001234"] for answer in await asyncio.gather(*busy))
    assert simulator.counters.requests["get_aliases"] == 0


# -- timeouts of writes -------------------------------------------------------------------------


def test_writes_time_out_before_reads() -> None:
    assert DEFAULT_WRITE_TIMEOUT < DEFAULT_TIMEOUT


async def test_a_write_timing_out_may_have_been_applied(
    simulator: SettingsSimulator, make_client: ClientFactory
) -> None:
    simulator.faults.latency = 0.5
    client = make_client(request_timeout=5, write_timeout=0.2)

    with pytest.raises(SipThorWriteTimeoutError) as caught:
        await client.set_dnd_off()

    assert isinstance(caught.value, SipThorConnectionError)
    assert caught.value.action == "set_dnd_off"
    assert str(caught.value) == (
        "set_dnd_off was not answered within 0.2 s; the change may have been applied"
    )
    # A read on the same slow server keeps its own, longer timeout.
    assert (await client.get_accept_rules()).temporary_groups


async def test_a_read_timing_out_is_a_connection_error(
    simulator: SettingsSimulator, make_client: ClientFactory
) -> None:
    simulator.faults.latency = 0.5
    client = make_client(request_timeout=0.2, write_timeout=5)

    with pytest.raises(SipThorConnectionError, match=r"No answer within 0\.2 s") as caught:
        await client.get_accept_rules()

    assert not isinstance(caught.value, SipThorWriteTimeoutError)
