"""The live channel against a real SIP server: Kamailio (demo/kamailio.py).

Alice's channel finds the server through SRV (TLS, the certificate from the simulator's
CA checked against the domain or the SRV target), subscribes to dialog and
message-summary, and turns what Kamailio notifies into events while scripted user agents
(demo/sip_agent.py) register alice's phone, call her and publish her voicemail count.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
import re

import pytest

from custom_components.sipthor.api import CallDirection
from custom_components.sipthor.api.sip import (
    CallEvent,
    CallEventKind,
    CallState,
    ChannelState,
    EventPackage,
    LiveTimings,
    ManualServer,
    MessageCounts,
    MessageSummaryEvent,
    SrvRecord,
    StatusReason,
    SubscriptionState,
    SubscriptionStatus,
    SubscriptionTarget,
    Transport,
)
from demo.kamailio import ALICE, BOB, BedOptions, KamailioBed
from tests.sip.helpers import WAIT, CountingProxy, Recorder, TableResolver

# Kamailio back within this, the subscriptions must be too (the bound).
BACK_WITHIN = 30.0


def srv_for(kamailio: KamailioBed) -> TableResolver:
    """example.com's DNS as a platform would publish it: TLS and TCP at sip.example.com."""
    return TableResolver(
        srv={
            "_sips._tcp.example.com": [SrvRecord(10, 0, kamailio.tls_port, "sip.example.com")],
            "_sip._tcp.example.com": [SrvRecord(10, 0, kamailio.tcp_port, "sip.example.com")],
        },
        hosts={"sip.example.com": [kamailio.host]},
    )


def kinds(recorder: Recorder) -> list[CallEventKind]:
    return [event.kind for event in recorder.of(CallEvent)]


async def test_calls_and_voicemail_arrive_live(
    kamailio: KamailioBed, make_agent, subscribed, no_traceback
) -> None:
    channel, recorder = await subscribed(
        resolver=srv_for(kamailio), ssl_context=kamailio.client_ssl_context()
    )
    assert channel.status.server == f"sip.example.com:{kamailio.tls_port};transport=tls"
    phone, bob = await make_agent(ALICE), await make_agent(BOB)
    assert (await phone.register()).status == 200

    # A missed call: bob cancels while alice's phone rings.
    call = await bob.call(ALICE)
    ringing = await asyncio.wait_for(phone.calls.get(), WAIT)
    await recorder.until(lambda: channel.call_state is CallState.RINGING)
    await call.cancel()
    await recorder.until(lambda: CallEventKind.ENDED in kinds(recorder))

    missed = recorder.of(CallEvent)
    assert [event.kind for event in missed] == [
        CallEventKind.RINGING,
        CallEventKind.MISSED,
        CallEventKind.ENDED,
    ]
    assert {event.call_id for event in missed} == {call.dialog.call_id}
    assert missed[0].remote.uri == "sip:bob@example.com"
    assert missed[0].direction is CallDirection.RECEIVED
    assert missed[2].answered is False
    assert ringing.cancelled.is_set()

    # An answered call.
    recorder.events.clear()
    call = await bob.call(ALICE)
    ringing = await asyncio.wait_for(phone.calls.get(), WAIT)
    await recorder.until(lambda: channel.call_state is CallState.RINGING)
    await asyncio.gather(ringing.answer(), call.wait_answered())
    await recorder.until(lambda: channel.call_state is CallState.IN_CALL)
    await call.hang_up()
    await recorder.until(lambda: CallEventKind.ENDED in kinds(recorder))
    assert kinds(recorder) == [CallEventKind.RINGING, CallEventKind.ANSWERED, CallEventKind.ENDED]
    assert recorder.of(CallEvent)[-1].answered is True
    assert channel.call_state is CallState.IDLE

    # The voicemail count.
    assert (await phone.publish_mwi(new=2, old=5, urgent_new=1)).status == 200
    summary = await recorder.until(lambda: recorder.of(MessageSummaryEvent))
    assert summary[-1].summary.voice == MessageCounts(2, 5, 1, 0)
    assert summary[-1].summary.messages_waiting
    # Full-state documents repeat ended calls for a while: nothing was announced twice.
    await asyncio.sleep(1)
    assert kinds(recorder) == [CallEventKind.RINGING, CallEventKind.ANSWERED, CallEventKind.ENDED]


@pytest.mark.parametrize(
    "kamailio",
    [BedOptions(challenge=401), BedOptions(challenge=407)],
    indirect=True,
    ids=["401", "407"],
)
@pytest.mark.parametrize("transport", [Transport.TLS, Transport.TCP])
async def test_each_challenge_over_each_transport(
    kamailio: KamailioBed, make_channel, transport: Transport
) -> None:
    channel, recorder = make_channel(
        server=ManualServer(kamailio.host, kamailio.port(transport.value), transport),
        ssl_context=kamailio.client_ssl_context(),
    )
    await channel.start()
    await recorder.active()
    expires = channel.status.subscriptions[EventPackage.DIALOG].expires
    assert expires is not None


