"""The SIP test bed works: Kamailio authenticates, notifies calls and voicemail, restarts.

These tests prove the bed (demo/kamailio.py, demo/sip_agent.py) that the live
events are tested against, and pin what Kamailio does that the client relies on
(docs/sip-events.md).
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass
import os
from pathlib import Path
import signal
import sys
from typing import Final
from xml.etree import ElementTree as ET

import pytest

from demo.kamailio import (
    ALICE,
    BOB,
    KAMAILIO_VARIABLE,
    BedOptions,
    KamailioBed,
    SipUser,
    kamailio_binary,
    unavailable_reason,
)
from demo.sip_agent import (
    IncomingCall,
    OutgoingCall,
    SipAgent,
    SipError,
    SipMessage,
    Subscription,
    digest_authorization,
)
from simulator.certs import ensure_certificates

DIALOG_INFO = "{urn:ietf:params:xml:ns:dialog-info}"
# Generous: the suite must pass on a loaded machine; nothing here asserts a duration.
WAIT = 20.0
MWI = "application/simple-message-summary"
ROOT = Path(__file__).parents[2]


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


def refusal(kamailio: KamailioBed) -> str:
    """What Kamailio logs when it refuses a message.

    Its read buffer overran, or (from 5.8) the message went past the cap below that buffer.
    """
    if kamailio.message_limit < kamailio.options.tcp_rd_buf_size:
        return "read message too large"
    return "buffer overrun"


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
async def test_an_authenticated_subscribe_is_accepted_and_notified(
    kamailio: KamailioBed, make_agent, challenge: int, transport: str
) -> None:
    watcher = await make_agent(ALICE, transport)

    for event in ("dialog", "message-summary"):
        subscription = await watcher.subscribe(event)

        assert watcher.statuses("SUBSCRIBE")[-2:] == [challenge, 200]
        assert subscription.response is not None
        assert subscription.response.header("expires") == "600"
        first = await subscription.next_notify(WAIT)
        assert first.header("event") == event
        state, _, expires = (first.header("subscription-state") or "").partition(";expires=")
        assert state == "active"
        assert 0 < int(expires) <= 600
        # Nothing is known yet: the first NOTIFY has no body.
        assert first.body == b""
        assert first.header("content-type") is None


@pytest.mark.parametrize("kamailio", [BedOptions(dummy_dialog=True)], indirect=True)
async def test_a_dummy_dialog_is_terminated_and_names_no_call(
    kamailio: KamailioBed, make_agent
) -> None:
    watcher = await make_agent(ALICE)

    first = await (await watcher.subscribe("dialog")).next_notify(WAIT)

    assert first.header("content-type") == "application/dialog-info+xml"
    assert dialog_states(first) == {"": "terminated"}


@dataclass(slots=True)
class RingingCall:
    """Bob's call to alice, ringing her phone, watched through her dialog subscription."""

    call: OutgoingCall
    ringing: IncomingCall
    dialogs: Subscription
    states: list[str]

    async def follow(self, until: str) -> list[str]:
        """The call's states so far, once ``until`` was notified."""
        return await follow_call(self.dialogs, self.call.dialog.call_id, until, self.states)


async def bob_calls_alice(make_agent) -> RingingCall:
    """Alice's phone registers and a watcher subscribes; bob calls until it rings."""
    phone, watcher, bob = await make_agent(ALICE), await make_agent(ALICE), await make_agent(BOB)
    assert (await phone.register()).status == 200
    dialogs = await watch(watcher, "dialog")
    call = await bob.call(ALICE)
    ringing = await asyncio.wait_for(phone.calls.get(), WAIT)
    await call.wait_ringing()
    assert "sip:bob@example.com" in ringing.caller
    ringing_call = RingingCall(call, ringing, dialogs, [])
    await ringing_call.follow("early")
    return ringing_call


