"""What a slow, broken or hostile server can cost: answer size, loop time, waiting.

Every answer here comes from the simulator over real mutual TLS. Costs are measured in
CPU time, which a busy machine does not inflate (tests/api/hostile.py): of the event
loop's thread between two of its turns, and of the work an answer costs, which must
grow in proportion to its size. How long the loop stalls on the wall clock is the
bench's figure (tests/bench/test_stalls.py, scripts/bench).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
import logging
from pathlib import Path
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
from tests.api.hostile import SHAPES, Shape, balance_history_of_size, cpu_time, loop_cpu_watched

_LOGGER = logging.getLogger(__name__)
# The CPU time the loop's thread may spend between two of its turns while an answer is
# read: generous (the loop also runs the simulator here, and asyncio's debug mode); the
# stall a user would notice is the bench's figure.
LOOP_CPU_BUDGET = 0.020


# -- the size cap ----------------------------------------------------------------------------


async def test_an_announced_length_over_the_cap_is_refused_unread(
    simulator: SettingsSimulator, make_client: ClientFactory
) -> None:
    """A 200 MB answer used to be read whole; now its header is enough to refuse it."""
    simulator.faults.body = "["
    simulator.faults.body_framing = "announced"
    simulator.faults.announced_length = 200 * 1024 * 1024
    # The simulator sends one byte and then waits: only a refusal on the header can
    # end this before the timeout (which would be a connection error).
    client = make_client(request_timeout=10)

    with pytest.raises(SipThorServerError, match=r"announced 209715200 bytes, more than 128 KiB"):
        await client.get_balance_history()


async def test_an_endless_answer_is_read_up_to_the_cap(
    simulator: SettingsSimulator, client: SipThorClient
) -> None:
    """Without a length, the client stops reading where the cap is reached."""
    simulator.faults.body = "<p>" + "x" * 60_000 + "</p>"
    simulator.faults.body_framing = "endless"

    with pytest.raises(SipThorServerError, match=r"sent a longer body, more than 128 KiB"):
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

    with pytest.raises(SipThorServerError, match="more than 128 KiB"):
        await client.get_balance_history()


def test_the_cap_is_twice_the_largest_real_answer() -> None:
    """Issue 17: up to 512 KiB the JSON decoder held the loop for 40 to 60 ms."""
    largest_real = 60_000
    assert 2 * largest_real <= MAX_BODY_SIZE <= 3 * largest_real


@pytest.mark.parametrize(
    "body",
    [
        "[" * 100_000,
        "<p>Error</p>" + "[" * 60_000 + "]" * 60_000,
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


# Sizes up to the cap, by factors of four, and the cap itself.
SIZES = [*(1024 * 4**power for power in range(4)), MAX_BODY_SIZE]


async def read_body(
    simulator: SettingsSimulator, client: SipThorClient, shape: Shape, body: str
) -> Any:
    """What the client makes of ``body``: the value, or the server error it raised."""
    simulator.faults.body = body
    try:
        return await getattr(client, shape.read)()
    except SipThorServerError as err:
        return err


def check_outcome(shape: Shape, outcome: Any) -> None:
    if shape.check is None:
        assert isinstance(outcome, SipThorServerError), outcome
        assert "without JSON" in str(outcome)
    else:
        assert not isinstance(outcome, BaseException), outcome
        assert shape.check(outcome)


@pytest.mark.parametrize("kind", SHAPES)
async def test_no_answer_up_to_the_cap_holds_the_loop(
    simulator: SettingsSimulator, client: SipThorClient, kind: str
) -> None:
    """The loop's thread does little work per turn at every size up to the cap: answers
    over 8 KiB are read off the loop (on main a 1 MB HTML answer held it for 37 s)."""
    shape = SHAPES[kind]
    worst: dict[int, float] = {}
    for size in SIZES:
        body = shape.body(size)
        assert len(body.encode()) == size
        async with loop_cpu_watched() as watchdog:
            outcome = await read_body(simulator, client, shape, body)
        check_outcome(shape, outcome)
        worst[size] = watchdog.worst

    shown = {size: f"{cpu * 1e3:.1f} ms" for size, cpu in worst.items()}
    _LOGGER.info("Loop CPU per turn, %s: %s", kind, shown)
    assert max(worst.values()) <= LOOP_CPU_BUDGET, worst


@pytest.mark.parametrize("kind", SHAPES)
def test_reading_an_answer_costs_time_in_proportion_to_its_size(
    make_client: ClientFactory, kind: str
) -> None:
    """Off the loop the work still holds the interpreter lock: it must be linear. Four
    times the size may cost at most eight times the CPU time (quadratic: sixteen)."""
    shape = SHAPES[kind]
    client = make_client()

    def read(size: int) -> Callable[[], object]:
        raw = shape.body(size).encode()
        return lambda: client._parse(shape.read, 200, raw)

    quarter, whole = cpu_time(read(MAX_BODY_SIZE // 4)), cpu_time(read(MAX_BODY_SIZE))

    assert whole <= 8 * quarter + 0.002, (quarter, whole)


@pytest.mark.parametrize("kind", ["json", "html"])
async def test_above_the_cap_is_a_server_error_without_a_stall(
    simulator: SettingsSimulator, client: SipThorClient, kind: str
) -> None:
    body = SHAPES[kind].body(MAX_BODY_SIZE + 1)

    async with loop_cpu_watched() as watchdog:
        outcome = await read_body(simulator, client, SHAPES[kind], body)

    assert isinstance(outcome, SipThorServerError)
    assert "no answer is that long" in str(outcome)
    assert watchdog.worst <= LOOP_CPU_BUDGET


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


def _open_connections_to(port: int) -> int:
    """This machine's established TCP connections to ``port`` on 127.0.0.1 (the clients' side)."""
    established = "01"
    count = 0
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        _, _, remote, state, *_ = line.split()
        if state == established and remote == f"0100007F:{port:04X}":
            count += 1
    return count


async def _one_connection_left_open(port: int) -> None:
    """Wait until the server has closed the connections asked to close: one stays."""
    async with asyncio.timeout(5):
        while _open_connections_to(port) > 1:
            await asyncio.sleep(0.02)
    assert _open_connections_to(port) == 1


async def test_a_burst_side_by_side_leaves_one_connection_open(
    simulator: SettingsSimulator, client: SipThorClient
) -> None:
    """Each open TLS connection costs Home Assistant some 300 KiB: a burst keeps one."""
    simulator.faults.latency = 0.3
    await asyncio.gather(*(client.get_enum() for _ in range(MAX_IN_FLIGHT)))
    assert simulator.counters.handshakes == MAX_IN_FLIGHT

    await _one_connection_left_open(simulator.port)
    # The one left open serves the next request: no handshake more.
    assert await client.get_enum() == ["+31208001234"]
    assert simulator.counters.handshakes == MAX_IN_FLIGHT


async def test_a_burst_that_a_burst_follows_leaves_it_its_connections(
    simulator: SettingsSimulator, client: SipThorClient
) -> None:
    """Setup's reads keep their connections for the reads that follow at once."""
    simulator.faults.latency = 0.3
    with client.keep_connections():
        await asyncio.gather(*(client.get_enum() for _ in range(3)))
    await asyncio.gather(*(client.get_enum() for _ in range(MAX_IN_FLIGHT)))
    # Three connections reused, three new: one handshake per request in flight at once.
    assert simulator.counters.handshakes == MAX_IN_FLIGHT

    await _one_connection_left_open(simulator.port)


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
    simulator.faults.latency = 1
    busy = [asyncio.create_task(client.get_enum()) for _ in range(MAX_IN_FLIGHT)]
    await requests_seen(simulator, MAX_IN_FLIGHT)
    client.request_timeout = 0.2

    with pytest.raises(SipThorConnectionError, match=r"get_aliases was not sent"):
        await client.get_aliases()

    # It failed while the reads ahead of it were still waiting for their answers.
    assert not any(read.done() for read in busy)
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
