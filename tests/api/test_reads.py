"""Every read action, from the client over mutual TLS to the simulated platform and back."""

from __future__ import annotations

from datetime import datetime

import pytest

from custom_components.sipthor.api import (
    VOICE_MAILBOX,
    AcceptRule,
    CallDirection,
    DndState,
    ForwardingCondition,
    SipThorClient,
    SipThorNotSupportedError,
    SipThorServerError,
    Transport,
)
from simulator import Behaviour, SettingsSimulator
from tests.api.conftest import BOB, CAROL, ClientFactory
from tests.conftest import ACCOUNT


async def test_identity(client: SipThorClient) -> None:
    identity = await client.get_identity()

    assert identity.sip_address == ACCOUNT
    assert identity.mobile_number == "+31612345678"
    assert identity.timezone == "Europe/Amsterdam"
    assert identity.no_answer_timeout == 35
    assert identity.extra == {}
    # The e-mail address and names no entity shows are not kept.
    assert "alice.jansen@example.org" not in repr(identity)
    assert "Jansen" not in repr(identity)


async def test_identity_of_a_bare_account(make_client: ClientFactory) -> None:
    """Bob has no e-mail, no last name and no mobile number ("" on the wire)."""
    identity = await make_client(BOB).get_identity()

    assert identity.sip_address == BOB
    assert identity.mobile_number is None


