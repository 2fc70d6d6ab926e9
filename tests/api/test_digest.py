"""Signing in with the SIP password: HTTP Digest (RFC 7616) on the page of
docs/settings-api.md §2.5.

The arithmetic is checked against RFC 7616's own worked example (§3.9.1); the client
against the simulator's Digest page over real TLS; and that page, in turn, against
implementations that are not ours (urllib's handler, curl).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
import hashlib
import logging
import re
import shutil
import ssl
import subprocess
from typing import Any
import urllib.error
import urllib.request

from hypothesis import given, settings, strategies as st
import pytest

from custom_components.sipthor.api import (
    DEFAULT_URL,
    DIGEST_URL,
    ForwardingCondition,
    SipThorAuthenticationError,
    SipThorCertificateRequiredError,
    SipThorClient,
    SipThorConnectionError,
    SipThorDowngradeError,
    SipThorError,
    SipThorServerError,
)
from custom_components.sipthor.api.digest import (
    MAX_CHALLENGE_CHARACTERS,
    DigestAuth,
    DigestChallenge,
    DigestChallengeError,
    DigestDowngradeError,
    parse_challenges,
)
from simulator import SettingsSimulator, SimulatedAccount
from simulator.server import DIGEST_UNREADABLE, NONCE_LIFETIME
from tests.api.conftest import BOB, RawResponse
from tests.api.hostile import (
    MAX_HEADER_VALUE,
    aiohttp_header,
    challenge_header_sets,
    cpu_time,
    loop_cpu_watched,
)
from tests.conftest import ACCOUNT, ACCOUNT_PASSWORD

# RFC 7616 §3.9.1: the challenges, the client's cnonce and the two responses.
RFC_NONCE = "7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v"
RFC_OPAQUE = "FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS"
RFC_CNONCE = "f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ"
RFC_CHALLENGE = (
    'Digest realm="http-auth@example.org", qop="auth, auth-int", algorithm={algorithm}, '
    f'nonce="{RFC_NONCE}", opaque="{RFC_OPAQUE}"'
)
RFC_RESPONSES = {
    "MD5": "8ca523f5e9506fed4657c9700eebdbec",
    "SHA-256": "753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1",
}
API_LOGGER = "custom_components.sipthor.api"

type PasswordClientFactory = Callable[..., SipThorClient]


def rfc_auth() -> DigestAuth:
    return DigestAuth("Mufasa", "Circle of Life", cnonce=lambda: RFC_CNONCE)


def fields(authorization: str) -> dict[str, str]:
    """The parameters of an Authorization value, unquoted."""
    scheme, _, rest = authorization.partition(" ")
    assert scheme == "Digest"
    return {
        name: quoted or bare
        for name, quoted, bare in re.findall(r'([\w*]+)=(?:"((?:[^"\\]|\\.)*)"|([^\s,]+))', rest)
    }


def server_context(simulator: SettingsSimulator) -> ssl.SSLContext:
    """Trusts the simulator's server CA; presents no certificate."""
    return ssl.create_default_context(cafile=str(simulator.certs.server_ca))


@pytest.fixture
async def password_client(
    simulator: SettingsSimulator,
) -> AsyncIterator[PasswordClientFactory]:
    """Clients on the simulator's Digest page (Alice by default), closed at the end."""
    clients: list[SipThorClient] = []

    def factory(
        account: str = ACCOUNT, password: str = ACCOUNT_PASSWORD, **kwargs: Any
    ) -> SipThorClient:
        kwargs.setdefault("url", simulator.digest_url)
        client = SipThorClient(account, server_context(simulator), password=password, **kwargs)
        clients.append(client)
        return client

    yield factory
    for client in clients:
        await client.close()


# -- RFC 7616 ---------------------------------------------------------------------------


@pytest.mark.parametrize("algorithm", ["MD5", "SHA-256"])
def test_rfc7616_worked_example(algorithm: str) -> None:
    auth = rfc_auth()
    auth.read_challenge([RFC_CHALLENGE.format(algorithm=algorithm)])

    authorization = auth.authorization("GET", "/dir/index.html")

    assert authorization == (
        'Digest username="Mufasa", realm="http-auth@example.org", '
        f'nonce="{RFC_NONCE}", uri="/dir/index.html", algorithm={algorithm}, qop=auth, '
        f'nc=00000001, cnonce="{RFC_CNONCE}", response="{RFC_RESPONSES[algorithm]}", '
        f'opaque="{RFC_OPAQUE}"'
    )


