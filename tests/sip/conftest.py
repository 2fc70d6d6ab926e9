"""Fixtures of the live-channel tests: the scripted server, TLS contexts, channels.

The Kamailio bed's fixtures (``kamailio``, ``make_agent``) are in tests/conftest.py.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
import ssl
from typing import Any

import pytest

from custom_components.sipthor.api.sip import ManualServer, SipLiveChannel, Transport
from demo.kamailio import ALICE, server_certificate
from simulator.certs import Authority, ensure_certificates
from tests.sip.cpu import STALL_LIMIT, cpu_time
from tests.sip.fake_server import DOMAIN, FakeSipServer
from tests.sip.helpers import FAST, WAIT, Recorder


@pytest.fixture(scope="session")
def sip_authority(sim_certs_dir: Path) -> Authority:
    """The simulator's server CA, which also issues the SIP servers' certificates."""
    return ensure_certificates(sim_certs_dir, {}).server_authority


@pytest.fixture(scope="session")
def server_tls(
    sip_authority: Authority, tmp_path_factory: pytest.TempPathFactory
) -> ssl.SSLContext:
    """The scripted server's TLS: a certificate for the domain and sip.<domain>."""
    issued = server_certificate(sip_authority, (DOMAIN, f"sip.{DOMAIN}"))
    directory = tmp_path_factory.mktemp("sip-server")
    (directory / "server.pem").write_bytes(issued.certificate_pem + issued.key_pem)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(directory / "server.pem")
    return context


@pytest.fixture
def client_tls(sip_authority: Authority) -> ssl.SSLContext:
    """What the channel verifies servers with: the CA above only."""
    return ssl.create_default_context(cadata=sip_authority.certificate_pem.decode())


@pytest.fixture
async def fake_server(
    server_tls: ssl.SSLContext, socket_enabled: None
) -> AsyncIterator[FakeSipServer]:
    """A scripted SIP server on 127.0.0.1 over TLS, challenging with 407."""
    server = FakeSipServer(server_tls, password=ALICE.password)
    await server.start()
    yield server
    await server.stop()


type ChannelFactory = Callable[..., tuple[SipLiveChannel, Recorder]]


@pytest.fixture
async def make_channel(client_tls: ssl.SSLContext) -> AsyncIterator[ChannelFactory]:
    """Channels for alice with short timings; each stopped when the test ends.

    ``make_channel(server)`` points one at a scripted server (or give ``server=`` a
    :class:`ManualServer`, or a ``resolver=``); the other keywords go to the channel.
    """
    channels: list[SipLiveChannel] = []

    def factory(
        fake: FakeSipServer | None = None,
        password: str = ALICE.password,
        account: str = f"alice@{DOMAIN}",
        **kwargs: Any,
    ) -> tuple[SipLiveChannel, Recorder]:
        if fake is not None:
            transport = Transport.TLS if fake.transport == "tls" else Transport.TCP
            kwargs.setdefault("server", ManualServer("127.0.0.1", fake.port, transport))
        kwargs.setdefault("ssl_context", client_tls)
        kwargs.setdefault("timings", FAST)
        channel = SipLiveChannel(account, password, **kwargs)
        channels.append(channel)
        return channel, Recorder(channel)

    yield factory
    for channel in channels:
        # stop() must end: a hang fails the test instead of holding the suite.
        async with asyncio.timeout(WAIT):
            await channel.stop()


@pytest.fixture
def no_traceback(caplog: pytest.LogCaptureFixture) -> Iterator[pytest.LogCaptureFixture]:
    """Fail the test if the channel logged a traceback or anything above a warning."""
    caplog.set_level("DEBUG", logger="custom_components.sipthor.api.sip")
    yield caplog
    for record in caplog.records:
        if record.name.startswith("custom_components.sipthor.api.sip"):
            assert record.exc_info is None, record.getMessage()
            assert record.levelname in ("DEBUG", "INFO", "WARNING"), record.getMessage()


class StallMeter:
    """The longest CPU time one step of the channel's tasks took on the event loop."""

    limit = STALL_LIMIT

    def __init__(self) -> None:
        self.worst = 0.0
        self.where = ""
        self.steps = 0


@pytest.fixture
async def stall_meter(monkeypatch: pytest.MonkeyPatch) -> StallMeter:
    """Measure every step of the tasks named "sipthor live …" (thread CPU time).

    Each step of a task is one run of a handle on the loop: while it runs, nothing else
    does. Thread time does not grow with other processes' load; the garbage collector is
    held off during a measured step (tests/sip/cpu.py says why). The loop's debug mode,
    which the test harness turns on and Home Assistant does not, records a traceback for
    every future: it is turned off, as in a running Home Assistant.
    """
    asyncio.get_running_loop().set_debug(False)
    meter = StallMeter()
    original = asyncio.events.Handle._run

    def run(handle: asyncio.events.Handle) -> None:
        owner = getattr(handle._callback, "__self__", None)
        if not (isinstance(owner, asyncio.Task) and owner.get_name().startswith("sipthor live")):
            original(handle)
            return
        meter.steps += 1
        spent = cpu_time(lambda: original(handle))
        if spent > meter.worst:
            meter.worst, meter.where = spent, owner.get_name()

    monkeypatch.setattr(asyncio.events.Handle, "_run", run)
    return meter


type SubscribedFactory = Callable[..., Awaitable[tuple[SipLiveChannel, Recorder]]]


@pytest.fixture
def subscribed(make_channel: ChannelFactory) -> SubscribedFactory:
    """``await subscribed(...)``: ``make_channel(...)``, started, every package active."""

    async def start(*args: Any, **kwargs: Any) -> tuple[SipLiveChannel, Recorder]:
        channel, recorder = make_channel(*args, **kwargs)
        await channel.start()
        await recorder.active()
        return channel, recorder

    return start