async def test_identity_without_sip_address_is_a_server_error(
    simulator: SettingsSimulator, client: SipThorClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """PHP prints an empty array as ``[]``: no identity at all."""
    monkeypatch.setattr(simulator.platform, "identity", lambda _account: [])

    with pytest.raises(SipThorServerError, match="without a SIP address"):
        await client.get_identity()


async def test_aliases(simulator: SettingsSimulator, make_client: ClientFactory) -> None:
    assert await make_client().get_aliases() == ["a.jansen@example.com", "alice.jansen@example.com"]
    assert await make_client(BOB).get_aliases() == []


async def test_aliases_are_capped_at_twenty(
    simulator: SettingsSimulator, client: SipThorClient
) -> None:
    simulator.platform.accounts[ACCOUNT].aliases = [f"x{n:02}@example.com" for n in range(25)]

    aliases = await client.get_aliases()

    assert aliases == [f"x{n:02}@example.com" for n in range(20)]


async def test_enum(make_client: ClientFactory) -> None:
    assert await make_client().get_enum() == ["+31208001234"]
    assert await make_client(BOB).get_enum() == []


async def test_call_history(simulator: SettingsSimulator, client: SipThorClient) -> None:
    history = await client.get_call_history()

    # One placed call and three received ones; the call of 20 days ago is too old.
    assert [call.direction for call in history.placed] == [CallDirection.PLACED]
    assert len(history.received) == 3
    placed = history.placed[0]
    assert placed.caller == "+31201234567@example.com"
    assert placed.duration == 209
    assert placed.status == 200
    assert placed.price == pytest.approx(0.0627)
    assert placed.session_id == "a84b4c76e66710@198.51.100.7"
    assert placed.key == "placed:a84b4c76e66710@198.51.100.7:1928301774"
    assert placed.timezone == "Europe/Amsterdam"
    assert placed.start_time is not None
    assert not placed.missed

    calls = history.calls
    assert [call.start_time for call in calls] == sorted(
        (call.start_time for call in calls if call.start_time), reverse=True
    )
    missed = [call for call in calls if call.missed]
    assert [call.caller for call in missed] == ["bob@example.net", "+31851234567@example.com"]
    bob_call = missed[0]
    assert bob_call.display_name == "Bob de Vries"
    assert bob_call.price is None
    video_call = next(call for call in calls if call.caller == "carol@example.com")
    assert video_call.media == ["audio", "video"]
    assert all(call.extra == {} for call in calls)


async def test_call_history_picks_up_new_calls(
    simulator: SettingsSimulator, client: SipThorClient
) -> None:
    before = await client.get_call_history()
    call = simulator.platform.add_call(
        ACCOUNT, "received", "sip:erin@example.org", duration=42, display_name="Erin"
    )

    after = await client.get_call_history()

    assert len(after.received) == len(before.received) + 1
    newest = after.calls[0]
    assert newest.caller == "erin@example.org"
    assert newest.display_name == "Erin"
    assert newest.duration == 42
    assert newest.session_id == call.session_id
    assert not newest.missed


async def test_call_history_of_a_quiet_account(make_client: ClientFactory) -> None:
    """Both directions are ``null`` without calls in the last 14 days."""
    history = await make_client(BOB).get_call_history()

    assert history.placed == []
    assert history.received == []
    assert history.calls == []


async def test_call_history_asks_get_history_first(
    simulator: SettingsSimulator, client: SipThorClient
) -> None:
    await client.get_call_history()
    await client.get_call_history()

    assert client.history_action == "get_history"
    assert simulator.counters.requests["get_history"] == 2
    assert simulator.counters.requests["get_calls"] == 0


async def test_call_history_learns_get_calls_and_keeps_it(
    simulator: SettingsSimulator, client: SipThorClient
) -> None:
    """A server that answers only the documented name: one miss, then straight there."""
    simulator._handlers["get_calls"] = simulator._handlers.pop("get_history")

    first = await client.get_call_history()
    second = await client.get_call_history()
    third = await client.get_call_history()

    assert client.history_action == "get_calls"
    assert len(first.received) == len(second.received) == len(third.received) == 3
    assert simulator.counters.requests["get_history"] == 1
    assert simulator.counters.requests["get_calls"] == 3


async def test_call_history_follows_a_server_that_changes(
    simulator: SettingsSimulator, client: SipThorClient
) -> None:
    handler = simulator._handlers.pop("get_history")
    simulator._handlers["get_calls"] = handler
    await client.get_call_history()
    # The platform is upgraded: get_calls is gone, get_history is back.
    simulator._handlers["get_history"] = simulator._handlers.pop("get_calls")
    simulator.counters.reset()

    history = await client.get_call_history()

    assert client.history_action == "get_history"
    assert len(history.placed) == 1
    assert simulator.counters.requests == {"get_calls": 1, "get_history": 1}


async def test_call_history_on_a_server_without_it(
    simulator: SettingsSimulator, client: SipThorClient
) -> None:
    del simulator._handlers["get_history"]

    with pytest.raises(SipThorNotSupportedError, match="neither get_history nor get_calls"):
        await client.get_call_history()

    assert client.history_action is None
    assert simulator.counters.requests == {"get_history": 1, "get_calls": 1}


async def test_devices(client: SipThorClient) -> None:
    blink, phone = await client.get_devices()

    assert blink.contact == "192.168.1.23:50634"
    assert blink.public_contact == "203.0.113.45:50634"
    assert blink.host == "192.168.1.23"
    assert blink.behind_nat
    assert blink.transport is Transport.TLS
    assert blink.expires == 287
    assert blink.user_agent == "Blink 6.0.2 (Linux)"
    assert phone.transport is Transport.UDP
    assert not phone.behind_nat
    assert phone.expires == 3241


async def test_no_devices_is_an_empty_list(make_client: ClientFactory) -> None:
    """The server answers ``null``, not ``[]``, when nothing is registered."""
    assert await make_client(BOB).get_devices() == []


async def test_device_with_an_unknown_transport_and_ipv6(
    simulator: SettingsSimulator, client: SipThorClient
) -> None:
    simulator.platform.accounts[ACCOUNT].registrations = [
        {
            "contact": "2001:db8::7:5061",
            "publicContact": "2001:db8::7:5061",
            "expires": 60,
            "user_agent": "Linphone",
            "transport": "SCTP",
        }
    ]

    (device,) = await client.get_devices()

    assert device.transport is Transport.OTHER
    assert device.transport_name == "sctp"
    assert device.host == "2001:db8::7"


async def test_prepaid(simulator: SettingsSimulator, make_client: ClientFactory) -> None:
    alice = await make_client().get_prepaid()
    bob = await make_client(BOB).get_prepaid()

    assert alice is not None
    assert alice.balance == pytest.approx(12.3456)
    assert alice.active_calls == 0
    assert bob is not None
    assert bob.balance == pytest.approx(0.5)
    assert bob.active_calls is None  # Bob's answer does not carry the member


async def test_prepaid_active_calls(simulator: SettingsSimulator, client: SipThorClient) -> None:
    simulator.platform.accounts[ACCOUNT].active_calls = 2

    status = await client.get_prepaid()

    assert status is not None
    assert status.active_calls == 2


async def test_prepaid_follows_the_balance(
    simulator: SettingsSimulator, client: SipThorClient
) -> None:
    simulator.platform.accounts[ACCOUNT].balance = 0.0

    status = await client.get_prepaid()

    assert status is not None
    assert status.balance == 0.0


async def test_no_prepaid_status_is_none(make_client: ClientFactory) -> None:
    """Carol's account is not prepaid: the server answers ``null``."""
    assert await make_client(CAROL).get_prepaid() is None


async def test_balance_history(client: SipThorClient) -> None:
    debit, top_up = await client.get_balance_history()

    assert debit.action == "Debit balance"
    assert debit.description == "Session to 31201234567 for 209s"
    assert debit.value == pytest.approx(-0.0627)
    assert debit.balance == pytest.approx(12.3456)
    assert isinstance(debit.date, datetime)
    assert top_up.value == pytest.approx(10.5)
    assert top_up.date is not None
    assert debit.date is not None
    assert debit.date > top_up.date


async def test_balance_history_empty_and_null(
    simulator: SettingsSimulator, make_client: ClientFactory
) -> None:
    """``[]`` (no entries) and ``null`` (NGNPro code 2000, silent) both mean none."""
    bob = make_client(BOB)
    assert await bob.get_balance_history() == []

    simulator.platform.accounts[BOB].balance_history = None  # type: ignore[assignment]
    assert await bob.get_balance_history() == []


async def test_monthly_usage_is_not_supported_upstream(
    simulator: SettingsSimulator, client: SipThorClient
) -> None:
    with pytest.raises(SipThorNotSupportedError, match="HTTP 500") as caught:
        await client.get_monthly_usage()

    cause = caught.value.__cause__
    assert isinstance(cause, SipThorServerError)
    assert cause.status == 500


async def test_monthly_usage_on_a_legacy_server(
    simulator: SettingsSimulator, client: SipThorClient
) -> None:
    simulator.platform.behaviour = Behaviour(legacy_monthly_usage=True)

    usage = await client.get_monthly_usage()

    assert usage.calls == 37
    assert usage.price == pytest.approx(4.1875)


async def test_monthly_usage_other_http_errors_stay_server_errors(
    simulator: SettingsSimulator, client: SipThorClient
) -> None:
    simulator.faults.status = 503

    with pytest.raises(SipThorServerError) as caught:
        await client.get_monthly_usage()

    assert caught.value.status == 503


async def test_call_forwarding(client: SipThorClient) -> None:
    forwarding = await client.get_call_forwarding()

    assert forwarding.targets == {
        ForwardingCondition.ALWAYS: None,
        ForwardingCondition.NOT_ONLINE: None,
        ForwardingCondition.BUSY: VOICE_MAILBOX,
        ForwardingCondition.NO_ANSWER: VOICE_MAILBOX,
        ForwardingCondition.UNAVAILABLE: None,
    }
    assert forwarding.target(ForwardingCondition.BUSY) == "<voice-mailbox>"


async def test_call_forwarding_reads_back_without_sip_scheme(
    simulator: SettingsSimulator, client: SipThorClient
) -> None:
    simulator.platform.accounts[ACCOUNT].forwarding = {
        "FUNC": "sip:0612345678@example.com",
        "FUNV": "SIPS:bob@example.net",
    }

    forwarding = await client.get_call_forwarding()

    assert forwarding.target(ForwardingCondition.ALWAYS) == "0612345678@example.com"
    assert forwarding.target(ForwardingCondition.UNAVAILABLE) == "bob@example.net"


@pytest.mark.parametrize("empty_string", [False, True], ids=["null", "empty string"])
async def test_unset_forwarding_is_off(
    simulator: SettingsSimulator, make_client: ClientFactory, empty_string: bool
) -> None:
    """NGNPro may send ``""`` instead of ``null`` for an unset condition.

    See docs/settings-api.md §9 question 7.
    """
    simulator.platform.behaviour = Behaviour(unset_forwarding_as_empty_string=empty_string)

    forwarding = await make_client(BOB).get_call_forwarding()

    assert set(forwarding.targets) == set(ForwardingCondition)
    assert all(target is None for target in forwarding.targets.values())
    assert forwarding.extra == {}


async def test_accept_rules(client: SipThorClient) -> None:
    rules = await client.get_accept_rules()

    assert rules.persistent == [
        AcceptRule(days=31, start="09:00", stop="18:00", groups=["everybody"])
    ]
    assert rules.temporary_groups == ["everybody"]
    assert rules.temporary_minutes == 0
    assert rules.dnd_state is DndState.OFF
    assert rules.dnd_minutes_left is None


async def test_accept_rules_without_persistent_rules(make_client: ClientFactory) -> None:
    """The key is absent when the account has no rule."""
    rules = await make_client(BOB).get_accept_rules()

    assert rules.persistent == []
    assert rules.extra == {}


async def test_dnd_counts_down(simulator: SettingsSimulator, client: SipThorClient) -> None:
    await client.set_dnd_on(30)
    assert (await client.get_accept_rules()).dnd_minutes_left == 30

    simulator.platform.advance(10 * 60)
    rules = await client.get_accept_rules()
    assert rules.dnd_state is DndState.ON
    assert rules.dnd_minutes_left == 20

    simulator.platform.advance(19 * 60 + 30)
    assert (await client.get_accept_rules()).dnd_minutes_left == 1


async def test_dnd_expiry_reset(simulator: SettingsSimulator, client: SipThorClient) -> None:
    """Policy "reset": when the time is up the platform lets everybody call again."""
    simulator.platform.behaviour = Behaviour(dnd_expiry="reset")
    await client.set_dnd_on(5)

    simulator.platform.advance(5 * 60 + 1)
    rules = await client.get_accept_rules()

    assert rules.dnd_state is DndState.OFF
    assert rules.temporary_groups == ["everybody"]
    assert rules.dnd_minutes_left is None


async def test_dnd_expiry_keep(simulator: SettingsSimulator, client: SipThorClient) -> None:
    """Policy "keep": ``nobody`` with 0 minutes, which the client cannot tell apart
    from a DND without an end (docs/settings-api.md §6.1, §9 question 4)."""
    simulator.platform.behaviour = Behaviour(dnd_expiry="keep")
    await client.set_dnd_on(5)

    simulator.platform.advance(5 * 60 + 1)
    rules = await client.get_accept_rules()

    assert rules.dnd_state is DndState.ON_OR_EXPIRED
    assert rules.temporary_groups == ["nobody"]
    assert rules.temporary_minutes == 0
    assert rules.dnd_minutes_left is None


async def test_reject_rules(make_client: ClientFactory) -> None:
    assert await make_client().get_reject_rules() == ["sip:spammer@example.net"]
    assert await make_client(BOB).get_reject_rules() == []


async def test_voicemail(client: SipThorClient) -> None:
    mailbox = await client.get_voicemail()

    assert mailbox is not None
    assert mailbox.mailbox == "alice"
    assert mailbox.pin == "4821"
    assert mailbox.name == "Alice Jansen"
    assert mailbox.email == "alice.jansen@example.org"
    assert mailbox.delete_after_email is False
    assert mailbox.account == "alice@vm.example.com"
    assert "4821" not in repr(mailbox)
    assert "alice@vm.example.com" in repr(mailbox)


async def test_voicemail_option_as_text(
    simulator: SettingsSimulator, client: SipThorClient
) -> None:
    """``Options.delete`` may come as the strings "True"/"False" (docs/settings-api.md §5.12)."""
    voicemail = simulator.platform.accounts[ACCOUNT].voicemail
    assert voicemail is not None
    voicemail["Options"] = {"delete": "True"}

    mailbox = await client.get_voicemail()

    assert mailbox is not None
    assert mailbox.delete_after_email is True


async def test_no_mailbox_is_none(make_client: ClientFactory) -> None:
    assert await make_client(BOB).get_voicemail() is None
