"""The account's history in long-term statistics, with a real recorder.

Alice's entry against the simulator: its call list (14 days) and balance history become
hourly statistics of the integration's own at setup, and later reads add to them without
counting anything twice.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from functools import partial
import itertools
from pathlib import Path
from typing import Literal

from freezegun.api import FrozenDateTimeFactory
from homeassistant.components.recorder import Recorder
from homeassistant.components.recorder.statistics import get_metadata, statistics_during_period
from homeassistant.const import CONF_CURRENCY
from homeassistant.core import HomeAssistant
from homeassistant.helpers.recorder import get_instance
from homeassistant.util import dt as dt_util
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry
from pytest_homeassistant_custom_component.components.recorder.common import (
    async_wait_recording_done,
)

from custom_components.sipthor import history_statistics
from custom_components.sipthor.const import CONF_HISTORY_TIMEZONE, DOMAIN
from simulator import SettingsSimulator
from tests.conftest import ACCOUNT
from tests.integration.common import advance, setup_entry

RECEIVED = "sipthor:alice_example_com_received_calls"
MISSED = "sipthor:alice_example_com_missed_calls"
PLACED = "sipthor:alice_example_com_placed_calls"
BALANCE = "sipthor:alice_example_com_balance"
HOUR = timedelta(hours=1)

type Rows = list[tuple[datetime, float | None, float | None]]


@pytest.fixture(autouse=True)
def auto_enable_custom_integrations(
    recorder_mock: Recorder, enable_custom_integrations: None
) -> None:
    """The recorder first: the harness sets it up before Home Assistant."""


def _hour(moment: datetime) -> datetime:
    return moment.replace(minute=0, second=0, microsecond=0)


async def _rows(hass: HomeAssistant, statistic_id: str) -> Rows:
    """Every hour stored for ``statistic_id``: start, state, sum."""
    await hass.async_block_till_done(wait_background_tasks=True)
    await async_wait_recording_done(hass)
    stored = await get_instance(hass).async_add_executor_job(
        statistics_during_period,
        hass,
        dt_util.utcnow() - timedelta(days=400),
        None,
        {statistic_id},
        "hour",
        None,
        {"state", "sum"},
    )
    return [
        (dt_util.utc_from_timestamp(row["start"]), row.get("state"), row.get("sum"))
        for row in stored.get(statistic_id, [])
    ]


def _call_hour(simulator: SettingsSimulator, remote_party: str) -> datetime:
    account = simulator.platform.accounts[ACCOUNT]
    started = next(call.started for call in account.calls if call.remote_party == remote_party)
    return _hour(started)


@pytest.fixture
async def entry(
    hass: HomeAssistant, mock_config_entry: MockConfigEntry, stored_certificate: Path
) -> MockConfigEntry:
    """Alice's account set up with the defaults (the balance-history sensor disabled)."""
    assert await setup_entry(hass, mock_config_entry)
    return mock_config_entry


@pytest.mark.parametrize("zone", ["account", "utc"])
async def test_the_past_is_imported_at_setup(
    hass: HomeAssistant,
    mock_config_entry: MockConfigEntry,
    stored_certificate: Path,
    simulator: SettingsSimulator,
    zone: Literal["account", "utc"],
) -> None:
    # The server prints the call list and the balance history in one zone without
    # saying which: the account's (Amsterdam here, not Home Assistant's), or UTC, as
    # the option says.
    simulator.platform.behaviour.history_timezone = zone
    mock_config_entry.add_to_hass(hass)
    hass.config_entries.async_update_entry(
        mock_config_entry, options={**mock_config_entry.options, CONF_HISTORY_TIMEZONE: zone}
    )
    assert await setup_entry(hass, mock_config_entry)
    # The seeded call list: Carol answered, Bob and a number missed, one placed; Dave's
    # call is older than the 14 days the list covers.
    carol = _call_hour(simulator, "sip:carol@example.com")
    number = _call_hour(simulator, "sip:+31851234567@example.com")
    bob = _call_hour(simulator, "sip:bob@example.net")
    placed = _call_hour(simulator, "sip:+31201234567@example.com")
    assert await _rows(hass, RECEIVED) == [(carol, 1.0, 1.0)]
    assert await _rows(hass, MISSED) == [(number, 1.0, 1.0), (bob, 1.0, 2.0)]
    assert await _rows(hass, PLACED) == [(placed, 1.0, 1.0)]

    # The balance, hour by hour from the first entry of its history to now: 12.4083
    # after the top-up nine days ago, 12.3456 after the call that cost 0.0627.
    history = simulator.platform.accounts[ACCOUNT].balance_history
    top_up, debit = (
        dt_util.parse_datetime(entry["date"] + "Z") for entry in (history[1], history[0])
    )
    assert top_up is not None
    assert debit is not None
    balance = await _rows(hass, BALANCE)
    starts = [start for start, _state, _sum in balance]
    assert starts[0] == _hour(top_up)
    assert starts[-1] == _hour(dt_util.utcnow())
    assert all(later - earlier == HOUR for earlier, later in itertools.pairwise(starts))
    by_hour = {start: (state, total) for start, state, total in balance}
    assert by_hour[_hour(debit) - HOUR] == pytest.approx((12.4083, 12.4083))
    assert by_hour[_hour(debit)] == pytest.approx((12.3456, 12.3456))
    assert by_hour[starts[-1]] == pytest.approx((12.3456, 12.3456))

    metadata = await get_instance(hass).async_add_executor_job(
        partial(get_metadata, hass, statistic_ids={BALANCE, MISSED})
    )
    assert metadata[BALANCE][1]["unit_of_measurement"] == "EUR"
    assert metadata[BALANCE][1]["source"] == DOMAIN
    assert metadata[BALANCE][1]["name"] == "alice@example.com balance"
    assert metadata[MISSED][1]["unit_of_measurement"] is None
    assert metadata[MISSED][1]["has_sum"]
    # One read of the balance history; the sensor that shows it is disabled.
    assert simulator.counters.requests["get_balance_history"] == 1