async def test_behind_a_nat_notifies_come_back_to_the_address_the_server_saw(
    kamailio: KamailioBed, make_agent, subscribed
) -> None:
    # The relay gives the server another source port than the channel's own, as a home
    # router does; the server is not NAT-aware (it sends NOTIFYs to the Contact as
    # written). The Contact names the address learned from the server's rport.
    router = CountingProxy(kamailio.tls_port)
    await router.start()
    try:
        channel, recorder = await subscribed(
            server=ManualServer(kamailio.host, router.port, Transport.TLS),
            ssl_context=kamailio.client_ssl_context(),
        )
        assert channel.snapshot()["connection"]["address_learned"]
        phone = await make_agent(ALICE)
        assert (await phone.publish_mwi(new=1)).status == 200
        await recorder.until(lambda: recorder.of(MessageSummaryEvent))
        assert router.connections == 1  # the certificate checked against the domain at once
    finally:
        await router.stop()


async def test_a_wrong_password_is_one_refused_subscribe_and_no_loop(
    kamailio: KamailioBed, make_channel
) -> None:
    channel, recorder = make_channel(
        password="wrong", resolver=srv_for(kamailio), ssl_context=kamailio.client_ssl_context()
    )
    await channel.start()
    await recorder.until(lambda: not channel.running)

    assert channel.status.state is ChannelState.AUTH_FAILED
    assert channel.status.reason is StatusReason.AUTH_FAILED
    subscribes = re.findall(r"bed: SUBSCRIBE .* \(Call-ID ([^)]+)\)", kamailio.log())
    # One SUBSCRIBE challenged, the same one with the wrong credentials: nothing more.
    assert len(subscribes) == 2
    assert len(set(subscribes)) == 1


async def test_subscriptions_are_back_after_kamailio_is_killed_and_restarted(
    kamailio: KamailioBed, make_agent, subscribed
) -> None:
    # The default timings: the back-off a user's Home Assistant would use.
    channel, recorder = await subscribed(
        resolver=srv_for(kamailio),
        ssl_context=kamailio.client_ssl_context(),
        timings=LiveTimings(),
    )

    await kamailio.kill()
    await recorder.until(lambda: channel.status.state is not ChannelState.CONNECTED)
    assert {status.state for status in channel.status.subscriptions.values()} == {
        SubscriptionState.RETRYING
    }
    await kamailio.start()
    await recorder.active(timeout=BACK_WITHIN)

    # And they work: a call rings.
    phone, bob = await make_agent(ALICE), await make_agent(BOB)
    assert (await phone.register()).status == 200
    call = await bob.call(ALICE)
    await asyncio.wait_for(phone.calls.get(), WAIT)
    await recorder.until(lambda: CallEventKind.RINGING in kinds(recorder))
    await call.cancel()


async def test_a_call_to_alice_without_a_phone_is_no_ringing(
    kamailio: KamailioBed, make_agent, subscribed
) -> None:
    _, recorder = await subscribed(
        resolver=srv_for(kamailio), ssl_context=kamailio.client_ssl_context()
    )
    bob = await make_agent(BOB)

    await bob.call(ALICE)  # Kamailio finds no phone and refuses it
    await recorder.until(lambda: CallEventKind.ENDED in kinds(recorder))
    assert kinds(recorder) == [CallEventKind.ENDED]
    assert recorder.of(CallEvent)[0].answered is None


@pytest.mark.parametrize("kamailio", [BedOptions(dummy_dialog=True)], indirect=True)
async def test_kamailio_s_dummy_dialog_announces_no_call(
    kamailio: KamailioBed, make_agent, subscribed
) -> None:
    channel, recorder = await subscribed(
        resolver=srv_for(kamailio), ssl_context=kamailio.client_ssl_context()
    )
    phone, bob = await make_agent(ALICE), await make_agent(BOB)
    assert (await phone.register()).status == 200

    call = await bob.call(ALICE)
    await asyncio.wait_for(phone.calls.get(), WAIT)
    await recorder.until(lambda: channel.call_state is CallState.RINGING)
    await call.cancel()
    await recorder.until(lambda: CallEventKind.ENDED in kinds(recorder))

    assert kinds(recorder) == [CallEventKind.RINGING, CallEventKind.MISSED, CallEventKind.ENDED]


async def test_two_phones_ring_once(kamailio: KamailioBed, make_agent, subscribed) -> None:
    channel, recorder = await subscribed(
        resolver=srv_for(kamailio), ssl_context=kamailio.client_ssl_context()
    )
    desk, mobile, bob = await make_agent(ALICE), await make_agent(ALICE), await make_agent(BOB)
    assert (await desk.register()).status == 200
    assert (await mobile.register()).status == 200

    call = await bob.call(ALICE)
    await asyncio.wait_for(desk.calls.get(), WAIT)
    await asyncio.wait_for(mobile.calls.get(), WAIT)
    await recorder.until(lambda: channel.call_state is CallState.RINGING)
    await call.cancel()
    await recorder.until(lambda: CallEventKind.ENDED in kinds(recorder))

    assert kinds(recorder) == [CallEventKind.RINGING, CallEventKind.MISSED, CallEventKind.ENDED]


