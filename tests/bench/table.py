"""The figures of one bench run, and the one table they make.

Tests record figures here; ``conftest.pytest_terminal_summary`` prints the table once
at the end and writes it to ``artifacts/bench.md``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

# The round-trip rows are measured in two models of the round trip L (server_process.py):
# the server holding each answer L, and a network delaying each byte L/2 each way.
type Column = Literal["naive", "design", "naive_network", "design_network"]
type Unit = Literal["rt", "count", "seconds", "s", "ms", "cpu", "memory", "bytes"]
COLUMNS: tuple[Column, ...] = ("naive", "design", "naive_network", "design_network")


@dataclass(frozen=True, slots=True)
class Row:
    """One line of the table; ``limit`` None means informative, without a target.

    ``physical`` is the least any design could measure, in the server model and in the
    network model (round-trip rows). A target is a ceiling, or with ``at_least`` a floor.
    """

    key: str
    what: str
    unit: Unit
    target: str = "—"
    limit: float | None = None
    physical: str = "—"
    at_least: bool = False


SCALES = (1, 10, 50)
MEBIBYTE = 1024 * 1024

ROWS: tuple[Row, ...] = (
    Row("setup", "setup of a certificate account", "rt", "≤ 1.15 RT", 1.15, "1 / 4 RT"),
    Row(
        "setup_available",
        "setup → every default entity available",
        "rt",
        "≤ 2.2 RT",
        2.2,
        "1 (2) / 4 (5) RT",
    ),
    Row(
        "setup_available_first",
        "the same at the account's first start, nothing remembered (informative)",
        "rt",
        physical="2 / 5 RT",
    ),
    Row(
        "setup_password",
        "setup of an entry signed in with the SIP password: request round trips",
        "count",
        "2",
        2,
        "2 / —",
    ),
    Row("setup_password_time", "the same, wall clock (informative)", "rt"),
    Row(
        "setup_password_local",
        "of which after the last answer left the server (informative)",
        "ms",
    ),
    Row("dnd_shown", "DND switch, tap → state shown", "rt", "≤ 1.1 RT", 1.1, "1 / 1 (4) RT"),
    Row(
        "dnd_confirmed",
        "DND switch, tap → confirmed (action returns)",
        "rt",
        "≤ 1.1 RT",
        1.1,
        "1 / 1 (4) RT",
    ),
    Row(
        "dnd_cold",
        "DND switch, tap on a connection the server closed (informative)",
        "rt",
        physical="1 / 4 RT",
    ),
    Row(
        "forward_voicemail",
        "forwarding action with `<voice-mailbox>`, confirmed",
        "rt",
        "≤ 1.1 RT",
        1.1,
        "1 / 1 (4) RT",
    ),
    Row(
        "forward_mobile",
        "forwarding action with `<mobile-number>`, confirmed",
        "rt",
        "≤ 1.1 RT",
        1.1,
        "1 / 1 (4) RT",
    ),
    Row("requests", "requests per hour at the defaults", "count", "≤ 115", 115),
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
    Row(
        "stall_digest_cpu",
        "the same, in CPU time of the loop's thread (informative)",
        "ms",
    ),
    Row(
        "digest_read",
        "of which the integration's reading of the challenges (informative)",
        "ms",
    ),
    Row("requests_all", "requests per hour, every entity enabled (informative)", "count"),
    *(
        Row(f"cpu_{n}", f"CPU of the HA thread per hour, {n} account{'s' * (n > 1)}", "cpu")
        for n in SCALES
    ),
    *(
        Row(
            f"rss_{n}",
            f"resident memory per account after setup (RSS), {n} account{'s' * (n > 1)}",
            "memory",
            *(("≤ 1 MiB", MEBIBYTE) if n > 1 else ()),
        )
        for n in SCALES
    ),
    *(
        Row(
            f"memory_{n}",
            f"Python heap per account (tracemalloc), {n} account{'s' * (n > 1)} (informative)",
            "memory",
        )
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
    Row("live_state_p50", "live: server's NOTIFY sent → state in Home Assistant, median", "ms"),
    Row(
        "live_state_p99",
        "live: server's NOTIFY sent → state in Home Assistant, p99 (loopback, TLS)",
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
    Row(
        "sip_channels",
        "live: channels up, each one TLS connection",
        "count",
        "≥ 50 (all)",
        50,
        at_least=True,
    ),
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


def _cell(row: Row, value: float | None, latency: float) -> str:
    if value is None:
        return "—"
    match row.unit:
        case "rt":
            return f"{value:.2f} RT ({value * latency:.2f} s)"
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
    """The table as markdown; "met?" compares this design (server model) with the target."""
    header = (
        "| what | naive | this design | naive, network model | this design, network model "
        "| physical limit (server / network) | target | met? |"
    )
    lines = [header, "|---|---|---|---|---|---|---|---|"]
    for row in ROWS:
        cells = [_cell(row, FIGURES.get((row.key, column)), latency) for column in COLUMNS]
        design = FIGURES.get((row.key, "design"))
        if row.limit is None or design is None:
            met = "—"
        else:
            within = design >= row.limit if row.at_least else design <= row.limit
            met = "met" if within else "**not met**"
        cells += [row.physical, row.target, met]
        lines.append(f"| {row.what} | {' | '.join(cells)} |")
    lines.append("")
    lines.append(
        f"RT = one round trip L = {latency:g} s: in the server model the simulator holds every "
        "answer L; in the network model a proxy delays every byte L/2 each way and a new "
        "connection's first bytes one more L, and the server closes a connection idle for "
        "5 s. A physical limit in brackets: with what this design must wait for (the "
        "entities before the sources they show; a connection the server closed). CPU: "
        "seconds of the Home Assistant thread per simulated hour, minus the harness's own "
        "stepping of the clock. RSS: the growth of the Home Assistant process's resident "
        "memory over the setups, divided by the accounts (the simulator runs in a process "
        "of its own)."
    )
    return "\n".join(lines) + "\n"
