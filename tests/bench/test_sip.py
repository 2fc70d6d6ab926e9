"""The live channel's figures (issue 19), printed in the bench table; nothing asserted.

- **NOTIFY → listener.** The scripted server (tests/sip/fake_server.py) and one channel
  share the event loop, over TLS on loopback. Each NOTIFY is stamped just before the
  server writes it, and again when the channel's listener gets the event: 1,000 of them,
  dialog-info and message-summary in turn, each after the answer to the one before. This
  is the client's part of the 50 ms target; Home Assistant's (a state written) comes with
  the entities. The largest step of the channel's tasks meanwhile is measured too.
- **NOTIFY → Home Assistant's state.** The same, through a real config entry (the
  simulator's Digest page for the settings, the scripted server as the SIP server): from
  just before the server writes a NOTIFY to the state change of *Call state* (ringing,
  then idle, a new call each time) on Home Assistant's bus.
- **50 channels** to one Kamailio (a process of its own, so that the resident memory
  measured is the client's), with one SSL context shared, as Home Assistant passes its
  own: resident memory (a first run) and tracemalloc (a second run) per channel, once all
  are subscribed, after garbage collection.
- **Keep-alive traffic.** One channel through a counting relay pings every 0.5 s; the TLS
  bytes of one ping and its pong, times the pings an hour at the default interval (60 s
  x 0.8-1.0). TCP/IP headers are estimated: 3 segments of 52 bytes (IPv4, TCP with
  timestamps) per exchange.
- **Refresh traffic.** The same relay, Kamailio granting 20 s: the TLS bytes of one round
  of refreshes (both packages: SUBSCRIBE, 200, NOTIFY, 200 each), times the rounds an hour
  at the default 3600 s.
- **Restart.** The 50 channels at the default timings; Kamailio killed, and started again
  2 s later: when each channel is subscribed again, counted from Kamailio's return.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
import gc
from pathlib import Path
import ssl
import statistics
import time
import tracemalloc

from homeassistant.const import (
    CONF_CURRENCY,
    CONF_PASSWORD,
    CONF_URL,
    CONF_VERIFY_SSL,
    EVENT_STATE_CHANGED,
)
from homeassistant.core import Event, HomeAssistant
from homeassistant.util import ssl as ssl_util
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.sipthor.api.sip import (
    CallEvent,
    ChannelState,
    LiveEvent,
    LiveTimings,
    ManualServer,
    MessageSummaryEvent,
    SipLiveChannel,
    SubscriptionState,
    Transport,
)
from custom_components.sipthor.const import (
    CONF_ACCOUNT,
    CONF_LIVE_EVENTS,
    CONF_SIP_SERVER,
    DOMAIN as INTEGRATION,
)
from demo.kamailio import ALICE, BedOptions, KamailioBed, server_certificate, unavailable_reason
from simulator import SettingsSimulator
from simulator.certs import Authority, ensure_certificates
from tests.bench import table
from tests.sip.fake_server import DOMAIN, FakeSipServer
from tests.sip.helpers import CountingProxy

pytestmark = pytest.mark.bench

CHANNELS = 50
NOTIFIES = 1000
NS = "urn:ietf:params:xml:ns:dialog-info"
# The default keep-alive interval is drawn between 80 % and 100 % of 60 s.
PINGS_PER_HOUR = 3600 / (LiveTimings().keepalive_interval * 0.9)
# Per ping exchange: ping, pong, and the ACK of the pong, 52 bytes of headers each.
TCP_IP_PER_EXCHANGE = 3 * 52


@pytest.fixture
def authority(sim_certs_dir: Path) -> Authority:
    """The simulator's server CA, which issues the SIP servers' certificates."""
    return ensure_certificates(sim_certs_dir, {}).server_authority


@pytest.fixture
def kamailio_installed() -> None:
    """Skip, saying why, where Kamailio is not installed."""
    if (reason := unavailable_reason()) is not None:
        pytest.skip(reason)


def _client_context(authority: Authority) -> ssl.SSLContext:
    return ssl.create_default_context(cadata=authority.certificate_pem.decode())


def _resident() -> int:
    """This process's resident memory, in bytes."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return 0


def _all_active(channel: SipLiveChannel) -> bool:
    return channel.status.state is ChannelState.CONNECTED and all(
        status.state is SubscriptionState.ACTIVE for status in channel.status.subscriptions.values()
    )


async def _until(predicate, timeout: float = 120.0) -> None:
    async with asyncio.timeout(timeout):
        while not predicate():
            await asyncio.sleep(0.02)


@pytest.fixture
async def fake_tls_server(
    authority: Authority, tmp_path: Path, socket_enabled: None
) -> AsyncIterator[FakeSipServer]:
    issued = server_certificate(authority, (DOMAIN, f"sip.{DOMAIN}"))
    (tmp_path / "server.pem").write_bytes(issued.certificate_pem + issued.key_pem)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(tmp_path / "server.pem")
    server = FakeSipServer(context, password=ALICE.password)
    await server.start()
    yield server
    await server.stop()