# Alice's mailbox as the settings page names it (get_voicemail's Account): her name at
# the voicemail server's domain, where the bed serves message-summary.
MAILBOX = "alice@vm.example.com"


def summary_status(channel) -> SubscriptionStatus:
    return channel.status.subscriptions[EventPackage.MESSAGE_SUMMARY]


def subscribed_at(kamailio: KamailioBed, address: str) -> int:
    """How many subscriptions were asked for at ``address`` (a challenged one counts once)."""
    pattern = rf"bed: SUBSCRIBE sip:{re.escape(address)} .* \(Call-ID ([^)]+)\)"
    return len(set(re.findall(pattern, kamailio.log())))


@pytest.mark.parametrize("kamailio", [BedOptions(mwi_at_account=False)], indirect=True)
async def test_the_count_moves_to_the_mailbox_where_the_account_does_not_offer_it(
    kamailio: KamailioBed, make_agent, make_channel, no_traceback
) -> None:
    channel, recorder = make_channel(
        resolver=srv_for(kamailio), ssl_context=kamailio.client_ssl_context()
    )
    await channel.start()
    await recorder.active(EventPackage.DIALOG)
    # No mailbox known: not offered, and nothing more is asked within the hour.
    await recorder.until(lambda: summary_status(channel).state is SubscriptionState.NOT_OFFERED)
    assert summary_status(channel).reason is StatusReason.BAD_EVENT
    assert summary_status(channel).target is SubscriptionTarget.ACCOUNT

    # The settings page names the mailbox: the count is subscribed there, at once.
    channel.set_mailbox(MAILBOX)
    await recorder.active(EventPackage.MESSAGE_SUMMARY)
    assert summary_status(channel).target is SubscriptionTarget.MAILBOX
    assert channel.snapshot()["subscriptions"]["message-summary"]["resource"] == "mailbox"
    voicemail = await make_agent(ALICE)
    published = await voicemail.publish_mwi(new=3, old=1, mailbox=f"sip:{MAILBOX}")
    assert published.status == 200
    counts = await recorder.until(lambda: recorder.of(MessageSummaryEvent))
    assert counts[-1].summary.voice == MessageCounts(3, 1)

    # The mailbox moves: so does the subscription, and the old one is ended.
    channel.set_mailbox("alice@mail.example.com")
    await recorder.until(lambda: subscribed_at(kamailio, "alice@mail.example.com") >= 1)
    await recorder.active(EventPackage.MESSAGE_SUMMARY)
    assert channel.message_summary is None or channel.message_summary.voice != MessageCounts(3, 1)
    recorder.events.clear()
    await voicemail.publish_mwi(new=4, mailbox="sip:alice@mail.example.com")
    counts = await recorder.until(lambda: recorder.of(MessageSummaryEvent))
    assert counts[-1].summary.voice == MessageCounts(4, 0)

    # No mailbox any more: not offered, without asking the account again within its hour.
    asked = subscribed_at(kamailio, f"alice@{kamailio.domain}")
    channel.set_mailbox(None)
    await recorder.until(lambda: summary_status(channel).state is SubscriptionState.NOT_OFFERED)
    await asyncio.sleep(1)  # a storm would have sent more by now
    assert subscribed_at(kamailio, f"alice@{kamailio.domain}") == asked
    assert summary_status(channel).next_attempt - datetime.now(UTC) > timedelta(minutes=50)


@pytest.mark.parametrize("kamailio", [BedOptions(mwi_at_account=False)], indirect=True)
async def test_a_voicemail_uri_is_the_only_address_of_the_count(
    kamailio: KamailioBed, make_agent, make_channel
) -> None:
    channel, recorder = make_channel(
        resolver=srv_for(kamailio),
        ssl_context=kamailio.client_ssl_context(),
        voicemail_uri="alice@mail.example.com",
    )
    channel.set_mailbox(MAILBOX)  # the settings page's mailbox does not count
    await channel.start()
    await recorder.active()

    assert summary_status(channel).target is SubscriptionTarget.VOICEMAIL_URI
    assert subscribed_at(kamailio, f"alice@{kamailio.domain}") == 1  # dialog only
    assert subscribed_at(kamailio, MAILBOX) == 0
    voicemail = await make_agent(ALICE)
    assert (await voicemail.publish_mwi(new=2, mailbox="sip:alice@mail.example.com")).status == 200
    counts = await recorder.until(lambda: recorder.of(MessageSummaryEvent))
    assert counts[-1].summary.voice == MessageCounts(2, 0)
