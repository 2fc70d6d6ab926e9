"""The live channel against a scripted SIP server: the faults Kamailio will not produce.

Each test runs the real channel over real TLS (or TCP) on loopback; the server side is
tests/sip/fake_server.py, which challenges with Digest and sends what the test scripts.
Timings are the defaults shrunk (tests/sip/helpers.py: FAST), never asserted.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
import logging
import ssl

import pytest

from custom_components.sipthor.api import CallDirection
from custom_components.sipthor.api.sip import (
    MAX_QUEUED_EVENTS,
    CallEvent,
    CallEventKind,
    CallState,
    ChannelState,
    EventPackage,
    LiveTimings,
    ManualServer,
    MessageCounts,
    MessageProblem,
    MessageSummaryEvent,
    SipLiveChannel,
    SrvRecord,
    StatusReason,
    SubscriptionState,
    SubscriptionTarget,
    Transport,
)
from demo.kamailio import ALICE
from simulator.certs import new_authority
from tests.sip.fake_server import FakeSipServer, Message
from tests.sip.helpers import FAST, WAIT, TableResolver

DIALOG = EventPackage.DIALOG
SUMMARY = EventPackage.MESSAGE_SUMMARY
NS = "urn:ietf:params:xml:ns:dialog-info"
DIALOG_INFO = "application/dialog-info+xml"
MWI = "application/simple-message-summary"


def dialog_info(version: int, state: str, *, full: bool = True, call_id: str = "call-1") -> bytes:
    return (
        f'<?xml version="1.0"?><dialog-info xmlns="{NS}" version="{version}" '
        f'state="{"full" if full else "partial"}" entity="sip:alice@example.com">'
        f'<dialog id="d1" call-id="{call_id}" direction="recipient"><state>{state}</state>'
        f'<remote><identity display="Bob">sip:bob@example.com</identity></remote>'
        f"</dialog></dialog-info>"
    ).encode()


async def test_it_subscribes_to_both_packages_answering_the_challenge(
    fake_server: FakeSipServer, subscribed, no_traceback
) -> None:
    channel, _ = await subscribed(fake_server)

    first, authenticated, second = fake_server.subscribes()
    # One challenge for the account; the second package goes with credentials at once.
    assert first.header("proxy-authorization") is None
    assert authenticated.header("proxy-authorization") is not None
    assert second.header("proxy-authorization") is not None
    assert [request.header("event") for request in (first, second)] == ["dialog", "message-summary"]
    assert fake_server.authentication_failures == 0
    for request in (first, second):
        assert request.uri == "sip:alice@example.com"
        assert request.header("expires") == "3600"
        # NOTIFYs come back on this connection: its own address, ;ob, rport and alias.
        connection = fake_server.connections[0].writer.get_extra_info("peername")
        assert request.header("contact") == (
            f"<sip:alice@{connection[0]}:{connection[1]};transport=tls;ob>"
        )
        assert request.header("via").endswith(";rport;alias")
    assert request.header("accept") == MWI
    status = channel.status
    assert status.state is ChannelState.CONNECTED
    assert status.server == f"127.0.0.1:{fake_server.port};transport=tls"
    assert status.subscriptions[DIALOG].expires is not None
    assert status.last_notify is not None


@pytest.mark.parametrize("challenge", [401, 407])
@pytest.mark.parametrize("qop", [True, False], ids=["qop", "rfc2069"])
async def test_both_challenges_with_and_without_qop(
    fake_server: FakeSipServer, subscribed, challenge: int, qop: bool
) -> None:
    fake_server.challenge = challenge
    fake_server.qop = qop
    await subscribed(fake_server)

    header = "authorization" if challenge == 401 else "proxy-authorization"
    credentials = fake_server.subscribes()[-1].header(header)
    assert credentials is not None
    assert ("qop=auth" in credentials) is qop


async def test_notifies_become_call_and_voicemail_events(
    fake_server: FakeSipServer, subscribed
) -> None:
    channel, recorder = await subscribed(fake_server)
    dialogs = await fake_server.subscription("dialog")
    voicemail = await fake_server.subscription("message-summary")

    answer = await fake_server.notify(dialogs, dialog_info(1, "early"), DIALOG_INFO)
    assert answer is not None
    assert answer.status == 200
    assert channel.call_state is CallState.RINGING
    await fake_server.notify(dialogs, dialog_info(2, "terminated"), DIALOG_INFO)
    await fake_server.notify(
        voicemail, b"Messages-Waiting: yes\r\nVoice-Message: 2/5 (1/0)\r\n", MWI
    )

    calls = recorder.of(CallEvent)
    assert [event.kind for event in calls] == [
        CallEventKind.RINGING,
        CallEventKind.MISSED,
        CallEventKind.ENDED,
    ]
    assert calls[0].remote.uri == "sip:bob@example.com"
    assert calls[0].remote.display_name == "Bob"
    assert calls[0].direction is CallDirection.RECEIVED
    assert calls[0].call_id == "call-1"
    (summary,) = recorder.of(MessageSummaryEvent)
    assert summary.summary.voice == MessageCounts(2, 5, 1, 0)
    assert channel.message_summary == summary.summary
    assert channel.call_state is CallState.IDLE


async def test_the_events_iterator_yields_the_same_events(
    fake_server: FakeSipServer, make_channel
) -> None:
    channel, recorder = make_channel(fake_server)
    events = channel.events()
    await channel.start()
    await recorder.active()
    dialogs = await fake_server.subscription("dialog")
    await fake_server.notify(dialogs, dialog_info(1, "early"), DIALOG_INFO)

    async with asyncio.timeout(WAIT):
        received = [await anext(events) for _ in range(len(recorder.events))]
    await events.aclose()
    assert received == recorder.events


async def test_a_wrong_password_fails_once_and_stops(
    fake_server: FakeSipServer, make_channel, caplog: pytest.LogCaptureFixture
) -> None:
    channel, recorder = make_channel(fake_server, password="not-the-password")
    await channel.start()
    await recorder.until(lambda: channel.status.state is ChannelState.AUTH_FAILED)
    await recorder.until(lambda: not channel.running)

    assert fake_server.authentication_failures == 1
    assert len(fake_server.subscribes()) == 2  # challenged, then refused: no third
    status = channel.status
    assert status.reason is StatusReason.AUTH_FAILED
    assert {sub.state for sub in status.subscriptions.values()} == {SubscriptionState.AUTH_FAILED}
    assert [record.levelname for record in caplog.records if "password" in record.message] == [
        "WARNING"
    ]
    assert "not-the-password" not in caplog.text


async def test_a_stale_nonce_is_answered_again_without_failing(
    fake_server: FakeSipServer, subscribed
) -> None:
    fake_server.max_expires = 2  # refreshes every second
    channel, recorder = await subscribed(fake_server)
    fake_server.stale_next = True
    count = len(fake_server.subscribes())
    await fake_server.wait_for(lambda: len(fake_server.subscribes()) >= count + 3)
    await recorder.active()

    assert fake_server.authentication_failures == 0
    assert channel.status.state is ChannelState.CONNECTED


async def test_refreshes_go_in_the_dialog_to_the_server_s_contact(
    fake_server: FakeSipServer, subscribed
) -> None:
    fake_server.max_expires = 2
    await subscribed(fake_server)
    first = fake_server.subscribes("dialog")[-1]
    refresh = await fake_server.wait_for(
        lambda: next(
            (r for r in fake_server.subscribes("dialog") if "tag=" in (r.header("to") or "")),
            None,
        )
    )

    assert refresh.call_id == first.call_id
    # The Request-URI is the server's Contact, and the Digest uri is that Request-URI.
    assert refresh.uri == fake_server.server_uri
    assert f'uri="{fake_server.server_uri}"' in (refresh.header("proxy-authorization") or "")
    assert fake_server.authentication_failures == 0


async def test_481_on_refresh_subscribes_again_with_a_new_dialog(
    fake_server: FakeSipServer, make_channel
) -> None:
    fake_server.max_expires = 2
    fake_server.refresh_answers["dialog"].append(481)
    channel, recorder = make_channel(fake_server)
    await channel.start()
    await recorder.until(
        lambda: any(
            status.subscriptions[DIALOG].reason is StatusReason.SUBSCRIPTION_GONE
            and status.subscriptions[DIALOG].code == 481
            and status.subscriptions[DIALOG].next_attempt is not None
            for status in recorder.statuses
        )
    )
    second = await fake_server.subscription("dialog", 2)
    await recorder.active()

    assert second.call_id != fake_server.subscriptions[0].call_id
    answer = await fake_server.notify(second, dialog_info(1, "early"), DIALOG_INFO)
    assert answer is not None
    assert answer.status == 200
    assert channel.call_state is CallState.RINGING


async def test_a_connection_cut_mid_notify_reconnects_and_subscribes_again(
    fake_server: FakeSipServer, subscribed, no_traceback
) -> None:
    channel, recorder = await subscribed(fake_server)
    dialogs = await fake_server.subscription("dialog")

    body = dialog_info(1, "early")
    head = f"NOTIFY {dialogs.contact} SIP/2.0\r\nContent-Length: {len(body)}\r\n".encode()
    dialogs.connection.send(head + b"Via: SIP/2.0/TLS 127.0.0.1;branch=z9hG4bKcut\r\n")
    await asyncio.sleep(0)  # the bytes leave before the connection is cut
    dialogs.connection.cut()

    await recorder.until(
        lambda: any(status.reason is StatusReason.CONNECTION_LOST for status in recorder.statuses)
    )
    await fake_server.subscription("dialog", 2)
    await recorder.active()
    assert len(fake_server.connections) == 2
    assert recorder.of(CallEvent) == []
    assert channel.snapshot()["connections"] == 2


@pytest.mark.parametrize(
    ("code", "reason"),
    [(489, StatusReason.BAD_EVENT), (403, StatusReason.FORBIDDEN), (404, StatusReason.NOT_FOUND)],
)
async def test_an_event_not_offered_is_asked_again_hourly_with_one_info_line(
    fake_server: FakeSipServer,
    make_channel,
    caplog: pytest.LogCaptureFixture,
    code: int,
    reason: StatusReason,
) -> None:
    caplog.set_level(logging.INFO, logger="custom_components.sipthor.api.sip")
    fake_server.answers["dialog"].append(code)
    channel, recorder = make_channel(fake_server)
    await channel.start()
    await recorder.active(SUMMARY)
    await recorder.until(
        lambda: channel.status.subscriptions[DIALOG].state is SubscriptionState.NOT_OFFERED
    )

    dialog = channel.status.subscriptions[DIALOG]
    assert dialog.reason is reason
    assert dialog.code == code
    assert dialog.detail == "Scripted"
    assert dialog.next_attempt is not None
    assert dialog.next_attempt - datetime.now(UTC) > timedelta(minutes=59)
    assert len(fake_server.subscribes("dialog")) == 2  # challenged, then refused
    offered = [record for record in caplog.records if "does not offer" in record.message]
    assert [record.levelname for record in offered] == ["INFO"]
    assert channel.status.state is ChannelState.CONNECTED


async def test_a_refusal_repeated_every_hour_is_told_once_until_the_address_accepts(
    fake_server: FakeSipServer, make_channel, caplog: pytest.LogCaptureFixture
) -> None:
    """The hourly retry of an event the server does not offer would otherwise put the
    same info line in the log 24 times a day, for ever; a refusal after an acceptance
    is news again."""
    caplog.set_level(logging.DEBUG, logger="custom_components.sipthor.api.sip")
    fake_server.answers["dialog"].extend([489, 489, 489])
    fake_server.max_expires = 2
    # The hour shrunk to a tenth of a second.
    timings = replace(FAST, not_offered_retry=0.1)
    channel, recorder = make_channel(fake_server, timings=timings)
    await channel.start()
    await recorder.until(
        lambda: channel.status.subscriptions[DIALOG].state is SubscriptionState.ACTIVE
    )

    def told() -> list[str]:
        return [r.levelname for r in caplog.records if "does not offer dialog" in r.message]

    assert told() == ["INFO", "DEBUG", "DEBUG"]
    # Accepted, then refused on a refresh: that is said at info level again.
    fake_server.refresh_answers["dialog"].append(489)
    await recorder.until(lambda: len(told()) == 4)
    assert told()[-1] == "INFO"


@dataclass(frozen=True)
class Hostile:
    """A NOTIFY the channel must refuse, and how."""

    body: bytes
    content_type: str | None
    extra: str
    status: int
    problem: MessageProblem


ENTITY_BOMB = (
    b'<?xml version="1.0"?><!DOCTYPE d [<!ENTITY a "aaaaaaaaaa"><!ENTITY b '
    b'"&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">]><dialog-info version="5" state="full" '
    b'entity="x">&b;</dialog-info>'
)


@pytest.mark.parametrize(
    "hostile",
    [
        Hostile(b"x" * (1024 * 1024), DIALOG_INFO, "", 413, MessageProblem.BODY_TOO_LARGE),
        Hostile(b"", None, "X-A: a\rInjected: yes\r\n", 400, MessageProblem.CONTROL_CHARACTER),
        Hostile(b"", None, "X-Nul: a\x00b\r\n", 400, MessageProblem.CONTROL_CHARACTER),
        Hostile(ENTITY_BOMB, DIALOG_INFO, "", 400, MessageProblem.BAD_BODY),
        Hostile(b"<dialog-info>" + b"<a>" * 5000, DIALOG_INFO, "", 400, MessageProblem.BAD_BODY),
        Hostile(b"<html/>", "text/html", "", 415, MessageProblem.UNSUPPORTED_BODY),
    ],
    ids=["1MB", "bare-cr", "nul", "entity-bomb", "deep", "wrong-type"],
)
async def test_hostile_notifies_are_answered_typed_and_the_channel_stays(
    fake_server: FakeSipServer, subscribed, no_traceback, stall_meter, hostile: Hostile
) -> None:
    channel, _ = await subscribed(fake_server)
    dialogs = await fake_server.subscription("dialog")

    answer = await fake_server.notify(
        dialogs, hostile.body, hostile.content_type, extra=hostile.extra
    )
    assert answer is not None
    assert answer.status == hostile.status
    # Still the same connection and subscription: the next NOTIFY is read as usual.
    answer = await fake_server.notify(dialogs, dialog_info(9, "early"), DIALOG_INFO)
    assert answer is not None
    assert answer.status == 200
    assert channel.call_state is CallState.RINGING
    assert len(fake_server.connections) == 1
    assert channel.snapshot()["refused_messages"] == {hostile.problem: 1}
    # Reading, refusing and answering it held the event loop for less than 5 ms.
    assert stall_meter.steps > 0
    assert stall_meter.worst < stall_meter.limit, stall_meter.where


@pytest.mark.parametrize("length_error", [-10, 200], ids=["too-short", "too-long"])
async def test_a_wrong_content_length_costs_the_connection_not_the_channel(
    fake_server: FakeSipServer, subscribed, no_traceback, length_error: int
) -> None:
    channel, recorder = await subscribed(fake_server)
    dialogs = await fake_server.subscription("dialog")
    body = dialog_info(1, "early")

    await fake_server.notify(
        dialogs, body, DIALOG_INFO, content_length=len(body) + length_error, wait=False
    )
    # What follows is read from the wrong place: the rest of a body, or inside the body.
    await fake_server.notify(dialogs, dialog_info(2, "confirmed"), DIALOG_INFO, wait=False)
    await recorder.until(
        lambda: any(status.reason is StatusReason.FRAMING_LOST for status in recorder.statuses)
    )
    # A new connection brings the subscriptions back, with their full state.
    second = await fake_server.subscription("dialog", 2)
    await recorder.active()
    answer = await fake_server.notify(second, dialog_info(1, "early"), DIALOG_INFO)
    assert answer is not None
    assert answer.status == 200
    assert channel.snapshot()["refused_messages"].get(MessageProblem.BAD_START_LINE, 0) in (0, 1)


async def test_no_notify_after_the_2xx_is_a_failure_retried_with_back_off(
    fake_server: FakeSipServer, make_channel
) -> None:
    fake_server.notify_on_grant = False
    channel, recorder = make_channel(
        fake_server,
        timings=LiveTimings(
            transaction_timeout=10, notify_timeout=0.3, backoff_first=0.05, backoff_max=0.4
        ),
        packages=[DIALOG],
    )
    await channel.start()
    await recorder.until(
        lambda: channel.status.subscriptions[DIALOG].reason is StatusReason.NO_NOTIFY
    )
    await fake_server.subscription("dialog", 2)
    assert channel.status.subscriptions[DIALOG].state is not SubscriptionState.ACTIVE


@pytest.mark.parametrize(
    ("reason", "state"),
    [
        ("deactivated", SubscriptionState.ACTIVE),
        ("timeout", SubscriptionState.ACTIVE),
        ("probation", SubscriptionState.ACTIVE),
        ("noresource", SubscriptionState.NOT_OFFERED),
        ("rejected", SubscriptionState.NOT_OFFERED),
    ],
)
async def test_a_terminated_notify_subscribes_again_or_says_not_offered(
    fake_server: FakeSipServer, subscribed, reason: str, state: SubscriptionState
) -> None:
    channel, recorder = await subscribed(fake_server, packages=[DIALOG])
    dialogs = await fake_server.subscription("dialog")
    dialogs.active = False

    answer = await fake_server.notify(dialogs, state=f"terminated;reason={reason}")
    assert answer is not None
    assert answer.status == 200
    if state is SubscriptionState.ACTIVE:
        await fake_server.subscription("dialog", 2)
        await recorder.active()
    else:
        await recorder.until(lambda: channel.status.subscriptions[DIALOG].state is state)
        assert len(fake_server.subscriptions) == 1


async def test_a_skipped_document_version_asks_for_the_full_state(
    fake_server: FakeSipServer, subscribed
) -> None:
    await subscribed(fake_server, packages=[DIALOG])
    dialogs = await fake_server.subscription("dialog")
    await fake_server.notify(dialogs, dialog_info(1, "early"), DIALOG_INFO)
    count = len(fake_server.subscribes())

    await fake_server.notify(dialogs, dialog_info(3, "confirmed", full=False), DIALOG_INFO)

    refresh = await fake_server.wait_for(
        lambda: len(fake_server.subscribes()) > count and fake_server.subscribes()[-1]
    )
    assert refresh.call_id == dialogs.call_id


async def test_other_requests_get_their_answers(fake_server: FakeSipServer, subscribed) -> None:
    await subscribed(fake_server, packages=[DIALOG])
    connection = fake_server.connections[0]

    def request(method: str, call_id: str = "other") -> bytes:
        return (
            f"{method} sip:alice@127.0.0.1 SIP/2.0\r\n"
            f"Via: SIP/2.0/TLS 127.0.0.1;branch=z9hG4bK{method}{call_id}\r\n"
            "From: <sip:x@example.com>;tag=1\r\nTo: <sip:alice@example.com>\r\n"
            f"Call-ID: {call_id}\r\nCSeq: 1 {method}\r\nEvent: dialog\r\n"
            "Subscription-State: active\r\nContent-Length: 0\r\n\r\n"
        ).encode()

    options = await fake_server.request(connection, request("OPTIONS"))
    invite = await fake_server.request(connection, request("INVITE"))
    unknown = await fake_server.request(connection, request("NOTIFY", "unknown-call"))

    assert (options.status, options.header("allow")) == (200, "NOTIFY, OPTIONS")
    assert invite.status == 405
    assert unknown.status == 481


async def test_tls_first_and_tcp_when_tls_is_not_answered(
    server_tls: ssl.SSLContext, subscribed, socket_enabled: None
) -> None:
    tcp = FakeSipServer(None, password=ALICE.password)
    await tcp.start()
    try:
        resolver = TableResolver(
            srv={
                # Nothing listens on port 9 of the loopback: the TLS target is refused.
                "_sips._tcp.example.com": [SrvRecord(10, 0, 9, "sip.example.com")],
                "_sip._tcp.example.com": [SrvRecord(10, 0, tcp.port, "sip.example.com")],
            }
        )
        channel, _ = await subscribed(resolver=resolver)

        assert resolver.asked == ["_sips._tcp.example.com", "_sip._tcp.example.com"]
        assert channel.status.server == f"sip.example.com:{tcp.port};transport=tcp"
        assert ";transport=tcp;ob>" in (tcp.subscribes()[0].header("contact") or "")
        assert tcp.subscribes()[0].header("via").startswith("SIP/2.0/TCP ")
    finally:
        await tcp.stop()


async def test_a_certificate_that_fails_never_falls_back_to_tcp(
    fake_server: FakeSipServer, make_channel, no_traceback
) -> None:
    tcp = FakeSipServer(None, password=ALICE.password)
    await tcp.start()
    try:
        resolver = TableResolver(
            srv={
                "_sips._tcp.example.com": [SrvRecord(10, 0, fake_server.port, "sip.example.com")],
                "_sip._tcp.example.com": [SrvRecord(10, 0, tcp.port, "sip.example.com")],
            }
        )
        stranger = new_authority("Not the SIP server's CA")
        context = ssl.create_default_context(cadata=stranger.certificate_pem.decode())
        channel, recorder = make_channel(resolver=resolver, ssl_context=context)
        await channel.start()
        await recorder.until(
            lambda: (
                channel.status.reason is StatusReason.TLS_CERTIFICATE
                and channel.status.state is ChannelState.WAITING
            )
        )

        assert tcp.connections == []
        assert tcp.requests == []
        subscriptions = channel.status.subscriptions.values()
        assert {status.reason for status in subscriptions} == {StatusReason.TLS_CERTIFICATE}
    finally:
        await tcp.stop()


async def test_the_certificate_may_name_the_srv_target_instead_of_the_domain(
    server_tls: ssl.SSLContext, subscribed, socket_enabled: None
) -> None:
    # alice@example.net's SRV record names sip.example.com, which the certificate names.
    server = FakeSipServer(server_tls, password=ALICE.password, domain="example.net")
    await server.start()
    try:
        resolver = TableResolver(
            srv={"_sips._tcp.example.net": [SrvRecord(10, 0, server.port, "sip.example.com")]}
        )
        channel, _ = await subscribed(resolver=resolver, account="alice@example.net")
        assert channel.status.server == f"sip.example.com:{server.port};transport=tls"
    finally:
        await server.stop()


async def test_a_server_by_hand_is_verified_against_the_domain(
    fake_server: FakeSipServer, subscribed
) -> None:
    # The certificate names example.com, not 127.0.0.1: the domain is the second name.
    await subscribed(server=ManualServer("127.0.0.1", fake_server.port, Transport.TLS))


async def test_keepalive_pings_and_a_missing_pong_drops_the_connection(
    fake_server: FakeSipServer, subscribed
) -> None:
    timings = LiveTimings(
        transaction_timeout=10,
        notify_timeout=10,
        keepalive_interval=0.2,
        pong_timeout=0.5,
        backoff_first=0.05,
        backoff_max=0.4,
    )
    channel, recorder = await subscribed(fake_server, timings=timings)
    await recorder.until(lambda: channel.snapshot()["connection"]["pongs_received"] >= 2)
    fake_server.answer_pings = False

    await recorder.until(
        lambda: any(status.reason is StatusReason.NO_ANSWER for status in recorder.statuses)
    )
    assert fake_server.connections[0].pings >= 3


async def test_a_server_that_never_pongs_keeps_its_connection(
    fake_server: FakeSipServer, subscribed
) -> None:
    fake_server.answer_pings = False
    timings = LiveTimings(
        transaction_timeout=10, notify_timeout=10, keepalive_interval=0.1, pong_timeout=0.2
    )
    channel, _ = await subscribed(fake_server, timings=timings)
    await fake_server.wait_for(lambda: fake_server.connections[0].pings >= 5)

    assert len(fake_server.connections) == 1
    assert channel.status.state is ChannelState.CONNECTED


async def test_stop_unsubscribes_and_says_stopped(fake_server: FakeSipServer, subscribed) -> None:
    channel, _ = await subscribed(fake_server)

    await channel.stop()

    ends = [r for r in fake_server.subscribes() if r.header("expires") == "0"]
    assert sorted(r.header("event") for r in ends) == ["dialog", "message-summary"]
    assert channel.status.state is ChannelState.STOPPED
    assert {s.state for s in channel.status.subscriptions.values()} == {SubscriptionState.STOPPED}
    assert not channel.running


async def test_the_voicemail_uri_is_where_message_summary_is_subscribed(
    fake_server: FakeSipServer, subscribed
) -> None:
    channel, _ = await subscribed(fake_server, voicemail_uri="sip:alice@example.com;voicemail")
    summary = fake_server.subscribes("message-summary")[-1]
    assert summary.uri == "sip:alice@example.com;voicemail"
    assert fake_server.subscribes("dialog")[-1].uri == "sip:alice@example.com"
    assert channel.snapshot()["subscriptions"][SUMMARY]["resource"] == "voicemail_uri"


async def test_no_secret_in_logs_reprs_or_diagnostics_and_the_trace_is_redacted(
    fake_server: FakeSipServer, subscribed, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="custom_components.sipthor.api.sip")
    channel, recorder = await subscribed(fake_server)

    trace = [r.getMessage() for r in caplog.records if r.name.endswith(".trace")]
    sent = [text for text in trace if text.startswith("SIP to") and "Authorization" in text]
    assert sent
    assert all("Proxy-Authorization: <redacted>" in text for text in sent)
    assert not any("response=" in text for text in trace)
    session = channel._session
    assert session is not None
    for text in (
        caplog.text,
        repr(channel),
        str(channel.snapshot()),
        repr(recorder.events),
        repr(channel._authenticator),
        repr(session),
        repr(session.subscriptions),
    ):
        assert ALICE.password not in text
    assert "alice" not in repr(channel)


async def test_bad_accounts_and_voicemail_uris_are_refused_before_anything_is_sent() -> None:
    for account in ("alice", "alice@", "al ice@example.com", "alice@example.com\r\nX: y"):
        with pytest.raises(ValueError, match="user@domain"):
            SipLiveChannel(account, "pw")
    with pytest.raises(ValueError, match="voicemail"):
        SipLiveChannel("alice@example.com", "pw", voicemail_uri="sip:vm@x>\r\nX: y")


async def test_an_idle_channel_asks_nothing_of_a_message_that_never_came(
    fake_server: FakeSipServer, subscribed
) -> None:
    # Answers without a Via of ours, and provisional answers, are not taken as ours.
    await subscribed(fake_server, packages=[DIALOG])
    connection = fake_server.connections[0]
    connection.send(
        b"SIP/2.0 200 OK\r\nVia: SIP/2.0/TLS 127.0.0.1;branch=z9hG4bKnotours\r\n"
        b"From: <sip:a@b>;tag=1\r\nTo: <sip:a@b>;tag=2\r\nCall-ID: x\r\nCSeq: 1 SUBSCRIBE\r\n"
        b"Content-Length: 0\r\n\r\n"
    )
    answer = await fake_server.notify(
        fake_server.subscriptions[0], dialog_info(1, "early"), DIALOG_INFO
    )
    assert isinstance(answer, Message)
    assert answer.status == 200


async def test_the_server_is_verified_by_default(fake_server: FakeSipServer, make_channel) -> None:
    # Without a context of the owner's, the system's CAs: the test server's CA is not one.
    channel, recorder = make_channel(fake_server, ssl_context=None)
    await channel.start()
    await channel.start()  # a second start changes nothing
    await recorder.until(lambda: channel.status.reason is StatusReason.TLS_CERTIFICATE)
    assert fake_server.requests == []


async def test_server_errors_are_retried_and_retry_after_is_read(
    fake_server: FakeSipServer, make_channel
) -> None:
    fake_server.answers["dialog"].append((503, [("Retry-After", "1 (busy)")]))
    channel, recorder = make_channel(fake_server, packages=[DIALOG])
    await channel.start()
    await recorder.until(
        lambda: any(
            status.subscriptions[DIALOG].code == 503
            and status.subscriptions[DIALOG].reason is StatusReason.SERVER_ERROR
            for status in recorder.statuses
        )
    )
    await fake_server.subscription("dialog")
    await recorder.active()


async def test_a_challenge_this_client_cannot_answer_stops_the_channel_typed(
    fake_server: FakeSipServer, make_channel
) -> None:
    fake_server.algorithm = "SHA-512-256"
    channel, recorder = make_channel(fake_server)
    await channel.start()
    await recorder.until(lambda: not channel.running)
    assert channel.status.state is ChannelState.AUTH_FAILED
    assert channel.status.reason is StatusReason.AUTH_UNSUPPORTED
    assert len(fake_server.subscribes()) == 1


async def test_a_server_that_never_answers_is_a_retry(
    fake_server: FakeSipServer, make_channel
) -> None:
    fake_server.silent = True
    timings = LiveTimings(transaction_timeout=0.3, backoff_first=0.05, backoff_max=0.2)
    channel, recorder = make_channel(fake_server, timings=timings, packages=[DIALOG])
    await channel.start()
    await recorder.until(
        lambda: channel.status.subscriptions[DIALOG].reason is StatusReason.NO_ANSWER
    )
    await fake_server.wait_for(lambda: len(fake_server.subscribes()) >= 2)


async def test_a_refresh_without_an_answer_starts_a_new_subscription(
    fake_server: FakeSipServer, subscribed
) -> None:
    fake_server.max_expires = 2
    timings = LiveTimings(transaction_timeout=0.3, backoff_first=0.05, backoff_max=0.2)
    channel, recorder = await subscribed(fake_server, timings=timings, packages=[DIALOG])
    fake_server.silent = True
    await recorder.until(
        lambda: channel.status.subscriptions[DIALOG].reason is StatusReason.NO_ANSWER
    )
    fake_server.silent = False
    await fake_server.subscription("dialog", 2)
    await recorder.active()


async def test_a_flow_timer_sets_the_keepalive_interval(
    fake_server: FakeSipServer, subscribed
) -> None:
    fake_server.grant_headers.append(("Flow-Timer", "25"))
    channel, _ = await subscribed(fake_server, packages=[DIALOG])
    assert channel.snapshot()["connection"]["keepalive_interval"] == 25


async def test_notifies_that_do_not_fit_their_subscription_are_refused(
    fake_server: FakeSipServer, subscribed
) -> None:
    channel, _ = await subscribed(fake_server, packages=[DIALOG])
    dialogs = await fake_server.subscription("dialog")

    async def notify(
        *, event: str = "dialog", state: str = "active", from_tag: str | None = None
    ) -> int:
        tag = dialogs.server_tag if from_tag is None else from_tag
        sender = f"<sip:alice@example.com>;tag={tag}" if tag else "<sip:alice@example.com>"
        answer = await fake_server.request(
            dialogs.connection,
            (
                f"NOTIFY {dialogs.contact} SIP/2.0\r\n"
                f"Via: SIP/2.0/TLS 127.0.0.1;branch=z9hG4bK{event}{state}{tag}\r\n"
                f"From: {sender}\r\nTo: <sip:alice@example.com>;tag={dialogs.subscriber_tag}\r\n"
                f"Call-ID: {dialogs.call_id}\r\nCSeq: 9 NOTIFY\r\nEvent: {event}\r\n"
                f"Subscription-State: {state}\r\nContent-Length: 0\r\n\r\n"
            ).encode(),
        )
        return answer.status

    assert await notify(event="presence") == 489
    assert await notify(state="a b") == 400
    assert await notify(from_tag="") == 400
    assert await notify(from_tag="someone-else") == 481
    # A shorter expiry is taken; "pending" is a state of its own; an unknown one changes
    # nothing.
    assert await notify(state="active;expires=30") == 200
    expires = channel.status.subscriptions[DIALOG].expires
    assert expires is not None
    assert expires - datetime.now(UTC) < timedelta(seconds=31)
    assert await notify(state="pending") == 200
    assert channel.status.subscriptions[DIALOG].state is SubscriptionState.PENDING
    assert await notify(state="unheard-of") == 200
    assert channel.status.subscriptions[DIALOG].state is SubscriptionState.PENDING


async def test_a_failing_listener_does_not_silence_the_others(
    fake_server: FakeSipServer, make_channel, caplog: pytest.LogCaptureFixture
) -> None:
    channel, recorder = make_channel(fake_server, packages=[DIALOG])

    def broken(_event: object) -> None:
        raise RuntimeError("a bug in the owner")

    remove = channel.add_listener(broken)
    await channel.start()
    await recorder.active()
    remove()
    remove()  # removing twice is harmless
    assert "A listener of the SIP live channel failed" in caplog.text
    assert recorder.statuses


async def test_an_event_stream_keeps_the_newest_events_and_ends_when_closed(
    fake_server: FakeSipServer, make_channel
) -> None:
    channel, recorder = make_channel(fake_server, packages=[DIALOG])
    stream = channel.events()
    await channel.start()
    await recorder.active()
    dialogs = await fake_server.subscription("dialog")
    for version in range(1, MAX_QUEUED_EVENTS + 10):
        state = "early" if version % 2 else "terminated"
        await fake_server.notify(
            dialogs, dialog_info(version, state, call_id=f"c{version}"), DIALOG_INFO
        )

    assert channel.snapshot()["events_dropped"] > 0
    received = [await anext(stream) for _ in range(MAX_QUEUED_EVENTS)]
    assert received[-1] == recorder.events[-1]
    await stream.aclose()
    with pytest.raises(StopAsyncIteration):
        await anext(stream)


async def test_a_target_without_an_address_is_passed_over(make_channel) -> None:
    channel, recorder = make_channel(resolver=TableResolver(hosts={}))
    await channel.start()
    await recorder.until(lambda: channel.status.reason is StatusReason.CONNECT_FAILED)
    assert channel.status.state is ChannelState.WAITING


async def test_a_package_not_offered_is_not_asked_again_on_reconnection(
    fake_server: FakeSipServer, make_channel
) -> None:
    fake_server.answers["dialog"].append(489)
    channel, recorder = make_channel(fake_server)
    await channel.start()
    await recorder.active(SUMMARY)
    await recorder.until(
        lambda: channel.status.subscriptions[DIALOG].state is SubscriptionState.NOT_OFFERED
    )
    asked = len(fake_server.subscribes("dialog"))
    next_attempt = channel.status.subscriptions[DIALOG].next_attempt

    fake_server.connections[0].cut()
    await fake_server.subscription("message-summary", 2)
    await recorder.active(SUMMARY)

    assert len(fake_server.subscribes("dialog")) == asked
    dialog = channel.status.subscriptions[DIALOG]
    assert dialog.state is SubscriptionState.NOT_OFFERED
    assert dialog.next_attempt == next_attempt


async def test_a_count_refused_at_the_account_and_the_mailbox_is_asked_for_hourly(
    fake_server: FakeSipServer, make_channel, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="custom_components.sipthor.api.sip")
    fake_server.answers["message-summary"].extend([489, 404])
    channel, recorder = make_channel(fake_server)
    channel.set_mailbox("alice@vm.example.com")
    await channel.start()
    await recorder.active(DIALOG)
    await recorder.until(
        lambda: channel.status.subscriptions[SUMMARY].state is SubscriptionState.NOT_OFFERED
    )

    # The account's address, then the mailbox's, once each: then an hour's wait.
    summary = channel.status.subscriptions[SUMMARY]
    asked = {request.uri for request in fake_server.subscribes("message-summary")}
    assert asked == {"sip:alice@example.com", "sip:alice@vm.example.com"}
    assert summary.target is SubscriptionTarget.MAILBOX
    assert summary.code == 404
    assert summary.next_attempt - datetime.now(UTC) > timedelta(minutes=59)
    lines = [record for record in caplog.records if "does not offer" in record.message]
    assert [record.levelname for record in lines] == ["INFO", "INFO"]
    assert "subscribing at the mailbox's address" in lines[0].message
    # Neither is asked again on the next connection, nor for the same mailbox again.
    sent = len(fake_server.subscribes("message-summary"))
    fake_server.connections[0].cut()
    await fake_server.subscription("dialog", 2)
    channel.set_mailbox("sip:alice@vm.example.com")
    await asyncio.sleep(0.5)
    assert len(fake_server.subscribes("message-summary")) == sent
    assert channel.status.subscriptions[SUMMARY].state is SubscriptionState.NOT_OFFERED

    # Another mailbox is asked at once.
    channel.set_mailbox("alice@vm2.example.com")
    await fake_server.subscription("message-summary")
    await recorder.active(SUMMARY)
    assert fake_server.subscribes("message-summary")[-1].uri == "sip:alice@vm2.example.com"


async def test_a_mailbox_that_is_no_address_is_refused_and_changes_nothing(
    fake_server: FakeSipServer, subscribed
) -> None:
    channel, _ = await subscribed(fake_server)
    for address in ("alice", "alice@", "<sip:alice@vm.example.com>", "alice@vm\r\nX: y"):
        with pytest.raises(ValueError, match="voicemail address"):
            channel.set_mailbox(address)
    assert channel.status.subscriptions[SUMMARY].target is SubscriptionTarget.ACCOUNT
    assert {request.uri for request in fake_server.subscribes("message-summary")} == {
        "sip:alice@example.com"
    }
