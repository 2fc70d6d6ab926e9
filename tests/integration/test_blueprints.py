"""The blueprints of blueprints/automation/sipthor/, with time moving.

Each runs as an automation on the real integration, against the simulator over real
TLS. Time moves with freezegun in ticking mode: the event loop's clock jumps to each
moment and keeps running from there, so the requests to the simulator (which waits on
the loop's clock) still complete.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from freezegun import freeze_time
from freezegun.api import FrozenDateTimeFactory
from homeassistant.components.blueprint.models import DomainBlueprints
from homeassistant.core import HomeAssistant
from homeassistant.setup import async_setup_component
from homeassistant.util import dt as dt_util
import pytest
from pytest_homeassistant_custom_component.common import (
    MockConfigEntry,
    async_fire_time_changed,
    async_mock_service,
)

from simulator import SettingsSimulator
from tests.conftest import ACCOUNT

BLUEPRINTS = Path(__file__).resolve().parents[2] / "blueprints"
DND = "switch.alice_example_com_do_not_disturb"
BALANCE = "sensor.alice_example_com_balance"
FRIDAY = 4
# 22:00 to 07:00 on nights that start on Sunday to Thursday: before working days.
WORKDAY_NIGHTS = {
    "dnd_switch": DND,
    "start_time": "22:00:00",
    "end_time": "07:00:00",
    "weekdays": ["sun", "mon", "tue", "wed", "thu"],
}


@pytest.fixture(autouse=True)
def repository_blueprints(monkeypatch: pytest.MonkeyPatch) -> None:
    """Home Assistant reads blueprints from the repository's blueprints/ folder."""
    monkeypatch.setattr(
        DomainBlueprints,
        "blueprint_folder",
        property(lambda self: BLUEPRINTS / self.domain),
    )


async def _automation(hass: HomeAssistant, blueprint: str, inputs: dict[str, Any]) -> None:
    assert await async_setup_component(
        hass,
        "automation",
        {
            "automation": {
                "id": "under_test",
                "alias": "Under test",
                "use_blueprint": {"path": f"sipthor/{blueprint}", "input": inputs},
            }
        },
    )
    await hass.async_block_till_done()
    automation = hass.states.get("automation.under_test")
    assert automation is not None
    assert automation.state == "on", automation


def _state(hass: HomeAssistant, entity_id: str) -> str:
    current = hass.states.get(entity_id)
    assert current is not None, entity_id
    return current.state


@pytest.fixture
def ticking_clock() -> Iterator[FrozenDateTimeFactory]:
    """A clock that starts on a Friday evening, 21:59, a few days ahead, and ticks."""
    today = dt_util.now()
    days = (FRIDAY - today.weekday()) % 7 or 7
    friday = (today + timedelta(days=days)).replace(hour=21, minute=59, second=0, microsecond=0)
    with freeze_time(friday, tick=True) as clock:
        yield clock


@pytest.fixture
async def friday(
    hass: HomeAssistant, init_integration: MockConfigEntry, ticking_clock: FrozenDateTimeFactory
) -> datetime:
    """Friday 21:59 on the ticking clock, once the polls the jump made due have run."""
    await hass.async_block_till_done(wait_background_tasks=True)
    return dt_util.now().replace(second=0, microsecond=0)


