"""Live events in Home Assistant: a real entry, a real Kamailio, real calls.

Alice's entry signs in to the simulator's settings page and subscribes, through its
live channel, at the Kamailio test bed (demo/kamailio.py) given as the SIP server
in the options. Scripted user agents (demo/sip_agent.py) register alice's phone, call
her from bob's and publish her voicemail count. No timing is asserted: each wait is for
a state, with a generous bound.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
import re
from typing import Any

from homeassistant.config_entries import ConfigEntryState
from homeassistant.const import (
    CONF_CURRENCY,
    CONF_PASSWORD,
    EVENT_HOMEASSISTANT_STOP,
    EVENT_STATE_CHANGED,
    MAJOR_VERSION,
    MINOR_VERSION,
    STATE_OFF,
    STATE_ON,
    STATE_UNAVAILABLE,
    STATE_UNKNOWN,
)
from homeassistant.core import Event, HomeAssistant
from homeassistant.helpers import area_registry as ar, entity_registry as er, issue_registry as ir
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry, async_capture_events

from custom_components.sipthor.const import (
    CONF_LIVE_EVENTS,
    CONF_SIP_PASSWORD,
    CONF_SIP_SERVER,
    CONF_VOICEMAIL_URI,
    DOMAIN,
)
from custom_components.sipthor.diagnostics import async_get_config_entry_diagnostics
from custom_components.sipthor.repairs import ISSUE_LIVE_PASSWORD, issue_id
from demo.kamailio import ALICE, BOB, BedOptions, KamailioBed
from demo.sip_agent import SipAgent
from simulator import SettingsSimulator
from tests.conftest import ACCOUNT, AgentFactory
from tests.integration.common import CALL_EVENT, fired_calls, setup_entry

# Generous: the suite passes on a loaded machine; nothing asserts how long it took.
WAIT = 30.0
CALL_STATE = "sensor.alice_example_com_call_state"
RINGING = "binary_sensor.alice_example_com_ringing"
VOICEMAIL = "sensor.alice_example_com_voicemail_messages"
MESSAGE_WAITING = "binary_sensor.alice_example_com_message_waiting"
LIVE_EVENTS = "sensor.alice_example_com_live_events"
LIVE_ENTITIES = (CALL_STATE, RINGING, VOICEMAIL, MESSAGE_WAITING, LIVE_EVENTS)
LAST_MISSED_CALLER = "sensor.alice_example_com_last_missed_caller"
HISTORY_ACTIONS = ("get_history", "get_calls")


async def until(hass: HomeAssistant, predicate: Callable[[], Any], timeout: float = WAIT) -> Any:
    """Until ``predicate()`` holds, checked every 20 ms (real time: Kamailio runs)."""
    async with asyncio.timeout(timeout):
        while not (result := predicate()):
            await asyncio.sleep(0.02)
    await hass.async_block_till_done()
    return result


def state(hass: HomeAssistant, entity_id: str) -> str | None:
    current = hass.states.get(entity_id)
    return current.state if current else None


def history_reads(simulator: SettingsSimulator) -> int:
    return sum(simulator.counters.requests[action] for action in HISTORY_ACTIONS)


def live_entry(
    entry: MockConfigEntry,
    kamailio: KamailioBed,
    options: dict[str, Any] | None = None,
    **data: Any,
) -> MockConfigEntry:
    """``entry`` with live events at the bed over TLS (and ``options``, ``data`` added)."""
    return MockConfigEntry(
        domain=DOMAIN,
        title=entry.title,
        unique_id=entry.unique_id,
        minor_version=entry.minor_version,
        data={**entry.data, **data},
        options={
            CONF_CURRENCY: "EUR",
            CONF_LIVE_EVENTS: True,
            CONF_SIP_SERVER: kamailio.server_setting("tls"),
            **(options or {}),
        },
    )


@pytest.fixture
async def live(
    hass: HomeAssistant, password_entry: MockConfigEntry, kamailio: KamailioBed
) -> AsyncIterator[MockConfigEntry]:
    """Alice's password entry, set up with live events, unloaded after the test."""
    entry = live_entry(password_entry, kamailio)
    assert await setup_entry(hass, entry)
    yield entry
    if entry.state is ConfigEntryState.LOADED:
        assert await hass.config_entries.async_unload(entry.entry_id)


async def subscribed(hass: HomeAssistant) -> None:
    """Until both subscriptions are active: every live entity shows a state."""
    await until(hass, lambda: state(hass, CALL_STATE) == "idle")
    await until(hass, lambda: state(hass, VOICEMAIL) not in (None, STATE_UNAVAILABLE))


