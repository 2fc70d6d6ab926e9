"""Quirks and failures of the settings page, and the exception each one becomes."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import timedelta
import logging
import ssl
from typing import Any

import aiohttp
import pytest

from custom_components.sipthor.api import (
    ForwardingCondition,
    SipThorApiError,
    SipThorAuthenticationError,
    SipThorClient,
    SipThorConnectionError,
    SipThorError,
    SipThorNotSupportedError,
    SipThorServerCertificateError,
    SipThorServerError,
    create_ssl_context,
    load_credentials,
)
from simulator import Faults, SettingsSimulator
from simulator.certs import IssuedCertificate
from tests.api.conftest import BOB, ClientFactory, RawRequest, context_for, credentials_of
from tests.conftest import ACCOUNT

API_LOGGER = "custom_components.sipthor.api"
BACKEND_MESSAGE = Faults().backend_message

type Call = Callable[[SipThorClient], Awaitable[Any]]

READS: dict[str, Call] = {
    "get_aliases": lambda client: client.get_aliases(),
    "get_enum": lambda client: client.get_enum(),
    "get_history": lambda client: client.get_call_history(),
    "get_devices": lambda client: client.get_devices(),
    "get_prepaid": lambda client: client.get_prepaid(),
    "get_balance_history": lambda client: client.get_balance_history(),
    "get_call_forwarding": lambda client: client.get_call_forwarding(),
    "get_accept_rules": lambda client: client.get_accept_rules(),
    "get_reject_rules": lambda client: client.get_reject_rules(),
    "get_voicemail": lambda client: client.get_voicemail(),
}
WRITES: dict[str, Call] = {
    "set_dnd_on": lambda client: client.set_dnd_on(10),
    "set_dnd_off": lambda client: client.set_dnd_off(),
    "set_privacy_on": lambda client: client.set_privacy_on(),
    "set_privacy_off": lambda client: client.set_privacy_off(),
    "add_alias": lambda client: client.add_alias("newalias"),
    "set_call_forwarding": lambda client: client.set_call_forwarding(
        {ForwardingCondition.ALWAYS: "0612345678"}
    ),
}
EVERY_CALL: dict[str, Call] = {
    "get_identity": lambda client: client.get_identity(),
    **READS,
    "get_monthly_usage": lambda client: client.get_monthly_usage(),
    **WRITES,
}


def warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [
        record.getMessage()
        for record in caplog.records
        if record.name.startswith(API_LOGGER) and record.levelno == logging.WARNING
    ]


# -- the body -----------------------------------------------------------------------------


async def test_json_sent_as_html_is_read(client: SipThorClient, raw: RawRequest) -> None:
    response = await raw({"action": "get_enum", "account": ACCOUNT})

    assert response.content_type == "text/html; charset=UTF-8"
    assert response.text == '["+31208001234"]'
    assert await client.get_enum() == ["+31208001234"]


@pytest.mark.parametrize("action", list(READS))
async def test_backend_failure_of_a_read(
    simulator: SettingsSimulator, client: SipThorClient, action: str
) -> None:
    """HTML error + ``null``/``[]`` (or, for get_devices, a status object) is a failure
    carrying the server's own text, not an empty answer."""
    simulator.faults.backend_error = True

    with pytest.raises(SipThorApiError) as caught:
        await READS[action](client)

    assert caught.value.message == BACKEND_MESSAGE


async def test_backend_failure_of_an_empty_read(
    simulator: SettingsSimulator, make_client: ClientFactory
) -> None:
    """Bob has nothing to list: the failure must still not pass for "nothing"."""
    bob = make_client(BOB)
    assert await bob.get_voicemail() is None
    assert await bob.get_devices() == []
    simulator.faults.backend_error = True

    for call in (bob.get_voicemail, bob.get_devices, bob.get_aliases, bob.get_reject_rules):
        with pytest.raises(SipThorApiError, match=r"Error \(SipPort\)"):
            await call()


