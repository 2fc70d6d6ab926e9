"""Every sensor's state, read from the simulator over mutual TLS."""

from __future__ import annotations

from datetime import datetime, timedelta

from freezegun.api import FrozenDateTimeFactory
from homeassistant.const import ATTR_UNIT_OF_MEASUREMENT, CONF_CURRENCY, STATE_UNKNOWN
from homeassistant.core import HomeAssistant
from homeassistant.helpers import entity_registry as er
from homeassistant.util import dt as dt_util
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.sipthor.const import CONF_HISTORY_TIMEZONE
from simulator import SettingsSimulator
from tests.conftest import ACCOUNT
from tests.integration.common import advance, setup_entry


def state(hass: HomeAssistant, entity_id: str) -> str:
    current = hass.states.get(entity_id)
    assert current is not None, entity_id
    return current.state


def _seeded_call(simulator: SettingsSimulator, remote_party: str) -> datetime:
    """When the simulator says a seeded call started (UTC)."""
    account = simulator.platform.accounts[ACCOUNT]
    return next(call.started for call in account.calls if call.remote_party == remote_party)


async def test_call_sensors(
    hass: HomeAssistant, init_integration: MockConfigEntry, simulator: SettingsSimulator
) -> None:
    # Seeded: Bob's call was missed, Carol's answered. The simulator prints the times in
    # the account's zone (Amsterdam), without a zone, as the real server does; the
    # sensors must land on the same instants.
    missed = dt_util.parse_datetime(state(hass, "sensor.alice_example_com_last_missed_call"))
    assert missed == _seeded_call(simulator, "sip:bob@example.net").replace(microsecond=0)
    received = dt_util.parse_datetime(state(hass, "sensor.alice_example_com_last_received_call"))
    assert received == _seeded_call(simulator, "sip:carol@example.com").replace(microsecond=0)


async def test_missed_calls_today_counts_from_local_midnight(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    simulator: SettingsSimulator,
    mock_config_entry: MockConfigEntry,
    stored_certificate,
) -> None:
    # 09:00 UTC is 01:00 in US/Pacific, the harness's zone: a call at 08:30 UTC was
    # today there, one at 07:30 UTC (23:30 Pacific) yesterday.
    assert str(hass.config.time_zone) == "US/Pacific"
    freezer.move_to("2026-11-26 09:00:00+00:00")
    calls = simulator.platform.accounts[ACCOUNT].calls
    calls.clear()
    simulator.platform.add_call(ACCOUNT, "received", "sip:a@example.net", seconds_ago=30 * 60)
    simulator.platform.add_call(ACCOUNT, "received", "sip:b@example.net", seconds_ago=90 * 60)
    simulator.platform.add_call(
        ACCOUNT, "received", "sip:c@example.net", seconds_ago=10 * 60, duration=40
    )
    await setup_entry(hass, mock_config_entry)
    assert state(hass, "sensor.alice_example_com_missed_calls_today") == "1"
    assert state(hass, "sensor.alice_example_com_received_calls_today") == "1"
    assert state(hass, "sensor.alice_example_com_placed_calls_today") == "0"


COUNTS = (
    "sensor.alice_example_com_received_calls_today",
    "sensor.alice_example_com_placed_calls_today",
    "sensor.alice_example_com_missed_calls_today",
)