async def test_a_missed_call_goes_early_then_terminated(kamailio: KamailioBed, make_agent) -> None:
    alice = await bob_calls_alice(make_agent)

    final = await alice.call.cancel()

    assert final.status == 487
    assert alice.ringing.cancelled.is_set()
    assert await alice.follow("terminated") == ["early", "terminated"]


async def test_an_answered_call_goes_early_confirmed_terminated(
    kamailio: KamailioBed, make_agent
) -> None:
    alice = await bob_calls_alice(make_agent)

    answered = await asyncio.gather(alice.ringing.answer(), alice.call.wait_answered())
    await alice.follow("confirmed")
    assert (await alice.call.hang_up()).status == 200
    await asyncio.wait_for(alice.ringing.ended.wait(), WAIT)

    assert answered[1].status == 200
    assert await alice.follow("terminated") == ["early", "confirmed", "terminated"]


async def test_a_published_message_summary_is_notified_and_stored_once(
    kamailio: KamailioBed, make_agent
) -> None:
    voicemail, watcher = await make_agent(ALICE, "tcp"), await make_agent(ALICE)
    summaries = await watch(watcher, "message-summary")

    assert (await voicemail.publish_mwi(new=2, old=5)).status == 200
    notify = await summaries.next_notify(WAIT)
    assert notify.header("content-type") == "application/simple-message-summary"
    assert "Messages-Waiting: yes\r\n" in notify.text
    assert "Voice-Message: 2/5 (0/0)\r\n" in notify.text
    # A change names the stored state (SIP-If-Match): it replaces it.
    assert (await voicemail.publish_mwi(new=0, old=7)).status == 200
    assert "Voice-Message: 0/7 (0/0)" in (await summaries.next_notify(WAIT)).text

    late = await (await make_agent(ALICE)).subscribe("message-summary")
    assert (await late.next_notify(WAIT)).text == (
        "Messages-Waiting: no\r\nMessage-Account: sip:alice@example.com\r\n"
        "Voice-Message: 0/7 (0/0)\r\n"
    )


async def test_killed_and_restarted_kamailio_forgets_subscriptions_on_the_same_ports(
    kamailio: KamailioBed, make_agent
) -> None:
    watcher = await make_agent(ALICE)
    summaries = await watch(watcher, "message-summary")
    ports = (kamailio.tcp_port, kamailio.tls_port)

    await kamailio.restart(crash=True)

    await asyncio.wait_for(watcher.closed.wait(), WAIT)
    assert (kamailio.tcp_port, kamailio.tls_port) == ports
    # The old subscription, refreshed over a new connection, is unknown; a new one works.
    again = await make_agent(ALICE)
    assert (await summaries.refresh(over=again)).status == 481
    await watch(again, "message-summary")
    voicemail = await make_agent(ALICE, "tcp")
    assert (await voicemail.publish_mwi(new=1)).status == 200
    assert "--- start 2 ---" in kamailio.log()


@pytest.mark.parametrize(
    ("target", "event", "status"),
    [("bob", "dialog", 403), ("alice", "presence", 489)],
    ids=["someone-else", "unknown-event"],
)
async def test_what_is_not_offered_is_refused(
    kamailio: KamailioBed, make_agent, target: str, event: str, status: int
) -> None:
    watcher = await make_agent(ALICE)

    subscription = await watcher.subscribe(event, target=kamailio.uri(target))

    assert subscription.response is not None
    assert subscription.response.status == status


async def test_a_wrong_password_is_challenged_again(kamailio: KamailioBed) -> None:
    impostor = await SipAgent.connect(kamailio, SipUser("alice", "not-her-password", "Eve"))
    try:
        subscription = await impostor.subscribe("dialog")
    finally:
        await impostor.close()

    assert impostor.statuses("SUBSCRIBE") == [407, 407]
    assert subscription.response is not None
    assert "stale" not in (subscription.response.header("proxy-authenticate") or "")