def test_the_strongest_challenge_is_answered() -> None:
    """The RFC's server offers SHA-256 and MD5; either order, SHA-256 is taken."""
    for order in (["MD5", "SHA-256"], ["SHA-256", "MD5"]):
        auth = rfc_auth()
        auth.read_challenge([RFC_CHALLENGE.format(algorithm=name) for name in order])
        answer = auth.authorization("GET", "/dir/index.html")
        assert answer is not None
        assert fields(answer)["response"] == RFC_RESPONSES["SHA-256"]


def test_challenges_as_cdrtool_spaces_them() -> None:
    """The first challenge has spaces after commas, later ones none, a stale one both."""
    first, compact, stale = parse_challenges(
        [
            'Digest realm="example.com", qop="auth", nonce="MTIz==", opaque="ab"',
            'Digest realm="example.com",qop="auth",nonce="NDU2",opaque="ab"',
            'Digest realm="example.com",qop="auth",nonce="Nzg5",stale=true, opaque="ab"',
        ]
    )

    assert first == DigestChallenge("example.com", "MTIz==", "MD5", ("auth",), "ab", False)
    assert (compact.nonce, compact.stale) == ("NDU2", False)
    assert (stale.nonce, stale.stale, stale.opaque) == ("Nzg5", True, "ab")


def test_challenges_among_other_schemes() -> None:
    challenges = parse_challenges(
        [
            (
                'Negotiate abc==, Basic realm="x", Digest realm="a \\"b\\"", '
                'nonce="n1", qop=auth, algorithm=sha-256'
            ),
            "Bearer",
            "Digest realm=r",  # no nonce: not a challenge anyone can answer
        ]
    )

    assert challenges == [DigestChallenge('a "b"', "n1", "SHA-256", ("auth",))]


@pytest.mark.parametrize(
    "header",
    [
        'Basic realm="x"',
        'Digest realm="x", nonce="n", qop="auth-int"',
        'Digest realm="x", nonce="n"',  # RFC 2069: no qop
        'Digest realm="x", nonce="n", qop="auth", algorithm=SHA-512-256',
        "",
    ],
)
def test_unanswerable_challenges(header: str) -> None:
    with pytest.raises(DigestChallengeError):
        rfc_auth().read_challenge([header])


# RFC 2069 §2.4's example: a challenge without qop, and its response.
RFC2069_CHALLENGE = (
    'Digest realm="testrealm@host.com", nonce="dcd98b7102dd2f0e8b11d0f600bfb0c093", '
    'opaque="5ccc069c403ebaf9f0171e9517f40e41"'
)


def test_rfc2069_challenges_are_answered_only_where_allowed() -> None:
    """SIP servers send challenges without qop (the live channel allows them); the
    settings page does not, and its client keeps refusing them."""
    with pytest.raises(DigestChallengeError):
        DigestAuth("Mufasa", "CircleOfLife").read_challenge([RFC2069_CHALLENGE])
    auth = DigestAuth("Mufasa", "CircleOfLife", allow_without_qop=True)
    auth.read_challenge([RFC2069_CHALLENGE])

    answer = fields(auth.authorization("GET", "/dir/index.html") or "")

    assert answer["response"] == "1949323746fe6a43ef61f9606e7febea"
    assert answer["opaque"] == "5ccc069c403ebaf9f0171e9517f40e41"
    assert not {"qop", "nc", "cnonce"} & answer.keys()
    # Offered both, it answers the one with qop=auth.
    auth.read_challenge([RFC2069_CHALLENGE, 'Digest realm="r", nonce="n2", qop="auth"'])
    assert fields(auth.authorization("GET", "/") or "")["qop"] == "auth"


QUOTABLE = st.text(st.characters(blacklist_categories=("Cs", "Cc")), min_size=1, max_size=40)


@settings(deadline=None)
@given(realm=QUOTABLE, nonce=QUOTABLE, opaque=QUOTABLE)
def test_quoted_values_read_back(realm: str, nonce: str, opaque: str) -> None:
    def quoted(value: str) -> str:
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'

    header = f"Basic realm=x, Digest realm={quoted(realm)}, nonce={quoted(nonce)}, "
    header += f"qop=auth, opaque={quoted(opaque)}"

    assert parse_challenges([header]) == [
        DigestChallenge(realm, nonce, "MD5", ("auth",), opaque, False)
    ]


@settings(deadline=None)
@given(st.text(max_size=200))
def test_any_header_reads_without_error(header: str) -> None:
    """Whatever a server sends, reading it gives challenges or none, never an exception."""
    for challenge in parse_challenges([header]):
        assert isinstance(challenge.nonce, str)


