"""Fixtures shared by every test: the simulator on loopback, over real mutual TLS."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
import shutil
import tempfile

import pytest

from custom_components.sipthor.api import ClientCredentials, load_credentials
from simulator import Platform, SettingsSimulator
from simulator.certs import ensure_certificates

ACCOUNT = "alice@example.com"
ACCOUNT_PASSWORD = "alice-sip-password"


_CERTS_DIR = pytest.StashKey[Path]()


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
