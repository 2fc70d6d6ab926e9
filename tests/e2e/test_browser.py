"""What a person sees: headless Chromium logs in, opens the pages and fills the forms.

Skips, saying how to install it, when Debian's Chromium is missing. The screenshots
stay in artifacts/e2e/ after the run: the dashboard, the account's and a phone's device
page, and the two ways of adding an account with an error each.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from demo.stack import (
    ACCOUNT,
    CALL_EVENT,
    DASHBOARD_PATH,
    DEMO_CALLS,
    DOMAIN,
    KEY_ENTITIES,
    Stack,
    add_account,
    place_demo_calls,
    wait_for,
    wait_for_entities,
)
from tests.e2e.browser import (
    VIEWPORT,
    Page,
    capture,
    frontend_string,
    logged_in_page,
    start_config_flow,
    unreadable,
    visit,
)

pytestmark = pytest.mark.e2e

DESK_PHONE = "binary_sensor.grandstream_ht802_registered"
TIMEOUT_MS = 30_000


def _lines(page: Page) -> Counter[str]:
    return Counter(line.strip() for line in page.text.splitlines())


async def test_pages_and_forms_in_chromium(chromium: str, stack: Stack, artifacts: Path) -> None:
    # A custom target: the select shows it as it is, next to translated options.
    stack.simulator.platform.accounts[ACCOUNT].forwarding["FUNV"] = "sip:bob@example.net"
    await add_account(stack.api, stack.simulator)
    states = await wait_for_entities(stack.api, (*KEY_ENTITIES, DESK_PHONE), process=stack.hass)
    assert "frontend" in await stack.api.components(), "the frontend did not load"
    # No two entities of the integration share a name: history and entity lists show it.
    ours = set(await stack.api.entity_ids())
    names = Counter(
        state["attributes"].get("friendly_name")
        for entity_id, state in (await stack.api.states()).items()
        if entity_id in ours
    )
    assert [name for name, count in names.items() if count > 1] == []
    assert states[DESK_PHONE]["state"] == "on"
    imported = ["sipthor:alice_example_com_missed_calls", "sipthor:alice_example_com_balance"]

    async def statistics_imported() -> bool:
        found = await stack.api.statistics(imported)
        return all(found.get(statistic_id) for statistic_id in imported)

    async with logged_in_page(stack.hass.url, stack.owner, timeout_ms=TIMEOUT_MS) as page:
        # Set up, and no call made: the call events card has no row.
        quiet = await _dashboard(page, stack, artifacts, "dashboard-before-calls")
        no_events = await frontend_string(page, "ui.components.logbook.entries_not_found")
        assert no_events in quiet.text, (no_events, quiet.text[:3000])
        # What the demo does next: a call answered, then one missed.
        await place_demo_calls(stack.api, stack.simulator, process=stack.hass)
        await wait_for(statistics_imported, timeout=30, what="the statistics", process=stack.hass)
        pages = [quiet, *await _pages(page, stack, artifacts)]
        pages += await _forms(page, stack, artifacts)
    for shown in pages:
        assert shown.screenshot.stat().st_size > 10_000, shown.screenshot
        assert unreadable(shown.text) == [], shown.name

    account, phone, dashboard = pages[1:4]
    for shown in (account, dashboard):
        assert "€12.35" in shown.text, shown.text[:2000]
        # The DND switch as a toggle, not only its name (and Hide caller ID's).
        assert shown.toggles >= 1, shown.name
    # One do-not-disturb entity with that name among the account's entities.
    assert _lines(account)["Do not disturb"] == 1
    # The account links to its settings page; the phone names its maker, model and
    # firmware, and the account it is reached through.
    assert "Visit" in account.text
    assert "by Grandstream" in phone.text, phone.text[:2000]
    assert "Firmware: 1.0.53.2" in phone.text, phone.text[:2000]
    assert "Connected via" in phone.text
    assert ACCOUNT in phone.text
    # The forwarding selects: fixed options translated, the custom target as it is.
    assert "Voice mailbox" in dashboard.text, dashboard.text[:2000]
    assert "bob@example.net" in dashboard.text, dashboard.text[:2000]
    # The demo's calls on the call cards, and the graphs of the imported history.
    for call in DEMO_CALLS:
        assert call.display_name in dashboard.text, dashboard.text[:3000]
    assert "No statistics found" not in dashboard.text, dashboard.text[:3000]
    # The logbook has a row for each call and for nothing else. The card of Home
    # Assistant 2025.4 repeats a row it streamed, so the card is checked by its distinct
    # rows, the logbook's own answer by its rows.
    assert len(set(dashboard.logbook_rows)) == len(DEMO_CALLS), dashboard.logbook_rows
    logbook = await stack.api.get(f"/api/logbook?entity={CALL_EVENT}")
    assert len(logbook) == len(DEMO_CALLS), logbook


async def _pages(page: Any, stack: Stack, artifacts: Path) -> list[Page]:
    """The account's and the desk phone's device page, and the demo dashboard."""
    account = await stack.api.device_id(KEY_ENTITIES[0])
    phone = await stack.api.device_id(DESK_PHONE)
    base = stack.hass.url
    # A device page scrolls inside the frontend's shell, which a full-page screenshot
    # does not unroll: a window tall enough for every card.
    await page.set_viewport_size({"width": 1280, "height": 2000})
    return [
        await visit(
            page,
            url=f"{base}/config/devices/device/{account}",
            name="device-account",
            out_dir=artifacts,
            expect=("Balance", "12.35", "Do not disturb until", "Hide caller ID"),
            timeout_ms=TIMEOUT_MS,
        ),
        await visit(
            page,
            url=f"{base}/config/devices/device/{phone}",
            name="device-phone",
            out_dir=artifacts,
            expect=("Grandstream HT802", "Firmware", "Transport"),
            timeout_ms=TIMEOUT_MS,
        ),
        await _dashboard(page, stack, artifacts, "dashboard"),
    ]


async def _dashboard(page: Any, stack: Stack, artifacts: Path, name: str) -> Page:
    """The demo dashboard, saved as ``name``."""
    return await visit(
        page,
        url=f"{stack.hass.url}/{DASHBOARD_PATH}",
        name=name,
        out_dir=artifacts,
        expect=(
            "Balance",
            "12.35",
            "Do not disturb",
            "Recent calls",
            "Forwarding",
        ),
        timeout_ms=TIMEOUT_MS,
    )


async def _forms(page: Any, stack: Stack, artifacts: Path) -> list[Page]:
    """Both ways of adding an account, each with an error a person meets."""
    simulator = stack.simulator
    password = simulator.platform.accounts[ACCOUNT].password
    base = stack.hass.url
    await page.set_viewport_size(VIEWPORT)

    # The address as a phone shows it, and the certificate page's URL.
    await start_config_flow(page, base, DOMAIN, "With the SIP address and password")
    await page.locator("input[name=account]").fill(f"sip:{ACCOUNT}")
    await page.locator("input[name=password]").fill(password)
    await page.get_by_text("Advanced settings").first.click()
    await page.locator("input[name=url]").fill(simulator.url)
    await page.get_by_role("button", name="Submit").click()
    password_form = await capture(
        page,
        name="form-password-error",
        out_dir=artifacts,
        expect=("This page asks for a client certificate",),
        timeout_ms=TIMEOUT_MS,
    )
    # The password stays; the sip: went.
    assert await page.locator("input[name=password]").input_value() == password
    assert await page.locator("input[name=account]").input_value() == ACCOUNT

    # A .p12 with a wrong password, then the right one without uploading it again.
    await start_config_flow(page, base, DOMAIN, "With a client certificate")
    p12 = simulator.client_certificate(f"{ACCOUNT}.p12")
    await page.locator("input[type=file]").set_input_files(str(p12))
    await page.locator("input[name=url]").fill(simulator.url)
    await page.locator("input[name=password]").fill("not-the-sip-password")
    await page.get_by_role("button", name="Submit").click()
    certificate_form = await capture(
        page,
        name="form-certificate-error",
        out_dir=artifacts,
        expect=("The password does not open the file",),
        timeout_ms=TIMEOUT_MS,
    )
    await page.locator("input[name=password]").fill(password)
    await page.get_by_role("button", name="Submit").click()
    # The file opened: the account is checked, and it is Alice's, added already.
    kept = await capture(
        page,
        name="form-certificate-kept",
        out_dir=artifacts,
        expect=("This account is already configured",),
        timeout_ms=TIMEOUT_MS,
    )
    return [password_form, certificate_form, kept]