def test_nonce_count_per_nonce() -> None:
    auth = rfc_auth()
    assert auth.authorization("GET", "/") is None

    auth.read_challenge([RFC_CHALLENGE.format(algorithm="MD5")])
    counts = [fields(auth.authorization("GET", "/") or "")["nc"] for _ in range(3)]
    auth.read_challenge([RFC_CHALLENGE.format(algorithm="MD5")])  # the same nonce again
    counts.append(fields(auth.authorization("GET", "/") or "")["nc"])
    auth.read_challenge(['Digest realm="x", nonce="other", qop="auth"'])
    counts.append(fields(auth.authorization("GET", "/") or "")["nc"])

    assert counts == ["00000001", "00000002", "00000003", "00000004", "00000001"]


def test_user_name_bare_in_its_own_domain() -> None:
    """Bare where the realm is the account's domain; user@domain where it is not."""
    auth = DigestAuth("alice", "secret", domain="example.com")
    names = []
    for realm in ("example.com", "SIP_settings"):
        auth.read_challenge([f'Digest realm="{realm}", nonce="n", qop="auth"'])
        names.append(fields(auth.authorization("GET", "/") or "")["username"])

    assert names == ["alice", "alice@example.com"]


def test_user_name_beyond_ascii() -> None:
    auth = DigestAuth("zoë", "secret")
    auth.read_challenge(['Digest realm="r", nonce="n", qop="auth"'])

    assert fields(auth.authorization("GET", "/") or "")["username*"] == "UTF-8''zo%C3%AB"


def test_repr_without_password() -> None:
    auth = DigestAuth("alice", ACCOUNT_PASSWORD, domain="example.com")
    auth.read_challenge(['Digest realm="example.com", nonce="n", qop="auth"'])

    assert ACCOUNT_PASSWORD not in repr(auth)
    assert "alice" in repr(auth)


# -- what a hostile server may send ----------------------------------------------------

# The loop time issue 17 allows for reading any set of challenges aiohttp accepts.
CHALLENGE_CPU_BUDGET = 0.005
# aiohttp 3.14 refuses a response with more header lines than this (3.11: far more).
MAX_HEADERS_EVERY_AIOHTTP_TAKES = 128


def rfc7616_response(challenge: DigestChallenge, answer: dict[str, str], password: str) -> str:
    """The response RFC 7616 §3.4.1 asks for, over the bytes the server sent (UTF-8)."""
    name = {"MD5": "md5", "SHA-256": "sha256"}[challenge.algorithm]

    def digest(*parts: str) -> str:
        return hashlib.new(name, ":".join(parts).encode()).hexdigest()

    ha1 = digest(answer["username"], challenge.realm, password)
    ha2 = digest("GET", answer["uri"])
    return digest(ha1, challenge.nonce, answer["nc"], answer["cnonce"], "auth", ha2)


@settings(deadline=None, max_examples=60)
@given(challenge_header_sets)
def test_any_challenges_give_a_right_answer_or_a_typed_error(values: list[str]) -> None:
    """Many, huge and odd headers: read in bounded time; answered right, or refused
    with the client's own error (on main: seconds of loop time, UnicodeEncodeError)."""
    auth = DigestAuth("alice", "pw")
    try:
        challenge = auth.read_challenge(values)
    except DigestChallengeError:
        challenge = None
    if challenge is not None:
        answer = auth.authorization("GET", "/settings.phtml?action=get_enum")
        assert answer is not None
        # aiohttp sends header values as UTF-8 and refuses line breaks.
        answer.encode("utf-8")
        assert "\r" not in answer
        assert "\n" not in answer
        sent = fields(answer)
        assert sent["response"] == rfc7616_response(challenge, sent, "pw")

    assert cpu_time(lambda: DigestAuth("alice", "pw").read_challenge(values)) <= (
        CHALLENGE_CPU_BUDGET
    )


def test_the_challenges_read_are_bounded() -> None:
    """A good challenge after a flood is not read: what is read has a fixed bound."""
    good = 'Digest realm="r", nonce="n", qop="auth"'
    flood = ["x" * 4000] * 3 + ["Basic " + "a=b, " * 800]

    assert parse_challenges([good])
    assert not parse_challenges([*flood, good])
    assert not parse_challenges(["y" * (MAX_CHALLENGE_CHARACTERS + 1) + ", " + good])


@pytest.mark.parametrize(
    "raw",
    [
        b'Digest realm="caf\xe9", nonce="n", qop="auth"',
        b'Digest realm="r", nonce="n\xff", qop="auth"',
        b'Digest realm="r", nonce="n", qop="auth", opaque="\x01"',
    ],
    ids=["latin-1-realm", "non-utf8-nonce", "control-character"],
)
def test_what_cannot_be_sent_back_is_a_typed_error(raw: bytes) -> None:
    """aiohttp's C writer drops such characters, its Python writer raises: no answer
    could repeat the value as the server sent it."""
    with pytest.raises(DigestChallengeError, match="cannot be sent back"):
        DigestAuth("alice", "pw").read_challenge([aiohttp_header(raw)])