async def phones_ready(
    hass: HomeAssistant, make_agent: AgentFactory, simulator: SettingsSimulator
) -> tuple[SipAgent, SipAgent, list[Event]]:
    """Subscribed; alice's phone registered, bob's ready to call; state changes recorded.

    The simulator counts requests from here on.
    """
    await subscribed(hass)
    phone, bob = await make_agent(ALICE), await make_agent(BOB)
    assert (await phone.register()).status == 200
    events: list[Event] = []
    hass.bus.async_listen(EVENT_STATE_CHANGED, events.append)
    simulator.counters.reset()
    return phone, bob, events


async def test_a_missed_call_rings_then_is_missed_and_the_call_list_follows(
    hass: HomeAssistant, live: MockConfigEntry, kamailio: KamailioBed, make_agent, simulator
) -> None:
    phone, bob, events = await phones_ready(hass, make_agent, simulator)
    assert state(hass, RINGING) == STATE_OFF

    call = await bob.call(ALICE)
    await asyncio.wait_for(phone.calls.get(), WAIT)
    await until(hass, lambda: state(hass, CALL_STATE) == "ringing")
    assert state(hass, RINGING) == STATE_ON
    ringing = hass.states.get(CALL_EVENT)
    assert ringing.attributes["event_type"] == "ringing"
    assert ringing.attributes["caller"] == "bob@example.com"
    # Kamailio's dialog documents carry no display name: the attribute is there, empty.
    assert "display_name" in ringing.attributes

    # The platform lists the call once it is over; so does a call the channel never saw.
    simulator.platform.add_call(
        ACCOUNT, "received", "sip:bob@example.com", display_name="Bob", seconds_ago=2
    )
    simulator.platform.add_call(
        ACCOUNT, "received", "sip:dave@example.org", display_name="Dave", seconds_ago=3600
    )
    await call.cancel()
    await until(hass, lambda: state(hass, CALL_STATE) == "idle")
    assert state(hass, RINGING) == STATE_OFF

    # The call list is read once, right after the call: the sensors follow.
    await until(hass, lambda: history_reads(simulator) >= 1)
    await hass.async_block_till_done(wait_background_tasks=True)
    assert history_reads(simulator) == 1
    assert state(hass, LAST_MISSED_CALLER) == "Bob"
    # Bob's call was announced live, and not again from the list; Dave's from the list.
    assert fired_calls(events) == [
        ("ringing", "bob@example.com"),
        ("missed", "bob@example.com"),
        ("missed", "dave@example.org"),
    ]


async def test_an_answered_call_is_in_a_call_until_bye(
    hass: HomeAssistant, live: MockConfigEntry, kamailio: KamailioBed, make_agent, simulator
) -> None:
    phone, bob, events = await phones_ready(hass, make_agent, simulator)

    call = await bob.call(ALICE)
    incoming = await asyncio.wait_for(phone.calls.get(), WAIT)
    await until(hass, lambda: state(hass, CALL_STATE) == "ringing")
    await asyncio.gather(incoming.answer(), call.wait_answered())
    await until(hass, lambda: state(hass, CALL_STATE) == "in_call")
    assert state(hass, RINGING) == STATE_OFF
    assert history_reads(simulator) == 0, "nothing is read while the call goes on"

    simulator.platform.add_call(
        ACCOUNT, "received", "sip:bob@example.com", display_name="Bob", duration=3, seconds_ago=3
    )
    await call.hang_up()
    await until(hass, lambda: state(hass, CALL_STATE) == "idle")
    await until(hass, lambda: history_reads(simulator) >= 1)
    await hass.async_block_till_done(wait_background_tasks=True)
    assert history_reads(simulator) == 1
    assert fired_calls(events) == [("ringing", "bob@example.com"), ("answered", "bob@example.com")]


async def test_a_published_message_summary_sets_voicemail_and_message_waiting(
    hass: HomeAssistant, live: MockConfigEntry, make_agent
) -> None:
    await subscribed(hass)
    assert state(hass, MESSAGE_WAITING) in (STATE_OFF, STATE_UNKNOWN)
    phone = await make_agent(ALICE)

    assert (await phone.publish_mwi(new=2, old=5, urgent_new=1)).status == 200
    await until(hass, lambda: state(hass, VOICEMAIL) == "2")
    voicemail = hass.states.get(VOICEMAIL)
    assert voicemail.attributes["old_messages"] == 5
    assert voicemail.attributes["urgent_new_messages"] == 1
    assert state(hass, MESSAGE_WAITING) == STATE_ON
    status = hass.states.get(LIVE_EVENTS)
    assert status.state == "connected"
    assert status.attributes["dialog"] == "active"
    assert status.attributes["message_summary"] == "active"
    assert status.attributes["last_notify"] is not None


