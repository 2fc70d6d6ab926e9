"""From the second start on, setup reads what the entities showed last time, beside its own.

Setup reads three sources before the entities exist; what the other entities show used
to be asked for only once they existed, a round trip later. The store remembers which
sources the entities showed, and the next setup asks for them at once.
"""

from __future__ import annotations

import asyncio
from collections import Counter
import logging

from homeassistant.config_entries import ConfigEntryState
from homeassistant.const import (
    CONF_CURRENCY,
    CONF_URL,
    CONF_VERIFY_SSL,
    EVENT_STATE_CHANGED,
    STATE_UNAVAILABLE,
)
from homeassistant.core import Event, EventStateChangedData, HomeAssistant, callback
from homeassistant.helpers import entity_registry as er
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.sipthor.api import load_credentials
from custom_components.sipthor.certificate import (
    certificate_file_name,
    certificate_path,
    write_certificate,
)
from custom_components.sipthor.const import CONF_ACCOUNT, CONF_CERTIFICATE_FILE, DOMAIN
from simulator import SettingsSimulator
from simulator.server import Faults
from tests.conftest import ACCOUNT
from tests.integration.common import setup_entry

SETUP_ACTIONS = ("get_prepaid", "get_devices", "get_accept_rules")
# What the default entities show besides setup's sources, in the order the account asks.
SHOWN_ACTIONS = (
    "get_identity",
    "get_call_forwarding",
    "get_voicemail",
    "get_aliases",
    "get_enum",
    "get_history",
)
# Each answer is held this long: the requests a setup sends before its entities exist
# are those sent within it.
LATENCY = 0.2
ALIASES = "sensor.alice_example_com_aliases"
VOICEMAIL = "sensor.alice_example_com_voicemail"


def _requests(simulator: SettingsSimulator, account: str = ACCOUNT) -> Counter[str]:
    """The actions the server got for ``account`` so far."""
    return Counter(
        request.action
        for request in simulator.counters.log
        if request.params.get("account") == account
    )


async def _set_up_and_count(
    hass: HomeAssistant, entry: MockConfigEntry, simulator: SettingsSimulator
) -> tuple[Counter[str], Counter[str]]:
    """Set ``entry`` up (Alice's): what the server got for her before her first entity,
    and in all."""
    already = _requests(simulator)
    when_first_entity: Counter[str] | None = None

    @callback
    def on_state(event: Event[EventStateChangedData]) -> None:
        nonlocal when_first_entity
        if when_first_entity is None and "alice_example_com" in event.data["entity_id"]:
            when_first_entity = _requests(simulator) - already

    unsubscribe = hass.bus.async_listen(EVENT_STATE_CHANGED, on_state)
    try:
        assert await setup_entry(hass, entry)
    finally:
        unsubscribe()
    assert when_first_entity is not None
    return when_first_entity, _requests(simulator) - already


async def _restart(
    hass: HomeAssistant, entry: MockConfigEntry, simulator: SettingsSimulator
) -> tuple[Counter[str], Counter[str]]:
    assert await hass.config_entries.async_unload(entry.entry_id)
    await hass.async_block_till_done()
    return await _set_up_and_count(hass, entry, simulator)


def _available(hass: HomeAssistant) -> list[str]:
    return [
        state.entity_id
        for state in hass.states.async_all()
        if "alice_example_com" in state.entity_id and state.state != STATE_UNAVAILABLE
    ]


async def test_a_restart_asks_for_what_the_entities_showed_before_they_exist(
    hass: HomeAssistant,
    mock_config_entry: MockConfigEntry,
    stored_certificate: object,
    simulator: SettingsSimulator,
) -> None:
    """The entities show their values a round trip sooner, and nothing is asked twice."""
    simulator.faults.latency = LATENCY
    before_entities, first_start = await _set_up_and_count(hass, mock_config_entry, simulator)
    # The first start knows nothing yet: the entities come, then what they show.
    assert set(before_entities) == set(SETUP_ACTIONS)
    assert all(first_start[action] == 1 for action in SHOWN_ACTIONS)
    shown = sorted(_available(hass))

    before_entities, restart = await _restart(hass, mock_config_entry, simulator)
    # At least three of the six beside setup's three (six requests in flight at most);
    # the others take the first connections setup's answers free.
    assert set(SETUP_ACTIONS) | set(SHOWN_ACTIONS[:3]) <= set(before_entities)
    assert restart == first_start
    assert sorted(_available(hass)) == shown


