"""The demo's live events (``scripts/develop`` with Kamailio, ``scripts/ring``) end to end.

The demo's Kamailio and a real Home Assistant; Alice's live events pointed at Kamailio
by the real options flow, as the demo does; a call placed as ``scripts/ring`` places it,
from the address file the demo writes. Home Assistant's REST API must show the phone
ringing while it rings, then the missed call, then the voicemail count. Skipped only
where Kamailio is not installed (CI installs it).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from demo.defaults import DEMO_CONFIG
from demo.kamailio import BedAddress, unavailable_reason
from demo.live import (
    CALL_STATE,
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
    Stack,
    ensure_demo_accounts,
    free_port,
    running_stack,
    wait_for,
    wait_for_entities,
)
from tests.e2e.helpers import log_on_failure

pytestmark = pytest.mark.e2e

WAIT = 60.0  # generous: the suite passes on a loaded machine; no timing is asserted


async def _until(stack: Stack, what: str, wanted: dict[str, str]) -> dict[str, dict[str, Any]]:
    """Until each entity of ``wanted`` shows its state there; every state then."""
    states: dict[str, dict[str, Any]] = {}

    async def shown() -> bool:
        nonlocal states
        states = await stack.api.states()
        return all(states.get(e, {}).get("state") == value for e, value in wanted.items())

    await wait_for(shown, timeout=WAIT, what=what, process=stack.hass)
    return states


async def test_a_call_through_the_demo_kamailio_rings_home_assistant_live(
    tmp_path: Path, sim_certs_dir: Path, socket_enabled: None
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
    ):
        assert kamailio is not None
        entries = await ensure_demo_accounts(stack.api, stack.simulator)
        assert await set_live_events(stack.api, entries[ACCOUNT], kamailio.server_setting())
        # The same options again change nothing (the demo's second start on its ports).
        assert not await set_live_events(stack.api, entries[ACCOUNT], kamailio.server_setting())
        await wait_for_entities(stack.api, LIVE_ENTITIES, timeout=WAIT, process=stack.hass)
        await _until(stack, "the subscriptions", {CALL_STATE: "idle"})

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