@pytest.mark.parametrize("kamailio", [BedOptions(nonce_expire=1)], indirect=True)
async def test_an_expired_nonce_gets_stale_true(kamailio: KamailioBed, make_agent) -> None:
    watcher = await make_agent(ALICE)
    subscription = await watch(watcher, "message-summary")
    challenge = next(m for m in watcher.received if m.is_response and m.status == 407)
    target = subscription.dialog.remote_target
    old = digest_authorization(
        challenge.header("proxy-authenticate") or "", "SUBSCRIBE", target, ALICE
    )

    await asyncio.sleep(2.5)  # the nonce ages past nonce_expire (only waits, asserts no time)
    response = await watcher.request(
        "SUBSCRIBE",
        target,
        subscription.dialog,
        headers=[("event", "message-summary"), ("proxy-authorization", old)],
        answer_challenge=False,
    )

    assert response.status == 407
    assert "stale=true" in (response.header("proxy-authenticate") or "")


# Above both of Kamailio's own limits (a 4096-byte read buffer; from 5.8 a 32767-byte
# message cap), below the 64 KiB no Kamailio since 6.1.5 reads.
LARGE_FILLER: Final = 60_000


@pytest.mark.parametrize(
    ("kamailio", "passes"),
    [(BedOptions(), True), (BedOptions(tcp_rd_buf_size=4096), False)],
    indirect=["kamailio"],
    ids=["default", "kamailio-default-4k"],
)
async def test_the_read_buffer_decides_whether_a_large_message_passes(
    kamailio: KamailioBed, make_agent, passes: bool
) -> None:
    voicemail, watcher = await make_agent(ALICE, "tcp"), await make_agent(ALICE)
    summaries = await watch(watcher, "message-summary")
    body = "Messages-Waiting: yes\r\n" + "X-Filler: " + "x" * LARGE_FILLER + "\r\n"
    since = kamailio.log_size()

    if passes:
        assert (await voicemail.publish("message-summary", MWI, body)).status == 200
        assert (await summaries.next_notify(WAIT)).text == body
    else:
        with pytest.raises(SipError, match="closed"):
            await voicemail.publish("message-summary", MWI, body)
        await kamailio.wait_for_log(refusal(kamailio), since=since)


async def test_a_message_from_the_bed_s_limit_on_is_refused(
    kamailio: KamailioBed, make_agent
) -> None:
    voicemail = await make_agent(ALICE, "tcp")
    body = "Messages-Waiting: yes\r\n" + "X-Filler: " + "x" * kamailio.message_limit + "\r\n"
    since = kamailio.log_size()

    with pytest.raises(SipError, match="closed"):
        await voicemail.publish("message-summary", MWI, body)
    await kamailio.wait_for_log(refusal(kamailio), since=since)


@pytest.mark.parametrize(
    ("kamailio", "notified"),
    [(BedOptions(), False), (BedOptions(nat_aware=True), True)],
    indirect=["kamailio"],
    ids=["strict", "nat-aware"],
)
async def test_notifies_go_to_the_contact_unless_the_server_is_nat_aware(
    kamailio: KamailioBed, make_agent, notified: bool
) -> None:
    watcher = await make_agent(ALICE)
    since = kamailio.log_size()

    # A Contact naming no open connection: the phone's address behind a NAT.
    subscription = await watcher.subscribe(
        "message-summary", contact="sip:alice@127.0.0.1:9;transport=tls"
    )

    assert subscription.response is not None
    assert subscription.response.status == 200
    if notified:
        notify = await subscription.next_notify(WAIT)
        assert notify.request_uri == "sip:alice@127.0.0.1:9;transport=tls"
    else:
        await kamailio.wait_for_log("connect 127.0.0.1:9 failed", since=since)
        assert subscription.received == []


async def test_a_crlf_keep_alive_is_answered(kamailio: KamailioBed) -> None:
    reader, writer = await asyncio.open_connection(kamailio.host, kamailio.tcp_port)
    try:
        writer.write(b"\r\n\r\n")
        await writer.drain()
        pong = await asyncio.wait_for(reader.readexactly(2), WAIT)
    finally:
        writer.close()

    assert pong == b"\r\n"


