"""Fixtures for the integration's tests: real config entries against the simulator."""

from __future__ import annotations

from collections.abc import Iterator
import ipaddress
from pathlib import Path
import ssl
import tempfile
from typing import Any

import aiohttp
import certifi
from homeassistant.const import CONF_CURRENCY, CONF_PASSWORD, CONF_URL, CONF_VERIFY_SSL
from homeassistant.core import HomeAssistant
from homeassistant.setup import async_setup_component
from homeassistant.util import ssl as ssl_util
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry
from pytest_homeassistant_custom_component.typing import ClientSessionGenerator

from custom_components.sipthor.api import load_credentials
from custom_components.sipthor.certificate import (
    certificate_file_name,
    certificate_path,
    write_certificate,
)
from custom_components.sipthor.const import CONF_ACCOUNT, CONF_CERTIFICATE_FILE, DOMAIN
from custom_components.sipthor.live import LIVE_RESOLVER
from simulator import SettingsSimulator
from simulator.certs import trusting_directory
from tests.conftest import ACCOUNT, ACCOUNT_PASSWORD
from tests.integration.common import Upload, setup_entry


@pytest.fixture(autouse=True)
def auto_enable_custom_integrations(enable_custom_integrations: None) -> None:
    """Load custom_components/sipthor in every test."""


@pytest.fixture(autouse=True)
def private_config_dir(hass: HomeAssistant, tmp_path: Path) -> Path:
    """A config directory of the test's own: the certificate file is written there.

    The harness's default one lives inside its installed package, shared by every test.
    """
    config_dir = tmp_path / "config"
    config_dir.mkdir()
    hass.config.config_dir = str(config_dir)
    return config_dir


class _NoDns:
    """DNS for the live channels of the tests: nothing leaves the machine."""

    async def srv(self, name: str) -> list[Any]:
        del name
        return []

    async def addresses(self, host: str, port: int) -> list[str]:
        try:
            return [str(ipaddress.ip_address(host))]  # a server given by its address
        except ValueError:
            raise OSError(f"no DNS in the tests ({host}:{port})") from None


@pytest.fixture(autouse=True)
def no_dns(hass: HomeAssistant) -> None:
    """Live channels of entries without a SIP server option find none.

    Password entries have live events on by default; the SIP server is found through
    the domain's DNS, which the tests do not ask. Tests of the live events name the
    Kamailio bed as the server.
    """
    hass.data[LIVE_RESOLVER] = _NoDns()  # type: ignore[assignment]


@pytest.fixture
def simulator(
    simulator: SettingsSimulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> SettingsSimulator:
    """The simulator, its server CA trusted as a system CA, so verification stays on.

    The certificate path verifies the server against the system's CA directory, which
    OpenSSL reads from ``SSL_CERT_DIR`` (a bundle in ``SSL_CERT_FILE`` would be loaded
    whole instead). The password path uses Home Assistant's shared session, whose context
    trusts certifi's bundle (read once, at import): its connector, made on first use,
    gets a context trusting the simulator as well. Only tests that talk to a server
    start one.
    """
    directory = trusting_directory(simulator.certs.server_ca, tmp_path / "trusted-cas")
    monkeypatch.delenv("SSL_CERT_FILE", raising=False)
    monkeypatch.setenv("SSL_CERT_DIR", str(directory))
    trusting = ssl.create_default_context(cafile=certifi.where())
    trusting.load_verify_locations(cafile=simulator.certs.server_ca)
    monkeypatch.setattr(ssl_util, "client_context", lambda *_args: trusting)
    return simulator


@pytest.fixture
def quiet_refused_handshakes(hass: HomeAssistant) -> Iterator[None]:
    """Keep the simulator's end of a refused TLS handshake out of the test result.

    The simulator shares Home Assistant's event loop. When the client hangs up in the
    middle of a handshake (it does not trust the server's certificate), asyncio's debug
    mode reports the *server's* failed accept to the loop's exception handler, which
    the ``hass`` fixture turns into a test error. Those reports, and only those, are
    dropped here; every other exception still fails the test.
    """
    loop = hass.loop
    handler = loop.get_exception_handler()
    assert handler is not None

    def ignore_server_accept(loop: Any, context: dict[str, Any]) -> None:
        message = str(context.get("message", ""))
        if message.startswith("Error on transport creation for incoming connection"):
            return
        handler(loop, context)

    loop.set_exception_handler(ignore_server_accept)
    yield
    loop.set_exception_handler(handler)


@pytest.fixture
def mock_config_entry(simulator: SettingsSimulator) -> MockConfigEntry:
    """Alice's entry, pointing at the simulator."""
    return MockConfigEntry(
        domain=DOMAIN,
        title=ACCOUNT,
        unique_id=ACCOUNT,
        data={
            CONF_URL: simulator.url,
            CONF_ACCOUNT: ACCOUNT,
            CONF_VERIFY_SSL: True,
            CONF_CERTIFICATE_FILE: certificate_file_name(ACCOUNT),
        },
        options={CONF_CURRENCY: "EUR"},
    )


@pytest.fixture
def password_entry(simulator: SettingsSimulator) -> MockConfigEntry:
    """Alice's entry signing in with her SIP password on the simulator's Digest page."""
    return MockConfigEntry(
        domain=DOMAIN,
        title=ACCOUNT,
        unique_id=ACCOUNT,
        minor_version=2,
        data={
            CONF_URL: simulator.digest_url,
            CONF_ACCOUNT: ACCOUNT,
            CONF_VERIFY_SSL: True,
            CONF_PASSWORD: ACCOUNT_PASSWORD,
        },
        options={CONF_CURRENCY: "EUR"},
    )


@pytest.fixture
async def stored_certificate(hass: HomeAssistant, alice_pem: bytes) -> Path:
    """Alice's certificate where a configured entry keeps it."""
    path = certificate_path(hass, certificate_file_name(ACCOUNT))
    await hass.async_add_executor_job(write_certificate, path, load_credentials(alice_pem))
    return path


@pytest.fixture
async def init_integration(
    hass: HomeAssistant,
    mock_config_entry: MockConfigEntry,
    stored_certificate: Path,
) -> MockConfigEntry:
    """Alice's account set up against the simulator, every entity enabled."""
    assert await setup_entry(hass, mock_config_entry, all_enabled=True)
    return mock_config_entry


@pytest.fixture
async def upload(
    hass: HomeAssistant,
    hass_client: ClientSessionGenerator,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> Upload:
    """Upload a file through Home Assistant's own file-upload endpoint, as the frontend does.

    file_upload keeps uploads in ``<tempdir>/home-assistant-file_upload``, which it wipes
    when it starts and when Home Assistant stops: test runs in parallel processes would
    delete each other's uploads. Each test gets a temporary directory of its own.
    """
    private_tmp = tmp_path / "tmp"
    private_tmp.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(private_tmp))
    assert await async_setup_component(hass, "file_upload", {})
    client = await hass_client()

    async def _upload(content: bytes, name: str) -> str:
        form = aiohttp.FormData()
        form.add_field("file", content, filename=name)
        response = await client.post("/api/file_upload", data=form)
        assert response.status == 200, await response.text()
        return str((await response.json())["file_id"])

    return _upload