async def test_reimports_count_each_call_once(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    entry: MockConfigEntry,
    simulator: SettingsSimulator,
) -> None:
    before = {kind: await _rows(hass, kind) for kind in (RECEIVED, MISSED, PLACED, BALANCE)}

    # A restart (a reload) imports the same list again: nothing changes.
    assert await hass.config_entries.async_reload(entry.entry_id)
    for kind, rows in before.items():
        assert await _rows(hass, kind) == rows, kind

    # A new missed call is one more.
    eve = simulator.platform.add_call(
        ACCOUNT, "received", "sip:eve@example.org", display_name="Eve", seconds_ago=30
    )
    await entry.runtime_data.calls.async_refresh()
    assert await _rows(hass, MISSED) == [*before[MISSED], (_hour(eve.started), 1.0, 3.0)]
    assert await _rows(hass, RECEIVED) == before[RECEIVED]
    assert await _rows(hass, PLACED) == before[PLACED]

    # Twelve days on, the oldest missed call (three days old then) is out of the list,
    # which keeps 14 days: it stays counted.
    freezer.tick(timedelta(days=12))
    await entry.runtime_data.calls.async_refresh()
    assert [total for _start, _state, total in await _rows(hass, MISSED)] == [1.0, 2.0, 3.0]


async def test_a_changed_zone_moves_the_calls(
    hass: HomeAssistant, entry: MockConfigEntry, simulator: SettingsSimulator
) -> None:
    """Call times read in UTC instead of Amsterdam: the same calls, an hour earlier."""
    before = await _rows(hass, MISSED)
    hass.config_entries.async_update_entry(
        entry, options={**entry.options, CONF_HISTORY_TIMEZONE: "utc"}
    )
    # Before 2025.8 the update listener reloads now: let that reload and its reads end
    # (a second reload in the middle of them cancels requests mid-handshake).
    await hass.async_block_till_done(wait_background_tasks=True)
    # As after the options flow (Home Assistant 2025.8 and newer reload only there).
    assert await hass.config_entries.async_reload(entry.entry_id)
    after = await _rows(hass, MISSED)
    # Counted once each, at the hour the option says; the old hours hold nothing now.
    offset = dt_util.get_time_zone("Europe/Amsterdam").utcoffset(
        dt_util.utcnow().replace(tzinfo=None)
    )
    assert [(start, state) for start, state, _sum in after if state] == [
        (start + offset, 1.0) for start, _state, _sum in before
    ]
    assert after[-1][2] == before[-1][2] == 2.0


async def test_a_full_call_list_loses_no_counted_call(
    hass: HomeAssistant, entry: MockConfigEntry, simulator: SettingsSimulator
) -> None:
    """More than 50 incoming calls: the oldest drop out of the list, not out of the count."""
    platform = simulator.platform
    for hour in range(45):
        platform.add_call(
            ACCOUNT, "received", f"sip:caller{hour}@example.org", seconds_ago=3600 * (hour + 6) + 60
        )
    await entry.runtime_data.calls.async_refresh()
    # 3 seeded and 45 new: 48 incoming calls listed, 47 of them missed.
    assert (await _rows(hass, MISSED))[-1][2] == 47.0
    for minute in range(5):
        platform.add_call(
            ACCOUNT, "received", f"sip:late{minute}@example.org", seconds_ago=60 * minute + 30
        )
    await entry.runtime_data.calls.async_refresh()
    # The list shows the newest 50; the three oldest dropped out, yet all 52 count.
    assert (await _rows(hass, MISSED))[-1][2] == 52.0
    assert (await _rows(hass, RECEIVED))[-1][2] == 1.0