async def test_do_not_disturb_at_night(
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    simulator: SettingsSimulator,
    ticking_clock: FrozenDateTimeFactory,
    friday: datetime,
) -> None:
    account = simulator.platform.accounts[ACCOUNT]
    assert friday.weekday() == FRIDAY
    assert friday.hour == 21
    await _automation(hass, "do_not_disturb_at_night.yaml", WORKDAY_NIGHTS)

    async def at(days: int, hour: int) -> datetime:
        moment = (friday + timedelta(days=days)).replace(hour=hour, minute=0)
        ticking_clock.move_to(moment)
        async_fire_time_changed(hass)
        await hass.async_block_till_done(wait_background_tasks=True)
        return moment

    # Friday 22:00: not a chosen day, calls keep coming through.
    await at(0, 22)
    assert "set_dnd_on" not in simulator.counters.requests
    assert account.temporary_groups == ["everybody"]
    assert _state(hass, DND) == "off"

    # Saturday 07:00 ends a night that started on an unchosen day: a DND turned on by
    # hand that night stays on.
    await hass.services.async_call("switch", "turn_on", {"entity_id": DND}, blocking=True)
    # The read-back runs in the background: done before the clock jumps.
    await hass.async_block_till_done(wait_background_tasks=True)
    await at(1, 7)
    assert account.temporary_groups == ["nobody"]
    assert "set_dnd_off" not in simulator.counters.requests
    await hass.services.async_call("switch", "turn_off", {"entity_id": DND}, blocking=True)
    await hass.async_block_till_done(wait_background_tasks=True)
    writes = simulator.counters.requests["set_dnd_on"], simulator.counters.requests["set_dnd_off"]

    # Saturday 22:00 and Sunday 07:00: nothing.
    await at(1, 22)
    await at(2, 7)
    assert (
        simulator.counters.requests["set_dnd_on"],
        simulator.counters.requests["set_dnd_off"],
    ) == writes
    assert account.temporary_groups == ["everybody"]

    # Sunday 22:00: on, for the nine hours to Monday 07:00, counted by the server.
    await at(2, 22)
    assert simulator.counters.last("set_dnd_on").params["duration"] == "540"
    assert account.temporary_groups == ["nobody"]
    assert account.dnd_until == pytest.approx(simulator.platform.timestamp() + 540 * 60, abs=60)
    assert _state(hass, DND) == "on"
    assert _state(hass, "sensor.alice_example_com_do_not_disturb_time_left") == "540"

    # Monday 07:00: off again.
    await at(3, 7)
    assert account.temporary_groups == ["everybody"]
    assert account.dnd_until is None
    assert _state(hass, DND) == "off"

    # Leave no timer of the moved clock behind.
    await hass.services.async_call(
        "automation", "turn_off", {"entity_id": "automation.under_test"}, blocking=True
    )
    assert await hass.config_entries.async_unload(init_integration.entry_id)
    await hass.async_block_till_done()


async def test_do_not_disturb_every_night(
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    simulator: SettingsSimulator,
    ticking_clock: FrozenDateTimeFactory,
    friday: datetime,
) -> None:
    """Without weekdays, every night."""
    await _automation(
        hass,
        "do_not_disturb_at_night.yaml",
        {"dnd_switch": DND, "start_time": "23:30:00", "end_time": "06:45:00"},
    )
    account = simulator.platform.accounts[ACCOUNT]
    ticking_clock.move_to(friday.replace(hour=23, minute=30))
    async_fire_time_changed(hass)
    await hass.async_block_till_done(wait_background_tasks=True)
    assert simulator.counters.last("set_dnd_on").params["duration"] == str(7 * 60 + 15)
    assert account.temporary_groups == ["nobody"]
    ticking_clock.move_to((friday + timedelta(days=1)).replace(hour=6, minute=45))
    async_fire_time_changed(hass)
    await hass.async_block_till_done(wait_background_tasks=True)
    assert account.temporary_groups == ["everybody"]
    await hass.services.async_call(
        "automation", "turn_off", {"entity_id": "automation.under_test"}, blocking=True
    )
    assert await hass.config_entries.async_unload(init_integration.entry_id)
    await hass.async_block_till_done()