def test_a_realm_in_utf8_is_answered_over_its_bytes() -> None:
    auth = DigestAuth("zoë", "pässword")
    challenge = auth.read_challenge(
        [aiohttp_header('Digest realm="Café", nonce="ñ", qop=auth, charset=UTF-8'.encode())]
    )
    answer = auth.authorization("GET", "/") or ""

    sent = fields(answer)
    assert sent["realm"] == "Café"
    assert sent["username*"] == "UTF-8''zo%C3%AB"
    assert sent["response"] == rfc7616_response(challenge, sent | {"username": "zoë"}, "pässword")


def test_a_weaker_algorithm_is_refused_per_server() -> None:
    auth = rfc_auth()
    both = [RFC_CHALLENGE.format(algorithm=name) for name in ("MD5", "SHA-256")]
    md5_only = [RFC_CHALLENGE.format(algorithm="MD5")]
    auth.read_challenge(both, server="https://a.example")

    with pytest.raises(DigestDowngradeError) as refused:
        auth.read_challenge(md5_only, server="https://a.example")

    assert (refused.value.offered, refused.value.strongest) == ("MD5", "SHA-256")
    # Still answering the SHA-256 challenge, not the refused one.
    assert fields(auth.authorization("GET", "/") or "")["algorithm"] == "SHA-256"
    # Another server that never offered more is answered with MD5.
    assert auth.read_challenge(md5_only, server="https://b.example").algorithm == "MD5"
    assert auth.strongest_offered("https://a.example") == "SHA-256"


def test_which_refusals_judge_the_password() -> None:
    """Only the newest nonce at nc=1, alone and not stale, is a verdict."""
    challenge = 'Digest realm="r", nonce="{}", qop="auth"{}'
    auth = DigestAuth("alice", "pw")
    assert not auth.read_refusal(None, [challenge.format("n1", "")]).for_good
    first = auth.answer("GET", "/")
    second = auth.answer("GET", "/")
    assert first is not None
    assert second is not None

    # nc=2 may have overtaken nc=1 at a server that counts strictly.
    assert not auth.read_refusal(second, [challenge.format("n2", "")]).for_good
    # n1 is older than n2 now.
    assert not auth.read_refusal(first, [challenge.format("n3", "")]).for_good
    newest = auth.answer("GET", "/")
    assert newest is not None
    assert not auth.read_refusal(newest, [challenge.format("n4", "")], alone=False).for_good
    newest = auth.answer("GET", "/")
    assert newest is not None
    assert not auth.read_refusal(newest, [challenge.format("n5", ", stale=true")]).for_good
    newest = auth.answer("GET", "/")
    assert newest is not None
    assert auth.read_refusal(newest, [challenge.format("n6", "")]).for_good


# -- the client on the Digest page ------------------------------------------------------


def test_constructor() -> None:
    context = ssl.create_default_context()

    assert SipThorClient(ACCOUNT, password="x").url == DIGEST_URL
    assert SipThorClient(ACCOUNT, context).url == DEFAULT_URL
    with pytest.raises(ValueError, match="client certificate, or a password"):
        SipThorClient(ACCOUNT)


async def test_sign_in_with_the_sip_password(
    simulator: SettingsSimulator, password_client: PasswordClientFactory
) -> None:
    client = password_client()

    identity = await client.get_identity()

    assert identity.sip_address == ACCOUNT
    first, second = simulator.counters.log
    assert first.authorization == ""
    assert fields(second.authorization)["username"] == "alice"
    assert second.params["realm"] == "example.com"
    assert simulator.counters.challenges == 1


async def test_same_accounts_and_state_as_the_certificate_page(
    simulator: SettingsSimulator, password_client: PasswordClientFactory, client: SipThorClient
) -> None:
    """A write through the Digest page is what the certificate page reads back, and the
    write sent before the challenge was not applied (a second alias would fail)."""
    by_password = password_client()

    await by_password.add_alias("door")
    await by_password.set_call_forwarding({ForwardingCondition.BUSY: "0612345678"})

    assert (await client.get_aliases()).count("door@example.com") == 1
    forwarding = await client.get_call_forwarding()
    assert forwarding.target(ForwardingCondition.BUSY) == "0612345678@example.com"
    posts = [request for request in simulator.counters.log if request.action == "add_alias"]
    assert [bool(request.authorization) for request in posts] == [False, True]


async def test_nonce_reused_with_increasing_count(
    simulator: SettingsSimulator, password_client: PasswordClientFactory
) -> None:
    client = password_client()

    await client.get_identity()
    await client.get_prepaid()
    await client.set_dnd_on(10)

    answers = [fields(r.authorization) for r in simulator.counters.log if r.authorization]
    assert [answer["nc"] for answer in answers] == ["00000001", "00000002", "00000003"]
    assert len({answer["nonce"] for answer in answers}) == 1
    assert len({answer["cnonce"] for answer in answers}) == 3
    assert simulator.counters.challenges == 1


