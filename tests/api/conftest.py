"""Fixtures of the API tests: clients on the simulator, extra certificates, raw requests.

Certificates are slow to make (RSA keys, an ``openssl`` re-signing step), so every
certificate beyond the simulator's own is made once per run, by the enrollment CA the
simulator trusts (it lives in the session's certificate directory).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
import ssl
from typing import Any

import aiohttp
import pytest

from custom_components.sipthor.api import (
    ClientCredentials,
    SipThorClient,
    create_ssl_context,
    load_credentials,
)
from simulator import Platform, SettingsSimulator
from simulator.certs import (
    Authority,
    CertificateFiles,
    IssuedCertificate,
    ensure_certificates,
    issue_client_certificate,
    new_authority,
)
from tests.conftest import ACCOUNT

BOB = "bob@example.com"
CAROL = "carol@example.net"


# -- certificates made once per run ------------------------------------------------------


@pytest.fixture(scope="session")
def sim_files(sim_certs_dir: Path) -> CertificateFiles:
    """The simulator's certificate directory, written before any simulator starts."""
    accounts = {
        account.address: (account.owner, account.password)
        for account in Platform().accounts.values()
    }
    return ensure_certificates(sim_certs_dir, accounts)


@pytest.fixture(scope="session")
def enrollment(sim_files: CertificateFiles) -> Authority:
    """The platform's enrollment CA: what it issues, the simulator accepts."""
    return sim_files.enrollment_authority


@pytest.fixture(scope="session")
def stranger_ca() -> Authority:
    """A CA the simulator does not trust."""
    return new_authority("Some Other CA")


@pytest.fixture(scope="session")
def modern_alice(enrollment: Authority) -> IssuedCertificate:
    """Alice's certificate as a modern CA would issue it: RSA-2048, SHA-256."""
    return issue_client_certificate(enrollment, ACCOUNT, platform_like=False)


@pytest.fixture(scope="session")
def platform_bob(enrollment: Authority) -> IssuedCertificate:
    """A second platform-like (RSA-1024/MD5) certificate, for key-mismatch tests."""
    return issue_client_certificate(enrollment, BOB, email="bob@example.org")


@pytest.fixture(scope="session")
def expired_alice(enrollment: Authority) -> IssuedCertificate:
    """Alice's certificate whose validity ended ten days ago."""
    now = datetime.now(UTC)
    return issue_client_certificate(
        enrollment,
        ACCOUNT,
        platform_like=False,
        not_before=now - timedelta(days=400),
        not_after=now - timedelta(days=10),
    )


@pytest.fixture(scope="session")
def foreign_alice(stranger_ca: Authority) -> IssuedCertificate:
    """A certificate for Alice from a CA the platform does not know."""
    return issue_client_certificate(stranger_ca, ACCOUNT, platform_like=False)


# -- clients -----------------------------------------------------------------------------


def context_for(
    simulator: SettingsSimulator, credentials: ClientCredentials, **kwargs: Any
) -> ssl.SSLContext:
    """The client's SSL context, verifying the simulator's server certificate."""
    kwargs.setdefault("cafile", str(simulator.certs.server_ca))
    return create_ssl_context(credentials, **kwargs)


type ClientFactory = Callable[..., SipThorClient]


@pytest.fixture
async def make_client(
    simulator: SettingsSimulator, alice_credentials: ClientCredentials
) -> AsyncIterator[ClientFactory]:
    """Clients on the simulator (Alice by default); all closed when the test ends."""
    clients: list[SipThorClient] = []

    def factory(
        account: str = ACCOUNT,
        credentials: ClientCredentials | None = None,
        *,
        server: SettingsSimulator | None = None,
        context: ssl.SSLContext | None = None,
        **kwargs: Any,
    ) -> SipThorClient:
        server = server or simulator
        if context is None:
            context = context_for(server, credentials or alice_credentials)
        client = SipThorClient(account, context, url=server.url, **kwargs)
        clients.append(client)
        return client

    yield factory
    for client in clients:
        await client.close()


@pytest.fixture
def client(make_client: ClientFactory) -> SipThorClient:
    """Alice's client, with her platform-issued enrollment certificate."""
    return make_client()


# -- raw requests, to look at what the server sends ----------------------------------------


@dataclass(frozen=True, slots=True)
class RawResponse:
    """A response as it came over the wire."""

    status: int
    content_type: str
    headers: dict[str, str]
    body: bytes

    @property
    def text(self) -> str:
        """The body as text."""
        return self.body.decode()


type RawRequest = Callable[..., Awaitable[RawResponse]]


@pytest.fixture
async def raw(
    simulator: SettingsSimulator, alice_credentials: ClientCredentials
) -> AsyncIterator[RawRequest]:
    """Send one request as given (GET query or POST form), with Alice's certificate."""
    context = context_for(simulator, alice_credentials)
    async with aiohttp.ClientSession() as session:

        async def request(
            params: dict[str, str] | list[tuple[str, str]] | None = None,
            *,
            data: dict[str, str] | list[tuple[str, str]] | None = None,
            method: str = "GET",
        ) -> RawResponse:
            async with session.request(
                method, simulator.url, params=params, data=data, ssl=context
            ) as response:
                return RawResponse(
                    response.status,
                    response.headers.get("Content-Type", ""),
                    dict(response.headers),
                    await response.read(),
                )

        yield request


def credentials_of(issued: IssuedCertificate) -> ClientCredentials:
    """Parse a certificate made by the simulator's certificate helpers."""
    return load_credentials(issued.combined_pem)