async def test_do_not_disturb_run_by_hand(
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    simulator: SettingsSimulator,
    ticking_clock: FrozenDateTimeFactory,
    friday: datetime,
) -> None:
    """ "Run actions" on the automation's page applies what the time calls for now."""
    account = simulator.platform.accounts[ACCOUNT]
    await _automation(hass, "do_not_disturb_at_night.yaml", WORKDAY_NIGHTS)
    # Off, so that only the runs by hand act while the clock jumps over 22:00 and
    # 07:00; "Run actions" (automation.trigger) runs an automation that is off too.
    await hass.services.async_call(
        "automation", "turn_off", {"entity_id": "automation.under_test"}, blocking=True
    )

    async def run_by_hand(days: int, hour: int, minute: int = 0, *, dnd: bool) -> None:
        ticking_clock.move_to((friday + timedelta(days=days)).replace(hour=hour, minute=minute))
        async_fire_time_changed(hass)
        await hass.async_block_till_done(wait_background_tasks=True)
        # Do not disturb as someone left it, by hand.
        await hass.services.async_call(
            "switch", "turn_on" if dnd else "turn_off", {"entity_id": DND}, blocking=True
        )
        await hass.services.async_call(
            "automation", "trigger", {"entity_id": "automation.under_test"}, blocking=True
        )
        await hass.async_block_till_done(wait_background_tasks=True)

    # Friday 21:59, before the quiet time: off.
    await run_by_hand(0, 21, 59, dnd=True)
    assert account.temporary_groups == ["everybody"]
    assert _state(hass, DND) == "off"

    # Friday 23:30: a night that started on an unchosen day: off.
    await run_by_hand(0, 23, 30, dnd=True)
    assert account.temporary_groups == ["everybody"]

    # Sunday 23:30: on, until Monday 07:00 (7.5 hours), counted by the server.
    await run_by_hand(2, 23, 30, dnd=False)
    assert simulator.counters.last("set_dnd_on").params["duration"] == "450"
    assert account.temporary_groups == ["nobody"]
    assert _state(hass, DND) == "on"

    # Monday 03:00, the same night after midnight: on, for the 4 hours left.
    await run_by_hand(3, 3, dnd=False)
    assert simulator.counters.last("set_dnd_on").params["duration"] == "240"
    assert account.temporary_groups == ["nobody"]

    # Monday noon: off.
    await run_by_hand(3, 12, dnd=True)
    assert account.temporary_groups == ["everybody"]
    assert _state(hass, DND) == "off"

    assert await hass.config_entries.async_unload(init_integration.entry_id)
    await hass.async_block_till_done()


async def test_low_balance_warning(
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    simulator: SettingsSimulator,
) -> None:
    notifications = async_mock_service(hass, "notify", "sipthor_test")
    await _automation(
        hass,
        "low_balance.yaml",
        {
            "balance_sensor": BALANCE,
            "threshold": 5,
            "notify_action": [
                {"action": "notify.sipthor_test", "data": {"message": "{{ message }}"}}
            ],
        },
    )
    account = simulator.platform.accounts[ACCOUNT]

    async def next_poll() -> None:
        # The balance is read every 5 minutes.
        async_fire_time_changed(hass, dt_util.utcnow() + timedelta(minutes=5, seconds=1))
        # The poll runs in the background; firing the next one while it is in flight
        # would fire its request timeout too.
        await hass.async_block_till_done(wait_background_tasks=True)

    # 12.35: nothing to say.
    await next_poll()
    assert notifications == []

    # Below the threshold at the next poll: one warning, with the amounts.
    account.balance = 1.0
    await next_poll()
    assert _state(hass, BALANCE) == "1.0"
    assert len(notifications) == 1
    assert notifications[0].data["message"] == (
        "The balance of alice@example.com is 1.00 EUR, below 5.00 EUR. Top it up to keep calling."
    )

    # Still below: no second warning. Topped up, then low again: warned again.
    account.balance = 0.5
    await next_poll()
    assert len(notifications) == 1
    account.balance = 10.0
    await next_poll()
    account.balance = 4.0
    await next_poll()
    assert len(notifications) == 2
    assert "is 4.00 EUR" in notifications[1].data["message"]