async def test_a_wrong_sip_password_is_one_refusal_and_one_repair(
    hass: HomeAssistant,
    mock_config_entry: MockConfigEntry,
    stored_certificate: Any,
    kamailio: KamailioBed,
) -> None:
    # A certificate account whose kept SIP password is wrong: the settings page works.
    entry = live_entry(mock_config_entry, kamailio, **{CONF_SIP_PASSWORD: "wrong"})
    assert await setup_entry(hass, entry)
    await until(hass, lambda: state(hass, LIVE_EVENTS) == "auth_failed")

    issues = [
        issue
        for (domain, _), issue in ir.async_get(hass).issues.items()
        if domain == DOMAIN and issue.translation_key == "live_password_refused"
    ]
    assert [issue.issue_id for issue in issues] == [issue_id(ISSUE_LIVE_PASSWORD, entry.entry_id)]
    assert state(hass, CALL_STATE) == STATE_UNAVAILABLE
    assert state(hass, VOICEMAIL) == STATE_UNAVAILABLE
    # The settings page's entities are untouched.
    assert state(hass, "sensor.alice_example_com_balance") not in (None, STATE_UNAVAILABLE)
    await asyncio.sleep(1)  # a loop would have sent more by now
    subscribes = re.findall(r"bed: SUBSCRIBE .* \(Call-ID ([^)]+)\)", kamailio.log())
    # One SUBSCRIBE challenged, the same one with the wrong password refused: no more.
    assert len(subscribes) == 2
    assert len(set(subscribes)) == 1
    assert "wrong" not in "".join(str(item) for item in hass.states.async_all())

    # The right password in the options: the live events work, the issue goes.
    result = await hass.config_entries.options.async_init(entry.entry_id)
    result = await hass.config_entries.options.async_configure(
        result["flow_id"], {**_form_defaults(result), CONF_SIP_PASSWORD: ALICE.password}
    )
    assert result["type"] == "create_entry"
    await until(hass, lambda: state(hass, LIVE_EVENTS) == "connected")
    await until(
        hass,
        lambda: (
            ir.async_get(hass).async_get_issue(
                DOMAIN, issue_id(ISSUE_LIVE_PASSWORD, entry.entry_id)
            )
            is None
        ),
    )
    assert await hass.config_entries.async_unload(entry.entry_id)


@pytest.mark.parametrize("kamailio", [BedOptions(offer_dialog=False)], indirect=True)
async def test_a_package_the_platform_does_not_offer_leaves_its_entities_unavailable(
    hass: HomeAssistant,
    live: MockConfigEntry,
    make_agent,
    caplog: pytest.LogCaptureFixture,
) -> None:
    await until(
        hass, lambda: hass.states.get(LIVE_EVENTS).attributes.get("dialog") == "not_offered"
    )
    await until(hass, lambda: state(hass, VOICEMAIL) not in (None, STATE_UNAVAILABLE))

    assert state(hass, CALL_STATE) == STATE_UNAVAILABLE
    assert state(hass, RINGING) == STATE_UNAVAILABLE
    assert hass.states.get(LIVE_EVENTS).attributes["dialog_reason"] == "bad_event"
    # Message-summary works as ever.
    phone = await make_agent(ALICE)
    assert (await phone.publish_mwi(new=1)).status == 200
    await until(hass, lambda: state(hass, MESSAGE_WAITING) == STATE_ON)
    # Logged while the fixture set the entry up, or since.
    records = caplog.get_records("setup") + caplog.records
    lines = [r for r in records if "not offer dialog" in r.getMessage()]
    assert len(lines) == 1
    assert lines[0].levelname == "INFO"
    assert lines[0].exc_info is None


async def test_unloading_the_entry_stops_the_channel(
    hass: HomeAssistant, live: MockConfigEntry
) -> None:
    await subscribed(hass)
    channel = live.runtime_data.account.live.channel
    assert channel.running

    assert await hass.config_entries.async_unload(live.entry_id)
    assert not channel.running
    assert channel.status.state == "stopped"