async def test_closing_the_bed_leaves_no_process_and_no_file(
    sim_certs_dir: Path, socket_enabled: None
) -> None:
    if (reason := unavailable_reason()) is not None:
        pytest.skip(reason)
    authority = ensure_certificates(sim_certs_dir, {}).server_authority

    async with KamailioBed(authority) as bed:
        group, directory = bed.pid, bed.directory
        assert group is not None
        os.killpg(group, 0)  # the processes are there
        assert (directory / "tls" / "server.key").stat().st_mode & 0o077 == 0

    with pytest.raises(ProcessLookupError):
        os.killpg(group, 0)
    assert not directory.exists()


# A bed's owner that runs until it is killed: it prints the bed's directory and group.
_OWNER = """
import asyncio, sys
from pathlib import Path
from demo.kamailio import KamailioBed
from simulator.certs import ensure_certificates

async def main() -> None:
    authority = ensure_certificates(Path(sys.argv[1]), {}).server_authority
    async with KamailioBed(authority) as bed:
        print(bed.directory, bed.pid, flush=True)
        await asyncio.Event().wait()

asyncio.run(main())
"""


async def test_the_next_bed_removes_the_directory_of_one_killed_with_its_owner(
    sim_certs_dir: Path, socket_enabled: None
) -> None:
    """An owner killed with SIGKILL leaves its bed's directory; the next bed removes it.

    A bed whose owner lives (this test's) keeps its directory.
    """
    if (reason := unavailable_reason()) is not None:
        pytest.skip(reason)
    authority = ensure_certificates(sim_certs_dir, {}).server_authority
    living = KamailioBed(authority)
    owner = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        _OWNER,
        str(sim_certs_dir),
        cwd=ROOT,
        stdout=asyncio.subprocess.PIPE,
    )
    group: int | None = None
    try:
        assert owner.stdout is not None
        started = await asyncio.wait_for(owner.stdout.readline(), 90)
        assert started, "the owner exited before its bed started"
        path, pid = started.decode().split()
        directory, group = Path(path), int(pid)
        assert (directory / "kamailio.cfg").is_file()

        owner.kill()  # SIGKILL: no close(), no finally
        await owner.wait()
        following = KamailioBed(authority)
        await following.close()

        assert not directory.exists()
        assert living.directory.is_dir()
    finally:
        if owner.returncode is None:
            owner.kill()
            await owner.wait()
        if group is not None:
            # Kamailio ends with its parent (SIGTERM); here at once, however it goes.
            with contextlib.suppress(ProcessLookupError):
                os.killpg(group, signal.SIGKILL)
        await living.close()


async def test_kamailio_names_the_binary_the_bed_runs(
    sim_certs_dir: Path, socket_enabled: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A developer's own kamailio (here a wrapper that notes each run) instead of Debian's.

    Nothing lies below its prefix: the modules and templates are Debian's.
    """
    if (reason := unavailable_reason()) is not None:
        pytest.skip(reason)
    installed = kamailio_binary()
    runs = tmp_path / "runs"
    wrapper = tmp_path / "sbin" / "kamailio"
    wrapper.parent.mkdir()
    wrapper.write_text(f'#!/bin/sh\necho "$@" >> "{runs}"\nexec "{installed}" "$@"\n')
    wrapper.chmod(0o755)
    monkeypatch.setenv(KAMAILIO_VARIABLE, str(wrapper))
    authority = ensure_certificates(sim_certs_dir, {}).server_authority

    async with KamailioBed(authority) as bed:
        assert bed.running
        assert str(bed.directory / "kamailio.cfg") in runs.read_text()

    monkeypatch.setenv(KAMAILIO_VARIABLE, str(tmp_path / "nowhere"))
    assert unavailable_reason() == (
        f"{KAMAILIO_VARIABLE}={tmp_path / 'nowhere'} names no executable "
        "(unset it for the installed one)"
    )
