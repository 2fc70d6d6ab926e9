"""The README's fault table, row by row, over real TLS to the simulator.

Each row: the fault starts, and at the first poll that meets it (the registrations,
within a minute) every entity of the account becomes unavailable; the log gets one line
for the account however many sources fall due meanwhile and however long it lasts, no
traceback. The fault ends: within a minute the page is asked again, every entity is back
at once, and the log says so once. An error of one action only makes that action's
entities unavailable. A refused certificate or password asks for reauthentication.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import timedelta
import logging

from freezegun.api import FrozenDateTimeFactory
from homeassistant.config_entries import SOURCE_REAUTH
from homeassistant.const import STATE_UNAVAILABLE
from homeassistant.core import HomeAssistant
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.sipthor.const import DOMAIN
from simulator import SettingsSimulator
from simulator.server import Faults
from tests.integration.common import advance

REGISTERED = "sensor.alice_example_com_registered_devices"
BALANCE = "sensor.alice_example_com_balance"
FORWARD_BUSY = "select.alice_example_com_forward_when_busy"
REFUSED = "alice@example.com: the settings page refused the sign-in"
MAINTENANCE_PAGE = (
    "<!DOCTYPE html><html><head><title>503 Service Unavailable</title></head><body>"
    "<h1>Down for maintenance</h1><p>Back soon.</p></body></html>"
)


async def _stop(simulator: SettingsSimulator) -> None:
    await simulator.stop()


async def _start(simulator: SettingsSimulator) -> None:
    await simulator.start()


@dataclass(frozen=True)
class Fault:
    """One row of the fault table."""

    faults: Faults | None = None
    # Instead of (or besides) per-request faults: what starts and ends it.
    start: Callable[[SettingsSimulator], Awaitable[None]] | None = None
    end: Callable[[SettingsSimulator], Awaitable[None]] | None = None
    # The log line that says it was lost (once).
    lost: str = "alice@example.com: the settings page does not answer"
    # The log line that says it is back (once); None: reauthentication instead.
    back: str | None = "alice@example.com: the settings page answers again"
    # Only the failing action's own entities go (the page answered the others).
    only_its_source: bool = False
    extra: dict[str, str] = field(default_factory=dict)


FAULTS: dict[str, Fault] = {
    "connection reset": Fault(Faults(drop_connection=True)),
    "server down": Fault(start=_stop, end=_start),
    "HTTP 404": Fault(Faults(status=404)),
    "HTTP 500": Fault(Faults(status=500)),
    "HTTP 502": Fault(Faults(status=502)),
    "HTTP 503": Fault(Faults(status=503)),
    "HTML maintenance page": Fault(Faults(body=MAINTENANCE_PAGE)),
    "empty body": Fault(Faults(empty_body=True)),
    "truncated JSON": Fault(Faults(malformed_json=True)),
    "huge body": Fault(Faults(body="<p>" + "x" * (600 * 1024))),
    "huge body without length": Fault(Faults(body="x" * (600 * 1024), body_framing="chunked")),
    "deeply nested JSON": Fault(Faults(body="[" * 100_000)),
    "back-end error": Fault(
        Faults(backend_error=True, actions=frozenset({"get_devices"})),
        lost="Error fetching alice@example.com registrations data",
        back="Fetching alice@example.com registrations data recovered",
        only_its_source=True,
    ),
    "credentials error": Fault(
        Faults(credentials_error=True),
        lost=REFUSED,
        back=None,
    ),
    "HTTP 401": Fault(
        Faults(status=401),
        lost=REFUSED,
        back=None,
    ),
    "HTTP 403": Fault(
        Faults(status=403),
        lost=REFUSED,
        back=None,
    ),
    "TLS refusal of the certificate": Fault(
        Faults(tls_reject=True),
        lost=REFUSED,
        back=None,
    ),
}


def _ours(caplog: pytest.LogCaptureFixture, level: int) -> list[logging.LogRecord]:
    return [
        record
        for record in caplog.records
        if record.name.startswith("custom_components.sipthor") and record.levelno >= level
    ]


def _lines(caplog: pytest.LogCaptureFixture, text: str) -> list[logging.LogRecord]:
    return [record for record in _ours(caplog, logging.INFO) if text in record.getMessage()]


def _reauth_flows(hass: HomeAssistant) -> list[object]:
    return [
        flow
        for flow in hass.config_entries.flow.async_progress_by_handler(DOMAIN)
        if flow["context"]["source"] == SOURCE_REAUTH
    ]


@pytest.mark.parametrize("name", FAULTS)
async def test_fault(
    hass: HomeAssistant,
    *,
    freezer: FrozenDateTimeFactory,
    init_integration: MockConfigEntry,
    simulator: SettingsSimulator,
    caplog: pytest.LogCaptureFixture,
    name: str,
) -> None:
    """One row of the README's fault table (a timeout: test_a_poll_is_bounded_as_a_whole)."""
    fault = FAULTS[name]
    caplog.clear()
    caplog.set_level(logging.INFO, logger="custom_components.sipthor")
    if fault.faults is not None:
        simulator.faults = fault.faults
    if fault.start is not None:
        await fault.start(simulator)
    try:
        # A minute: the registrations meet the fault.
        await advance(hass, freezer, timedelta(seconds=61))
        assert hass.states.get(REGISTERED).state == STATE_UNAVAILABLE
        expected_balance = "12.3456" if fault.only_its_source else STATE_UNAVAILABLE
        assert hass.states.get(BALANCE).state == expected_balance
        # Eleven more: every source has fallen due at least once.
        for _ in range(11):
            await advance(hass, freezer, timedelta(minutes=1))
        assert hass.states.get(REGISTERED).state == STATE_UNAVAILABLE
        assert hass.states.get(BALANCE).state == expected_balance

        lost = _ours(caplog, logging.WARNING)
        assert [record.getMessage()[: len(fault.lost)] for record in lost] == [fault.lost], (
            "one line for the whole outage"
        )
        # No traceback above debug level, and no secret: the page's URL holds none.
        assert not any(record.exc_info for record in _ours(caplog, logging.INFO))
        if fault.back is None:
            assert len(_reauth_flows(hass)) == 1
    finally:
        simulator.faults = Faults()
        if fault.end is not None:
            await fault.end(simulator)

    if fault.back is None:
        # The user gives a new certificate or password; reauthentication reloads.
        assert await hass.config_entries.async_reload(init_integration.entry_id)
        await hass.async_block_till_done(wait_background_tasks=True)
    else:
        # Asked again within a minute; what the outage stopped is read at once.
        await advance(hass, freezer, timedelta(seconds=61))
        assert len(_lines(caplog, fault.back)) == 1
        assert not _lines(caplog, "data recovered") or fault.only_its_source
    assert hass.states.get(REGISTERED).state != STATE_UNAVAILABLE
    assert hass.states.get(BALANCE).state == "12.3456"
    assert hass.states.get(FORWARD_BUSY).state == "voice_mailbox"
