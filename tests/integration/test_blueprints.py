"""The blueprints of blueprints/automation/sipthor/, each run as an automation.

Those of the settings page run on the real integration, against the simulator over real
TLS. Time moves with freezegun in ticking mode: the event loop's clock jumps to each
moment and keeps running from there, so the requests to the simulator (which waits on
the loop's clock) still complete.

Those of the live events act on Home Assistant's demo media player, light and notify
entities. The live entities they follow get their states set here, as the live channel
sets them: those states are all a blueprint reads.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from freezegun import freeze_time
from freezegun.api import FrozenDateTimeFactory
from homeassistant.components.blueprint.models import DomainBlueprints
from homeassistant.components.demo.light import DemoLight
from homeassistant.components.demo.media_player import DemoYoutubePlayer
from homeassistant.components.demo.notify import DemoNotifyEntity
from homeassistant.config_entries import ConfigEntry, ConfigFlow
from homeassistant.const import Platform
from homeassistant.core import Event, EventStateChangedData, HomeAssistant, callback
from homeassistant.helpers.entity import Entity
from homeassistant.helpers.event import async_track_state_change_event
from homeassistant.setup import async_setup_component
from homeassistant.util import dt as dt_util
import pytest
from pytest_homeassistant_custom_component.common import (
    MockConfigEntry,
    MockModule,
    async_capture_events,
    async_fire_time_changed,
    async_mock_service,
    mock_config_flow,
    mock_integration,
    mock_platform,
    setup_test_component_platform,
)
from pytest_homeassistant_custom_component.typing import WebSocketGenerator

from simulator import SettingsSimulator
from tests.conftest import ACCOUNT

BLUEPRINTS = Path(__file__).resolve().parents[2] / "blueprints"
DND = "switch.alice_example_com_do_not_disturb"
BALANCE = "sensor.alice_example_com_balance"
RINGING = "binary_sensor.alice_example_com_ringing"
CALL_STATE = "sensor.alice_example_com_call_state"
MESSAGE_WAITING = "binary_sensor.alice_example_com_message_waiting"
CALL = "event.alice_example_com_call"
# Home Assistant's demo entities: a video player that starts playing, a light that starts
# off and takes a colour, a notify entity that fires a "notify" event per message it sends.
PLAYER = "media_player.living_room"
LIGHT = "light.bed_light"
NOTIFIER = "notify.notifier"
DEMO_PLATFORMS = [Platform.LIGHT, Platform.MEDIA_PLAYER, Platform.NOTIFY]
# Generous: the suite must pass on a loaded machine; nothing here asserts a duration.
WAIT = 30.0
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


class _DemoFlow(ConfigFlow):
    """The config flow Home Assistant requires of the demo entities' config entry."""

    VERSION = 1


@pytest.fixture
async def demo_entities(hass: HomeAssistant) -> AsyncIterator[None]:
    """Home Assistant's demo player, light and notify entity, on a config entry of their own.

    The demo integration itself depends on conversation, whose packages the newest Home
    Assistant's test environment lacks: its entities are set up without it.
    """

    async def forward(hass: HomeAssistant, entry: ConfigEntry) -> bool:
        await hass.config_entries.async_forward_entry_setups(entry, DEMO_PLATFORMS)
        return True

    mock_integration(hass, MockModule("test", async_setup_entry=forward))
    mock_platform(hass, "test.config_flow")
    demo_entities: dict[str, Entity] = {
        "light": DemoLight(unique_id="bed", device_name="Bed Light", state=False, hs_color=(0, 0)),
        "media_player": DemoYoutubePlayer("Living Room", "eyU3bRy2x44", "Fireplace", 300),
        "notify": DemoNotifyEntity(unique_id="notifier", device_name="Notifier"),
    }
    for domain, entity in demo_entities.items():
        setup_test_component_platform(hass, domain, [entity], from_config_entry=True)
    with mock_config_flow("test", _DemoFlow):
        entry = MockConfigEntry(domain="test")
        entry.add_to_hass(hass)
        assert await hass.config_entries.async_setup(entry.entry_id)
        await hass.async_block_till_done()
        for entity_id in (PLAYER, LIGHT, NOTIFIER):
            assert hass.states.get(entity_id) is not None, entity_id
        yield
        # A failed test may leave a run waiting (for the phone to stop ringing), which the
        # harness would wait for at the end: stop it.
        if hass.services.has_service("automation", "turn_off"):
            await hass.services.async_call(
                "automation", "turn_off", {"entity_id": "all"}, blocking=True
            )