async def test_a_source_no_entity_shows_any_more_is_not_asked_for_at_setup(
    hass: HomeAssistant,
    mock_config_entry: MockConfigEntry,
    stored_certificate: object,
    simulator: SettingsSimulator,
) -> None:
    """Turning the aliases sensor off stops setup's read of the aliases.

    The start right after turning it off still reads them once: it was remembered as
    shown. From then on setup reads what is shown now.
    """
    await _set_up_and_count(hass, mock_config_entry, simulator)
    er.async_get(hass).async_update_entity(ALIASES, disabled_by=er.RegistryEntryDisabler.USER)
    await hass.async_block_till_done()
    _, once_more = await _restart(hass, mock_config_entry, simulator)
    assert once_more["get_aliases"] == 1
    assert hass.states.get(ALIASES) is None

    _, later = await _restart(hass, mock_config_entry, simulator)
    assert "get_aliases" not in later
    assert all(later[action] == 1 for action in SHOWN_ACTIONS if action != "get_aliases")


async def test_an_early_read_that_fails_is_read_again_and_logged_once(
    hass: HomeAssistant,
    mock_config_entry: MockConfigEntry,
    stored_certificate: object,
    simulator: SettingsSimulator,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Setup's read of a remembered source fails quietly; the entity's own read tells.

    The voicemail's back end fails: the user sees the voicemail sensor unavailable and
    one error line, as at a first start, not one for each of the two reads.
    """
    await _set_up_and_count(hass, mock_config_entry, simulator)
    simulator.faults = Faults(
        actions=frozenset({"get_voicemail"}),
        backend_error=True,
        answer_delay=lambda _action: LATENCY,
    )
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="custom_components.sipthor"):
        before_entities, restart = await _restart(hass, mock_config_entry, simulator)
    assert "get_voicemail" in before_entities
    assert restart["get_voicemail"] == 2
    assert hass.states.get(VOICEMAIL).state == STATE_UNAVAILABLE
    errors = [record for record in caplog.records if record.levelno >= logging.WARNING]
    assert len(errors) == 1, [record.getMessage() for record in errors]
    assert "voicemail" in errors[0].getMessage()
    assert mock_config_entry.state is ConfigEntryState.LOADED


async def test_a_refused_sign_in_at_a_restart_asks_for_credentials_once(
    hass: HomeAssistant,
    mock_config_entry: MockConfigEntry,
    stored_certificate: object,
    simulator: SettingsSimulator,
) -> None:
    """Setup's own sources tell; its early reads, refused too, add no second flow."""
    await _set_up_and_count(hass, mock_config_entry, simulator)
    assert await hass.config_entries.async_unload(mock_config_entry.entry_id)
    simulator.faults.latency = LATENCY
    simulator.faults.credentials_error = True
    already = Counter(simulator.counters.requests)
    await setup_entry(hass, mock_config_entry)
    assert "get_identity" in Counter(simulator.counters.requests) - already
    assert mock_config_entry.state is ConfigEntryState.SETUP_ERROR
    assert len(hass.config_entries.flow.async_progress_by_handler(DOMAIN)) == 1


BOB = "bob@example.com"


async def _bob_entry(hass: HomeAssistant, simulator: SettingsSimulator) -> MockConfigEntry:
    """Bob's certificate entry on the same settings page as Alice's, not added yet."""
    pem = simulator.client_certificate(f"{BOB}.crt").read_bytes()
    path = certificate_path(hass, certificate_file_name(BOB))
    await hass.async_add_executor_job(write_certificate, path, load_credentials(pem))
    return MockConfigEntry(
        domain=DOMAIN,
        title=BOB,
        unique_id=BOB,
        data={
            CONF_URL: simulator.url,
            CONF_ACCOUNT: BOB,
            CONF_VERIFY_SSL: True,
            CONF_CERTIFICATE_FILE: certificate_file_name(BOB),
        },
        options={CONF_CURRENCY: "EUR"},
    )


async def test_an_account_starting_beside_another_leaves_the_page_to_their_setups(
    hass: HomeAssistant,
    mock_config_entry: MockConfigEntry,
    stored_certificate: object,
    simulator: SettingsSimulator,
) -> None:
    """Accounts of one settings page starting together read what they show afterwards.

    Their requests share the page's slots: one account's early reads would make the
    setups of the others wait (Home Assistant's start with many accounts).
    """
    await _set_up_and_count(hass, mock_config_entry, simulator)
    bob = await _bob_entry(hass, simulator)
    assert await setup_entry(hass, bob)
    for entry in (mock_config_entry, bob):
        assert await hass.config_entries.async_unload(entry.entry_id)
    await hass.async_block_till_done()

    simulator.faults.latency = LATENCY
    bob_starting = hass.async_create_task(hass.config_entries.async_setup(bob.entry_id))
    await asyncio.sleep(LATENCY / 4)  # Bob's setup waits for its answers
    before_entities, restart = await _set_up_and_count(hass, mock_config_entry, simulator)
    assert await bob_starting
    await hass.async_block_till_done(wait_background_tasks=True)

    assert not set(SHOWN_ACTIONS) & set(before_entities)
    assert all(restart[action] >= 1 for action in SHOWN_ACTIONS)
