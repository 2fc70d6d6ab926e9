"""Fixtures shared by every test: the simulator on loopback, over real mutual TLS, and a
real SIP server (Kamailio, demo/kamailio.py) with scripted SIP user agents."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Generator
from pathlib import Path
import shutil
import tempfile

import pytest

from custom_components.sipthor.api import ClientCredentials, load_credentials
from demo.kamailio import ALICE, BedOptions, KamailioBed, SipUser, Transport, unavailable_reason
from demo.sip_agent import SipAgent
from simulator import Platform, SettingsSimulator
from simulator.certs import ensure_certificates

ACCOUNT = "alice@example.com"
ACCOUNT_PASSWORD = "alice-sip-password"


_CERTS_DIR = pytest.StashKey[Path]()
_KAMAILIO = pytest.StashKey[KamailioBed]()


def pytest_sessionstart(session: pytest.Session) -> None:
    """Make the simulator's certificates before any test, so no frozen clock dates them.

    Their validity must hold for OpenSSL, which reads the real clock.
    """
    directory = Path(tempfile.mkdtemp(prefix="sipthor-sim-certs-"))
    ensure_certificates(
        directory,
        {
            account.address: (account.owner, account.password)
            for account in Platform().accounts.values()
        },
    )
    session.config.stash[_CERTS_DIR] = directory


def pytest_sessionfinish(session: pytest.Session) -> None:
    """Remove the certificates (private keys) made for this run."""
    if (directory := session.config.stash.get(_CERTS_DIR, None)) is not None:
        shutil.rmtree(directory, ignore_errors=True)


@pytest.fixture(scope="session")
def sim_certs_dir(pytestconfig: pytest.Config) -> Path:
    """One certificate directory for the whole run: generating keys is slow."""
    return pytestconfig.stash[_CERTS_DIR]


@pytest.fixture
async def simulator(sim_certs_dir: Path, socket_enabled: None) -> AsyncIterator[SettingsSimulator]:
    """A fresh simulated platform on 127.0.0.1, asking for certificates as Apache does."""
    server = SettingsSimulator(sim_certs_dir)
    await server.start()
    yield server
    await server.stop()


@pytest.fixture
def alice_pem(simulator: SettingsSimulator) -> bytes:
    """Alice's platform-issued ``alice@example.com.crt`` (certificate + key, RSA-1024/MD5)."""
    return simulator.client_certificate(f"{ACCOUNT}.crt").read_bytes()


@pytest.fixture
def alice_credentials(alice_pem: bytes) -> ClientCredentials:
    """Alice's credentials, parsed."""
    return load_credentials(alice_pem)


@pytest.fixture
async def kamailio(
    request: pytest.FixtureRequest, sim_certs_dir: Path, socket_enabled: None
) -> AsyncIterator[KamailioBed]:
    """A started Kamailio on 127.0.0.1 (demo/kamailio.py), stopped and removed after.

    Its options are ``BedOptions()`` unless the test parametrizes the fixture indirectly:
    ``@pytest.mark.parametrize("kamailio", [BedOptions(challenge=401)], indirect=True)``.
    Skips only where Kamailio is not installed. When the test fails, its report shows
    the end of Kamailio's log.
    """
    if (reason := unavailable_reason()) is not None:
        pytest.skip(reason)
    options = getattr(request, "param", None) or BedOptions()
    authority = ensure_certificates(sim_certs_dir, {}).server_authority
    async with KamailioBed(authority, options) as bed:
        request.node.stash[_KAMAILIO] = bed
        yield bed


type AgentFactory = Callable[..., Awaitable[SipAgent]]


@pytest.fixture
async def make_agent(kamailio: KamailioBed) -> AsyncIterator[AgentFactory]:
    """Connect scripted SIP user agents (demo/sip_agent.py) to the bed; closed after.

    ``await make_agent(user=ALICE, transport="tls")``: one user on one new connection.
    """
    agents: list[SipAgent] = []

    async def connect(user: SipUser = ALICE, transport: Transport = "tls") -> SipAgent:
        agent = await SipAgent.connect(kamailio, user, transport)
        agents.append(agent)
        return agent

    yield connect
    for agent in agents:
        await agent.close()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    """A failed test that ran Kamailio shows the end of its log."""
    report = yield
    bed = item.stash.get(_KAMAILIO, None)
    if bed is not None and report.failed and report.when == "call":
        report.sections.append(("Kamailio log (end)", "\n".join(bed.log().splitlines()[-80:])))
    return report