async def _set(hass: HomeAssistant, entity_id: str, state: str, **attributes: Any) -> None:
    """A live entity's new state, and whatever the automations then do.

    Not while an automation waits (for the phone to stop ringing): Home Assistant's
    block_till_done waits for its run too. Then :meth:`Player.until` says when it acted.
    """
    hass.states.async_set(entity_id, state, attributes)
    await hass.async_block_till_done()


class Player:
    """The demo player: its actions, and each state it took with the phone's state then."""

    def __init__(self, hass: HomeAssistant) -> None:
        """Record the player's changes, each with the Ringing and Call state sensors'."""
        self._hass = hass
        self.changes: list[tuple[str, str, str]] = []
        self._changed = asyncio.Event()
        async_track_state_change_event(hass, PLAYER, self._record)

    def _state(self, entity_id: str) -> str:
        current = self._hass.states.get(entity_id)
        return current.state if current is not None else "-"

    @callback
    def _record(self, event: Event[EventStateChangedData]) -> None:
        if (new := event.data["new_state"]) is not None:
            self.changes.append((new.state, self._state(RINGING), self._state(CALL_STATE)))
            self._changed.set()

    @property
    def state(self) -> str:
        """The player's state now."""
        return self._state(PLAYER)

    async def until(self, state: str) -> None:
        """Until the player is in ``state`` (an automation acts while another part waits)."""
        async with asyncio.timeout(WAIT):
            while self.state != state:
                self._changed.clear()
                await self._changed.wait()

    async def act(self, action: str, then: str) -> None:
        """Someone uses the player, which is in state ``then`` after it."""
        await self._hass.services.async_call(
            "media_player", action, {"entity_id": PLAYER}, blocking=True
        )
        # The demo player writes its state from the executor, after the call returns.
        await self.until(then)


async def _pause_while_ringing(hass: HomeAssistant, **inputs: Any) -> Player:
    """The blueprint on the demo player, the phone quiet; the player, watched."""
    await _set(hass, RINGING, "off")
    await _set(hass, CALL_STATE, "idle")
    await _automation(
        hass,
        "pause_media_while_ringing.yaml",
        {"ringing_sensor": RINGING, "media_player": PLAYER, **inputs},
    )
    return Player(hass)


@pytest.mark.usefixtures("demo_entities")
async def test_pause_media_while_ringing(hass: HomeAssistant) -> None:
    player = await _pause_while_ringing(hass)
    assert player.state == "playing"

    # A call rings: paused; it stops ringing: playing again.
    hass.states.async_set(RINGING, "on")
    await player.until("paused")
    await _set(hass, RINGING, "off")
    assert player.state == "playing"
    assert player.changes == [("paused", "on", "idle"), ("playing", "off", "idle")]

    # Paused by hand before the call: still paused after it.
    await player.act("media_pause", then="paused")
    await _set(hass, RINGING, "on")
    await _set(hass, RINGING, "off")
    assert player.state == "paused"

    # Off: left off, during the call and after it.
    await player.act("turn_off", then="off")
    await _set(hass, RINGING, "on")
    assert player.state == "off"
    await _set(hass, RINGING, "off")
    assert player.state == "off"

    # Paused by the call, then turned off by hand while it rang: stays off.
    await player.act("turn_on", then="playing")
    await player.act("media_play", then="playing")
    assert player.state == "playing"
    hass.states.async_set(RINGING, "on")
    await player.until("paused")
    await player.act("turn_off", then="off")
    await _set(hass, RINGING, "off")
    assert player.state == "off"


@pytest.mark.usefixtures("demo_entities")
async def test_pause_media_while_ringing_without_resume(hass: HomeAssistant) -> None:
    player = await _pause_while_ringing(hass, resume=False)

    await _set(hass, RINGING, "on")
    assert player.state == "paused"
    await _set(hass, RINGING, "off")
    assert player.changes == [("paused", "on", "idle")]


