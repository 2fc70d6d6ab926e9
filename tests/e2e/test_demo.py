"""The demo (``scripts/develop``) as a user runs it: twice over the same config/.

The first run onboards the owner and adds the two accounts through the config flow; a
second run on that config/ must find both entries and come up with them, not try to
add them again.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from demo.defaults import DEMO_CONFIG
from demo.stack import (
    ACCOUNT,
    CALL_EVENT,
    CERTIFICATE_ACCOUNT,
    DEMO_CALLS,
    Stack,
    StackError,
    ensure_demo_accounts,
    free_port,
    place_demo_calls,
    running_stack,
    wait_for,
    wait_for_entities,
)
from tests.e2e.helpers import log_on_failure

# The errors the README says the demo's log shows: system libraries the machine lacks.
HARMLESS = ("Error loading libturbojpeg", "FFmpeg fails")

pytestmark = pytest.mark.e2e

RECEIVED = "sipthor:alice_example_com_received_calls"
MISSED = "sipthor:alice_example_com_missed_calls"
BALANCE = "sipthor:alice_example_com_balance"


async def _calls_counted(stack: Stack, *, received: int, missed: int) -> None:
    """Wait until the call statistics add up to these counts (the recorder commits late)."""
    totals: dict[str, float | None] = {}

    async def counted() -> bool:
        statistics = await stack.api.statistics([RECEIVED, MISSED, BALANCE])
        totals.update({key: rows[-1]["sum"] for key, rows in statistics.items() if rows})
        return totals.get(RECEIVED) == received and totals.get(MISSED) == missed

    try:
        await wait_for(counted, timeout=30, what="the call statistics", process=stack.hass)
    except StackError as err:
        msg = f"{err}\nLast totals: {totals}"
        raise AssertionError(msg) from err
    assert totals.get(BALANCE) == pytest.approx(12.3456)


async def test_the_demo_comes_up_again_with_its_accounts(
    tmp_path: Path, sim_certs_dir: Path, socket_enabled: None
) -> None:
    config_dir = tmp_path / "config"
    # The simulator on the same port both times, as scripts/develop does: the entries
    # remember its URL. Home Assistant on another port the second time, as
    # `scripts/develop --port` asks: Home Assistant 2026 keeps the HTTP settings of its
    # first start, and would ignore the second port given in YAML.
    ha_port, sim_port = free_port(), free_port()

    async with (
        running_stack(
            config_dir,
            sim_certs_dir,
            ha_port=ha_port,
            sim_port=sim_port,
            copy_config_from=DEMO_CONFIG,
        ) as first,
        log_on_failure(first),
    ):
        assert first.onboarded_now
        added = await ensure_demo_accounts(first.api, first.simulator)
        assert set(added) == {ACCOUNT, CERTIFICATE_ACCOUNT}
        await wait_for_entities(first.api, process=first.hass)

        # The demo's calls: one answered, then one missed, announced in that order.
        await place_demo_calls(first.api, first.simulator, process=first.hass)
        answered, missed = DEMO_CALLS
        states = await first.api.states()
        assert states[CALL_EVENT]["attributes"]["event_type"] == "missed"
        assert states[CALL_EVENT]["attributes"]["display_name"] == missed.display_name
        assert states["sensor.alice_example_com_last_missed_caller"]["state"] == (
            missed.display_name
        )
        assert states["sensor.alice_example_com_last_received_caller"]["state"] == (
            answered.display_name
        )
        # The statistics of the history: Carol's call and Emma's answered, Bob's, a
        # number's and Daan's missed; the balance from its history.
        await _calls_counted(first, received=2, missed=3)

    async with running_stack(
        config_dir, sim_certs_dir, ha_port=free_port(), sim_port=sim_port
    ) as second:
        assert not second.onboarded_now  # logged in as the owner of the first run
        reused = await ensure_demo_accounts(second.api, second.simulator)
        assert reused == added
        entries = await second.api.entries()
        assert sorted(entry["entry_id"] for entry in entries) == sorted(added.values())
        await wait_for_entities(second.api, process=second.hass)
        assert {entry["state"] for entry in await second.api.entries()} == {"loaded"}
        # The second run imports the call list again and counts no call twice. The
        # simulator starts afresh, without the first run's two calls: the statistics
        # follow the list of the last 14 days, so they drop out of them too.
        await _calls_counted(second, received=1, missed=2)
        errors = [line for line in second.hass.errors() if "sipthor" in line]
        assert not errors, "\n".join(errors)
        # The log's errors are those the README names as harmless, on either line: no
        # component that failed to set up for want of a package.
        unexpected = [
            line for line in second.hass.errors() if not any(map(line.__contains__, HARMLESS))
        ]
        assert not unexpected, "\n".join(unexpected)
    # Home Assistant raised no repair about its HTTP settings (2026: "YAML still
    # present", "deprecated YAML"): what it saved of its issues when it stopped.
    registry = config_dir / ".storage" / "repairs.issue_registry"
    issues = json.loads(registry.read_text())["data"]["issues"] if registry.exists() else []
    http_issues = [issue for issue in issues if issue["domain"] == "http"]
    assert not http_issues