async def test_stale_nonce_answered_once_more(
    simulator: SettingsSimulator,
    password_client: PasswordClientFactory,
    caplog: pytest.LogCaptureFixture,
) -> None:
    client = password_client()
    await client.get_identity()
    simulator.platform.advance(NONCE_LIFETIME + 1)
    simulator.counters.reset()
    caplog.set_level(logging.DEBUG)

    prepaid = await client.get_prepaid()

    assert prepaid is not None
    stale, renewed = simulator.counters.log
    assert fields(stale.authorization)["nc"] == "00000002"
    assert fields(renewed.authorization)["nc"] == "00000001"
    assert fields(renewed.authorization)["nonce"] != fields(stale.authorization)["nonce"]
    assert simulator.counters.challenges == 1
    assert "went stale" in caplog.text
    assert not [record for record in caplog.records if record.levelno >= logging.WARNING]


async def test_nonce_the_server_no_longer_knows(
    simulator: SettingsSimulator, password_client: PasswordClientFactory
) -> None:
    """A new nonce key (a restarted or another node) costs one more round, not a failure."""
    client = password_client()
    await client.get_identity()
    simulator._nonce_key = "rotated"

    assert await client.get_prepaid() is not None
    assert simulator.counters.challenges == 2


@pytest.mark.parametrize("offered", [("SHA-256",), ("MD5", "SHA-256")])
async def test_sha256(
    simulator: SettingsSimulator,
    password_client: PasswordClientFactory,
    offered: tuple[str, ...],
) -> None:
    simulator.digest_algorithms = offered
    client = password_client()

    await client.get_identity()

    assert fields(simulator.counters.log[-1].authorization)["algorithm"] == "SHA-256"


@pytest.mark.parametrize(
    ("account", "password"),
    [(ACCOUNT, "not-alices-password"), ("nobody@example.com", ACCOUNT_PASSWORD)],
)
async def test_wrong_password_or_unknown_user(
    simulator: SettingsSimulator,
    password_client: PasswordClientFactory,
    account: str,
    password: str,
) -> None:
    client = password_client(account, password)

    with pytest.raises(SipThorAuthenticationError, match="SIP address or password"):
        await client.get_identity()
    assert simulator.counters.requests["get_identity"] == 2


async def test_web_password_and_stored_ha1(
    simulator: SettingsSimulator, password_client: PasswordClientFactory
) -> None:
    """The page takes the web password when set, and an HA1 of the bare user name."""
    simulator.platform.accounts[ACCOUNT].web_password = "web-only"
    simulator.platform.accounts[BOB].password_as_ha1 = True

    alice = await password_client(ACCOUNT, "web-only").get_identity()
    bob = await password_client(BOB, "bob-sip-password").get_identity()

    assert (alice.sip_address, bob.sip_address) == (ACCOUNT, BOB)
    with pytest.raises(SipThorAuthenticationError):
        await password_client(ACCOUNT, ACCOUNT_PASSWORD).get_identity()


async def test_unreadable_header_is_an_error_not_data(
    simulator: SettingsSimulator, password_client: PasswordClientFactory
) -> None:
    """A user name beyond ASCII goes as username* (RFC 7616), which CDRTool's parser
    does not read: it answers HTTP 200 with a short text, not data."""
    simulator.platform.add_account(SimulatedAccount("zoë", "example.com", 1001, "zoë-pw"))
    client = password_client("zoë@example.com", "zoë-pw")

    with pytest.raises(SipThorAuthenticationError, match="Invalid credentials from"):
        await client.get_prepaid()


async def test_page_refusing_every_challenge(
    simulator: SettingsSimulator, password_client: PasswordClientFactory
) -> None:
    """A page that only offers what the client cannot answer fails at once: a server
    error, not a verdict on the password (which was never sent)."""
    simulator.digest_algorithms = ("SHA-512-256",)

    with pytest.raises(SipThorServerError, match="cannot be answered") as raised:
        await password_client().get_identity()

    assert not isinstance(raised.value, SipThorAuthenticationError)
    assert simulator.counters.requests["get_identity"] == 1


async def test_password_client_on_the_certificate_page(
    simulator: SettingsSimulator, password_client: PasswordClientFactory
) -> None:
    client = password_client(url=simulator.url)

    with pytest.raises(SipThorAuthenticationError):
        await client.get_identity()