async def set_live_events(hass: HomeAssistant, entry: MockConfigEntry, on: bool) -> None:
    """Turn live events on or off in the options, as a user does; the entry reloads."""
    result = await hass.config_entries.options.async_init(entry.entry_id)
    result = await hass.config_entries.options.async_configure(
        result["flow_id"], {**_form_defaults(result), CONF_LIVE_EVENTS: on}
    )
    assert result["type"] == "create_entry"
    await hass.async_block_till_done(wait_background_tasks=True)
    assert entry.state is ConfigEntryState.LOADED


async def test_turning_live_events_off_stops_the_channel_and_removes_its_entities(
    hass: HomeAssistant, live: MockConfigEntry, simulator: SettingsSimulator
) -> None:
    """Gone, not unavailable for good; the Call event stays, from the call list.

    On again, they come back under their entity and registry IDs (which device
    automations use), and show the channel again.
    """
    await subscribed(hass)
    channel = live.runtime_data.account.live.channel
    registry = er.async_get(hass)
    registry_ids = {entity_id: registry.async_get(entity_id).id for entity_id in LIVE_ENTITIES}

    await set_live_events(hass, live, on=False)
    assert not channel.running
    assert live.runtime_data.account.live is None
    for entity_id in LIVE_ENTITIES:
        assert registry.async_get(entity_id) is None, entity_id
        assert hass.states.get(entity_id) is None, entity_id

    # The Call event entity is not a live entity: it announces the calls it polls.
    assert registry.async_get(CALL_EVENT) is not None
    events = async_capture_events(hass, EVENT_STATE_CHANGED)
    simulator.platform.add_call(ACCOUNT, "received", "sip:dave@example.org", seconds_ago=30)
    await live.runtime_data.calls.async_refresh()
    await hass.async_block_till_done()
    assert fired_calls(events) == [("missed", "dave@example.org")]

    await set_live_events(hass, live, on=True)
    await subscribed(hass)
    assert {
        entity_id: registry.async_get(entity_id).id for entity_id in LIVE_ENTITIES
    } == registry_ids
    assert state(hass, RINGING) == STATE_OFF
    assert state(hass, LIVE_EVENTS) == "connected"


@pytest.mark.skipif(
    (MAJOR_VERSION, MINOR_VERSION) < (2025, 6),
    reason="the entity registry keeps a removed entity's settings from 2025.6",
)
async def test_live_entities_come_back_with_what_the_user_set(
    hass: HomeAssistant, live: MockConfigEntry
) -> None:
    """Renamed, given an icon and an area, hidden: all of it again once live events are on."""
    await subscribed(hass)
    registry = er.async_get(hass)
    kitchen = ar.async_get(hass).async_create("Kitchen")
    registry.async_update_entity(
        CALL_STATE,
        new_entity_id="sensor.front_door_line",
        name="Front door line",
        icon="mdi:phone-classic",
        area_id=kitchen.id,
    )
    registry.async_update_entity(MESSAGE_WAITING, hidden_by=er.RegistryEntryHider.USER)

    await set_live_events(hass, live, on=False)
    assert registry.async_get("sensor.front_door_line") is None
    await set_live_events(hass, live, on=True)

    line = registry.async_get("sensor.front_door_line")
    assert line is not None
    assert (line.name, line.icon, line.area_id) == (
        "Front door line",
        "mdi:phone-classic",
        kitchen.id,
    )
    assert registry.async_get(CALL_STATE) is None
    assert registry.async_get(MESSAGE_WAITING).hidden_by is er.RegistryEntryHider.USER
    await until(hass, lambda: state(hass, "sensor.front_door_line") == "idle")


def _form_defaults(result: Any) -> dict[str, Any]:
    """What the options form holds before anyone types (defaults, suggested values)."""
    values: dict[str, Any] = {}
    for key in result["data_schema"].schema:
        suggested = (key.description or {}).get("suggested_value")
        if suggested is not None:
            values[str(key)] = suggested
        elif callable(key.default):
            values[str(key)] = key.default()
    return values


async def test_the_password_never_reaches_the_diagnostics(
    hass: HomeAssistant, live: MockConfigEntry, password_entry: MockConfigEntry
) -> None:
    await subscribed(hass)
    diagnostics = await async_get_config_entry_diagnostics(hass, live)
    assert password_entry.data[CONF_PASSWORD] not in str(diagnostics)
    assert diagnostics["live"]["subscriptions"]["dialog"]["state"] == "active"
    assert diagnostics["live"]["last_notify"] is not None