@pytest.mark.usefixtures("demo_entities")
async def test_pause_media_through_the_call(hass: HomeAssistant) -> None:
    """With the call state, an answered call keeps the player paused until it ends."""
    player = await _pause_while_ringing(hass, call_state_sensor=CALL_STATE)

    # Answered: no longer ringing, but in a call, then the call ends.
    hass.states.async_set(CALL_STATE, "ringing")
    hass.states.async_set(RINGING, "on")
    await player.until("paused")
    hass.states.async_set(CALL_STATE, "in_call")
    hass.states.async_set(RINGING, "off")
    hass.states.async_set(CALL_STATE, "idle")
    await player.until("playing")
    await hass.async_block_till_done()

    # Missed: the phone stops ringing and the call state is idle at once.
    hass.states.async_set(CALL_STATE, "ringing")
    hass.states.async_set(RINGING, "on")
    await player.until("paused")
    hass.states.async_set(RINGING, "off")
    hass.states.async_set(CALL_STATE, "idle")
    await player.until("playing")
    await hass.async_block_till_done()

    # Played again each time only once the call was over.
    assert player.changes == [
        ("paused", "on", "ringing"),
        ("playing", "off", "idle"),
        ("paused", "on", "ringing"),
        ("playing", "off", "idle"),
    ]


class CallEvents:
    """The call event entity's state as it fires events, a minute apart, from 14:03."""

    def __init__(self, hass: HomeAssistant) -> None:
        """Start at 14:03 today, local time."""
        self._hass = hass
        self.moment = dt_util.now().replace(hour=14, minute=3, second=0, microsecond=0)

    async def fire(self, event_type: str, **attributes: Any) -> None:
        """The entity's state after firing ``event_type``: its time, and the event."""
        await _set(
            self._hass,
            CALL,
            dt_util.as_utc(self.moment).isoformat(timespec="milliseconds"),
            event_type=event_type,
            event_types=["received", "missed", "placed", "ringing", "answered"],
            friendly_name="alice@example.com Call",
            **attributes,
        )
        self.moment += timedelta(minutes=1)


@pytest.mark.usefixtures("demo_entities")
async def test_notify_missed_call(hass: HomeAssistant, init_integration: MockConfigEntry) -> None:
    sent: list[Event] = async_capture_events(hass, "notify")
    await _automation(
        hass,
        "notify_missed_call.yaml",
        # The notify entity only: the default action (a persistent notification) removed.
        {"call_event": CALL, "notify_entities": [NOTIFIER], "notify_action": []},
    )
    calls = CallEvents(hass)
    bob = {"caller": "bob@example.com", "remote_party": "bob@example.com", "display_name": "Bob"}

    # A call rings, then is missed: one notification, at once, naming caller and account.
    await calls.fire("ringing", **bob)
    assert sent == []
    await calls.fire("missed", **bob)
    assert [event.data for event in sent] == [
        {
            "title": "Missed call",
            "message": "Missed call from Bob (bob@example.com) to alice@example.com at 14:04.",
        }
    ]
    # The entity written again with the same event (renamed): nothing new.
    renamed = hass.states.get(CALL)
    assert renamed is not None
    await _set(hass, CALL, renamed.state, **{**renamed.attributes, "friendly_name": "Calls"})
    assert len(sent) == 1

    # Answered and received calls are not missed ones.
    carol = {"caller": "carol@example.com", "remote_party": "carol@example.com"}
    await calls.fire("ringing", **carol, display_name=None)
    await calls.fire("answered", **carol, display_name=None)
    await calls.fire("received", remote_party="carol@example.com", display_name=None)
    assert len(sent) == 1

    # Missed calls from the call list: a number without a display name, an anonymous one.
    await calls.fire("missed", remote_party="+31201234567", display_name=None)
    await calls.fire("missed", remote_party=None, display_name=None)
    assert [event.data["message"] for event in sent[1:]] == [
        "Missed call from +31201234567 to alice@example.com at 14:08.",
        "Missed call from an unknown caller to alice@example.com at 14:09.",
    ]