def _document(version: int, state: str) -> bytes:
    return (
        f'<?xml version="1.0"?><dialog-info xmlns="{NS}" version="{version}" state="full" '
        f'entity="sip:alice@example.com"><dialog id="d{version}" call-id="c{version // 2}" '
        f'direction="recipient"><state>{state}</state><remote><identity>sip:bob@example.com'
        f"</identity></remote></dialog></dialog-info>"
    ).encode()


async def test_notify_to_listener(fake_tls_server: FakeSipServer, authority: Authority) -> None:
    server = fake_tls_server
    channel = SipLiveChannel(
        f"alice@{DOMAIN}",
        ALICE.password,
        ssl_context=_client_context(authority),
        server=ManualServer("127.0.0.1", server.port, Transport.TLS),
    )
    arrivals: list[float] = []

    def listen(event: LiveEvent) -> None:
        if isinstance(event, CallEvent | MessageSummaryEvent):
            arrivals.append(time.perf_counter())

    channel.add_listener(listen)
    worst_step = _measure_steps()
    await channel.start()
    try:
        await _until(lambda: _all_active(channel))
        dialogs = await server.subscription("dialog")
        voicemail = await server.subscription("message-summary")
        latencies: list[float] = []
        for index in range(NOTIFIES):
            expected = len(arrivals) + 1
            if index % 2:
                body = f"Messages-Waiting: yes\r\nVoice-Message: {index}/0\r\n".encode()
                sent = time.perf_counter()
                await server.notify(voicemail, body, "application/simple-message-summary")
            else:
                state = "early" if index % 4 == 0 else "terminated"
                sent = time.perf_counter()
                await server.notify(
                    dialogs, _document(index + 1, state), "application/dialog-info+xml"
                )
            await _until(lambda expected=expected: len(arrivals) >= expected, 10)
            latencies.append(arrivals[expected - 1] - sent)
    finally:
        await channel.stop()
        worst = worst_step.stop()
        worst_cpu = worst_step.worst_cpu
    quantiles = statistics.quantiles(latencies, n=100)
    table.record("sip_notify_p50", "design", statistics.median(latencies) * 1000)
    table.record("sip_notify_p99", "design", quantiles[98] * 1000)
    table.record("sip_notify_stall", "design", worst * 1000)
    table.record("sip_notify_stall_cpu", "design", worst_cpu * 1000)
    print(
        f"\nNOTIFY → listener over {len(latencies)} NOTIFYs: median "
        f"{statistics.median(latencies) * 1000:.2f} ms, p99 {quantiles[98] * 1000:.2f} ms, "
        f"max {max(latencies) * 1000:.2f} ms; largest channel step {worst * 1000:.2f} ms "
        f"(its {worst_step.where} task), {worst_cpu * 1000:.2f} ms of CPU"
    )


CALL_STATE = "sensor.alice_example_com_call_state"
STATE_CHANGES = 300


def _call_document(version: int) -> bytes:
    """Call n rings (odd versions), then ends (even ones): Call state changes each time."""
    state = "early" if version % 2 else "terminated"
    return (
        f'<?xml version="1.0"?><dialog-info xmlns="{NS}" version="{version}" state="full" '
        f'entity="sip:alice@example.com"><dialog id="d{(version + 1) // 2}" '
        f'call-id="c{(version + 1) // 2}" direction="recipient"><state>{state}</state>'
        f"<remote><identity>sip:bob@example.com</identity></remote></dialog></dialog-info>"
    ).encode()