@pytest.mark.parametrize("action", list(WRITES))
async def test_backend_failure_of_a_write(
    simulator: SettingsSimulator, client: SipThorClient, action: str
) -> None:
    alice = simulator.platform.accounts[ACCOUNT]
    forwarding, aliases = dict(alice.forwarding), list(alice.aliases)
    simulator.faults.backend_error = True

    with pytest.raises(SipThorApiError) as caught:
        await WRITES[action](client)

    assert caught.value.message == BACKEND_MESSAGE
    assert alice.forwarding == forwarding
    assert alice.aliases == aliases
    assert alice.temporary_groups == ["everybody"]
    assert not alice.privacy


@pytest.mark.parametrize(
    ("action", "expected"),
    [
        ("get_identity", "alice@example.com"),
        ("get_prepaid", 12.3456),
        ("get_aliases", 2),
        ("get_devices", 2),
        ("get_call_forwarding", "<voice-mailbox>"),
        ("set_dnd_off", True),
    ],
)
async def test_warning_before_a_good_answer(
    simulator: SettingsSimulator,
    client: SipThorClient,
    caplog: pytest.LogCaptureFixture,
    action: str,
    expected: object,
) -> None:
    """A preliminary lookup failed but the action worked: the answer, and one warning."""
    simulator.faults.html_warning = True

    answers = [await EVERY_CALL[action](client) for _ in range(3)]

    for answer in answers:
        match action:
            case "get_identity":
                assert answer.sip_address == expected
            case "get_prepaid":
                assert answer.balance == pytest.approx(expected)
            case "get_aliases" | "get_devices":
                assert len(answer) == expected
            case "get_call_forwarding":
                assert answer.target(ForwardingCondition.BUSY) == expected
            case _:
                assert answer.success is expected
    (warning,) = warnings(caplog)
    assert f"Server warning with {action}: {BACKEND_MESSAGE}" in warning


async def test_each_distinct_warning_is_logged(
    simulator: SettingsSimulator, client: SipThorClient, caplog: pytest.LogCaptureFixture
) -> None:
    simulator.faults.html_warning = True
    await client.get_enum()
    simulator.faults.backend_message = "Error (SipPort): Something else (1): broke"
    await client.get_enum()
    await client.get_aliases()

    assert len(warnings(caplog)) == 3


async def test_empty_body(simulator: SettingsSimulator, client: SipThorClient) -> None:
    """What PHP sends when a string is not valid UTF-8 (docs/settings-api.md §4.5)."""
    simulator.faults.empty_body = True

    with pytest.raises(SipThorServerError, match="empty body") as caught:
        await client.get_prepaid()

    assert caught.value.status is None


async def test_malformed_json(simulator: SettingsSimulator, client: SipThorClient) -> None:
    simulator.faults.malformed_json = True

    with pytest.raises(SipThorServerError, match="without JSON"):
        await client.get_prepaid()
    with pytest.raises(SipThorServerError, match="without JSON"):
        await client.set_dnd_off()


