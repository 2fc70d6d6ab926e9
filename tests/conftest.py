"""Fixtures shared by every test: the simulator on loopback, over real mutual TLS."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from custom_components.sipthor.api import ClientCredentials, load_credentials
from simulator import Platform, SettingsSimulator
from simulator.certs import ensure_certificates

ACCOUNT = "alice@example.com"
ACCOUNT_PASSWORD = "alice-sip-password"


@pytest.fixture(scope="session")
def sim_certs_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One certificate directory for the whole run: generating keys is slow.

    Made here, at the session's start, so that no test with a frozen clock makes them.
    """
    directory = tmp_path_factory.mktemp("sim-certs")
    ensure_certificates(
        directory,
        {
            account.address: (account.owner, account.password)
            for account in Platform().accounts.values()
        },
    )
    return directory


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
