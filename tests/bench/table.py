"""The figures of one bench run, and the one table they make.

Tests record figures here; ``conftest.pytest_terminal_summary`` prints the table once
at the end and writes it to ``artifacts/bench.md``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

type Column = Literal["naive", "design"]
type Unit = Literal["rt", "count", "seconds", "s", "ms", "cpu", "memory", "bytes"]


@dataclass(frozen=True, slots=True)
class Row:
    """One line of the table; ``limit`` None means informative, without a target."""

    key: str
    what: str
    unit: Unit
    target: str = "—"
    limit: float | None = None


SCALES = (1, 10, 50)

ROWS: tuple[Row, ...] = (
    Row("setup", "setup of an entry", "rt", "≤ 2 RT", 2),
    Row("setup_available", "setup → every default entity available (informative)", "rt"),
    Row("setup_password", "setup of an entry signed in with the SIP password", "rt", "≤ 2 RT", 2),
    Row("dnd_shown", "DND switch, tap → state shown", "rt", "1 RT", 1),
    Row("dnd_confirmed", "DND switch, tap → confirmed (action returns)", "rt", "≤ 2 RT", 2),
    Row("forward_voicemail", "forwarding action with `<voice-mailbox>`", "rt", "2 RT", 2),
    Row("forward_mobile", "forwarding action with `<mobile-number>`", "rt", "2 RT", 2),
    Row("requests", "requests per hour at the defaults", "count", "≤ 120", 120),
    Row("registrations_age", "largest gap between two registration reads", "seconds", "≤ 60 s", 60),
    Row("handshakes", "TLS handshakes per hour at the defaults", "count", "≤ 60", 60),
    Row("stall", "largest event-loop stall (setup, DND tap, forwarding)", "ms", "≤ 10 ms", 10),
    Row("stall_cpu", "the same, in CPU time of the loop's thread", "ms", "≤ 10 ms", 10),
    Row("stall_idle", "the same, wall clock, with nothing to do (informative)", "ms"),
    Row(
        "stall_answers",
        "largest stall reading an answer at the size cap, every shape (median of 5)",
        "ms",
        "≤ 20 ms",
        20,
    ),
    Row(
        "stall_privacy",
        "largest stall reading a hostile settings page at the cap (median of 5)",
        "ms",
        "≤ 5 ms",
        5,
    ),
    Row(
        "stall_digest",
        "largest stall reading hostile Digest challenges (median of 5)",
        "ms",
        "≤ 5 ms",
        5,
    ),
    Row("requests_all", "requests per hour, every entity enabled (informative)", "count"),
    *(
        Row(f"cpu_{n}", f"CPU of the HA thread per hour, {n} account{'s' * (n > 1)}", "cpu")
        for n in SCALES
    ),
    *(
        Row(f"memory_{n}", f"memory per account, {n} account{'s' * (n > 1)}", "memory")
        for n in SCALES
    ),
    # The live channel (issue 19): the client's part, measured in tests/bench/test_sip.py.
    Row("sip_notify_p50", "live: server's NOTIFY sent → event to the listener, median", "ms"),
    Row(
        "sip_notify_p99",
        "live: server's NOTIFY sent → event to the listener, p99 (loopback, TLS)",
        "ms",
        "≤ 50 ms",
        50,
    ),
    Row("sip_notify_stall", "live: largest event-loop step of the channel meanwhile", "ms"),
    Row(
        "sip_notify_stall_cpu",
        "live: the same, in CPU time of the loop's thread",
        "ms",
        "≤ 5 ms",
        5,
    ),
    Row("sip_channels", "live: channels up, each one TLS connection", "count", "50", 50),
    Row("sip_memory", "live: memory per channel, tracemalloc (50 channels)", "memory"),
    Row(
        "sip_memory_rss",
        "live: memory per channel, resident (50 channels)",
        "memory",
        "≤ 300 KiB",
        300 * 1024,
    ),
    Row("sip_keepalive", "live: keep-alive bytes per account per hour (TLS records)", "bytes"),
    Row("sip_keepalive_ip", "live: the same with TCP/IP headers (estimated)", "bytes"),
    Row("sip_refresh", "live: refresh bytes per account per hour (TLS records)", "bytes"),
    Row("sip_reconnect_first", "live: restart → first channel back (50 channels)", "s"),
    Row("sip_reconnect_last", "live: restart → last channel back", "s", "≤ 30 s", 30),
    Row(
        "sip_reconnect_seconds",
        "live: distinct seconds the 50 reconnections fell in (spread by jitter)",
        "count",
    ),
)

# (row key, column) → figure; filled by the tests of one run.
FIGURES: dict[tuple[str, Column], float] = {}


def record(key: str, column: Column, value: float) -> None:
    """Keep a figure for the table."""
    if key not in {row.key for row in ROWS}:
        msg = f"No row {key!r} in the bench table"
        raise KeyError(msg)
    FIGURES[key, column] = value


def _met(row: Row, value: float) -> bool:
    assert row.limit is not None
    if row.unit == "rt":
        # A measured round trip count carries each request's own TLS and processing time
        # (a few ms on loopback): the nearest whole number of round trips is compared.
        return round(value) <= row.limit
    return value <= row.limit


def _cell(row: Row, value: float | None, latency: float) -> str:
    if value is None:
        return "—"
    match row.unit:
        case "rt":
            return f"{value:.1f} RT ({value * latency:.2f} s)"
        case "count":
            return f"{value:.0f}"
        case "seconds":
            return f"{value:.0f} s"
        case "s":
            return f"{value:.2f} s"
        case "bytes":
            return f"{value:,.0f} B"
        case "ms":
            return f"{value:.1f} ms"
        case "cpu":
            return f"{value:.2f} s"
        case "memory":
            return f"{value / 1024:.0f} KiB"


def render(latency: float) -> str:
    """The table as markdown: what | naive | this design | target | met?"""
    lines = [
        "| what | naive | this design | target | met? |",
        "|---|---|---|---|---|",
    ]
    for row in ROWS:
        naive = FIGURES.get((row.key, "naive"))
        design = FIGURES.get((row.key, "design"))
        if row.limit is None or design is None:
            met = "—"
        else:
            met = "met" if _met(row, design) else "**not met**"
        lines.append(
            f"| {row.what} | {_cell(row, naive, latency)} | {_cell(row, design, latency)} "
            f"| {row.target} | {met} |"
        )
    lines.append("")
    lines.append(
        f"RT = one round trip of the simulator's latency L = {latency:g} s. "
        "CPU: seconds of the Home Assistant thread per simulated hour, minus the test "
        "harness's own stepping of the clock."
    )
    return "\n".join(lines) + "\n"