async def test_home_assistant_stopping_stops_the_channel(
    hass: HomeAssistant, live: MockConfigEntry
) -> None:
    """The channel unsubscribes when Home Assistant stops (entries are not unloaded then)."""
    await subscribed(hass)
    channel = live.runtime_data.account.live.channel

    hass.bus.async_fire(EVENT_HOMEASSISTANT_STOP)
    await hass.async_block_till_done()
    await until(hass, lambda: not channel.running)
    assert channel.status.state == "stopped"


async def test_a_stored_sip_server_that_does_not_parse_leaves_live_events_off(
    hass: HomeAssistant, password_entry: MockConfigEntry, caplog: pytest.LogCaptureFixture
) -> None:
    """Written by hand into the entry: one warning, the account works without them."""
    entry = MockConfigEntry(
        domain=DOMAIN,
        title=password_entry.title,
        unique_id=password_entry.unique_id,
        minor_version=password_entry.minor_version,
        data=dict(password_entry.data),
        options={CONF_CURRENCY: "EUR", CONF_SIP_SERVER: "sip.example.com:0"},
    )
    assert await setup_entry(hass, entry)

    assert entry.state is ConfigEntryState.LOADED
    assert entry.runtime_data.account.live is None
    assert hass.states.get(CALL_STATE) is None
    warnings = [r for r in caplog.records if "no live events" in r.getMessage()]
    assert len(warnings) == 1
    assert warnings[0].exc_info is None
    assert password_entry.data[CONF_PASSWORD] not in caplog.text


# -- where the voicemail count is ---------------------------------------------------------

# The bed serves message-summary at mailbox addresses only (not at alice@example.com),
# as a platform whose voicemail server notifies at the mailbox's address does.
MAILBOX_ONLY = BedOptions(mwi_at_account=False)
# The simulator's get_voicemail names it as Account: her name at the voicemail server.
MAILBOX = "alice@vm.example.com"


def summary_at(hass: HomeAssistant) -> tuple[Any, Any]:
    """The message-summary subscription's state and whose address it is at."""
    attributes = hass.states.get(LIVE_EVENTS).attributes
    return attributes.get("message_summary"), attributes.get("message_summary_at")


def subscribed_at(kamailio: KamailioBed, address: str) -> int:
    """How many subscriptions were asked for at ``address`` (a challenged one counts once)."""
    pattern = rf"bed: SUBSCRIBE sip:{re.escape(address)} .* \(Call-ID ([^)]+)\)"
    return len(set(re.findall(pattern, kamailio.log())))


def set_mailbox(simulator: SettingsSimulator, account: str | None) -> None:
    """The platform's voice mailbox for alice: at ``account``, or none."""
    mailbox = simulator.platform.accounts[ACCOUNT]
    mailbox.voicemail = (
        None if account is None else {**(mailbox.voicemail or {}), "Account": account}
    )


@pytest.mark.parametrize("kamailio", [MAILBOX_ONLY], indirect=True)
async def test_where_the_account_does_not_offer_the_count_it_comes_from_the_mailbox(
    hass: HomeAssistant, live: MockConfigEntry, kamailio: KamailioBed, make_agent
) -> None:
    await until(hass, lambda: summary_at(hass) == ("active", "mailbox"))
    voicemail = await make_agent(ALICE)

    published = await voicemail.publish_mwi(new=2, old=4, mailbox=f"sip:{MAILBOX}")
    assert published.status == 200
    await until(hass, lambda: state(hass, VOICEMAIL) == "2")
    assert hass.states.get(VOICEMAIL).attributes["old_messages"] == 4
    assert state(hass, MESSAGE_WAITING) == STATE_ON
    # The account's address was asked once; the diagnostics say where, not the address.
    assert subscribed_at(kamailio, ACCOUNT) == 2  # dialog and message-summary
    diagnostics = await async_get_config_entry_diagnostics(hass, live)
    assert diagnostics["live"]["subscriptions"]["message-summary"]["resource"] == "mailbox"
    assert diagnostics["live"]["subscriptions"]["dialog"]["resource"] == "account"
    assert MAILBOX not in str(diagnostics)