async def test_call_counts_today_for_long_term_statistics(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    simulator: SettingsSimulator,
    mock_config_entry: MockConfigEntry,
    stored_certificate,
) -> None:
    """Counted from the call list already fetched; each day's total starts at midnight."""
    freezer.move_to("2026-11-26 20:00:00+00:00")  # 12:00 in US/Pacific
    platform = simulator.platform
    platform.accounts[ACCOUNT].calls.clear()
    platform.add_call(ACCOUNT, "received", "sip:a@example.net", duration=60, seconds_ago=3600)
    platform.add_call(ACCOUNT, "received", "sip:b@example.net", duration=5, seconds_ago=600)
    platform.add_call(ACCOUNT, "received", "sip:c@example.net", seconds_ago=300)
    platform.add_call(ACCOUNT, "placed", "sip:d@example.net", duration=30, seconds_ago=1200)
    # Yesterday evening in Pacific time: not today.
    platform.add_call(ACCOUNT, "placed", "sip:e@example.net", duration=30, seconds_ago=13 * 3600)
    await setup_entry(hass, mock_config_entry)
    simulator.counters.reset()

    assert [state(hass, entity_id) for entity_id in COUNTS] == ["2", "1", "1"]
    midnight = dt_util.parse_datetime("2026-11-26 00:00:00-08:00")
    for entity_id in COUNTS:
        attributes = hass.states.get(entity_id).attributes
        assert dt_util.parse_datetime(attributes["last_reset"]) == midnight
        assert attributes["call_list_full"] is False
    # The counts come from the call list: no request of their own.
    assert not simulator.counters.requests


async def test_call_counts_start_again_at_local_midnight(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    simulator: SettingsSimulator,
    mock_config_entry: MockConfigEntry,
    stored_certificate,
) -> None:
    """At midnight, not at the first poll after it (up to an hour later)."""
    freezer.move_to("2026-11-27 07:59:00+00:00")  # 23:59 in US/Pacific
    platform = simulator.platform
    platform.accounts[ACCOUNT].calls.clear()
    platform.add_call(ACCOUNT, "received", "sip:a@example.net", duration=60, seconds_ago=600)
    platform.add_call(ACCOUNT, "received", "sip:b@example.net", seconds_ago=300)
    platform.add_call(ACCOUNT, "placed", "sip:c@example.net", duration=30, seconds_ago=120)
    await setup_entry(hass, mock_config_entry)
    assert [state(hass, entity_id) for entity_id in COUNTS] == ["1", "1", "1"]
    simulator.counters.reset()

    await advance(hass, freezer, timedelta(minutes=1))

    assert not simulator.counters.requests["get_history"]
    assert [state(hass, entity_id) for entity_id in COUNTS] == ["0", "0", "0"]
    midnight = dt_util.parse_datetime("2026-11-27 00:00:00-08:00")
    last_reset = hass.states.get(COUNTS[0]).attributes["last_reset"]
    assert dt_util.parse_datetime(last_reset) == midnight


async def test_call_counts_say_when_the_call_list_is_full(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    simulator: SettingsSimulator,
    mock_config_entry: MockConfigEntry,
    stored_certificate,
) -> None:
    """The server lists 50 calls per direction: on a busy day the count is a floor."""
    freezer.move_to("2026-11-26 20:00:00+00:00")
    platform = simulator.platform
    platform.accounts[ACCOUNT].calls.clear()
    for minute in range(60):
        platform.add_call(
            ACCOUNT, "placed", f"sip:{minute}@example.net", duration=9, seconds_ago=60 * minute + 30
        )
    await setup_entry(hass, mock_config_entry)

    placed = hass.states.get("sensor.alice_example_com_placed_calls_today")
    assert placed.state == "50"
    assert placed.attributes["call_list_full"] is True
    received = hass.states.get("sensor.alice_example_com_received_calls_today")
    assert received.attributes["call_list_full"] is False


async def test_history_in_utc_option(
    hass: HomeAssistant,
    simulator: SettingsSimulator,
    mock_config_entry: MockConfigEntry,
    stored_certificate,
) -> None:
    # A server whose PHP prints times in UTC (docs/settings-api.md §9 question 8), and the option
    # saying so.
    simulator.platform.behaviour.history_timezone = "utc"
    mock_config_entry.add_to_hass(hass)
    hass.config_entries.async_update_entry(
        mock_config_entry, options={CONF_CURRENCY: "CHF", CONF_HISTORY_TIMEZONE: "utc"}
    )
    await setup_entry(hass, mock_config_entry)

    missed = dt_util.parse_datetime(state(hass, "sensor.alice_example_com_last_missed_call"))
    assert missed == _seeded_call(simulator, "sip:bob@example.net").replace(microsecond=0)
    balance = hass.states.get("sensor.alice_example_com_balance")
    assert balance.attributes[ATTR_UNIT_OF_MEASUREMENT] == "CHF"