async def test_notify_missed_call_in_home_assistant_by_default(
    hass: HomeAssistant, hass_ws_client: WebSocketGenerator
) -> None:
    """With no notify entity and no action chosen: a notification in Home Assistant."""
    # Always loaded in Home Assistant (a dependency of the frontend), not in the harness.
    assert await async_setup_component(hass, "persistent_notification", {})
    calls = CallEvents(hass)
    await calls.fire("ringing", remote_party="bob@example.com", display_name="Bob")
    await _automation(hass, "notify_missed_call.yaml", {"call_event": CALL})

    await calls.fire("missed", remote_party="bob@example.com", display_name="Bob")

    client = await hass_ws_client(hass)
    await client.send_json_auto_id({"type": "persistent_notification/get"})
    answer = await client.receive_json()
    assert answer["success"]
    assert [(shown["title"], shown["message"]) for shown in answer["result"]] == [
        ("Missed call", "Missed call from Bob (bob@example.com) at 14:04.")
    ]


@pytest.mark.usefixtures("demo_entities")
async def test_notify_missed_call_with_actions_of_one_s_own(hass: HomeAssistant) -> None:
    """An action of one's own (a mobile app's notify action) gets the caller."""
    pushed = async_mock_service(hass, "notify", "mobile_app_phone")
    calls = CallEvents(hass)
    await calls.fire("ringing", remote_party="bob@example.com", display_name="Bob")
    await _automation(
        hass,
        "notify_missed_call.yaml",
        {
            "call_event": CALL,
            "notify_action": [
                {
                    "action": "notify.mobile_app_phone",
                    "data": {"message": "{{ call.display_name }}: {{ call.remote_party }}"},
                }
            ],
        },
    )

    await calls.fire("missed", remote_party="bob@example.com", display_name="Bob")

    assert [call.data["message"] for call in pushed] == ["Bob: bob@example.com"]


@pytest.mark.usefixtures("demo_entities")
async def test_light_while_messages_wait(hass: HomeAssistant) -> None:
    await _set(hass, MESSAGE_WAITING, "off")
    await _automation(
        hass,
        "light_while_messages_wait.yaml",
        {
            "message_waiting_sensor": MESSAGE_WAITING,
            "light": LIGHT,
            "brightness": 40,
            "color": [255, 0, 0],
        },
    )
    assert _state(hass, LIGHT) == "off"

    await _set(hass, MESSAGE_WAITING, "on")
    light = hass.states.get(LIGHT)
    assert light is not None
    assert light.state == "on"
    assert light.attributes["brightness"] == 102
    assert light.attributes["rgb_color"] == (255, 0, 0)

    # The live connection lost and back: the light stays on while messages wait.
    await _set(hass, MESSAGE_WAITING, "unavailable")
    await _set(hass, MESSAGE_WAITING, "on")
    assert _state(hass, LIGHT) == "on"

    await _set(hass, MESSAGE_WAITING, "off")
    assert _state(hass, LIGHT) == "off"

    # Messages heard while the connection was away: off when it is back.
    await _set(hass, MESSAGE_WAITING, "on")
    await _set(hass, MESSAGE_WAITING, "unavailable")
    assert _state(hass, LIGHT) == "on"
    await _set(hass, MESSAGE_WAITING, "off")
    assert _state(hass, LIGHT) == "off"


@pytest.mark.usefixtures("demo_entities")
async def test_light_while_messages_wait_as_it_was_and_run_by_hand(hass: HomeAssistant) -> None:
    """Without brightness or colour the light comes on as it was; a run by hand catches up."""
    await hass.services.async_call(
        "light", "turn_on", {"entity_id": LIGHT, "brightness": 10}, blocking=True
    )
    await hass.services.async_call("light", "turn_off", {"entity_id": LIGHT}, blocking=True)
    await _set(hass, MESSAGE_WAITING, "off")
    await _automation(
        hass,
        "light_while_messages_wait.yaml",
        {"message_waiting_sensor": MESSAGE_WAITING, "light": LIGHT},
    )

    await _set(hass, MESSAGE_WAITING, "on")
    light = hass.states.get(LIGHT)
    assert light is not None
    assert light.state == "on"
    assert light.attributes["brightness"] == 10

    # Turned off by hand while messages wait; "Run actions" turns it on again.
    await hass.services.async_call("light", "turn_off", {"entity_id": LIGHT}, blocking=True)
    await hass.services.async_call(
        "automation", "trigger", {"entity_id": "automation.under_test"}, blocking=True
    )
    await hass.async_block_till_done()
    assert _state(hass, LIGHT) == "on"