async def test_notify_to_home_assistant_state(
    hass: HomeAssistant,
    fake_tls_server: FakeSipServer,
    authority: Authority,
    loop_simulator: SettingsSimulator,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    server = fake_tls_server
    # Home Assistant's shared client context, trusting the bench's CA.
    monkeypatch.setattr(ssl_util, "client_context", lambda *_args: _client_context(authority))
    entry = MockConfigEntry(
        domain=INTEGRATION,
        title=f"alice@{DOMAIN}",
        unique_id=f"alice@{DOMAIN}",
        minor_version=3,
        data={
            CONF_URL: loop_simulator.digest_url,
            CONF_ACCOUNT: f"alice@{DOMAIN}",
            CONF_VERIFY_SSL: True,
            CONF_PASSWORD: ALICE.password,
        },
        options={
            CONF_CURRENCY: "EUR",
            CONF_LIVE_EVENTS: True,
            CONF_SIP_SERVER: f"127.0.0.1:{server.port};transport=tls",
        },
    )
    entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(entry.entry_id)
    changes: list[float] = []

    def changed(event: Event) -> None:
        if event.data["entity_id"] == CALL_STATE:
            changes.append(time.perf_counter())

    hass.bus.async_listen(EVENT_STATE_CHANGED, changed)
    try:
        await _until(lambda: (state := hass.states.get(CALL_STATE)) and state.state == "idle")
        dialogs = await server.subscription("dialog")
        latencies: list[float] = []
        for version in range(1, STATE_CHANGES + 1):
            expected = len(changes) + 1
            sent = time.perf_counter()
            await server.notify(dialogs, _call_document(version), "application/dialog-info+xml")
            await _until(lambda expected=expected: len(changes) >= expected, 10)
            latencies.append(changes[expected - 1] - sent)
    finally:
        assert await hass.config_entries.async_unload(entry.entry_id)
    quantiles = statistics.quantiles(latencies, n=100)
    table.record("live_state_p50", "design", statistics.median(latencies) * 1000)
    table.record("live_state_p99", "design", quantiles[98] * 1000)
    print(
        f"\nNOTIFY → Home Assistant state over {len(latencies)} changes: median "
        f"{statistics.median(latencies) * 1000:.2f} ms, p99 {quantiles[98] * 1000:.2f} ms, "
        f"max {max(latencies) * 1000:.2f} ms"
    )


class _StepMeter:
    """The longest step of the channel's tasks ("sipthor live …"): wall clock and CPU."""

    def __init__(self) -> None:
        self.worst = 0.0
        self.worst_cpu = 0.0
        self.where = ""
        self._original = asyncio.events.Handle._run

        def run(handle: asyncio.events.Handle) -> None:
            owner = getattr(handle._callback, "__self__", None)
            if isinstance(owner, asyncio.Task) and owner.get_name().startswith("sipthor live"):
                began, began_cpu = time.perf_counter(), time.thread_time()
                self._original(handle)
                self.worst_cpu = max(self.worst_cpu, time.thread_time() - began_cpu)
                if (spent := time.perf_counter() - began) > self.worst:
                    self.worst, self.where = spent, owner.get_name().split(" ")[2]
            else:
                self._original(handle)

        asyncio.events.Handle._run = run  # type: ignore[method-assign]

    def stop(self) -> float:
        asyncio.events.Handle._run = self._original  # type: ignore[method-assign]
        return self.worst


def _measure_steps() -> _StepMeter:
    return _StepMeter()


async def _start_channels(bed: KamailioBed, count: int, **kwargs) -> list[SipLiveChannel]:
    context = bed.client_ssl_context()
    channels = [
        SipLiveChannel(
            f"alice@{bed.domain}",
            ALICE.password,
            ssl_context=context,
            server=ManualServer(bed.host, bed.tls_port, Transport.TLS),
            **kwargs,
        )
        for _ in range(count)
    ]
    for channel in channels:
        await channel.start()
    try:
        await _until(lambda: all(_all_active(channel) for channel in channels))
    except TimeoutError:
        for channel in channels:
            if not _all_active(channel):
                print(f"\nnot active: {channel.snapshot()}")
        print(f"\nKAMAILIO running={bed.running}\n{bed.log()[-6000:]}")
        raise
    return channels


async def _settled_memory(traced: bool) -> int:
    await asyncio.sleep(1)
    gc.collect()
    return tracemalloc.get_traced_memory()[0] if traced else _resident()


async def test_fifty_channels(
    authority: Authority, socket_enabled: None, kamailio_installed: None
) -> None:
    async with KamailioBed(authority, BedOptions()) as bed:
        # Resident memory first, without tracemalloc's own cost in it.
        await _settled_memory(traced=False)
        before = _resident()
        channels = await _start_channels(bed, CHANNELS)
        resident = (await _settled_memory(traced=False) - before) / CHANNELS
        down = [
            channel
            for channel in channels
            if not (channel.snapshot()["connections"] == 1 and _all_active(channel))
        ]
        up = CHANNELS - len(down)
        for channel in down:
            print(f"\nnot up: {channel.snapshot()['connections']} connections, {channel.status}")
        for channel in channels:
            await channel.stop()

        tracemalloc.start()
        try:
            before = await _settled_memory(traced=True)
            channels = await _start_channels(bed, CHANNELS)
            traced = (await _settled_memory(traced=True) - before) / CHANNELS
        finally:
            for channel in channels:
                await channel.stop()
            tracemalloc.stop()
    table.record("sip_channels", "design", up)
    table.record("sip_memory_rss", "design", resident)
    table.record("sip_memory", "design", traced)
    print(
        f"\n{up} of {CHANNELS} channels up, each on its own TLS connection; per channel "
        f"{resident / 1024:.0f} KiB resident, {traced / 1024:.0f} KiB traced"
    )


async def test_keepalive_and_refresh_traffic(
    authority: Authority, socket_enabled: None, kamailio_installed: None
) -> None:
    # Keep-alives every 0.5 s, with subscriptions that need no refresh meanwhile.
    async with KamailioBed(authority, BedOptions()) as bed, _Relayed(bed, 0.5) as (channel, relay):
        await _until(lambda: channel.snapshot()["connection"]["pongs_received"] >= 2)
        pings, up, down = _counts(channel, relay)
        await _until(lambda: channel.snapshot()["connection"]["pongs_received"] >= 22)
        pings2, up2, down2 = _counts(channel, relay)
    per_exchange = ((up2 - up) + (down2 - down)) / (pings2 - pings)
    # Refreshes: Kamailio grants 20 s, so both packages refresh every 10 s; no pings.
    async with (
        KamailioBed(authority, BedOptions(max_expires=20)) as bed,
        _Relayed(bed, 3600) as (channel, relay),
    ):
        _, up, down = _counts(channel, relay)
        await asyncio.sleep(21)  # two rounds of refreshes
        _, up2, down2 = _counts(channel, relay)
    per_round = ((up2 - up) + (down2 - down)) / 2
    rounds_per_hour = 3600 / LiveTimings().refresh_after(LiveTimings().expires)
    table.record("sip_keepalive", "design", per_exchange * PINGS_PER_HOUR)
    table.record(
        "sip_keepalive_ip", "design", (per_exchange + TCP_IP_PER_EXCHANGE) * PINGS_PER_HOUR
    )
    table.record("sip_refresh", "design", per_round * rounds_per_hour)
    print(
        f"\nkeep-alive: {per_exchange:.0f} B of TLS records per ping and pong, "
        f"{PINGS_PER_HOUR:.0f} an hour: {per_exchange * PINGS_PER_HOUR:,.0f} B/h per account "
        f"(with TCP/IP headers about "
        f"{(per_exchange + TCP_IP_PER_EXCHANGE) * PINGS_PER_HOUR:,.0f} B/h); "
        f"refresh: {per_round:,.0f} B per round, {rounds_per_hour:.2f} rounds an hour"
    )


def _counts(channel: SipLiveChannel, relay: CountingProxy) -> tuple[int, int, int]:
    return channel.snapshot()["connection"]["pings_sent"], relay.up, relay.down


class _Relayed:
    """One channel to ``bed`` through a counting relay, subscribed; all stopped after."""

    def __init__(self, bed: KamailioBed, keepalive_interval: float) -> None:
        self.bed = bed
        self.relay = CountingProxy(bed.tls_port)
        self.timings = LiveTimings(keepalive_interval=keepalive_interval)
        self.channel: SipLiveChannel | None = None

    async def __aenter__(self) -> tuple[SipLiveChannel, CountingProxy]:
        await self.relay.start()
        channel = self.channel = SipLiveChannel(
            f"alice@{self.bed.domain}",
            ALICE.password,
            ssl_context=self.bed.client_ssl_context(),
            server=ManualServer("127.0.0.1", self.relay.port, Transport.TLS),
            timings=self.timings,
        )
        await channel.start()
        await _until(lambda: _all_active(channel))
        return channel, self.relay

    async def __aexit__(self, *exc_info: object) -> None:
        if self.channel is not None:
            await self.channel.stop()
        await self.relay.stop()


async def test_reconnections_after_a_restart(
    authority: Authority, socket_enabled: None, kamailio_installed: None
) -> None:
    async with KamailioBed(authority, BedOptions()) as bed:
        channels = await _start_channels(bed, CHANNELS)
        back: dict[int, float] = {}
        down = asyncio.Event()

        for number, channel in enumerate(channels):

            def watch(_event: LiveEvent, number: int = number, channel=channel) -> None:
                if down.is_set() and number not in back and _all_active(channel):
                    back[number] = time.perf_counter()

            channel.add_listener(watch)
        try:
            await bed.kill()
            down.set()
            await asyncio.sleep(2)
            # From the start command: Kamailio accepts connections before bed.start()
            # has seen it ready, so a channel could be back "before" its return.
            returned = time.perf_counter()
            await bed.start()
            await _until(lambda: len(back) == CHANNELS)
        finally:
            for channel in channels:
                await channel.stop()
    delays = sorted(moment - returned for moment in back.values())
    seconds = {int(delay // 1) for delay in delays}
    table.record("sip_reconnect_first", "design", delays[0])
    table.record("sip_reconnect_last", "design", delays[-1])
    table.record("sip_reconnect_seconds", "design", len(seconds))
    histogram = ", ".join(
        f"{second}-{second + 1} s: {sum(int(d // 1) == second for d in delays)}"
        for second in sorted(seconds)
    )
    print(
        f"\nafter Kamailio's return: first back {delays[0]:.2f} s, median "
        f"{statistics.median(delays):.2f} s, last {delays[-1]:.2f} s ({histogram})"
    )
