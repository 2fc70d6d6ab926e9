"""Fixtures of the end-to-end tests: a real Home Assistant process and the simulator.

Each test gets its own configuration directory (a copy of the tracked config/), free
ports, and its own simulator in the test's event loop, so it never collides with a
running ``scripts/develop``. Home Assistant is stopped, and on failure its log printed,
whatever happens. ``-m "not e2e"`` leaves these tests out.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Generator
from pathlib import Path

import pytest

from demo.defaults import DEMO_CONFIG, REPO
from demo.stack import Stack, free_port, running_stack
from tests.e2e.browser import INSTALL_HINT, chromium_path

# Where the browser test leaves its screenshots (artifacts/ is ignored by git).
ARTIFACTS = REPO / "artifacts" / "e2e"


def pytest_configure(config: pytest.Config) -> None:
    """Register the ``e2e`` marker."""
    config.addinivalue_line(
        "markers", "e2e: starts a real Home Assistant process (deselect with -m 'not e2e')"
    )


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    """Keep each phase's report on the item, so fixtures can tell a failure."""
    report = yield
    setattr(item, f"report_{report.when}", report)
    return report


@pytest.fixture
async def stack(
    request: pytest.FixtureRequest,
    tmp_path: Path,
    sim_certs_dir: Path,
    socket_enabled: None,
) -> AsyncIterator[Stack]:
    """The simulator and a real, onboarded Home Assistant on free ports."""
    config_dir = tmp_path / "config"
    hass = None
    try:
        async with running_stack(
            config_dir,
            sim_certs_dir,
            ha_port=free_port(),
            copy_config_from=DEMO_CONFIG,
        ) as running:
            hass = running.hass
            print(  # noqa: T201 - shown with -rP and on failure
                "Home Assistant: HTTP after {http:.1f} s, running after {running:.1f} s".format(
                    **running.timings
                )
            )
            yield running
            report = getattr(request.node, "report_call", None)
            if report is not None and report.failed:
                print(hass.tail(300))  # noqa: T201 - the log of the failed test
    except BaseException:
        if hass is not None:
            print(hass.tail(300))  # noqa: T201 - the log of the failed start
        raise


@pytest.fixture
def chromium() -> str:
    """Debian's Chromium, or a skip that says how to install it."""
    path = chromium_path()
    if path is None:
        pytest.skip(f"Chromium is not installed. {INSTALL_HINT}")
    pytest.importorskip(
        "playwright.async_api",
        reason="Playwright is not installed: scripts/setup installs requirements_test.txt",
    )
    return path


@pytest.fixture
def artifacts() -> Path:
    """A directory for screenshots that outlives the test."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS
