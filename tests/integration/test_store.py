"""What an entry remembers across restarts stays small."""

from __future__ import annotations

from collections.abc import Iterator
import json
import logging
from pathlib import Path
from typing import Any
from unittest.mock import patch

from homeassistant.config_entries import ConfigEntryState
from homeassistant.const import STATE_UNKNOWN
from homeassistant.core import HomeAssistant
from homeassistant.helpers import storage
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.sipthor.const import DOMAIN, STORAGE_VERSION
from custom_components.sipthor.store import MAX_SEEN_CALLS, SipThorStore
from tests.integration.common import setup_entry

CALL = "event.alice_example_com_call"
DND = "switch.alice_example_com_do_not_disturb"


async def test_calls_announced_are_remembered_within_a_bound(hass: HomeAssistant) -> None:
    store = SipThorStore(hass, "an-entry")
    await store.async_load()
    assert store.seen_calls is None, "before the first call list: nothing announced"

    keys = [f"received:call-{number}:tag" for number in range(MAX_SEEN_CALLS + 100)]
    store.async_add_seen_calls(keys)
    store.async_add_seen_calls(keys[-10:])  # seen again: nothing changes
    seen = store.seen_calls
    assert seen is not None
    assert len(seen) == MAX_SEEN_CALLS
    # The oldest go first; the newest are kept.
    assert keys[0] not in seen
    assert keys[-1] in seen
    await store.async_flush()

    reloaded = SipThorStore(hass, "an-entry")
    await reloaded.async_load()
    assert reloaded.seen_calls == seen


# The real loader, taken before the test harness replaces it with one that reads from
# memory and refuses a file without ``data`` in its own way.
_REAL_LOAD = storage.Store._async_load


@pytest.fixture
def store_file(hass: HomeAssistant, mock_config_entry: MockConfigEntry) -> Iterator[Path]:
    """The entry's store file on disk, read by Home Assistant's own ``Store``."""
    key = f"{DOMAIN}.{mock_config_entry.entry_id}"
    storage.get_internal_store_manager(hass).async_invalidate(key)
    path = Path(hass.config.path(storage.STORAGE_DIR, key))
    path.parent.mkdir(parents=True, exist_ok=True)
    with patch.object(storage.Store, "_async_load", _REAL_LOAD):
        yield path


@pytest.mark.parametrize(
    "content",
    [
        # Written by a newer release (Home Assistant's Store cannot migrate down).
        {"version": STORAGE_VERSION + 1, "minor_version": 1, "key": "k", "data": {}},
        # Without its data member, or its version.
        {"version": STORAGE_VERSION, "minor_version": 1, "key": "k"},
        {"minor_version": 1, "key": "k", "data": {"seen_calls": []}},
        # Members of the wrong type.
        {"version": STORAGE_VERSION, "key": "k", "data": {"seen_calls": 5}},
        {"version": STORAGE_VERSION, "key": "k", "data": {"seen_calls": [1, None]}},
        {"version": STORAGE_VERSION, "key": "k", "data": {"dnd_without_end": "yes"}},
        {"version": STORAGE_VERSION, "key": "k", "data": {"shown_sources": "voicemail"}},
        {"version": STORAGE_VERSION, "key": "k", "data": {"shown_sources": [3]}},
        {"version": STORAGE_VERSION, "key": "k", "data": ["seen_calls"]},
        [],
    ],
    ids=[
        "newer-version",
        "no-data",
        "no-version",
        "seen-calls-a-number",
        "seen-calls-not-text",
        "dnd-not-a-bool",
        "shown-sources-not-a-list",
        "shown-sources-not-text",
        "data-a-list",
        "not-an-object",
    ],
)
@pytest.mark.usefixtures("stored_certificate")
async def test_a_damaged_store_file_loads_with_defaults_and_one_warning(
    hass: HomeAssistant,
    mock_config_entry: MockConfigEntry,
    store_file: Path,
    caplog: pytest.LogCaptureFixture,
    content: Any,
) -> None:
    store_file.write_text(json.dumps(content))
    assert await setup_entry(hass, mock_config_entry)
    assert mock_config_entry.state is ConfigEntryState.LOADED
    # Every entity came, the call event entity too (a TypeError kept it out).
    assert hass.states.get(CALL).state == STATE_UNKNOWN
    assert hass.states.get(DND).state == "off"
    warnings = [
        record
        for record in caplog.records
        if record.levelno >= logging.WARNING and record.name.startswith("custom_components")
    ]
    assert len(warnings) == 1, warnings
    assert "starting from defaults" in warnings[0].getMessage()
    assert warnings[0].exc_info is None
    assert not [record for record in caplog.records if record.levelno >= logging.ERROR]


@pytest.mark.usefixtures("stored_certificate")
async def test_an_intact_store_file_is_read_without_a_word(
    hass: HomeAssistant,
    mock_config_entry: MockConfigEntry,
    store_file: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """What another release wrote (a member read no more, a source unknown here) loads."""
    store_file.write_text(
        json.dumps(
            {
                "version": STORAGE_VERSION,
                "key": "k",
                "data": {
                    "seen_calls": ["an-earlier-call"],
                    "newest_call": None,
                    "shown_sources": ["voicemail", "a_source_of_a_newer_release"],
                },
            }
        )
    )
    assert await setup_entry(hass, mock_config_entry)
    seen = mock_config_entry.runtime_data.account.store.seen_calls
    assert seen is not None
    assert "an-earlier-call" in seen
    assert not [
        record
        for record in caplog.records
        if record.levelno >= logging.WARNING and record.name.startswith("custom_components")
    ]
