"""The SIP test bed works: Kamailio authenticates, notifies calls and voicemail, restarts.

These tests prove the bed (tests/sip/kamailio.py, tests/sip/agent.py) that the live
events are tested against, and pin what Kamailio does that the client relies on
(docs/sip-events.md).
"""

from __future__ import annotations

import asyncio
from xml.etree import ElementTree as ET

import pytest

from tests.sip.agent import SipAgent, SipMessage, Subscription
from tests.sip.kamailio import ALICE, BOB, BedOptions, KamailioBed

DIALOG_INFO = "{urn:ietf:params:xml:ns:dialog-info}"
# Generous: the suite must pass on a loaded machine; nothing here asserts a duration.
WAIT = 20.0


def dialog_states(notify: SipMessage) -> dict[str, str]:
    """The state of each dialog in a dialog-info NOTIFY, by Call-ID."""
    if not notify.body:
        return {}
    root = ET.fromstring(notify.body)  # noqa: S314 - Kamailio's document of our own calls
    return {
        dialog.get("call-id", ""): dialog.findtext(f"{DIALOG_INFO}state", "")
        for dialog in root.iter(f"{DIALOG_INFO}dialog")
    }


async def follow_call(
    subscription: Subscription, call_id: str, until: str, states: list[str]
) -> list[str]:
    """Add the states one call goes through, as NOTIFYs tell them, until ``until``.

    A state repeated by the next document (they are full state) is counted once.
    """
    while not states or states[-1] != until:
        state = dialog_states(await subscription.next_notify(WAIT)).get(call_id)
        if state and (not states or states[-1] != state):
            states.append(state)
    return states


async def watch(agent: SipAgent, event: str) -> Subscription:
    """Subscribe to alice's ``event`` and read the NOTIFY that opens the subscription."""
    subscription = await agent.subscribe(event)
    assert subscription.response is not None
    assert subscription.response.status == 200
    first = await subscription.next_notify(WAIT)
    assert (first.header("subscription-state") or "").startswith("active")
    return subscription


@pytest.mark.parametrize(
    ("kamailio", "challenge"),
    [(BedOptions(challenge=401), 401), (BedOptions(challenge=407), 407)],
    indirect=["kamailio"],
    ids=["401", "407"],
)
@pytest.mark.parametrize("transport", ["tls", "tcp"])
@pytest.mark.parametrize("event", ["dialog", "message-summary"])
async def test_an_authenticated_subscribe_is_accepted_and_notified(
    kamailio: KamailioBed, make_agent, challenge: int, transport: str, event: str
) -> None:
    watcher = await make_agent(ALICE, transport)

    subscription = await watcher.subscribe(event)

    assert watcher.statuses("SUBSCRIBE") == [challenge, 200]
    first = await subscription.next_notify(WAIT)
    assert first.header("event") == event
    state, _, expires = (first.header("subscription-state") or "").partition(";expires=")
    assert state == "active"
    assert 0 < int(expires) <= 600
    # Nothing is known yet: the first NOTIFY has no body.
    assert first.body == b""
    assert first.header("content-type") is None


async def test_a_missed_call_goes_early_then_terminated(kamailio: KamailioBed, make_agent) -> None:
    phone, watcher, bob = await make_agent(ALICE), await make_agent(ALICE), await make_agent(BOB)
    assert (await phone.register()).status == 200
    dialogs = await watch(watcher, "dialog")

    call = await bob.call(ALICE)
    ringing = await asyncio.wait_for(phone.calls.get(), WAIT)
    await call.wait_ringing()
    assert "sip:bob@example.com" in ringing.caller
    states = await follow_call(dialogs, call.dialog.call_id, "early", [])
    final = await call.cancel()
    await follow_call(dialogs, call.dialog.call_id, "terminated", states)

    assert final.status == 487
    assert ringing.cancelled.is_set()
    assert states == ["early", "terminated"]


async def test_an_answered_call_goes_early_confirmed_terminated(
    kamailio: KamailioBed, make_agent
) -> None:
    phone, watcher, bob = await make_agent(ALICE), await make_agent(ALICE), await make_agent(BOB)
    assert (await phone.register()).status == 200
    dialogs = await watch(watcher, "dialog")

    call = await bob.call(ALICE)
    ringing = await asyncio.wait_for(phone.calls.get(), WAIT)
    await call.wait_ringing()
    states = await follow_call(dialogs, call.dialog.call_id, "early", [])
    answered = await asyncio.gather(ringing.answer(), call.wait_answered())
    assert answered[1].status == 200
    await follow_call(dialogs, call.dialog.call_id, "confirmed", states)
    assert (await call.hang_up()).status == 200
    await asyncio.wait_for(ringing.ended.wait(), WAIT)
    await follow_call(dialogs, call.dialog.call_id, "terminated", states)

    assert states == ["early", "confirmed", "terminated"]
