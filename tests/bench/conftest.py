"""Fixtures of the benchmarks, the ``--latency`` option and the table printed at the end.

Self-contained on purpose: no simulator starts unless a benchmark asks for one, and the
integration tests' helpers can move without breaking the bench.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

from homeassistant.core import HomeAssistant
import pytest

from simulator import Platform, SettingsSimulator
from simulator.certs import SERVER_CA, trusting_directory
from tests.bench import table
from tests.bench.server_process import APACHE_KEEPALIVE, ServerProcess
from tests.bench.threaded import ThreadedSimulator

DEFAULT_LATENCY = 0.3


def pytest_addoption(parser: pytest.Parser) -> None:
    """``--latency``: seconds the simulator holds every answer (scripts/bench --latency 0.5)."""
    parser.addoption(
        "--latency",
        type=float,
        default=DEFAULT_LATENCY,
        help="seconds the simulated settings page holds every answer (default 0.3)",
    )


def _latency(config: pytest.Config) -> float:
    # The option exists only when pytest starts in tests/bench (scripts/bench does).
    value = config.getoption("--latency", default=DEFAULT_LATENCY)
    return float(value if value is not None else DEFAULT_LATENCY)


@pytest.fixture
def latency(pytestconfig: pytest.Config) -> float:
    """The round trip L of the round-trip rows."""
    return _latency(pytestconfig)


@pytest.fixture(autouse=True)
def asyncio_debug_off(hass: HomeAssistant) -> None:
    """Turn asyncio's debug mode off, as in a running Home Assistant.

    The harness turns it on for every test; it records a traceback for every callback
    and task, which would multiply the CPU time and the stalls measured here.
    """
    hass.loop.set_debug(False)


@pytest.fixture(autouse=True)
def auto_enable_custom_integrations(enable_custom_integrations: None) -> None:
    """Load custom_components/sipthor in every benchmark."""


@pytest.fixture(autouse=True)
def private_config_dir(hass: HomeAssistant, tmp_path: Path) -> Path:
    """A config directory of the benchmark's own, where certificate files go."""
    config_dir = tmp_path / "config"
    config_dir.mkdir()
    hass.config.config_dir = str(config_dir)
    return config_dir


@pytest.fixture(autouse=True)
def trust_simulator_ca(
    sim_certs_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Trust the simulators' server CA as a system CA, so verification stays on.

    As a CA directory (``SSL_CERT_DIR``), the way the integration reads the system's CAs
    where the system has one: a bundle in ``SSL_CERT_FILE`` would be loaded whole.
    """
    directory = trusting_directory(sim_certs_dir / SERVER_CA, tmp_path / "trusted-cas")
    monkeypatch.delenv("SSL_CERT_FILE", raising=False)
    monkeypatch.setenv("SSL_CERT_DIR", str(directory))


@pytest.fixture
def platform() -> Platform:
    """The simulated accounts (the demo ones; benchmarks may add copies of Alice)."""
    return Platform()


@pytest.fixture
def server_process(sim_certs_dir: Path, socket_enabled: None) -> Iterator[ServerProcess]:
    """The simulator in a process of its own, closing idle connections after 5 s."""
    server = ServerProcess(sim_certs_dir)
    server.start()
    yield server
    server.stop()


@pytest.fixture
async def loop_simulator(
    sim_certs_dir: Path, socket_enabled: None, platform: Platform
) -> AsyncIterator[SettingsSimulator]:
    """The simulator on Home Assistant's loop, so a frozen clock also drives its keep-alive."""
    server = SettingsSimulator(sim_certs_dir, platform=platform, keepalive_timeout=APACHE_KEEPALIVE)
    await server.start()
    yield server
    await server.stop()


def pytest_terminal_summary(
    terminalreporter: pytest.TerminalReporter, exitstatus: int, config: pytest.Config
) -> None:
    """Print the one table of the run, and keep it in artifacts/bench.md."""
    if not table.FIGURES:
        return
    text = table.render(_latency(config))
    terminalreporter.write_sep("=", "SIP Thor bench")
    terminalreporter.write_line(text)
    artifacts = config.rootpath / "artifacts"
    artifacts.mkdir(exist_ok=True)
    (artifacts / "bench.md").write_text(text)


@pytest.fixture
def threaded_simulator(
    sim_certs_dir: Path, socket_enabled: None, platform: Platform
) -> Iterator[ThreadedSimulator]:
    """The simulator in a thread of its own, closing idle connections after 5 s."""
    threaded = ThreadedSimulator(
        sim_certs_dir, platform=platform, keepalive_timeout=APACHE_KEEPALIVE
    )
    threaded.start()
    yield threaded
    threaded.stop()