async def test_a_write_answered_without_a_status(
    simulator: SettingsSimulator, client: SipThorClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A write whose answer is JSON but no status object is not taken for success."""

    async def answer_a_list(account: object, params: object) -> Any:
        return await simulator._get_enum(simulator.platform.accounts[ACCOUNT], {})

    monkeypatch.setitem(simulator._handlers, "set_dnd_off", answer_a_list)

    with pytest.raises(SipThorServerError, match="without a status"):
        await client.set_dnd_off()


async def test_a_read_answered_null_without_an_error(
    simulator: SettingsSimulator, client: SipThorClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(simulator.platform, "accept_rules", lambda _account: None)

    with pytest.raises(SipThorServerError, match="get_accept_rules answered null"):
        await client.get_accept_rules()


# -- HTTP status --------------------------------------------------------------------------


@pytest.mark.parametrize("status", [500, 502, 503])
async def test_http_error_status(
    simulator: SettingsSimulator, client: SipThorClient, status: int
) -> None:
    simulator.faults.status = status

    with pytest.raises(SipThorServerError) as caught:
        await client.get_identity()

    assert caught.value.status == status
    assert f"HTTP {status}" in str(caught.value)


@pytest.mark.parametrize("status", [401, 403])
async def test_http_refusal(
    simulator: SettingsSimulator, client: SipThorClient, status: int
) -> None:
    simulator.faults.status = status

    with pytest.raises(SipThorAuthenticationError, match=f"HTTP {status}"):
        await client.get_identity()


async def test_faults_limited_to_some_actions(
    simulator: SettingsSimulator, client: SipThorClient
) -> None:
    simulator.faults = Faults(actions=frozenset({"get_prepaid"}), status=503)

    assert (await client.get_identity()).sip_address == ACCOUNT
    with pytest.raises(SipThorServerError):
        await client.get_prepaid()


# -- authentication -----------------------------------------------------------------------


async def test_credentials_error_text(simulator: SettingsSimulator, client: SipThorClient) -> None:
    simulator.faults.credentials_error = True

    with pytest.raises(SipThorAuthenticationError) as caught:
        await client.get_identity()

    assert str(caught.value) == (
        "Error: Failed to parse X.509 client certificate X.509 Credentials error"
    )


@pytest.mark.parametrize(
    ("account", "message"),
    [
        ("", "Error, please specify an accountX.509 Credentials error"),
        ("alice", "Invalid account providedX.509 Credentials error"),
        ("alice@", "Invalid account providedX.509 Credentials error"),
        ("@example.com", "Invalid account providedX.509 Credentials error"),
        ("mallory@example.com", "X.509 Credentials error"),
    ],
)
async def test_account_parameter_texts(
    simulator: SettingsSimulator,
    client: SipThorClient,
    raw: RawRequest,
    account: str,
    message: str,
) -> None:
    """The server's texts for a missing, malformed or unknown ``account=``, and what
    the client makes of them (its constructor refuses the malformed ones already)."""
    params = {"action": "get_identity"} | ({"account": account} if account else {})
    response = await raw(params)
    assert response.status == 200
    assert response.text == message

    client.account = account
    with pytest.raises(SipThorAuthenticationError) as caught:
        await client.get_identity()
    assert str(caught.value) == message


@pytest.mark.parametrize("account", ["alice", "alice@", "@example.com", ""])
def test_client_refuses_a_malformed_account(alice_credentials: Any, account: str) -> None:
    context = create_ssl_context(alice_credentials)

    with pytest.raises(ValueError, match="user@domain"):
        SipThorClient(account, context)


@pytest.mark.parametrize("client_auth", ["post-handshake", "handshake"])
async def test_certificate_refused_at_tls_level(
    simulator: SettingsSimulator,
    make_client: ClientFactory,
    sim_certs_dir: Any,
    client_auth: str,
) -> None:
    server = simulator
    if client_auth == "handshake":
        server = SettingsSimulator(sim_certs_dir, client_auth="handshake")
        await server.start()
    try:
        server.faults.tls_reject = True
        with pytest.raises(SipThorAuthenticationError, match="UNKNOWN_CA"):
            await make_client(server=server).get_identity()
        # A new connection with the fault gone works again.
        server.faults.tls_reject = False
        assert (await make_client(server=server).get_identity()).sip_address == ACCOUNT
    finally:
        if server is not simulator:
            await server.stop()


async def test_certificate_from_an_unknown_ca(
    make_client: ClientFactory, foreign_alice: IssuedCertificate
) -> None:
    client = make_client(credentials=credentials_of(foreign_alice))

    with pytest.raises(SipThorAuthenticationError, match="UNKNOWN_CA"):
        await client.get_identity()


async def test_expired_certificate_refused_by_the_server(
    make_client: ClientFactory, expired_alice: IssuedCertificate
) -> None:
    """Apache refuses an expired certificate with an alert; no HTTP answer comes."""
    then = expired_alice.certificate.not_valid_before_utc + timedelta(days=1)
    credentials = load_credentials(expired_alice.combined_pem, now=then)
    client = make_client(credentials=credentials)

    with pytest.raises(SipThorAuthenticationError, match="CERTIFICATE_EXPIRED"):
        await client.get_identity()


async def test_no_client_certificate_at_all(
    simulator: SettingsSimulator, make_client: ClientFactory
) -> None:
    """A context without any certificate: the TLS layer refuses it after the request."""
    context = ssl.create_default_context(cafile=str(simulator.certs.server_ca))
    context.post_handshake_auth = True

    with pytest.raises(SipThorAuthenticationError, match="CERTIFICATE_REQUIRED"):
        await make_client(context=context).get_identity()


async def test_client_without_post_handshake_auth_gets_403(
    simulator: SettingsSimulator, make_client: ClientFactory, alice_credentials: Any
) -> None:
    context = context_for(simulator, alice_credentials)
    context.post_handshake_auth = False
    client = make_client(context=context)

    with pytest.raises(SipThorAuthenticationError, match="HTTP 403"):
        await client.get_identity()


async def test_handshake_mode_needs_no_post_handshake_auth(
    sim_certs_dir: Any, socket_enabled: None, make_client: ClientFactory, alice_credentials: Any
) -> None:
    """With the certificate asked for during the handshake, any TLS client works."""
    server = SettingsSimulator(sim_certs_dir, client_auth="handshake")
    await server.start()
    try:
        context = context_for(server, alice_credentials)
        context.post_handshake_auth = False
        client = make_client(server=server, context=context)

        assert (await client.get_identity()).sip_address == ACCOUNT
        assert (await client.get_prepaid()) is not None
        assert server.counters.handshakes == 1
    finally:
        await server.stop()


async def test_server_certificate_from_the_wrong_ca(
    simulator: SettingsSimulator, make_client: ClientFactory, alice_credentials: Any
) -> None:
    """The simulator's server certificate is not in the system trust store."""
    client = make_client(context=context_for(simulator, alice_credentials, cafile=None))

    with pytest.raises(SipThorServerCertificateError, match="did not verify"):
        await client.get_identity()

    assert simulator.counters.requests.total() == 0


async def test_server_verification_can_be_turned_off(
    simulator: SettingsSimulator, make_client: ClientFactory, alice_credentials: Any
) -> None:
    context = context_for(simulator, alice_credentials, cafile=None, verify_server=False)

    assert (await make_client(context=context).get_identity()).sip_address == ACCOUNT


# -- the network --------------------------------------------------------------------------


async def test_answer_too_late(simulator: SettingsSimulator, make_client: ClientFactory) -> None:
    simulator.faults.latency = 0.3
    client = make_client(request_timeout=0.05)

    with pytest.raises(SipThorConnectionError, match=r"No answer within 0\.05 s"):
        await client.get_identity()


async def test_slow_answer_within_the_timeout(
    simulator: SettingsSimulator, make_client: ClientFactory
) -> None:
    simulator.faults.latency = 0.1

    assert (await make_client(request_timeout=5).get_identity()).sip_address == ACCOUNT


async def test_dropped_connection(simulator: SettingsSimulator, client: SipThorClient) -> None:
    simulator.faults.drop_connection = True

    with pytest.raises(SipThorConnectionError, match="Cannot reach"):
        await client.get_identity()

    simulator.faults.drop_connection = False
    assert (await client.get_identity()).sip_address == ACCOUNT


async def test_nothing_listening(simulator: SettingsSimulator, client: SipThorClient) -> None:
    await simulator.stop()

    with pytest.raises(SipThorConnectionError) as caught:
        await client.get_identity()

    assert not isinstance(caught.value, SipThorServerCertificateError)


# -- unknown actions and unforeseen values --------------------------------------------------


async def test_action_the_server_does_not_know(
    simulator: SettingsSimulator, client: SipThorClient, raw: RawRequest
) -> None:
    """An older or patched page: the invalid-action JSON means "not supported"."""
    del simulator._handlers["get_enum"]
    del simulator._handlers["set_privacy_on"]

    with pytest.raises(SipThorNotSupportedError, match="Error: invalid action"):
        await client.get_enum()
    with pytest.raises(SipThorNotSupportedError, match="Error: invalid action"):
        await client.set_privacy_on()


async def test_unknown_members_are_kept_and_logged_once(
    simulator: SettingsSimulator, client: SipThorClient, caplog: pytest.LogCaptureFixture
) -> None:
    simulator.platform.accounts[ACCOUNT].registrations[0]["q"] = 0.5
    simulator.platform.accounts[ACCOUNT].registrations[1]["q"] = 1.0

    first = await client.get_devices()
    second = await client.get_devices()

    assert [device.extra for device in first] == [{"q": 0.5}, {"q": 1.0}]
    assert second == first
    (warning,) = warnings(caplog)
    assert "registration" in warning
    assert "unknown member 'q'" in warning


async def test_each_client_reports_an_unknown_member_once(
    simulator: SettingsSimulator, make_client: ClientFactory, caplog: pytest.LogCaptureFixture
) -> None:
    """Reports are per client (no module-global state): each account logs its own once."""
    simulator.platform.accounts[ACCOUNT].registrations[0]["q"] = 0.5
    first, second = make_client(), make_client()

    for client in (first, second, first, second):
        await client.get_devices()

    lines = warnings(caplog)
    assert len(lines) == 2
    assert all("unknown member 'q'" in line for line in lines)


async def test_unexpected_value_types_are_kept_and_logged_once(
    simulator: SettingsSimulator, make_client: ClientFactory, caplog: pytest.LogCaptureFixture
) -> None:
    alice = simulator.platform.accounts[ACCOUNT]
    alice.balance = "twelve"  # type: ignore[assignment]
    alice.no_answer_timeout = "soon"  # type: ignore[assignment]
    simulator.platform.prepaid = lambda account: {"balance": account.balance}  # type: ignore[method-assign]
    client = make_client()

    status = await client.get_prepaid()
    identity = await client.get_identity()
    await client.get_prepaid()
    await client.get_identity()

    assert status is not None
    assert status.balance is None
    assert status.extra == {"balance": "twelve"}
    assert identity.no_answer_timeout is None
    assert identity.extra == {"no_answer_timeout": "soon"}
    assert identity.sip_address == ACCOUNT
    assert len(warnings(caplog)) == 2


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (
            "<p>" + "Maintenance. " * 100 + "</p>Error: No X.509 client certificate provided\n"
            "X.509 Credentials error",
            "No X.509 client certificate provided X.509 Credentials error",
        ),
        ("Invalid credentials from alice " + "." * 1000, "Invalid credentials from alice"),
    ],
    ids=["certificate", "digest"],
)
async def test_a_long_credentials_error_page_is_cut_to_its_message(
    simulator: SettingsSimulator, client: SipThorClient, body: str, message: str
) -> None:
    simulator.faults.body = body

    with pytest.raises(SipThorAuthenticationError) as caught:
        await client.get_identity()

    assert message in str(caught.value)
    assert len(str(caught.value)) <= 500


