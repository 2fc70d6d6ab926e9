"""What the client sends, as the server read it (docs/settings-api.md §1, §7)."""

from __future__ import annotations

import pytest

from custom_components.sipthor.api import (
    ForwardingCondition,
    SipThorClient,
    SipThorNotSupportedError,
)
from simulator import SettingsSimulator
from tests.conftest import ACCOUNT

NEVER_SENT = (
    "get_crt",
    "get_p12",
    "delete_account",
    "get_journal_entries",
    "put_journal_entries",
    "delete_journal_entries",
    "export_identity_proof",
)


@pytest.mark.parametrize(
    "target",
    [
        "a&b=c#d?e+f g@example.com",
        "+31 6 1234 5678",
        "sip:jürgen.müller@bücher.example",
        "名前@example.jp",
        "100%25 literal %41",
        "<voice-mailbox>",
    ],
)
async def test_forwarding_target_reaches_the_server_unchanged(
    simulator: SettingsSimulator, client: SipThorClient, target: str
) -> None:
    await client.set_call_forwarding({ForwardingCondition.ALWAYS: target})

    request = simulator.counters.last("set_call_forwarding")
    assert request.params["FUNC"] == target
    assert request.method == "POST"
    # A form body: forwarding targets stay out of the query string (and access logs).
    assert request.query_string == ""


async def test_surrounding_spaces_are_trimmed(
    simulator: SettingsSimulator, client: SipThorClient
) -> None:
    await client.set_call_forwarding({ForwardingCondition.BUSY: "  0612345678 \n"})

    assert simulator.counters.last("set_call_forwarding").params["FBUS"] == "0612345678"


async def test_each_parameter_is_sent_once(
    simulator: SettingsSimulator, client: SipThorClient
) -> None:
    await client.set_dnd_on(15)
    await client.get_prepaid()

    write = simulator.counters.last("set_dnd_on")
    read = simulator.counters.last("get_prepaid")
    assert sorted(write.body.split("&")) == [
        "account=alice%40example.com",
        "action=set_dnd_on",
        "duration=15",
    ]
    assert read.method == "GET"
    assert sorted(read.query_string.split("&")) == [
        "account=alice@example.com",
        "action=get_prepaid",
    ]


async def test_full_run_sends_the_account_and_no_dangerous_action(
    simulator: SettingsSimulator, client: SipThorClient
) -> None:
    """Every method once: ``account=`` on each request, and never an action that mints
    certificates, deletes the account or touches the chat journal."""
    await client.get_identity()
    await client.get_aliases()
    await client.get_enum()
    await client.get_call_history()
    await client.get_devices()
    await client.get_prepaid()
    await client.get_balance_history()
    with pytest.raises(SipThorNotSupportedError):
        await client.get_monthly_usage()
    await client.get_call_forwarding()
    await client.get_accept_rules()
    await client.get_reject_rules()
    await client.get_voicemail()
    await client.set_dnd_on(10)
    await client.set_dnd_on()
    await client.set_dnd_off()
    await client.set_privacy_on()
    await client.set_privacy_off()
    await client.add_alias("alias2")
    await client.set_call_forwarding({ForwardingCondition.NO_ANSWER: "0612345678"})
    await client.add_balance(1001, "4829175530612847")

    log = simulator.counters.log
    assert len(log) == 20
    assert all(request.params.get("account") == ACCOUNT for request in log)
    assert not set(simulator.counters.requests) & set(NEVER_SENT)
    assert {request.action for request in log} == {
        "get_identity",
        "get_aliases",
        "get_enum",
        "get_history",
        "get_devices",
        "get_prepaid",
        "get_balance_history",
        "get_monthly_usage",
        "get_call_forwarding",
        "get_accept_rules",
        "get_reject_rules",
        "get_voicemail",
        "set_dnd_on",
        "set_dnd_off",
        "set_privacy_on",
        "set_privacy_off",
        "add_alias",
        "set_call_forwarding",
        "add_balance",
    }
    reads = [request for request in log if request.action.startswith("get_")]
    writes = [request for request in log if not request.action.startswith("get_")]
    assert {request.method for request in reads} == {"GET"}
    assert {request.method for request in writes} == {"POST"}
