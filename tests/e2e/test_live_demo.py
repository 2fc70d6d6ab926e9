"""The demo's live events (``scripts/develop`` with Kamailio, ``scripts/ring``) end to end.

And the demo where no Kamailio is found: live events off, and it says how to get them.

The demo's Kamailio and a real Home Assistant; Alice's live events pointed at Kamailio
by the real options flow, as the demo does; a call placed as ``scripts/ring`` places it,
from the address file the demo writes. Home Assistant's REST API must show the phone
ringing while it rings, then the missed call, then the voicemail count; the dashboard,
open in Chromium, must follow the call without a reload (its screenshots stay in
artifacts/e2e/). Skipped only where Kamailio or Chromium is not installed (CI installs
both).
"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
import signal
import sys
from typing import Any

import pytest

from demo.defaults import DEMO_CONFIG, REPO
from demo.kamailio import KAMAILIO_VARIABLE, BedAddress, unavailable_reason
from demo.live import (
    CALL_STATE,
    INSTALL_HINT,
    LIVE_ENTITIES,
    MESSAGE_WAITING,
    RINGING,
    VOICEMAIL,
    address_file,
    ring,
    running_kamailio,
    set_live_events,
    set_voicemail,
)
from demo.stack import (
    ACCOUNT,
    CALL_EVENT,
    DASHBOARD_PATH,
    OWNER,
    HomeAssistantApi,
    Stack,
    ensure_demo_accounts,
    free_port,
    prepare_config,
    running_stack,
    wait_for,
    wait_for_entities,
)
from tests.e2e.browser import capture, logged_in_page, visible_text, visit
from tests.e2e.helpers import log_on_failure

pytestmark = pytest.mark.e2e

WAIT = 60.0  # generous: the suite passes on a loaded machine; no timing is asserted
# From the demo's start to its summary (Home Assistant, the accounts, the calls).
DEMO_START = 300.0
LIVE_EVENTS_SENSOR = "sensor.alice_example_com_live_events"


async def _until(stack: Stack, what: str, wanted: dict[str, str]) -> dict[str, dict[str, Any]]:
    """Until each entity of ``wanted`` shows its state there; every state then."""
    states: dict[str, dict[str, Any]] = {}

    async def shown() -> bool:
        nonlocal states
        states = await stack.api.states()
        return all(states.get(e, {}).get("state") == value for e, value in wanted.items())

    await wait_for(shown, timeout=WAIT, what=what, process=stack.hass)
    return states


def _live_card(text: str) -> list[str]:
    """The Live card's rows in the dashboard's visible text: name, state, name, state."""
    lines = text.splitlines()
    start = lines.index("Call state")
    return lines[start : start + 4]


async def test_a_call_through_the_demo_kamailio_rings_home_assistant_live(
    tmp_path: Path, sim_certs_dir: Path, chromium: str, artifacts: Path, socket_enabled: None
) -> None:
    if (reason := unavailable_reason()) is not None:
        pytest.skip(f"{reason}: the demo's live events need it (CI installs it)")
    config_dir = tmp_path / "config"
    async with (
        running_kamailio(sim_certs_dir, config_dir) as kamailio,
        running_stack(
            config_dir, sim_certs_dir, ha_port=free_port(), copy_config_from=DEMO_CONFIG
        ) as stack,
        log_on_failure(stack),
        logged_in_page(stack.hass.url, stack.owner, timeout_ms=WAIT * 1000) as page,
    ):
        assert kamailio is not None
        entries = await ensure_demo_accounts(stack.api, stack.simulator)
        assert await set_live_events(stack.api, entries[ACCOUNT], kamailio.server_setting())
        # The same options again change nothing (the demo's second start on its ports).
        assert not await set_live_events(stack.api, entries[ACCOUNT], kamailio.server_setting())
        await wait_for_entities(stack.api, LIVE_ENTITIES, timeout=WAIT, process=stack.hass)
        await _until(stack, "the subscriptions", {CALL_STATE: "idle"})
        quiet = await visit(
            page,
            url=f"{stack.hass.url}/{DASHBOARD_PATH}",
            name="live-dashboard-idle",
            out_dir=artifacts,
            expect=("Call state", "Idle"),
            timeout_ms=WAIT * 1000,
        )
        assert _live_card(quiet.text) == ["Call state", "Idle", "Ringing", "Off"]
        # The card that says there are no live events hides while there are.
        assert "No live events now" not in quiet.text

        # What scripts/ring reads: the address the demo wrote beside its configuration.
        server = BedAddress.read(address_file(config_dir))
        while_ringing: dict[str, Any] = {}

        async def ringing() -> None:
            states = await _until(
                stack,
                "the phone to ring in Home Assistant",
                {CALL_STATE: "ringing", RINGING: "on"},
            )
            while_ringing.update(states[CALL_EVENT]["attributes"])
            # The page stays open: the frontend must follow the state, with no reload.

            async def card_rings() -> bool:
                return _live_card(await visible_text(page))[1] == "Ringing"

            await wait_for(
                card_rings, timeout=WAIT, what="the dashboard to ring", process=stack.hass
            )
            shown = await capture(
                page,
                name="live-dashboard-ringing",
                out_dir=artifacts,
                expect=("Call state",),
                timeout_ms=WAIT * 1000,
            )
            assert _live_card(shown.text) == ["Call state", "Ringing", "Ringing", "On"]

        await ring(server, while_ringing=ringing)
        assert while_ringing["event_type"] == "ringing"
        assert while_ringing["caller"] == "bob@example.com"

        await _until(
            stack,
            "the missed call",
            {CALL_STATE: "idle", RINGING: "off"},
        )

        async def missed() -> bool:
            event = await stack.api.state(CALL_EVENT)
            return event is not None and event["attributes"].get("event_type") == "missed"

        await wait_for(missed, timeout=WAIT, what="the missed call event", process=stack.hass)
        event = await stack.api.state(CALL_EVENT)
        assert event is not None
        assert event["attributes"]["caller"] == "bob@example.com"

        # scripts/ring --voicemail 3: the count and the waiting light follow.
        await set_voicemail(server, 3)
        await _until(
            stack,
            "the voicemail count",
            {VOICEMAIL: "3", MESSAGE_WAITING: "on"},
        )
        errors = [line for line in stack.hass.errors() if "sipthor" in line]
        assert not errors, "\n".join(errors)
    # Stopped with the demo: no address left for scripts/ring, no Kamailio running.
    assert not address_file(config_dir).exists()
    assert not kamailio.running


async def _demo_output_until(demo: asyncio.subprocess.Process, last: str) -> list[str]:
    """What the demo prints, up to and with the line that starts with ``last``."""
    assert demo.stdout is not None
    output: list[str] = []
    try:
        async with asyncio.timeout(DEMO_START):
            while not (output and output[-1].startswith(last)):
                line = await demo.stdout.readline()
                if not line:
                    msg = "the demo exited:\n" + "".join(output)
                    raise AssertionError(msg)
                output.append(line.decode())
    except TimeoutError:
        msg = f"the demo did not print {last!r} within {DEMO_START:.0f} s:\n" + "".join(output)
        raise AssertionError(msg) from None
    return output


async def test_the_demo_without_kamailio_turns_live_events_off_and_says_how_to_get_them(
    tmp_path: Path, sim_certs_dir: Path, chromium: str, socket_enabled: None
) -> None:
    """``scripts/develop`` where no Kamailio is found: KAMAILIO names a binary that is not there.

    One line says how to install it; Alice's live events are off, so she has no live
    entity, while the Call event entity announces the demo's calls from the call list;
    the dashboard's Live card says how to get them; Ctrl-C stops the demo.
    """
    config_dir, ha_port = tmp_path / "config", free_port()
    prepare_config(config_dir, copy_from=DEMO_CONFIG)  # the tracked files of config/
    demo = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "demo",
        *("--port", str(ha_port), "--sim-port", str(free_port())),
        *("--config", str(config_dir), "--certs", str(sim_certs_dir)),
        cwd=REPO,
        env={**os.environ, KAMAILIO_VARIABLE: str(tmp_path / "no-kamailio")},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    try:
        output = await _demo_output_until(demo, "Ctrl-C stops")
        how = (
            f"No live events: KAMAILIO={tmp_path / 'no-kamailio'} names no executable. "
            f"Install Kamailio ({INSTALL_HINT}) and restart.\n"
        )
        assert [line for line in output if "Kamailio" in line] == [how], "".join(output)

        async with HomeAssistantApi(f"http://127.0.0.1:{ha_port}") as api:
            await api.authenticate(OWNER)
            states = await api.states()
            assert not {*LIVE_ENTITIES, LIVE_EVENTS_SENSOR} & states.keys()
            assert states[CALL_EVENT]["attributes"]["event_type"] in ("received", "missed")
            alice = next(entry for entry in await api.entries() if entry["title"] == ACCOUNT)
            assert not await set_live_events(api, alice["entry_id"], None), "already off"

        async with logged_in_page(f"http://127.0.0.1:{ha_port}", OWNER) as page:
            dashboard = await visit(
                page,
                url=f"http://127.0.0.1:{ha_port}/{DASHBOARD_PATH}",
                name="demo-without-kamailio",
                out_dir=tmp_path,
                expect=("No live events now", INSTALL_HINT.removeprefix("sudo ")),
                timeout_ms=WAIT * 1000,
            )
        assert "Message waiting" not in dashboard.text
    finally:
        if demo.returncode is None:
            demo.send_signal(signal.SIGINT)  # Ctrl-C
            try:
                await asyncio.wait_for(demo.wait(), WAIT)
            except TimeoutError:
                demo.kill()
                await demo.wait()
    assert demo.returncode == 0
