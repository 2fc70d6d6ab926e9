"""The simulator itself: is it the server docs/settings-api.md describes?

Raw requests (Alice's certificate, no client library) look at the wire format, so that
the client tests above rest on a faithful stand-in.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from custom_components.sipthor.api import ClientCredentials, SipThorClient, load_credentials
from custom_components.sipthor.api.privacy import privacy_from_settings_page
from simulator import Behaviour, Platform, SettingsSimulator, SimulatedAccount
from simulator.phpjson import php_json
from tests.api.conftest import BOB, CAROL, ClientFactory, RawRequest
from tests.conftest import ACCOUNT, ACCOUNT_PASSWORD

EXAMPLES = Path(__file__).parent / "examples"
INVALID_ACTION = '{"success":false,"error_message":"Error: invalid action"}'


def example(name: str) -> Any:
    return json.loads((EXAMPLES / f"{name}.json").read_text())


async def answer(raw: RawRequest, action: str, account: str = ACCOUNT, **params: str) -> Any:
    response = await raw({"action": action, "account": account, **params})
    assert response.status == 200
    return json.loads(response.text)


# -- PHP's JSON ---------------------------------------------------------------------------


def test_php_json() -> None:
    value = {"tz": "Europe/Amsterdam", "balance": 10.0, "calls": 3, "name": "Zoë", "tag": "<b>"}

    assert php_json(value) == (
        '{"tz":"Europe\\/Amsterdam","balance":10.0,"calls":3,"name":"Zo\\u00eb","tag":"<b>"}'
    )
    assert php_json([]) == "[]"
    assert php_json(None) == "null"


async def test_wire_format(simulator: SettingsSimulator, raw: RawRequest) -> None:
    simulator.platform.accounts[ACCOUNT].balance = 10

    prepaid = await raw({"action": "get_prepaid", "account": ACCOUNT})
    identity = await raw({"action": "get_identity", "account": ACCOUNT})

    assert prepaid.content_type == "text/html; charset=UTF-8"
    assert prepaid.text == '{"balance":10.0,"session_counter":0}'
    assert '"timezone":"Europe\\/Amsterdam"' in identity.text
    assert ": " not in identity.text


@pytest.mark.parametrize(
    ("action", "name"),
    [
        ("get_identity", "get_identity"),
        ("get_accept_rules", "get_accept_rules"),
        ("get_call_forwarding", "get_call_forwarding"),
        ("get_voicemail", "get_voicemail"),
        ("get_monthly_usage", "get_monthly_usage"),
    ],
)
async def test_objects_have_the_keys_of_the_examples(
    simulator: SettingsSimulator, raw: RawRequest, action: str, name: str
) -> None:
    simulator.platform.behaviour = Behaviour(legacy_monthly_usage=True)
    simulator.platform.accounts[ACCOUNT].persistent_rules["96"] = {
        "start": "10:00",
        "stop": "14:00",
        "groups": ["vip"],
    }

    value = await answer(raw, action)

    assert list(value) == list(example(name))
    if action == "get_voicemail":
        assert list(value["Options"]) == list(example(name)["Options"])


async def test_list_items_have_the_keys_of_the_examples(raw: RawRequest) -> None:
    history = await answer(raw, "get_history")
    devices = await answer(raw, "get_devices")
    balance = await answer(raw, "get_balance_history")
    expected = example("get_history")

    assert {tuple(call) for call in history["placed"]} == {tuple(expected["placed"][0])}
    assert {tuple(call) for call in history["received"]} == {tuple(expected["received"][0])}
    assert {tuple(device) for device in devices} == {tuple(example("get_devices")[0])}
    assert {tuple(entry) for entry in balance} == {tuple(example("get_balance_history")[0])}


@pytest.mark.parametrize(
    ("action", "body"),
    [
        ("get_devices", "null"),
        ("get_voicemail", "null"),
        ("get_history", '{"placed":null,"received":null}'),
        ("get_aliases", "[]"),
        ("get_enum", "[]"),
        ("get_reject_rules", "[]"),
        ("get_balance_history", "[]"),
        ("get_call_forwarding", '{"FUNC":null,"FNOL":null,"FBUS":null,"FNOA":null,"FUNV":null}'),
        (
            "get_accept_rules",
            '{"temporary":{"groups":["everybody"],"duration":0},"groups":["everybody","nobody"]}',
        ),
    ],
)
async def test_null_versus_empty_list(raw: RawRequest, action: str, body: str) -> None:
    """Which empty answers are ``null`` and which are ``[]`` (Bob has nothing).

    See docs/settings-api.md §8.
    """
    response = await raw({"action": action, "account": BOB})

    assert response.text == body


async def test_unset_forwarding_as_empty_strings(
    simulator: SettingsSimulator, raw: RawRequest
) -> None:
    """Open question 7, the other answer: NGNPro sends "" for an unset condition."""
    simulator.platform.behaviour = Behaviour(unset_forwarding_as_empty_string=True)

    response = await raw({"action": "get_call_forwarding", "account": ACCOUNT})

    assert response.text == (
        '{"FUNC":"","FNOL":"","FBUS":"<voice-mailbox>","FNOA":"<voice-mailbox>","FUNV":""}'
    )


async def test_get_and_post_are_both_read(raw: RawRequest) -> None:
    by_post = await raw(method="POST", data={"action": "get_enum", "account": ACCOUNT})
    # With request_order=GP a POST field wins over the query field of the same name.
    both = await raw(
        {"action": "get_enum", "account": ACCOUNT},
        method="POST",
        data={"action": "get_reject_rules"},
    )

    assert by_post.text == '["+31208001234"]'
    assert both.text == '["sip:spammer@example.net"]'


# -- actions beyond the client's --------------------------------------------------------------


@pytest.mark.parametrize("action", ["get_calls", "get_location", "xadd_y", "delete_journal"])
async def test_unknown_api_looking_action(raw: RawRequest, action: str) -> None:
    response = await raw({"action": action, "account": ACCOUNT})

    assert response.status == 200
    assert response.text == INVALID_ACTION


@pytest.mark.parametrize("action", ["foo", "GET_PREPAID", "save settings"])
async def test_unknown_other_action_gets_the_page_header_first(
    raw: RawRequest, action: str
) -> None:
    response = await raw({"action": action, "account": ACCOUNT})

    assert response.text.startswith("<!DOCTYPE html><html><head>")
    assert response.text.endswith("<body>" + INVALID_ACTION)
    assert "</html>" not in response.text


@pytest.mark.parametrize("action", [None, ""])
async def test_settings_page(
    simulator: SettingsSimulator, raw: RawRequest, action: str | None
) -> None:
    params = {"account": ACCOUNT} | ({} if action is None else {"action": action})

    overview = await raw(params)
    settings = await raw(params | {"tab": "settings"})
    simulator.platform.accounts[ACCOUNT].privacy = True
    private = await raw(params | {"tab": "settings"})

    assert overview.content_type == "text/html; charset=UTF-8"
    assert "<h1>SIP settings of alice@example.com</h1>" in overview.text
    assert "anonymous" not in overview.text
    assert privacy_from_settings_page(settings.text) is False
    assert privacy_from_settings_page(private.text) is True
    # Where PSTN access is off the box is not rendered (docs/settings-api.md §6.2).
    simulator.platform.behaviour.privacy_checkbox = False
    without = await raw(params | {"tab": "settings"})
    assert "<FORM" in without.text
    assert privacy_from_settings_page(without.text) is None


async def test_array_parameters_are_a_fatal_error(raw: RawRequest) -> None:
    """PHP 8 and ``FUNC[]=``: HTTP 500, empty body (docs/settings-api.md §1, §4.4)."""
    query = await raw([("action", "set_call_forwarding"), ("account", ACCOUNT), ("FUNC[]", "1")])
    form = await raw(
        method="POST",
        data=[("action", "set_call_forwarding"), ("account", ACCOUNT), ("FUNC[x]", "1")],
    )

    assert (query.status, query.body) == (500, b"")
    assert (form.status, form.body) == (500, b"")


async def test_add_balance(
    simulator: SettingsSimulator, raw: RawRequest, client: SipThorClient
) -> None:
    """A known voucher adds its value once, with a history row; others are NGNPro faults."""
    account = simulator.platform.accounts[ACCOUNT]
    before = account.balance

    async def top_up(voucher_id: str, number: str) -> Any:
        data = {"action": "add_balance", "account": ACCOUNT, "id": voucher_id, "number": number}
        return await raw(method="POST", data=data)

    added = await top_up("1003", "5502718364950127")
    again = await top_up("1003", "5502718364950127")
    wrong_number = await top_up("1001", "5502718364950127")
    used = await top_up("1004", "9081736452018836")
    missing = await raw(method="POST", data={"action": "add_balance", "account": ACCOUNT})
    postpaid = await raw(
        method="POST",
        data={
            "action": "add_balance",
            "account": CAROL,
            "id": "1001",
            "number": "4829175530612847",
        },
    )

    assert "Account is not prepaid" in postpaid.text
    assert simulator.platform.vouchers[(1001, "4829175530612847")].used is False
    assert added.text == '{"success":true,"error_message":"Added balance succeeded"}'
    assert "already used" in again.text
    assert "not found" in wrong_number.text
    assert "already used" in used.text
    for refused in (again, wrong_number, used):
        assert refused.text.startswith('{"success":false,"error_message":"Error (SipPort): ')
    assert missing.text == '{"success":false,"error_message":"Missing id or number"}'
    after = await client.get_prepaid()
    assert after is not None
    assert after.balance == pytest.approx(before + 25)
    history = await client.get_balance_history()
    assert (history[0].action, history[0].value) == ("Add balance", 25.0)
    assert history[0].balance == pytest.approx(before + 25)


async def test_get_crt_mints_an_owner_certificate(
    simulator: SettingsSimulator, raw: RawRequest, make_client: ClientFactory
) -> None:
    first = await raw({"action": "get_crt", "account": ACCOUNT})
    second = await raw({"action": "get_crt", "account": BOB})

    assert first.content_type == "application/x-crt"
    assert first.headers["Content-Disposition"] == (
        "inline; filename=sipthor-owner-certificate-1001.crt"
    )
    one, two = load_credentials(first.body), load_credentials(second.body)
    assert one.info.common_name == two.info.common_name == "1001"
    assert one.info.fingerprint_sha256 != two.info.fingerprint_sha256
    assert (one.info.serial_number, one.info.signature_hash, one.info.key_size) == (0, "md5", 1024)
    # Every minted certificate stays valid and opens every account of the owner.
    assert (await make_client(BOB, one).get_identity()).sip_address == BOB
    assert (await make_client(ACCOUNT, two).get_identity()).sip_address == ACCOUNT


async def test_get_p12_mints_a_pkcs12_locked_with_the_sip_password(raw: RawRequest) -> None:
    response = await raw({"action": "get_p12", "account": ACCOUNT})

    assert response.content_type == "application/x-p12"
    assert response.headers["Content-Disposition"].endswith("-1001.p12")
    assert load_credentials(response.body, ACCOUNT_PASSWORD).info.common_name == "1001"


async def test_journal_without_a_database(raw: RawRequest) -> None:
    value = await answer(raw, "get_journal_entries")

    assert value == {"success": False, "error_message": None, "results": []}
    assert set(value) <= set(example("get_journal_entries"))


async def test_delete_account_deletes_nothing(
    simulator: SettingsSimulator, raw: RawRequest
) -> None:
    response = await raw({"action": "delete_account", "account": ACCOUNT})

    assert response.text == "<p>No pending delete request for this account</p>"
    assert ACCOUNT in simulator.platform.accounts


# -- writes on the wire ------------------------------------------------------------------------


async def test_forwarding_body_as_in_the_spec(raw: RawRequest) -> None:
    response = await raw(
        method="POST",
        data={
            "action": "set_call_forwarding",
            "account": ACCOUNT,
            "FUNC": "0612345678",
            "FNOA": "",
        },
    )

    assert response.text == (
        'Key FUNC changed 0612345678Key FNOA changed {"success":true,"error_message":'
        '"Changed diversions FUNC=sip:0612345678@example.com FNOA= "}'
    )


async def test_forwarding_without_a_condition(raw: RawRequest) -> None:
    response = await raw(method="POST", data={"action": "set_call_forwarding", "account": ACCOUNT})

    assert response.text == '{"success":true,"error_message":"Diversions remained the same"}'


@pytest.mark.parametrize(
    ("target", "stored"),
    [
        ("0612345678", "sip:0612345678@example.com"),
        ("+31612345678@other.net", "sip:+31612345678@example.com"),
        ("|1234@other.net", "sip:|1234@example.com"),
        ("bob@other.net", "sip:bob@other.net"),
        ("sip:bob@other.net", "sip:bob@other.net"),
        ("sips:bob@other.net", "sip:sips:bob@other.net"),
        ("<voice-mailbox>", "<voice-mailbox>"),
        ("<mobile-number>", "sip:+31612345678@example.com"),
        ("<other>", "sip:<other>@example.com"),
    ],
)
async def test_forwarding_normalisation(
    simulator: SettingsSimulator, raw: RawRequest, target: str, stored: str
) -> None:
    """Forwarding as stored, for Alice: domain example.com, mobile +31612345678.

    See docs/settings-api.md §5.17.
    """
    response = await raw(
        method="POST",
        data={"action": "set_call_forwarding", "account": ACCOUNT, "FUNV": target},
    )

    assert json.loads(response.text.removeprefix(f"Key FUNV changed {target}")) == {
        "success": True,
        "error_message": f"Changed diversions FUNV={stored} ",
    }
    assert simulator.platform.accounts[ACCOUNT].forwarding["FUNV"] == stored


@pytest.mark.parametrize(("duration", "minutes"), [("abc", 0), ("-5", 0), ("12min", 12)])
async def test_dnd_duration_read_as_php_intval(
    raw: RawRequest, client: SipThorClient, duration: str, minutes: int
) -> None:
    await raw(
        method="POST", data={"action": "set_dnd_on", "account": ACCOUNT, "duration": duration}
    )

    rules = await client.get_accept_rules()
    assert rules.temporary_groups == ["nobody"]
    assert rules.temporary_minutes == minutes


async def test_dutch_messages(make_client: ClientFactory) -> None:
    carol = make_client(CAROL)

    assert (await carol.set_privacy_on()).message == (
        "Nummerweergave is nu verborgen voor uitgaande gesprekken"
    )
    assert (await carol.set_privacy_off()).message == (
        "Nummerweergave is nu zichtbaar voor uitgaande gesprekken"
    )
    assert (await carol.set_dnd_on()).message == "Niet storen is ingeschakeld"
    assert (await carol.add_alias("wit")).message == "Alias wit toegevoegd"


async def test_untranslated_texts(raw: RawRequest) -> None:
    """Some texts are never translated, not even for Carol, who reads Dutch.

    See docs/settings-api.md §1.
    """
    alias = await raw(method="POST", data={"action": "add_alias", "account": CAROL})
    balance = await raw(method="POST", data={"action": "add_balance", "account": CAROL})
    forwarding = await raw(method="POST", data={"action": "set_call_forwarding", "account": CAROL})

    assert alias.text == '{"success":false,"error_message":"Error: missing username"}'
    assert balance.text == '{"success":false,"error_message":"Missing id or number"}'
    assert forwarding.text == '{"success":true,"error_message":"Diversions remained the same"}'


# -- platform state -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("zone_setting", "zone"), [("account", "Europe/Amsterdam"), ("utc", "UTC")]
)
async def test_history_time_zone(
    simulator: SettingsSimulator, client: SipThorClient, zone_setting: Any, zone: str
) -> None:
    """Open question 8: the times are in the account's zone, or in PHP's default (UTC)."""
    simulator.platform.behaviour = Behaviour(history_timezone=zone_setting)
    call = simulator.platform.add_call(ACCOUNT, "placed", "sip:x@example.net", seconds_ago=3600)

    history = await client.get_call_history()

    newest = history.placed[0]
    expected = call.started.astimezone(ZoneInfo(zone)).replace(tzinfo=None, microsecond=0)
    assert newest.session_id == call.session_id
    assert newest.start_time == expected
    assert newest.timezone == "Europe/Amsterdam"  # the field names the account's zone anyway


async def test_history_keeps_14_days_and_50_calls(
    simulator: SettingsSimulator, client: SipThorClient
) -> None:
    for number in range(60):
        simulator.platform.add_call(BOB, "received", f"sip:{number}@x.y", seconds_ago=number + 1)
    simulator.platform.add_call(BOB, "placed", "sip:old@x.y", seconds_ago=15 * 86400)
    simulator.platform.add_call(BOB, "placed", "sip:new@x.y", seconds_ago=13 * 86400)

    raw_history = simulator.platform.history(simulator.platform.accounts[BOB])

    assert len(raw_history["received"]) == 50
    assert raw_history["received"][0]["remoteParty"] == "sip:0@x.y"
    assert [call["remoteParty"] for call in raw_history["placed"]] == ["sip:new@x.y"]
    assert all(call["displayName"] == "" for call in raw_history["placed"])


async def test_calls_in_the_future_are_not_listed(simulator: SettingsSimulator) -> None:
    simulator.platform.add_call(BOB, "placed", "sip:soon@x.y", seconds_ago=-60)

    assert simulator.platform.history(simulator.platform.accounts[BOB])["placed"] is None

    simulator.platform.advance(120)
    assert simulator.platform.history(simulator.platform.accounts[BOB])["placed"] is not None


def test_platform_with_own_accounts_and_clock() -> None:
    now = [1_750_000_000.0]
    account = SimulatedAccount(username="dave", domain="example.org", owner=7, password="pw")
    platform = Platform([account], clock=lambda: now[0])

    assert list(platform.accounts) == ["dave@example.org"]
    assert platform.timestamp() == 1_750_000_000.0
    platform.advance(30)
    now[0] += 10
    assert platform.timestamp() == 1_750_000_040.0
    assert platform.now().timestamp() == 1_750_000_040.0
    assert platform.find("dave", "example.org", 7) == [account]
    assert platform.find("dave", "example.org", 8) == []
    assert platform.find("dave", "example.org", 0) == [account]
    platform.behaviour = Behaviour(owner_zero_matches_any=False)
    assert platform.find("dave", "example.org", 0) == []


def test_identity_defaults_the_no_answer_timeout() -> None:
    platform = Platform()
    bob = platform.accounts[BOB]
    bob.no_answer_timeout = 0

    assert platform.identity(bob)["no_answer_timeout"] == 35


# -- connections and counters ----------------------------------------------------------------


async def test_handshakes_are_counted_per_connection(
    simulator: SettingsSimulator, make_client: ClientFactory
) -> None:
    first = make_client()
    await first.get_identity()
    await first.get_enum()
    await first.get_aliases()
    assert simulator.counters.handshakes == 1

    await make_client().get_identity()
    assert simulator.counters.handshakes == 2
    assert simulator.counters.requests.total() == 4


async def test_keepalive_timeout_closes_idle_connections(
    sim_certs_dir: Path, socket_enabled: None, make_client: ClientFactory
) -> None:
    # Apache closes a connection idle for KeepAliveTimeout seconds: the next request
    # costs a new handshake.
    server = SettingsSimulator(sim_certs_dir, keepalive_timeout=0.05)
    await server.start()
    try:
        client = make_client(server=server)
        await client.get_identity()
        await client.get_enum()
        assert server.counters.handshakes == 1
        await asyncio.sleep(0.3)
        await client.get_identity()
        assert server.counters.handshakes == 2
    finally:
        await server.stop()


async def test_counters_record_and_reset(
    simulator: SettingsSimulator, client: SipThorClient
) -> None:
    await client.set_dnd_on(5)
    await client.set_dnd_on(7)

    last = simulator.counters.last("set_dnd_on")
    assert last.method == "POST"
    assert last.params == {"action": "set_dnd_on", "account": ACCOUNT, "duration": "7"}
    assert last.query_string == ""
    assert "duration=7" in last.body
    assert simulator.counters.requests == {"set_dnd_on": 2}

    simulator.counters.reset()
    assert simulator.counters.requests.total() == 0
    assert simulator.counters.handshakes == 0
    assert simulator.counters.log == []
    with pytest.raises(StopIteration):
        simulator.counters.last("set_dnd_on")


async def test_simulator_on_a_port_of_its_choice(
    sim_certs_dir: Path, socket_enabled: None, alice_credentials: ClientCredentials
) -> None:
    server = SettingsSimulator(sim_certs_dir, path="/cdrtool/settings.phtml")
    assert server.url.endswith(":0/cdrtool/settings.phtml")
    await server.start()
    try:
        assert server.port != 0
        assert server.url == f"https://127.0.0.1:{server.port}/cdrtool/settings.phtml"
        assert server.client_certificate("owner-2002.crt").exists()
    finally:
        await server.stop()
        await server.stop()  # stopping twice is harmless
