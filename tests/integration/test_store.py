"""What an entry remembers across restarts stays small."""

from __future__ import annotations

from homeassistant.core import HomeAssistant

from custom_components.sipthor.store import MAX_SEEN_CALLS, SipThorStore


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