async def test_voicemail_sensor_keeps_the_pin_to_itself(
    hass: HomeAssistant, init_integration: MockConfigEntry
) -> None:
    voicemail = hass.states.get("sensor.alice_example_com_voicemail")
    assert "4821" not in str(voicemail.attributes)


async def test_account_without_mailbox_or_prepaid(
    hass: HomeAssistant,
    simulator: SettingsSimulator,
    mock_config_entry: MockConfigEntry,
    stored_certificate,
) -> None:
    account = simulator.platform.accounts[ACCOUNT]
    account.voicemail = None
    account.prepaid = False
    account.registrations = []
    await setup_entry(hass, mock_config_entry)

    # Unknown, which the frontend words in the user's language; never a raw "none".
    assert state(hass, "sensor.alice_example_com_voicemail") == STATE_UNKNOWN
    assert hass.states.get("sensor.alice_example_com_voicemail").attributes.get("name") is None
    assert state(hass, "sensor.alice_example_com_balance") == STATE_UNKNOWN
    # Only a prepaid answer that carries the session count gives this sensor.
    assert hass.states.get("sensor.alice_example_com_active_calls") is None
    assert state(hass, "sensor.alice_example_com_registered_devices") == "0"
    assert state(hass, "binary_sensor.alice_example_com_registered") == "off"


async def test_certificate_expiry_sensor(
    hass: HomeAssistant, init_integration: MockConfigEntry
) -> None:
    expiry = dt_util.parse_datetime(state(hass, "sensor.alice_example_com_certificate_expiry"))
    assert expiry == init_integration.runtime_data.account.certificate.not_valid_after
    # Platform certificates are valid for ten years.
    assert expiry - dt_util.utcnow() > timedelta(days=3600)


async def test_monthly_usage_on_a_legacy_server(
    hass: HomeAssistant,
    simulator: SettingsSimulator,
    mock_config_entry: MockConfigEntry,
    stored_certificate,
) -> None:
    simulator.platform.behaviour.legacy_monthly_usage = True
    await setup_entry(hass, mock_config_entry, all_enabled=True)
    assert state(hass, "sensor.alice_example_com_monthly_calls") == "37"
    cost = hass.states.get("sensor.alice_example_com_monthly_cost")
    assert cost.state == "4.1875"
    assert cost.attributes[ATTR_UNIT_OF_MEASUREMENT] == "EUR"


async def test_disabled_by_default(
    hass: HomeAssistant,
    entity_registry: er.EntityRegistry,
    mock_config_entry: MockConfigEntry,
    stored_certificate,
    simulator: SettingsSimulator,
) -> None:
    await setup_entry(hass, mock_config_entry)
    for entity_id in (
        "sensor.alice_example_com_monthly_calls",
        "sensor.alice_example_com_monthly_cost",
        "sensor.alice_example_com_last_balance_change",
        "sensor.alice_example_com_rejected_callers",
        # The minutes stay the same until the next read: the end is the one to show.
        "sensor.alice_example_com_do_not_disturb_time_left",
    ):
        entry = entity_registry.async_get(entity_id)
        assert entry is not None
        assert entry.disabled_by is er.RegistryEntryDisabler.INTEGRATION
    # Nothing an enabled entity needs is missing, and nothing else is asked for.
    assert "get_monthly_usage" not in simulator.counters.requests
    assert "get_balance_history" not in simulator.counters.requests
    assert "get_reject_rules" not in simulator.counters.requests


async def test_polling_updates_the_balance(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    init_integration: MockConfigEntry,
    simulator: SettingsSimulator,
) -> None:
    simulator.platform.accounts[ACCOUNT].balance = 1.25
    await advance(hass, freezer, timedelta(minutes=5, seconds=1))
    assert state(hass, "sensor.alice_example_com_balance") == "1.25"
