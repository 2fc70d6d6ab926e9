"""Caller-ID privacy read from the settings page's HTML checkbox (docs/settings-api.md §6.2)."""

from __future__ import annotations

import time

from hypothesis import given, settings
import pytest

from custom_components.sipthor.api import (
    MAX_BODY_SIZE,
    SipThorAuthenticationError,
    SipThorClient,
    SipThorServerError,
)
from custom_components.sipthor.api.privacy import privacy_from_settings_page
from simulator import SettingsSimulator
from simulator.server import Faults
from tests.api.hostile import cpu_time, hostile_pages, loop_cpu_watched, settings_pages
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


BOX = "<input type=checkbox name=anonymous{}>"
ON, OFF = BOX.format(" checked"), BOX.format("")


@pytest.mark.parametrize(
    ("page", "expected"),
    [
        # Two boxes that disagree: either could be the account's.
        (ON + OFF, None),
        (OFF + "<p>" * 100 + ON, None),
        (ON + ON, True),
        # What a textarea, title, style or script holds, or a comment, is text.
        (f"<textarea>{ON}</textarea>{OFF}", False),
        (f"<TITLE>{ON}</TITLE>", None),
        (f"<style>p {{}} {ON}</style>{OFF}", False),
        (f"<script>'</scripts>{ON}'</SCRIPT >{OFF}", False),
        (f"<!-- {ON} --!>{OFF}", False),
        (f"<!--> {ON}", True),
        (f"<!-- never closed {ON}", None),
        (f"<textarea>never closed {ON}", None),
        # A tag ends at the first ">" outside a quoted value.
        ('<input type=checkbox value="a>b" name=anonymous checked>', True),
        (f'<div title="{ON}">{OFF}', False),
        (f"<div title='x' data-x={ON}", None),
        # Without a type an input is a text field (HTML's default), not the box.
        ("<input name=anonymous checked>", None),
        # The first of a repeated attribute counts; names and values in any case.
        ("<input type=checkbox name=anonymous name=other checked>", True),
        ("<INPUT Type=CheckBox NAME=' Anonymous ' Checked=''>", True),
        ("<input type=checkbox name=other name=anonymous checked>", None),
        # Too many boxes for CDRTool's page: not read one by one.
        (ON * 17, None),
    ],
)
def test_ambiguous_and_hidden_boxes(page: str, *, expected: bool | None) -> None:
    """Issue 17: on main two disagreeing boxes gave the first one's state, and a box
    inside a textarea or title counted."""
    assert privacy_from_settings_page(page) is expected


# -- pages a hostile server may send ------------------------------------------------------

# No more than this CPU time between two pauses, where the event loop may run.
PIECE_CPU_BUDGET = 0.005
LOOP_CPU_BUDGET = 0.020


def longest_piece(page: str) -> tuple[float, bool | None]:
    """The most CPU time the scan spends between two pauses, GC off; and its answer."""
    stretches: list[float] = []
    answer: list[bool | None] = []

    def scan() -> None:
        last = time.thread_time()

        def pause() -> None:
            nonlocal last
            now = time.thread_time()
            stretches.append(now - last)
            last = now

        answer.append(privacy_from_settings_page(page, pause=pause))
        stretches.append(time.thread_time() - last)

    cpu_time(scan, repeats=1)
    return max(stretches), answer[0]


@settings(deadline=None, max_examples=60)
@given(settings_pages())
def test_any_page_is_read_right(page_and_answer: tuple[str, bool | None]) -> None:
    """Boxes hidden in comments, raw text or attribute values, floods and odd bytes
    around them: the answer is what a browser shows, read in short pieces."""
    page, expected = page_and_answer

    piece, answer = longest_piece(page)

    assert answer is expected
    assert piece <= PIECE_CPU_BUDGET


@settings(deadline=None, max_examples=60)
@given(hostile_pages)
def test_any_page_up_to_the_cap_is_read_in_short_pieces(page: str) -> None:
    """On main html.parser took 5 s for 64 KB of "<a" (quadratic on Python 3.13.0)."""
    piece, answer = longest_piece(page)

    assert answer in (True, False, None)
    assert piece <= PIECE_CPU_BUDGET


@pytest.mark.parametrize("unit", ["<a", "<!---->", "<script>", "</script>", "<input a="])
def test_the_cost_grows_linearly(unit: str) -> None:
    """Four times the page, at most eight times the CPU time (quadratic: sixteen)."""

    def page(size: int) -> str:
        return (unit * (size // len(unit) + 1))[:size]

    small, large = (
        cpu_time(lambda size=size: privacy_from_settings_page(page(size), pause=lambda: None))
        for size in (MAX_BODY_SIZE // 4, MAX_BODY_SIZE)
    )

    assert large <= 8 * small + 0.001, (small, large)


async def test_client_reads_privacy_from_the_page(
    simulator: SettingsSimulator, client: SipThorClient
) -> None:
    assert await client.get_privacy() is False
    await client.set_privacy_on()
    assert await client.get_privacy() is True
    request = simulator.counters.last("")
    # The HTML page: no action, the settings tab.
    assert request.params == {"account": ACCOUNT, "tab": "settings"}


async def test_client_reads_a_hostile_page_up_to_the_cap(
    simulator: SettingsSimulator, client: SipThorClient
) -> None:
    """Floods around the box, over TLS: the right answer, the loop never held."""
    flood = "<a<!---->" * 7000
    simulator.faults.body = f"<html>{flood}<textarea>{ON}</textarea>{OFF}{flood}</html>"
    assert len(simulator.faults.body) > 100_000

    async with loop_cpu_watched() as watchdog:
        assert await client.get_privacy() is False

    # The loop also runs the simulator here: its TLS and its writes of 64 KiB.
    assert watchdog.worst <= LOOP_CPU_BUDGET


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
