"""Caller-ID privacy read from the settings page's HTML checkbox (docs/settings-api.md §6.2)."""

from __future__ import annotations

import pytest

from custom_components.sipthor.api import (
    SipThorAuthenticationError,
    SipThorClient,
    SipThorServerError,
)
from custom_components.sipthor.api.privacy import privacy_from_settings_page
from simulator import SettingsSimulator
from simulator.server import Faults
from tests.conftest import ACCOUNT


@pytest.mark.parametrize(
    ("page", "expected"),
    [
        ('<input type="checkbox" name="anonymous" value="1" checked>', True),
        ('<input type="checkbox" name="anonymous" value="1">', False),
        ("<INPUT TYPE=checkbox NAME=anonymous VALUE=1 CHECKED>", True),
        ('<input type=checkbox name=anonymous checked="checked"/>', True),
        ("<input name='anonymous' type='checkbox'>", False),
        # A page cut off inside the tag: nothing can be said.
        ('<form><table><tr><td><input type="checkbox" name="anonymous" checked', None),
        # Another checkbox's "checked" says nothing about privacy.
        ("<input type=checkbox name=other checked><input type=checkbox name=anonymous>", False),
        # A hidden field of the same name is not the box.
        ("<input type=hidden name=anonymous value=1><input type=checkbox name=anonymous>", False),
        # PSTN access off: no box at all.
        ("<html><body><h1>SIP settings</h1><form></form></body></html>", None),
        ("", None),
        ("X.509 Credentials error", None),
        ("<input type=checkbox name=anonymous<<<>>>", None),
        ("<!-- <input type=checkbox name=anonymous checked> -->", None),
        ("<script>var s = '<input type=checkbox name=anonymous checked>';</script>", None),
    ],
)
def test_checkbox(page: str, *, expected: bool | None) -> None:
    assert privacy_from_settings_page(page) is expected


async def test_client_reads_privacy_from_the_page(
    simulator: SettingsSimulator, client: SipThorClient
) -> None:
    assert await client.get_privacy() is False
    await client.set_privacy_on()
    assert await client.get_privacy() is True
    request = simulator.counters.last("")
    # The HTML page: no action, the settings tab.
    assert request.params == {"account": ACCOUNT, "tab": "settings"}


async def test_client_without_checkbox_answers_none(
    simulator: SettingsSimulator, client: SipThorClient
) -> None:
    simulator.platform.behaviour.privacy_checkbox = False
    assert await client.get_privacy() is None


@pytest.mark.parametrize(
    ("faults", "error"),
    [
        (Faults(credentials_error=True), SipThorAuthenticationError),
        (Faults(status=500), SipThorServerError),
        (Faults(empty_body=True), SipThorServerError),
    ],
)
async def test_client_page_failures_are_typed(
    simulator: SettingsSimulator,
    client: SipThorClient,
    faults: Faults,
    error: type[Exception],
) -> None:
    simulator.faults = faults
    with pytest.raises(error):
        await client.get_privacy()