@pytest.mark.parametrize("kamailio", [MAILBOX_ONLY], indirect=True)
async def test_a_mailbox_that_comes_or_changes_moves_the_count(
    hass: HomeAssistant,
    password_entry: MockConfigEntry,
    kamailio: KamailioBed,
    simulator: SettingsSimulator,
    make_agent,
) -> None:
    set_mailbox(simulator, None)
    entry = live_entry(password_entry, kamailio)
    assert await setup_entry(hass, entry)
    voicemail_source = entry.runtime_data.voicemail
    # No mailbox: not offered, its entities unavailable, the settings page untouched.
    await until(hass, lambda: summary_at(hass) == ("not_offered", "account"))
    assert state(hass, VOICEMAIL) == STATE_UNAVAILABLE
    assert state(hass, "sensor.alice_example_com_balance") not in (None, STATE_UNAVAILABLE)
    agent = await make_agent(ALICE)

    # A mailbox comes: at the next read of the voicemail, the count moves there.
    set_mailbox(simulator, MAILBOX)
    await voicemail_source.async_refresh()
    await until(hass, lambda: summary_at(hass) == ("active", "mailbox"))
    assert (await agent.publish_mwi(new=1, mailbox=f"sip:{MAILBOX}")).status == 200
    await until(hass, lambda: state(hass, VOICEMAIL) == "1")

    # It moves: so does the count (the old mailbox's is not shown as the new one's).
    set_mailbox(simulator, "alice@mail.example.com")
    await voicemail_source.async_refresh()
    await until(hass, lambda: subscribed_at(kamailio, "alice@mail.example.com") == 1)
    assert (await agent.publish_mwi(new=5, mailbox="sip:alice@mail.example.com")).status == 200
    await until(hass, lambda: state(hass, VOICEMAIL) == "5")

    # It goes: not offered again, and the account's address is not asked within the hour.
    asked = subscribed_at(kamailio, ACCOUNT)
    set_mailbox(simulator, None)
    await voicemail_source.async_refresh()
    await until(hass, lambda: summary_at(hass)[0] == "not_offered")
    assert state(hass, VOICEMAIL) == STATE_UNAVAILABLE
    await asyncio.sleep(1)  # a storm would have sent more by now
    assert subscribed_at(kamailio, ACCOUNT) == asked
    assert await hass.config_entries.async_unload(entry.entry_id)


@pytest.mark.parametrize("kamailio", [MAILBOX_ONLY], indirect=True)
async def test_the_voicemail_uri_option_is_where_the_count_is(
    hass: HomeAssistant, password_entry: MockConfigEntry, kamailio: KamailioBed, make_agent
) -> None:
    entry = live_entry(password_entry, kamailio, {CONF_VOICEMAIL_URI: "sip:alice@mail.example.com"})
    assert await setup_entry(hass, entry)
    await until(hass, lambda: summary_at(hass) == ("active", "voicemail_uri"))
    agent = await make_agent(ALICE)

    assert (await agent.publish_mwi(new=3, mailbox="sip:alice@mail.example.com")).status == 200
    await until(hass, lambda: state(hass, VOICEMAIL) == "3")
    # Neither the account's address nor the settings page's mailbox was asked for it.
    assert subscribed_at(kamailio, ACCOUNT) == 1  # dialog
    assert subscribed_at(kamailio, MAILBOX) == 0
    assert await hass.config_entries.async_unload(entry.entry_id)


@pytest.mark.parametrize("kamailio", [MAILBOX_ONLY], indirect=True)
async def test_a_mailbox_that_names_no_address_is_one_warning_and_no_request(
    hass: HomeAssistant,
    password_entry: MockConfigEntry,
    kamailio: KamailioBed,
    simulator: SettingsSimulator,
    caplog: pytest.LogCaptureFixture,
) -> None:
    set_mailbox(simulator, "mailbox 17 on the voicemail server")
    entry = live_entry(password_entry, kamailio)
    assert await setup_entry(hass, entry)
    await until(hass, lambda: summary_at(hass) == ("not_offered", "account"))
    await until(hass, lambda: "no SIP address" in caplog.text)
    await entry.runtime_data.voicemail.async_refresh()  # read again: said once
    await hass.async_block_till_done()

    warnings = [r for r in caplog.records if "no SIP address" in r.getMessage()]
    assert len(warnings) == 1
    assert warnings[0].levelname == "WARNING"
    assert warnings[0].exc_info is None
    # Only the account's address was asked (refreshes go to the server's own address).
    asked = set(re.findall(r"bed: SUBSCRIBE sip:([^ ]+@[^ ]+) ", kamailio.log()))
    assert asked == {ACCOUNT}
    assert state(hass, VOICEMAIL) == STATE_UNAVAILABLE
    assert await hass.config_entries.async_unload(entry.entry_id)