async def test_every_error_is_a_sipthor_error(
    simulator: SettingsSimulator, client: SipThorClient
) -> None:
    """One ``except SipThorError`` is enough for a caller that only logs."""
    for faults in (
        Faults(status=500),
        Faults(status=403),
        Faults(empty_body=True),
        Faults(backend_error=True),
        Faults(drop_connection=True),
    ):
        simulator.faults = faults
        with pytest.raises(SipThorError):
            await client.get_voicemail()


# -- sessions ------------------------------------------------------------------------------


async def test_a_session_of_the_caller_stays_open(
    simulator: SettingsSimulator, alice_credentials: Any
) -> None:
    context = context_for(simulator, alice_credentials)
    async with aiohttp.ClientSession() as session:
        async with SipThorClient(ACCOUNT, context, url=simulator.url, session=session) as client:
            assert (await client.get_identity()).sip_address == ACCOUNT
        assert not session.closed
        # The session still works for another client.
        other = SipThorClient(BOB, context, url=simulator.url, session=session)
        assert (await other.get_identity()).sip_address == BOB
        await other.close()
        assert not session.closed


async def test_own_session_is_closed_and_reopened(
    simulator: SettingsSimulator, client: SipThorClient
) -> None:
    await client.get_identity()
    session = client._session
    assert session is not None

    await client.close()

    assert session.closed
    assert (await client.get_identity()).sip_address == ACCOUNT
    assert simulator.counters.handshakes == 2