async def test_a_top_up_reaches_the_balance_statistics(
    hass: HomeAssistant, entry: MockConfigEntry, simulator: SettingsSimulator
) -> None:
    await _rows(hass, BALANCE)
    # Polls that find the balance unchanged do not read its history again.
    await entry.runtime_data.prepaid.async_refresh()
    await entry.runtime_data.calls.async_refresh()
    await _rows(hass, BALANCE)
    assert simulator.counters.requests["get_balance_history"] == 1

    await hass.services.async_call(
        DOMAIN,
        "add_balance",
        {"config_entry_id": entry.entry_id, "id": 1003, "number": "5502718364950127"},
        blocking=True,
    )
    balance = await _rows(hass, BALANCE)
    assert simulator.counters.requests["get_balance_history"] == 2
    assert balance[-1][0] == _hour(dt_util.utcnow())
    assert balance[-1][1:] == pytest.approx((37.3456, 37.3456))


async def test_the_balance_in_another_currency(
    hass: HomeAssistant,
    mock_config_entry: MockConfigEntry,
    stored_certificate: Path,
    simulator: SettingsSimulator,
) -> None:
    mock_config_entry.add_to_hass(hass)
    hass.config_entries.async_update_entry(mock_config_entry, options={CONF_CURRENCY: "CHF"})
    assert await setup_entry(hass, mock_config_entry)
    await _rows(hass, BALANCE)
    metadata = await get_instance(hass).async_add_executor_job(
        partial(get_metadata, hass, statistic_ids={BALANCE})
    )
    assert metadata[BALANCE][1]["unit_of_measurement"] == "CHF"


async def test_no_more_requests_an_hour(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    entry: MockConfigEntry,
    simulator: SettingsSimulator,
) -> None:
    """The statistics use what is read anyway: still 115 requests an hour."""
    await _rows(hass, BALANCE)
    simulator.counters.reset()
    for _ in range(60):
        await advance(hass, freezer, timedelta(minutes=1))
    assert "get_balance_history" not in simulator.counters.requests
    assert simulator.counters.requests.total() == 115
    # The hours that passed are in the balance statistics too.
    assert (await _rows(hass, BALANCE))[-1][0] == _hour(dt_util.utcnow())


async def test_a_long_balance_history_goes_back_so_far(
    hass: HomeAssistant,
    mock_config_entry: MockConfigEntry,
    stored_certificate: Path,
    simulator: SettingsSimulator,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """One row per hour, but not for ever: at most a year (20 days here, to be quick)."""
    monkeypatch.setattr(history_statistics, "BALANCE_HORIZON", timedelta(days=20))
    account = simulator.platform.accounts[ACCOUNT]
    opened = (dt_util.utcnow() - timedelta(days=800)).strftime("%Y-%m-%d %H:%M:%S")
    account.balance_history.append(
        {
            "date": opened,
            "action": "Set balance",
            "description": "",
            "value": 1.9083,
            "balance": 1.9083,
            "session": "",
        }
    )
    assert await setup_entry(hass, mock_config_entry)
    balance = await _rows(hass, BALANCE)
    now = _hour(dt_util.utcnow())
    # Imported in parts (two weeks each), one row for every hour.
    assert [start for start, _state, _sum in balance] == [
        now - timedelta(days=20) + hour * HOUR for hour in range(20 * 24 + 1)
    ]
    assert balance[0][1] == pytest.approx(1.9083)
    assert balance[-1][1] == pytest.approx(12.3456)


async def test_nonsense_dates_are_left_out(
    hass: HomeAssistant,
    mock_config_entry: MockConfigEntry,
    stored_certificate: Path,
    simulator: SettingsSimulator,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A balance change dated 9999 or a call from the future: the rest is imported."""
    # Printed as they are (UTC), read in New York time: 9999-12-31 23:00 plus five hours
    # is no date.
    simulator.platform.behaviour.history_timezone = "utc"
    account = simulator.platform.accounts[ACCOUNT]
    account.timezone = "America/New_York"
    account.balance_history.insert(
        0,
        {
            "date": "9999-12-31 23:00:00",
            "action": "Set balance",
            "description": "",
            "value": 99.0,
            "balance": 99.0,
            "session": "",
        },
    )
    simulator.platform.add_call(ACCOUNT, "received", "sip:future@example.org", seconds_ago=0)
    account.calls[-1].started = datetime(9999, 12, 30, tzinfo=UTC)
    assert await setup_entry(hass, mock_config_entry)

    assert (await _rows(hass, BALANCE))[-1][1] == pytest.approx(12.3456)
    assert (await _rows(hass, MISSED))[-1][2] == 2.0
    assert not [record for record in caplog.records if record.levelname == "ERROR"]
