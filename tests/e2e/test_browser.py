"""What a person sees: headless Chromium logs in and opens the device page and dashboard.

Skips, saying how to install it, when Debian's Chromium is missing. The screenshots
stay in artifacts/e2e/ after the run.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from demo.stack import (
    ACCOUNT,
    DASHBOARD_PATH,
    DEMO_CALLS,
    KEY_ENTITIES,
    Stack,
    add_account,
    place_demo_calls,
    wait_for,
    wait_for_entities,
)
from tests.e2e.browser import screenshots

pytestmark = pytest.mark.e2e


async def test_device_page_and_dashboard_in_chromium(
    chromium: str, stack: Stack, artifacts: Path
) -> None:
    # A custom target: the select shows it as it is, next to translated options.
    stack.simulator.platform.accounts[ACCOUNT].forwarding["FUNV"] = "sip:bob@example.net"
    await add_account(stack.api, stack.simulator)
    await wait_for_entities(stack.api, process=stack.hass)
    assert "frontend" in await stack.api.components(), "the frontend did not load"
    # What the demo does next: a call answered, then one missed.
    await place_demo_calls(stack.api, stack.simulator, process=stack.hass)
    imported = ["sipthor:alice_example_com_missed_calls", "sipthor:alice_example_com_balance"]

    async def statistics_imported() -> bool:
        found = await stack.api.statistics(imported)
        return all(found.get(statistic_id) for statistic_id in imported)

    await wait_for(statistics_imported, timeout=30, what="the statistics", process=stack.hass)
    device_id = await stack.api.device_id(KEY_ENTITIES[0])

    # The balance as the frontend formats 12.3456 EUR in English, and the DND switch.
    expected = ("Balance", "12.35", "Do not disturb")
    pages = await screenshots(
        stack.hass.url,
        stack.owner,
        [
            ("device-page", f"config/devices/device/{device_id}", (*expected, "Hide caller ID")),
            ("dashboard", DASHBOARD_PATH, (*expected, "Recent calls", "Forwarding")),
        ],
        artifacts,
    )
    for page in pages:
        assert page.screenshot.stat().st_size > 10_000, page.screenshot
        assert "€12.35" in page.text, page.text[:2000]
        # The DND switch as a toggle, not only its name (and Hide caller ID's buttons).
        assert page.toggles >= 1, page.name
    # The forwarding selects: fixed options translated, the custom target as it is.
    dashboard = pages[1]
    assert "Voice mailbox" in dashboard.text, dashboard.text[:2000]
    assert "bob@example.net" in dashboard.text, dashboard.text[:2000]
    # The demo's calls on the call cards, and the graphs of the imported history.
    for call in DEMO_CALLS:
        assert call.display_name in dashboard.text, dashboard.text[:3000]
    assert "No statistics found" not in dashboard.text, dashboard.text[:3000]