async def test_first_requests_wait_for_the_first_challenge(
    simulator: SettingsSimulator, password_client: PasswordClientFactory
) -> None:
    """Three reads at once on a new client: one goes without credentials, the other
    two wait for the challenge it brings (on main: three 401s)."""
    client = password_client()

    answers = await asyncio.gather(client.get_prepaid(), client.get_devices(), client.get_enum())

    assert answers[2] == ["+31208001234"]
    assert [request.authorization for request in simulator.counters.log].count("") == 1
    assert simulator.counters.challenges == 1
    assert simulator.counters.requests.total() == 4


async def test_a_thousand_parallel_reads_on_a_strict_server(
    simulator: SettingsSimulator, password_client: PasswordClientFactory
) -> None:
    """Apache with AuthDigestNcCheck On refuses a count that arrives out of order:
    no such refusal is taken for a wrong password (on main: about one read in four)."""
    simulator.digest_strict_nc = True
    simulator.faults.reverse = 3
    # The reads queue behind MAX_IN_FLIGHT slots, and a read's timeout counts its wait:
    # on a loaded machine the last ones waited over 30 s. The verdicts are checked here,
    # not the time, which scripts/bench measures.
    client = password_client(request_timeout=3600)
    # asyncio's debug mode records a traceback per callback: most of the time here.
    asyncio.get_running_loop().set_debug(False)

    answers = await asyncio.gather(
        *(client.get_enum() for _ in range(1000)), return_exceptions=True
    )

    assert [answer for answer in answers if isinstance(answer, BaseException)] == []
    assert simulator.counters.challenges > 1, "the server refused nothing out of order"


async def test_a_wrong_password_on_a_strict_server(
    simulator: SettingsSimulator, password_client: PasswordClientFactory
) -> None:
    """Judged once, by a lone answer with the newest nonce; the others take the verdict."""
    simulator.digest_strict_nc = True
    client = password_client(password="not-alices-password")

    answers = await asyncio.gather(*(client.get_enum() for _ in range(3)), return_exceptions=True)

    assert all(isinstance(answer, SipThorAuthenticationError) for answer in answers)
    # One without credentials, three side by side, one alone.
    assert simulator.counters.requests["get_enum"] == 5


async def test_a_weaker_algorithm_later_is_refused(
    simulator: SettingsSimulator, password_client: PasswordClientFactory
) -> None:
    """After SHA-256, an MD5-only challenge from the same page gets no MD5 answer."""
    simulator.digest_algorithms = ("MD5", "SHA-256")
    client = password_client()
    await client.get_identity()
    simulator.digest_algorithms = ("MD5",)
    simulator._nonce_key = "rotated"  # the next request is refused with a new challenge

    with pytest.raises(SipThorDowngradeError, match="SHA-256 before and now only MD5"):
        await client.get_prepaid()

    sent = [fields(request.authorization) for request in simulator.counters.log[1:]]
    assert [answer["algorithm"] for answer in sent] == ["SHA-256", "SHA-256"]


