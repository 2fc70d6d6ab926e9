"""The README's fault table, row by row, over real TLS to the simulator.

Each row: the fault starts, and at the first poll that meets it (the registrations,
within a minute) every entity of the account becomes unavailable; the log gets one line
for the account however many sources fall due meanwhile and however long it lasts, no
traceback. The fault ends: within a minute the page is asked again, every entity is back
at once, and the log says so once. An error of one action only makes that action's
entities unavailable. A refused certificate or password asks for reauthentication. The rows
about the Digest challenge run on an entry that signs in with its SIP password.
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
from homeassistant.helpers import entity_registry as er, issue_registry as ir
from homeassistant.setup import async_setup_component
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.sipthor.const import DOMAIN
from simulator import SettingsSimulator
from simulator.server import Faults
from tests.integration.common import advance, setup_entry

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
    # The repair issue the fault raises (its kind), if any.
    issue: str | None = None
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
        issue="certificate_refused",
    ),
    "HTTP 401": Fault(
        Faults(status=401),
        lost=REFUSED,
        back=None,
        issue="certificate_refused",
    ),
    "HTTP 403": Fault(
        Faults(status=403),
        lost=REFUSED,
        back=None,
        issue="certificate_refused",
    ),
    "TLS refusal of the certificate": Fault(
        Faults(tls_reject=True),
        lost=REFUSED,
        back=None,
        issue="certificate_refused",
    ),
}


async def _offer_md5_only(simulator: SettingsSimulator) -> None:
    simulator.digest_algorithms = ("MD5",)
    # A new nonce key: the next request is refused, with the weaker challenge.
    simulator._nonce_key = "rotated"


async def _offer_sha256_again(simulator: SettingsSimulator) -> None:
    simulator.digest_algorithms = ("MD5", "SHA-256")


LATIN1_CHALLENGE = b'Digest realm="caf\xe9", qop="auth", nonce="MTIz", opaque="ab"'
FLOOD_CHALLENGE = b"Digest " + b"a=" * 4000

# What the fault table says is logged: the start of the line after the data's name.
UNANSWERABLE = (
    "alice@example.com: the settings page does not answer (The server's Digest challenge "
    "cannot be answered"
)

DIGEST_FAULTS: dict[str, Fault] = {
    "challenge with bytes outside UTF-8": Fault(
        Faults(raw_challenges=(LATIN1_CHALLENGE,)), lost=UNANSWERABLE
    ),
    # Home Assistant 2026's aiohttp refuses so many header lines itself (another message).
    "512 challenge headers of 8 KB": Fault(Faults(raw_challenges=(FLOOD_CHALLENGE,) * 512)),
    "a weaker algorithm than before": Fault(
        start=_offer_md5_only,
        end=_offer_sha256_again,
        lost=(
            "alice@example.com: the settings page does not answer (The settings page "
            "offered SHA-256 before and now only MD5"
        ),
        issue="digest_downgrade",
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
    await _run_fault(
        hass,
        freezer=freezer,
        entry=init_integration,
        simulator=simulator,
        caplog=caplog,
        fault=FAULTS[name],
    )


@pytest.mark.parametrize("name", DIGEST_FAULTS)
async def test_digest_fault(
    hass: HomeAssistant,
    *,
    freezer: FrozenDateTimeFactory,
    password_entry: MockConfigEntry,
    simulator: SettingsSimulator,
    caplog: pytest.LogCaptureFixture,
    name: str,
) -> None:
    """One row about the Digest challenge, on an entry that signs in with its password."""
    simulator.digest_algorithms = ("MD5", "SHA-256")
    assert await setup_entry(hass, password_entry, all_enabled=True)
    await _run_fault(
        hass,
        freezer=freezer,
        entry=password_entry,
        simulator=simulator,
        caplog=caplog,
        fault=DIGEST_FAULTS[name],
    )


async def _run_fault(
    hass: HomeAssistant,
    *,
    freezer: FrozenDateTimeFactory,
    entry: MockConfigEntry,
    simulator: SettingsSimulator,
    caplog: pytest.LogCaptureFixture,
    fault: Fault,
) -> None:
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
        assert len(_reauth_flows(hass)) == (1 if fault.back is None else 0)
        issues = {
            issue.translation_key
            for issue in ir.async_get(hass).issues.values()
            if issue.domain == DOMAIN
        }
        assert issues == ({fault.issue} if fault.issue else set())
    finally:
        simulator.faults = Faults()
        if fault.end is not None:
            await fault.end(simulator)

    if fault.back is None:
        # The user gives a new certificate or password; reauthentication reloads.
        assert await hass.config_entries.async_reload(entry.entry_id)
        await hass.async_block_till_done(wait_background_tasks=True)
    else:
        # Asked again within a minute; what the outage stopped is read at once.
        await advance(hass, freezer, timedelta(seconds=61))
        assert len(_lines(caplog, fault.back)) == 1
        assert not _lines(caplog, "data recovered") or fault.only_its_source
    assert hass.states.get(REGISTERED).state != STATE_UNAVAILABLE
    assert hass.states.get(BALANCE).state == "12.3456"
    assert hass.states.get(FORWARD_BUSY).state == "voice_mailbox"


async def test_an_ambiguous_privacy_page(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    init_integration: MockConfigEntry,
    simulator: SettingsSimulator,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The fault table's row about the caller-ID checkbox: two that disagree (on main
    the first one's state was shown as the page's)."""
    privacy = "switch.alice_example_com_hide_caller_id"
    await hass.services.async_call("switch", "turn_on", {"entity_id": privacy}, blocking=True)
    # The read-back that confirms the change runs in the background.
    await hass.async_block_till_done(wait_background_tasks=True)
    assert not hass.states.get(privacy).attributes.get("assumed_state")
    caplog.clear()
    boxes = "<input type=checkbox name=anonymous><input type=checkbox name=anonymous checked>"
    simulator.faults = Faults(body=f"<form>{boxes}</form>", actions=frozenset({""}))

    await advance(hass, freezer, timedelta(minutes=61))

    state = hass.states.get(privacy)
    assert state.state == "on"
    assert state.attributes["assumed_state"] is True
    assert not _ours(caplog, logging.WARNING)


async def test_a_server_that_counts_nonces_strictly(
    hass: HomeAssistant,
    password_entry: MockConfigEntry,
    simulator: SettingsSimulator,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The fault table's row about Apache's AuthDigestNcCheck On, with requests in
    flight taken out of order: answers it refused are sent again, nothing is logged
    above debug level, and nobody is asked for the password (on main: reauthentication
    at setup). The clock runs: the simulator lets a group of requests go after 1 ms."""
    simulator.digest_strict_nc = True
    simulator.faults = Faults(reverse=3)
    caplog.set_level(logging.INFO, logger="custom_components.sipthor")
    assert await async_setup_component(hass, "homeassistant", {})

    assert await setup_entry(hass, password_entry, all_enabled=True)
    # Every source read again at once, as a user refreshing the entities would.
    entities = er.async_entries_for_config_entry(er.async_get(hass), password_entry.entry_id)
    await hass.services.async_call(
        "homeassistant",
        "update_entity",
        {"entity_id": [entity.entity_id for entity in entities]},
        blocking=True,
    )
    await hass.async_block_till_done(wait_background_tasks=True)

    assert simulator.counters.challenges > 1, "the server refused nothing out of order"
    assert not _reauth_flows(hass)
    assert not _ours(caplog, logging.WARNING)
    assert hass.states.get(REGISTERED).state != STATE_UNAVAILABLE
    assert hass.states.get(BALANCE).state == "12.3456"