@pytest.mark.parametrize(
    "challenges",
    [
        (b'Digest realm="caf\xe9", qop="auth", nonce="MTIz", opaque="ab"',),
        (b"Digest " + b"a=" * (MAX_HEADER_VALUE // 2),) * 512,
        (b'Basic realm="' + b"x" * (MAX_HEADER_VALUE - 20) + b'"',) * 128
        + (b'Digest realm="example.com", qop="auth", nonce="MTIz"',),
    ],
    ids=["latin-1-realm", "512-headers-of-8-kb", "a-good-one-after-128"],
)
async def test_hostile_challenges_over_tls(
    simulator: SettingsSimulator,
    password_client: PasswordClientFactory,
    challenges: tuple[bytes, ...],
) -> None:
    """The client's own error, without holding the loop (on main: UnicodeEncodeError;
    5.7 s). Newer aiohttp (3.14, in Home Assistant 2026) refuses more than 128 header
    lines itself."""
    simulator.faults.raw_challenges = challenges
    client = password_client()

    async with loop_cpu_watched() as watchdog:
        with pytest.raises(
            (SipThorServerError, SipThorConnectionError),
            match=r"challenge cannot be answered|Too many headers",
        ) as raised:
            await client.get_identity()

    if len(challenges) <= MAX_HEADERS_EVERY_AIOHTTP_TAKES:
        assert isinstance(raised.value, SipThorServerError)
    # aiohttp's own reading of up to 4 MB of headers runs on the loop too.
    assert watchdog.worst <= 0.050
    simulator.faults.raw_challenges = None
    assert (await client.get_identity()).sip_address == ACCOUNT


async def test_password_never_shown(
    simulator: SettingsSimulator,
    password_client: PasswordClientFactory,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    good = password_client()
    bad = password_client(password=ACCOUNT_PASSWORD + "-old")
    await good.get_identity()
    with pytest.raises(SipThorError) as refused:
        await bad.get_identity()

    shown = [caplog.text, repr(good), repr(good._digest), repr(bad._digest)]
    error: BaseException | None = refused.value
    while error is not None:
        shown += [str(error), repr(error)]
        error = error.__cause__ or error.__context__
    assert not [text for text in shown if ACCOUNT_PASSWORD in text]


# -- the simulator's Digest page, raw and with clients that are not ours ---------------


async def raw_digest(
    simulator: SettingsSimulator, params: dict[str, str], authorization: str | None = None
) -> RawResponse:
    import aiohttp  # noqa: PLC0415 - only these raw requests need it here

    headers = {"Authorization": authorization} if authorization else {}
    async with (
        aiohttp.ClientSession() as session,
        session.get(
            simulator.digest_url, params=params, headers=headers, ssl=server_context(simulator)
        ) as response,
    ):
        return RawResponse(
            response.status,
            response.headers.get("Content-Type", ""),
            dict(response.headers),
            await response.read(),
        )


@pytest.mark.parametrize(
    ("realm", "expected"),
    [(None, "SIP_settings"), ("example.com", "example.com"), (BOB, "example.com")],
)
async def test_challenge_and_realm_parameter(
    simulator: SettingsSimulator, realm: str | None, expected: str
) -> None:
    params = {"action": "get_identity"} | ({"realm": realm} if realm else {})

    response = await raw_digest(simulator, params)

    assert (response.status, response.body) == (401, b"")
    challenge = response.headers["WWW-Authenticate"]
    assert challenge.startswith(f'Digest realm="{expected}", qop="auth", nonce="')


@pytest.mark.parametrize(
    "authorization",
    [
        'Digest username="alice", realm="example.com", nonce="x", uri="/"',
        'Digest username="alice", nonce="x", uri="/", nc=00000001, cnonce="c", response="r"',
    ],
)
async def test_malformed_header_answered_with_text(
    simulator: SettingsSimulator, authorization: str
) -> None:
    response = await raw_digest(simulator, {"action": "get_identity"}, authorization)

    assert (response.status, response.text) == (200, DIGEST_UNREADABLE)


@pytest.mark.parametrize(
    ("client_auth", "post_handshake_auth"),
    [("post-handshake", False), ("post-handshake", True), ("handshake", False)],
    ids=["403", "alert-after-the-request", "alert-in-the-handshake"],
)
async def test_the_certificate_page_is_told_apart_from_a_wrong_password(
    sim_certs_dir: Any,
    socket_enabled: None,
    *,
    client_auth: Any,
    post_handshake_auth: bool,
) -> None:
    """Signing in with the password on the page behind client certificates.

    The Digest page refuses a password with 401. The certificate page answers a client
    without a certificate with 403 (no post-handshake authentication offered) or a TLS
    alert: the URL is wrong, however right the password, and the user is told so.
    """
    server = SettingsSimulator(sim_certs_dir, client_auth=client_auth)
    await server.start()
    context = server_context(server)
    context.post_handshake_auth = post_handshake_auth
    client = SipThorClient(ACCOUNT, context, password=ACCOUNT_PASSWORD, url=server.url)
    try:
        with pytest.raises(SipThorCertificateRequiredError, match="client certificate"):
            await client.get_identity()
        # Still an authentication error to anything that does not ask further.
        assert issubclass(SipThorCertificateRequiredError, SipThorAuthenticationError)
    finally:
        await client.close()
        await server.stop()


@pytest.mark.parametrize(
    ("user", "password"), [("alice", "wrong"), ("nobody", ACCOUNT_PASSWORD), ("bob", "")]
)
async def test_refusals_are_401_with_an_empty_body(
    simulator: SettingsSimulator, user: str, password: str
) -> None:
    params = {"action": "set_dnd_on", "realm": "example.com"}
    challenge = (await raw_digest(simulator, params)).headers["WWW-Authenticate"]
    auth = DigestAuth(user, password, domain="example.com")
    auth.read_challenge([challenge])

    response = await raw_digest(simulator, params, auth.authorization("GET", "/"))

    assert (response.status, response.body) == (401, b"")
    assert response.headers["WWW-Authenticate"].startswith('Digest realm="example.com",qop=')
    assert "stale" not in response.headers["WWW-Authenticate"]
    assert simulator.platform.accounts[ACCOUNT].temporary_groups == ["everybody"]


@pytest.mark.parametrize("nonce", ["Zm9yZ2VkOjEyMw==", "not base64!"])
async def test_nonce_the_page_did_not_issue(simulator: SettingsSimulator, nonce: str) -> None:
    """A right response to a nonce the page did not sign: 401, and not stale."""
    auth = DigestAuth("alice", ACCOUNT_PASSWORD, domain="example.com")
    auth.read_challenge([f'Digest realm="example.com", nonce="{nonce}", qop="auth"'])

    params = {"action": "get_identity", "realm": "example.com"}

    response = await raw_digest(simulator, params, auth.authorization("GET", "/"))

    assert (response.status, response.body) == (401, b"")
    assert "stale" not in response.headers["WWW-Authenticate"]


async def test_strict_page_counts_as_apache_does(simulator: SettingsSimulator) -> None:
    """One count per client: a count that arrives early, or again, is refused without
    stale=true, and the refusal starts the count again."""
    simulator.digest_strict_nc = True
    params = {"action": "get_identity", "realm": "example.com"}
    challenge = (await raw_digest(simulator, params)).headers["WWW-Authenticate"]
    auth = DigestAuth("alice", ACCOUNT_PASSWORD, domain="example.com")
    auth.read_challenge([challenge])
    uri = "/"
    first, second = auth.authorization("GET", uri), auth.authorization("GET", uri)

    early = await raw_digest(simulator, params, second)
    in_order = await raw_digest(simulator, params, first)
    again = await raw_digest(simulator, params, first)

    assert [early.status, in_order.status, again.status] == [401, 200, 401]
    assert "stale" not in early.headers["WWW-Authenticate"]
    assert "stale" not in again.headers["WWW-Authenticate"]


async def test_algorithm_the_page_did_not_offer(simulator: SettingsSimulator) -> None:
    simulator.digest_algorithms = ("SHA-256",)
    params = {"action": "get_identity", "realm": "example.com"}
    challenge = (await raw_digest(simulator, params)).headers["WWW-Authenticate"]
    auth = DigestAuth("alice", ACCOUNT_PASSWORD, domain="example.com")
    auth.read_challenge([challenge.replace("algorithm=SHA-256", "algorithm=MD5")])

    response = await raw_digest(simulator, params, auth.authorization("GET", "/"))

    assert response.status == 401


class ClosingDigestAuthHandler(urllib.request.HTTPDigestAuthHandler):
    """urllib's handler, closing each refused response before it tries again.

    The refused responses stay referenced from the error's traceback otherwise, and
    their open connections outlive the test.
    """

    def http_error_401(self, req: Any, fp: Any, code: Any, msg: Any, headers: Any) -> Any:
        fp.close()
        return super().http_error_401(req, fp, code, msg, headers)


def urllib_fetch(simulator: SettingsSimulator, user: str, password: str, query: str) -> bytes:
    """Python's own Digest client (MD5 only), in the calling thread."""
    passwords = urllib.request.HTTPPasswordMgrWithDefaultRealm()
    passwords.add_password(None, simulator.digest_url, user, password)
    opener = urllib.request.build_opener(
        urllib.request.HTTPSHandler(context=server_context(simulator)),
        ClosingDigestAuthHandler(passwords),
    )
    with opener.open(f"{simulator.digest_url}?{query}", timeout=10) as response:
        body: bytes = response.read()
        return body


@pytest.mark.parametrize(
    ("user", "query"),
    [
        ("alice", "action=get_identity&realm=example.com"),
        ("alice@example.com", "action=get_identity"),  # realm SIP_settings
        ("alice@example.com", "action=get_identity&realm=alice@example.com"),
    ],
)
async def test_page_checked_with_urllib(
    simulator: SettingsSimulator, user: str, query: str
) -> None:
    body = await asyncio.to_thread(urllib_fetch, simulator, user, ACCOUNT_PASSWORD, query)

    assert b'"sip_address":"alice@example.com"' in body


async def test_page_refuses_urllib_with_a_wrong_password(simulator: SettingsSimulator) -> None:
    with pytest.raises(urllib.error.HTTPError) as refused:
        await asyncio.to_thread(
            urllib_fetch, simulator, "alice", "wrong", "action=get_identity&realm=example.com"
        )

    assert refused.value.code == 401


@pytest.mark.skipif(shutil.which("curl") is None, reason="curl is not installed")
async def test_page_checked_with_curl_sha256(simulator: SettingsSimulator) -> None:
    simulator.digest_algorithms = ("SHA-256",)
    command = [
        "curl",
        "--silent",
        "--digest",
        "--user",
        f"alice:{ACCOUNT_PASSWORD}",
        "--cacert",
        str(simulator.certs.server_ca),
        f"{simulator.digest_url}?action=get_prepaid&realm=example.com",
    ]
    process = await asyncio.create_subprocess_exec(*command, stdout=subprocess.PIPE)
    stdout, _ = await asyncio.wait_for(process.communicate(), timeout=20)

    assert process.returncode == 0
    assert stdout.startswith(b'{"balance":')
    assert "algorithm=SHA-256" in simulator.counters.log[-1].authorization
