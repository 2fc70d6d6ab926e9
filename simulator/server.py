"""The simulated settings page: CDRTool's TLS page behind Apache, as docs/settings-api.md describes.

Layers, in the order a request meets them (docs/settings-api.md §2):

1. TLS. The server certificate comes from the server CA; client certificates must be
   issued by the enrollment CA. Like Apache with a per-file ``SSLVerifyClient``, the
   certificate is asked for after the request has been read (TLS 1.3 post-handshake
   authentication), or, in ``handshake`` mode, during the handshake.
2. PHP: ``account=`` checks and the owner mapping, ending in the
   ``X.509 Credentials error`` texts.
3. The dispatcher: one function per action, PHP-style JSON sent as ``text/html``.

The Digest page (``sip_settings_digest.phtml``, docs/settings-api.md §2.5) runs the
same dispatcher on the same accounts and state at :attr:`SettingsSimulator.digest_url`.
It asks for no certificate (except in ``handshake`` mode, where TLS asks every client,
as an Apache with a server-wide ``SSLVerifyClient`` would); the user name is the SIP
user name or ``user@domain`` and the password the account's SIP password (or its web
password, when set). Its nonces live 5 minutes on the platform's clock
(:meth:`Platform.advance`). Like CDRTool it offers MD5 only;
:attr:`SettingsSimulator.digest_algorithms` can offer SHA-256 as well, for the client's
RFC 7616 support.

Tests drive it in-process: :attr:`SettingsSimulator.faults` injects failures,
:attr:`SettingsSimulator.counters` counts requests, TLS handshakes and Digest
challenges, and
:attr:`SettingsSimulator.platform` holds and changes the accounts.
"""

from __future__ import annotations

import asyncio
from asyncio.sslproto import SSLProtocol
import base64
import binascii
from collections import Counter
from collections.abc import Awaitable, Callable
import contextlib
from dataclasses import dataclass, field
import functools
import hashlib
import logging
from pathlib import Path
import re
import secrets
import ssl
import time
from typing import Any, Final, Literal

from aiohttp import web
from cryptography import x509
from cryptography.x509.oid import NameOID

from .certs import (
    CertificateFiles,
    IssuedCertificate,
    ensure_certificates,
    issue_client_certificate,
    new_authority,
)
from .phpjson import php_json
from .state import FORWARDING_CONDITIONS, Json, Platform, SimulatedAccount

_LOGGER = logging.getLogger(__name__)

CREDENTIALS_ERROR: Final = "X.509 Credentials error"
INVALID_ACTION: Final = {"success": False, "error_message": "Error: invalid action"}
_ACTION_MARKERS: Final = ("get_", "set_", "put_", "delete_", "export_", "add_")
_HTML_HEADER: Final = (
    "<!DOCTYPE html><html><head><title>SIP settings</title>"
    "<style>body{font-family:sans-serif}.alert-error{color:#b94a48}</style></head><body>"
)
_APACHE_403: Final = (
    '<!DOCTYPE HTML PUBLIC "-//IETF//DTD HTML 2.0//EN">\n<html><head>\n'
    "<title>403 Forbidden</title>\n</head><body>\n<h1>Forbidden</h1>\n"
    "<p>You don't have permission to access this resource.Reason: Cannot perform "
    "Post-Handshake Authentication.<br /></p>\n</body></html>\n"
)
_CONTENT_TYPE: Final = "text/html; charset=UTF-8"
_PHA_WAIT: Final = 10.0
# The Digest page (docs/settings-api.md §2.5): CDRTool's nonce lifetime, default realm,
# the parts its http_digest_parse requires and its regular expression (PHP's [^\2] is
# "not \x02"), and what it prints when a part is missing (a print of an unformatted
# format string).
NONCE_LIFETIME: Final = 300.0
DIGEST_DEFAULT_REALM: Final = "SIP_settings"
_DIGEST_PARTS: Final = ("nonce", "nc", "cnonce", "qop", "username", "uri", "response")
_DIGEST_PARAM: Final = re.compile(
    r"(nonce|nc|cnonce|qop|username|uri|response)=(?:(['\"])([^\x02]+?)\2|([^\s, ]+))"
)
_DIGEST_ALGORITHM: Final = re.compile(r"algorithm=\"?([\w-]+)")
DIGEST_UNREADABLE: Final = "Invalid credentials from %s"
_HASHES: Final = {"MD5": "md5", "SHA-256": "sha256"}
# How long Faults.reverse waits for a group to fill.
_REVERSE_WAIT: Final = 0.001
_DIGEST_OPAQUE: Final = re.compile(r"opaque=\"([^\"]*)\"")
# Clients whose counts the strict mode remembers before it starts again.
_MAX_DIGEST_CLIENTS: Final = 10_000

type ClientAuth = Literal["post-handshake", "handshake"]
# How a replaced body (Faults.body) is sent: with its Content-Length, as Apache sends a
# PHP page; chunked, without a length; "endless": the body over and over, chunked,
# until the client leaves; "announced": a Content-Length of Faults.announced_length,
# then the body, then nothing more while the client stays.
type BodyFraming = Literal["length", "chunked", "endless", "announced"]


class Hold:
    """Holds answers until released, so that tests can count round trips.

    Answers are made and wait; :meth:`release` lets every waiting one go on and returns
    their actions: one wave of requests the client had in flight at once. With
    ``count`` only that many requests are held, the later ones pass.
    """

    def __init__(self, count: int | None = None) -> None:
        """Hold every request, or the next ``count``."""
        self.count = count
        self.waiting: list[str] = []
        self._gate = asyncio.Event()

    async def wait(self, action: str) -> None:
        """Wait here until released (the handler's side)."""
        if self.count is not None:
            if self.count <= 0:
                return
            self.count -= 1
        self.waiting.append(action)
        await self._gate.wait()

    def release(self) -> list[str]:
        """Let the waiting requests go on; requests arriving later wait again."""
        waiting, self.waiting = self.waiting, []
        gate, self._gate = self._gate, asyncio.Event()
        gate.set()
        return waiting


@dataclass
class Faults:
    """Failures to inject; ``actions`` limits them to some actions (None: every one)."""

    actions: frozenset[str] | None = None
    latency: float = 0.0
    # Answers, once made, wait until the test releases them.
    hold: Hold | None = None
    # Answers, once made, are sent this many seconds late (a function of the action,
    # whatever ``actions`` says): what the server held when the request came arrives
    # after what came later.
    answer_delay: Callable[[str], float] | None = None
    status: int | None = None
    # A back-end (SOAP) failure: reads print an HTML error and the empty answer,
    # writes answer success false with an "Error (SipPort)" text (docs/settings-api.md §4.1, §4.2).
    backend_error: bool = False
    # A preliminary lookup failed: an HTML error before an otherwise good answer
    # (docs/settings-api.md §3).
    html_warning: bool = False
    empty_body: bool = False
    malformed_json: bool = False
    drop_connection: bool = False
    credentials_error: bool = False
    # Refuse every client certificate at the TLS layer (new connections).
    tls_reject: bool = False
    # Replaces the answer of the actions (after authentication): a proxy's or a
    # maintenance page, an oversized or deeply nested answer.
    body: str | None = None
    body_framing: BodyFraming = "length"
    announced_length: int = 0
    # Requests are authenticated in the reverse of the order they came in, in groups of
    # up to this many (a group smaller than that goes after 1 ms without another
    # request): what several connections and a busy server do to requests in flight.
    reverse: int = 0
    # The Digest page refuses with these WWW-Authenticate values, sent as raw bytes
    # (several, huge, or not UTF-8: what a hostile server may send), then closes the
    # connection.
    raw_challenges: tuple[bytes, ...] | None = None
    backend_message: str = (
        "Error (SipPort): Failed to connect to NGNPro (1030): Database unavailable"
    )

    def applies_to(self, action: str) -> bool:
        """Whether the per-request faults apply to ``action``."""
        return self.actions is None or action in self.actions


@dataclass(frozen=True, slots=True)
class RecordedRequest:
    """A request as the simulator read it, for assertions on the server side."""

    method: str
    action: str
    params: dict[str, str]
    query_string: str
    body: str
    authorization: str = ""
    # When it arrived (``time.perf_counter``), for the benchmarks' timelines.
    received: float = field(default_factory=time.perf_counter, compare=False)


@dataclass
class Counters:
    """What reached the simulator."""

    requests: Counter[str] = field(default_factory=Counter)
    handshakes: int = 0
    # HTTP 401 answers of the Digest page, each with a new nonce.
    challenges: int = 0
    log: list[RecordedRequest] = field(default_factory=list)

    def reset(self) -> None:
        """Start counting again."""
        self.requests.clear()
        self.handshakes = 0
        self.challenges = 0
        self.log.clear()

    def last(self, action: str) -> RecordedRequest:
        """The most recent request for ``action``."""
        return next(request for request in reversed(self.log) if request.action == action)


class _NoPostHandshakeAuth:
    """The client did not offer post-handshake authentication (Apache answers 403)."""


_NO_PHA: Final = _NoPostHandshakeAuth()


class SettingsSimulator:
    """The simulated ``settings.phtml`` on its own TLS port."""

    def __init__(
        self,
        certs_dir: Path,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        platform: Platform | None = None,
        client_auth: ClientAuth = "post-handshake",
        path: str = "/settings.phtml",
        digest_path: str = "/sip_settings_digest.phtml",
        keepalive_timeout: float | None = None,
    ) -> None:
        """Serve ``platform`` (the demo accounts by default) on ``host``:``port``.

        ``keepalive_timeout`` closes a connection idle for that many seconds, like
        Apache's ``KeepAliveTimeout`` (5 s there); None keeps aiohttp's default.
        """
        self.host = host
        self.keepalive_timeout = keepalive_timeout
        self.port = port
        self.path = path
        self.digest_path = digest_path
        # What the Digest page offers, one challenge each; CDRTool computes MD5 only.
        self.digest_algorithms: tuple[str, ...] = ("MD5",)
        # Apache in front, with AuthDigestNcCheck On (see _count_request).
        self.digest_strict_nc = False
        self._digest_clients: dict[str, int] = {}
        self._reversed: list[asyncio.Future[None]] = []
        self._release: asyncio.TimerHandle | None = None
        self._nonce_key = secrets.token_hex(16)
        self.client_auth: ClientAuth = client_auth
        self.platform = platform or Platform()
        self.faults = Faults()
        self.counters = Counters()
        self.certs: CertificateFiles = ensure_certificates(
            certs_dir,
            {
                account.address: (account.owner, account.password)
                for account in self.platform.accounts.values()
            },
            hosts=[host, "localhost"] if host != "localhost" else ["localhost", "127.0.0.1"],
        )
        self._runner: web.AppRunner | None = None
        self._contexts = self._ssl_contexts()
        self._handlers: dict[
            str, Callable[[SimulatedAccount, dict[str, str]], Awaitable[web.Response]]
        ] = {
            "get_identity": self._get_identity,
            "get_aliases": self._get_aliases,
            "get_enum": self._get_enum,
            "get_history": self._get_history,
            "get_devices": self._get_devices,
            "get_prepaid": self._get_prepaid,
            "get_balance_history": self._get_balance_history,
            "get_monthly_usage": self._get_monthly_usage,
            "get_call_forwarding": self._get_call_forwarding,
            "get_accept_rules": self._get_accept_rules,
            "get_reject_rules": self._get_reject_rules,
            "get_voicemail": self._get_voicemail,
            "get_journal_entries": self._get_journal_entries,
            "set_dnd_on": self._set_dnd_on,
            "set_dnd_off": self._set_dnd_off,
            "set_privacy_on": self._set_privacy_on,
            "set_privacy_off": self._set_privacy_off,
            "add_alias": self._add_alias,
            "set_call_forwarding": self._set_call_forwarding,
            "add_balance": self._add_balance,
            "get_crt": self._get_crt,
            "get_p12": self._get_p12,
            "delete_account": self._delete_account,
        }

    # -- lifecycle ----------------------------------------------------------------------

    @property
    def url(self) -> str:
        """The settings page's URL."""
        return f"https://{self.host}:{self.port}{self.path}"

    @property
    def digest_url(self) -> str:
        """The Digest page's URL (the same accounts, signed in with the SIP password)."""
        return f"https://{self.host}:{self.port}{self.digest_path}"

    def client_certificate(self, name: str) -> Path:
        """A client credential file written into the certificate directory."""
        return self.certs.client_certificate(name)

    async def start(self) -> None:
        """Listen; with port 0 the system picks a free port, read back into ``port``."""
        _install_alert_flush()
        app = web.Application()
        app.router.add_route("*", self.path, self._handle)
        app.router.add_route("*", self.digest_path, self._handle)
        keepalive: dict[str, float] = (
            {} if self.keepalive_timeout is None else {"keepalive_timeout": self.keepalive_timeout}
        )
        self._runner = web.AppRunner(app, access_log=None, handle_signals=False, **keepalive)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port, ssl_context=self._contexts[0])
        await site.start()
        server = site._server  # noqa: SLF001 - aiohttp keeps the bound port only here
        assert isinstance(server, asyncio.Server)
        self.port = server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        """Stop listening and close open connections."""
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    # -- TLS ----------------------------------------------------------------------------

    def _ssl_contexts(self) -> tuple[ssl.SSLContext, ssl.SSLContext]:
        """The serving context, and one that trusts no client (for ``tls_reject``)."""
        serving = self._server_context(self.certs.enrollment_ca.read_text())
        rejecting = self._server_context(_nobodys_ca())
        serving.sni_callback = self._on_client_hello
        return serving, rejecting

    def _server_context(self, trusted_ca: str) -> ssl.SSLContext:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        # CDRTool's client certificates are RSA-1024/MD5 (docs/settings-api.md §2.3): the platform's
        # Apache accepts them, so the simulator lowers the level to do the same.
        context.set_ciphers("DEFAULT:@SECLEVEL=0")
        context.load_cert_chain(self.certs.server_certificate, self.certs.server_key)
        context.load_verify_locations(cadata=trusted_ca)
        context.verify_mode = ssl.CERT_REQUIRED
        # With this flag set the certificate is not asked for during the handshake;
        # the handler asks for it after reading the request, as Apache does.
        context.post_handshake_auth = self.client_auth == "post-handshake"
        return context

    def _on_client_hello(
        self,
        ssl_object: ssl.SSLObject | ssl.SSLSocket,
        server_name: str | None,
        context: ssl.SSLContext,
    ) -> None:
        """Called once per TLS handshake: count it, and refuse clients when told to."""
        self.counters.handshakes += 1
        if self.faults.tls_reject:
            ssl_object.context = self._contexts[1]

    async def _client_certificate(
        self, request: web.Request
    ) -> bytes | _NoPostHandshakeAuth | None:
        transport = request.transport
        assert transport is not None
        ssl_object = transport.get_extra_info("ssl_object")
        assert isinstance(ssl_object, ssl.SSLObject)
        certificate = _peer_certificate(ssl_object)
        if certificate is not None or self.client_auth == "handshake":
            return certificate
        try:
            ssl_object.verify_client_post_handshake()
        except ssl.SSLError:
            # No post-handshake authentication offered, or TLS 1.2 (Apache would
            # renegotiate there; Python's ssl module cannot).
            return _NO_PHA
        # Wake up whenever the client sends something, rather than polling on a timer:
        # tests freeze the event loop's clock, and a sleeping poll would never wake.
        protocol = _ssl_protocol(transport)
        received = asyncio.Event()
        buffer_updated = protocol.buffer_updated

        def on_data(nbytes: int) -> None:
            buffer_updated(nbytes)
            received.set()

        protocol.buffer_updated = on_data
        try:
            # OpenSSL sends the CertificateRequest at the next handshake step; asyncio
            # forwards what OpenSSL wrote only when told to.
            with contextlib.suppress(ssl.SSLWantReadError):
                ssl_object.do_handshake()
            protocol._process_outgoing()  # noqa: SLF001
            async with asyncio.timeout(_PHA_WAIT):
                while not transport.is_closing():
                    certificate = _peer_certificate(ssl_object)
                    if certificate is not None:
                        return certificate
                    received.clear()
                    await received.wait()
        except TimeoutError:
            pass
        finally:
            del protocol.buffer_updated
        return None

    # -- HTTP ---------------------------------------------------------------------------

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        params = dict(request.query)
        body = ""
        if request.method == "POST":
            raw = await request.read()
            body = raw.decode("utf-8", errors="replace")
            form = await request.post()
            params.update({key: str(value) for key, value in form.items()})
        action = params.get("action", "")
        self.counters.requests[action] += 1
        self.counters.log.append(
            RecordedRequest(
                request.method,
                action,
                params,
                request.query_string,
                body,
                request.headers.get("Authorization", ""),
            )
        )

        faults = self.faults
        applies = faults.applies_to(action)
        if applies and faults.latency:
            await asyncio.sleep(faults.latency)
            if request.transport is None:
                # The client gave up waiting; nobody is left to answer (it used to
                # fail an assertion further on and log an error).
                return web.Response(status=499)
        if applies and faults.drop_connection:
            assert request.transport is not None
            request.transport.abort()
            return web.Response(status=499)

        digest = request.path == self.digest_path
        certificate = b"" if digest else await self._client_certificate(request)
        if isinstance(certificate, _NoPostHandshakeAuth):
            return web.Response(status=403, text=_APACHE_403, content_type="text/html")
        if certificate is None:
            # The TLS layer has already failed the connection with an alert.
            return web.Response(status=403, text=_APACHE_403, content_type="text/html")

        if applies and faults.status is not None:
            return web.Response(status=faults.status, body=b"")
        if applies and faults.reverse:
            await self._reversed_turn(faults.reverse)
        if any("[" in key and key.endswith("]") for key in params):
            # PHP 8: an array-valued parameter breaks string handling (docs/settings-api.md §1).
            # Checked
            # on the decoded names: a form body carries them as FUNC%5B%5D.
            return web.Response(status=500, body=b"")

        if digest:
            if applies and faults.raw_challenges is not None:
                return _raw_refusal(request, faults.raw_challenges)
            # With Digest the account comes from the credentials; account= is ignored.
            account_or_refusal = self._digest_authenticate(request, params)
            if isinstance(account_or_refusal, web.Response):
                return account_or_refusal
            account = account_or_refusal
        else:
            if applies and faults.credentials_error:
                return _text(
                    f"Error: Failed to parse X.509 client certificate\n{CREDENTIALS_ERROR}"
                )
            account_or_error = self._authenticate(params.get("account", ""), certificate)
            if isinstance(account_or_error, str):
                return _text(account_or_error)
            account = account_or_error

        if applies and faults.empty_body:
            return _text("")
        if applies and faults.malformed_json:
            return _text('{"balance":12.34,"sessio')
        if applies and faults.body is not None:
            return await _send_body(request, faults)

        handler = self._handlers.get(action)
        if handler is None:
            return self._unknown_action(action, account, params)
        response = await handler(account, params)
        if applies and faults.hold is not None:
            # The answer is made: what the server held when the request came.
            await faults.hold.wait(action)
        if faults.answer_delay is not None:
            await asyncio.sleep(faults.answer_delay(action))
        if applies and faults.html_warning and response.text is not None:
            response.text = _alert(faults.backend_message) + response.text
        return response

    async def _reversed_turn(self, group: int) -> None:
        """Wait until the group this request belongs to is complete, and go in reverse."""
        turn = asyncio.get_running_loop().create_future()
        self._reversed.append(turn)
        if self._release is not None:
            self._release.cancel()
        if len(self._reversed) >= group:
            self._release_reversed()
        else:
            self._release = asyncio.get_running_loop().call_later(
                _REVERSE_WAIT, self._release_reversed
            )
        await turn

    def _release_reversed(self) -> None:
        waiting, self._reversed, self._release = self._reversed, [], None
        for turn in reversed(waiting):
            if not turn.done():
                turn.set_result(None)

    def _authenticate(self, account: str, certificate: bytes) -> SimulatedAccount | str:
        """``getSipAccountFromX509Certificate``: the account or the error text.

        See docs/settings-api.md §2.2.
        """
        if not account:
            return f"Error, please specify an account{CREDENTIALS_ERROR}"
        username, at, domain = account.partition("@")
        if not (at and username and domain):
            return f"Invalid account provided{CREDENTIALS_ERROR}"
        try:
            parsed = x509.load_der_x509_certificate(certificate)
        except ValueError:  # pragma: no cover - OpenSSL verified it already
            return f"Error: Failed to parse X.509 client certificate\n{CREDENTIALS_ERROR}"
        names = parsed.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
        common_name = str(names[0].value) if names else ""
        matches = self.platform.find(username, domain, _php_intval(common_name))
        if len(matches) != 1:
            return CREDENTIALS_ERROR
        return matches[0]

    def _digest_authenticate(
        self, request: web.Request, params: dict[str, str]
    ) -> SimulatedAccount | web.Response:
        """``getSipAccountFromHTTPDigest``: the account, or the page's refusal.

        As docs/settings-api.md §2.5 and CDRTool's library/sip_settings.php have it.

        The checks run in CDRTool's order: the header's parts, the user, the response,
        then the nonce's signature and age. Only a stale nonce says ``stale=true``.
        """
        realm = params.get("realm", "")
        if realm:
            parts = realm.split("@")
            if len(parts) == 2:  # noqa: PLR2004 - "user@domain" names the domain
                realm = parts[1]
        else:
            realm = DIGEST_DEFAULT_REALM
        scheme, _, credentials = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() != "digest" or not credentials.strip():
            return self._digest_challenge(realm, first=True)
        opaque = _DIGEST_OPAQUE.search(credentials)
        client = self._count_request(opaque.group(1) if opaque else None)

        def refuse(*, stale: bool = False) -> web.Response:
            return self._digest_challenge(realm, stale=stale, client=client)

        data = {
            match.group(1): match.group(3) or match.group(4) or ""
            for match in _DIGEST_PARAM.finditer(credentials)
        }
        if any(part not in data for part in _DIGEST_PARTS):
            return _text(DIGEST_UNREADABLE)
        username, at, rest = data["username"].partition("@")
        domain = rest.split("@")[0] if at else realm
        account = self.platform.accounts.get(f"{username}@{domain}")
        if account is None:
            return refuse()
        algorithm = "MD5"
        if self.digest_algorithms != ("MD5",):
            named = _DIGEST_ALGORITHM.search(credentials)
            algorithm = named.group(1).upper() if named else "MD5"
            if algorithm not in self.digest_algorithms:
                return refuse()

        def digest(text: str) -> str:
            return hashlib.new(_HASHES[algorithm], text.encode()).hexdigest()

        if account.web_password:
            # Stored as md5(user:domain:password), lower-cased (CDRTool's setPreference).
            name = f"{account.username.lower()}:{account.domain.lower()}"
            a1 = digest(f"{name}:{account.web_password}")
        elif account.password_as_ha1:
            a1 = digest(f"{account.username}:{account.domain}:{account.password}")
        else:
            a1 = digest(f"{data['username']}:{realm}:{account.password}")
        a2 = digest(f"{request.method}:{data['uri']}")
        answer = ":".join((a1, data["nonce"], data["nc"], data["cnonce"], data["qop"], a2))
        if data["response"] != digest(answer):
            return refuse()
        issued = _nonce_expiry(data["nonce"], self._nonce_key)
        if issued is None:
            return refuse()
        if self.platform.timestamp() > issued:
            return refuse(stale=True)
        if self.digest_strict_nc and not self._counted(client, data["nc"]):
            return refuse()
        return account

    def _counted(self, client: str | None, nc: str) -> bool:
        """Whether ``nc`` is the count of ``client``, as Apache's strict check wants it."""
        try:
            return client is not None and int(nc, 16) == self._digest_clients[client]
        except ValueError:
            return False

    def _count_request(self, opaque: str | None) -> str | None:
        """Apache's ``AuthDigestNcCheck On``: count a request of the client ``opaque``.

        mod_auth_digest keeps one count per client (its opaque), not per nonce: every
        request that names the client adds one as it arrives, the request's ``nc`` must
        equal the count, and every refusal sends a new nonce and sets the count back to
        0. Requests in flight together therefore fail whenever they arrive out of order,
        and so do requests still carrying a nonce that a refusal replaced. Returns the
        client counted, None when the page does not count (or the opaque is unknown).
        """
        if not self.digest_strict_nc or opaque not in self._digest_clients:
            return None
        self._digest_clients[opaque] += 1
        return opaque

    def _digest_challenge(
        self, realm: str, *, first: bool = False, stale: bool = False, client: str | None = None
    ) -> web.Response:
        """HTTP 401 with an empty body and a new nonce, spaced as CDRTool spaces each.

        With strict counting, ``client`` (the refused request's, if counted) starts its
        count again; a request without one becomes a new client, named by the opaque.
        """
        self.counters.challenges += 1
        expiry = f"{self.platform.timestamp() + NONCE_LIFETIME:.4f}"
        signature = hashlib.md5(f"{expiry}:{self._nonce_key}".encode()).hexdigest()  # noqa: S324
        nonce = base64.b64encode(f"{expiry}:{signature}".encode()).decode()
        opaque = hashlib.md5(realm.encode()).hexdigest()  # noqa: S324 - as CDRTool does
        if self.digest_strict_nc:
            if client is None:
                if len(self._digest_clients) > _MAX_DIGEST_CLIENTS:
                    self._digest_clients.clear()
                client = secrets.token_hex(8)
            self._digest_clients[client] = 0
            opaque = client
        headers = [("Content-Type", _CONTENT_TYPE)]
        comma = ", " if first else ","
        flag = "stale=true, " if stale else ""
        for algorithm in self.digest_algorithms:
            value = (
                f'Digest realm="{realm}"{comma}qop="auth"{comma}nonce="{nonce}"{comma}'
                f'{flag}opaque="{opaque}"'
            )
            if algorithm != "MD5":
                value += f", algorithm={algorithm}"
            headers.append(("WWW-Authenticate", value))
        return web.Response(status=401, body=b"", headers=headers)

    def _unknown_action(
        self, action: str, account: SimulatedAccount, params: dict[str, str]
    ) -> web.Response:
        if not action:
            return _text(self._settings_page(account, params))
        if any(marker in action for marker in _ACTION_MARKERS):
            return _json(INVALID_ACTION)
        return _text(_HTML_HEADER + php_json(INVALID_ACTION))

    def _settings_page(self, account: SimulatedAccount, params: dict[str, str]) -> str:
        """The HTML page; the settings tab shows the caller-ID privacy box.

        See docs/settings-api.md §6.2.
        """
        page = [_HTML_HEADER, f"<h1>SIP settings of {account.address}</h1>"]
        if params.get("tab") == "settings":
            # Loose markup as CDRTool prints it: upper-case tags, unquoted and minimised
            # attributes, cells never closed, and a form of some 40 KB around the box.
            page.append("<FORM method=post name=sipsettings><TABLE class=settings>")
            page.extend(
                f"<TR><TD class=label>Setting {row}<TD><INPUT type=text name=field{row} "
                f"value='{'x' * 200}' size=35>"
                for row in range(150)
            )
            if self.platform.behaviour.privacy_checkbox:
                checked = " CHECKED" if account.privacy else ""
                page.append(
                    "<TR><TD class=label>Hide caller ID<TD>"
                    f"<INPUT type=checkbox name=anonymous value=1{checked}>"
                )
            page.append("</TABLE></FORM>")
        page.append("</body></html>")
        return "".join(page)

    # -- reads --------------------------------------------------------------------------

    def _read(self, action: str, value: Json, *, empty: Json = None) -> web.Response:
        if self.faults.backend_error and self.faults.applies_to(action):
            return _text(_alert(self.faults.backend_message) + php_json(empty))
        return _json(value)

    async def _get_identity(
        self, account: SimulatedAccount, params: dict[str, str]
    ) -> web.Response:
        return _json(self.platform.identity(account))

    async def _get_aliases(self, account: SimulatedAccount, params: dict[str, str]) -> web.Response:
        return self._read("get_aliases", sorted(account.aliases)[:20], empty=[])

    async def _get_enum(self, account: SimulatedAccount, params: dict[str, str]) -> web.Response:
        return self._read("get_enum", list(dict.fromkeys(account.enum_numbers))[:10], empty=[])

    async def _get_history(self, account: SimulatedAccount, params: dict[str, str]) -> web.Response:
        return self._read("get_history", self.platform.history(account))

    async def _get_devices(self, account: SimulatedAccount, params: dict[str, str]) -> web.Response:
        if self.faults.backend_error and self.faults.applies_to("get_devices"):
            # The one read that reports a SOAP fault as a status object (docs/settings-api.md §5.5).
            return _json({"success": False, "error_message": self.faults.backend_message})
        return _json(self.platform.devices(account))

    async def _get_prepaid(self, account: SimulatedAccount, params: dict[str, str]) -> web.Response:
        return self._read("get_prepaid", self.platform.prepaid(account))

    async def _get_balance_history(
        self, account: SimulatedAccount, params: dict[str, str]
    ) -> web.Response:
        return self._read("get_balance_history", self.platform.balance_history(account))

    async def _get_monthly_usage(
        self, account: SimulatedAccount, params: dict[str, str]
    ) -> web.Response:
        if not self.platform.behaviour.legacy_monthly_usage:
            # Upstream since 2022-11: a call to a private method, a PHP fatal error.
            return web.Response(status=500, body=b"", content_type="text/html")
        return _json(self.platform.monthly_usage(account))

    async def _get_call_forwarding(
        self, account: SimulatedAccount, params: dict[str, str]
    ) -> web.Response:
        return self._read("get_call_forwarding", self.platform.forwarding(account))

    async def _get_accept_rules(
        self, account: SimulatedAccount, params: dict[str, str]
    ) -> web.Response:
        return self._read("get_accept_rules", self.platform.accept_rules(account))

    async def _get_reject_rules(
        self, account: SimulatedAccount, params: dict[str, str]
    ) -> web.Response:
        return self._read("get_reject_rules", list(account.rejected))

    async def _get_voicemail(
        self, account: SimulatedAccount, params: dict[str, str]
    ) -> web.Response:
        return self._read("get_voicemail", account.voicemail)

    async def _get_journal_entries(
        self, account: SimulatedAccount, params: dict[str, str]
    ) -> web.Response:
        # A back end without MySQL (docs/settings-api.md §5.20).
        return _json({"success": False, "error_message": None, "results": []})

    # -- writes -------------------------------------------------------------------------

    def _status(
        self, action: str, *, success: bool, message: str, prefix: str = ""
    ) -> web.Response:
        if self.faults.backend_error and self.faults.applies_to(action):
            success, message = False, self.faults.backend_message
        return _text(prefix + php_json({"success": success, "error_message": message}))

    async def _set_dnd_on(self, account: SimulatedAccount, params: dict[str, str]) -> web.Response:
        if self._backend_fails("set_dnd_on"):
            return self._status("set_dnd_on", success=False, message="")
        minutes = _php_intval(params.get("duration", ""))
        return self._status(
            "set_dnd_on", success=True, message=self.platform.set_dnd(account, max(minutes, 0))
        )

    async def _set_dnd_off(self, account: SimulatedAccount, params: dict[str, str]) -> web.Response:
        if self._backend_fails("set_dnd_off"):
            return self._status("set_dnd_off", success=False, message="")
        return self._status(
            "set_dnd_off", success=True, message=self.platform.set_dnd(account, None)
        )

    async def _set_privacy_on(
        self, account: SimulatedAccount, params: dict[str, str]
    ) -> web.Response:
        if self._backend_fails("set_privacy_on"):
            return self._status("set_privacy_on", success=False, message="")
        if account.privacy and self.platform.behaviour.privacy_on_fails_when_set:
            return self._status(
                "set_privacy_on",
                success=False,
                message=(
                    "Error (SipPort): Account is already in group anonymous (1030): Duplicate entry"
                ),
            )
        account.privacy = True
        return self._status(
            "set_privacy_on",
            success=True,
            message=self.platform.message(account, "Caller-ID is now hidden for outgoing calls"),
        )

    async def _set_privacy_off(
        self, account: SimulatedAccount, params: dict[str, str]
    ) -> web.Response:
        if self._backend_fails("set_privacy_off"):
            return self._status("set_privacy_off", success=False, message="")
        account.privacy = False
        return self._status(
            "set_privacy_off",
            success=True,
            message=self.platform.message(account, "Caller-ID is now visible for outgoing calls"),
        )

    async def _add_alias(self, account: SimulatedAccount, params: dict[str, str]) -> web.Response:
        username = params.get("username", "").strip().lower()
        if not username:
            return _json({"success": False, "error_message": "Error: missing username"})
        if self._backend_fails("add_alias"):
            return self._status("add_alias", success=False, message="")
        alias = f"{username}@{account.domain}"
        if alias in account.aliases:
            return self._status(
                "add_alias",
                success=False,
                message=f"Error (SipPort): Alias {alias} already exists (1011): Duplicate alias",
            )
        account.aliases.append(alias)
        return self._status(
            "add_alias",
            success=True,
            message=self.platform.message(account, "Added alias %s", username),
        )

    async def _set_call_forwarding(
        self, account: SimulatedAccount, params: dict[str, str]
    ) -> web.Response:
        present = [condition for condition in FORWARDING_CONDITIONS if condition in params]
        if not present:
            return _json({"success": True, "error_message": "Diversions remained the same"})
        prefix = "".join(f"Key {condition} changed {params[condition]}" for condition in present)
        if self._backend_fails("set_call_forwarding"):
            return self._status("set_call_forwarding", success=False, message="", prefix=prefix)
        updated = dict(account.forwarding)
        stored: dict[str, str] = {}
        for condition in present:
            value = _normalise_target(params[condition], account)
            stored[condition] = value
            if value:
                updated[condition] = value
            else:
                updated.pop(condition, None)
        if not updated and self.platform.behaviour.clear_all_forwarding_fails:
            return self._status(
                "set_call_forwarding",
                success=False,
                message="Error (SipPort): Invalid diversions (1030): Empty diversion set",
                prefix=prefix,
            )
        account.forwarding = updated
        message = self.platform.message(account, "Changed diversions ") + "".join(
            f"{condition}={value} " for condition, value in stored.items()
        )
        return self._status("set_call_forwarding", success=True, message=message, prefix=prefix)

    async def _add_balance(self, account: SimulatedAccount, params: dict[str, str]) -> web.Response:
        if not params.get("id") or not params.get("number"):
            return _json({"success": False, "error_message": "Missing id or number"})
        if self._backend_fails("add_balance"):
            return self._status("add_balance", success=False, message="")
        fault = self.platform.add_balance(account, _php_intval(params["id"]), params["number"])
        if fault is not None:
            return self._status("add_balance", success=False, message=fault)
        return self._status("add_balance", success=True, message="Added balance succeeded")

    async def _get_crt(self, account: SimulatedAccount, params: dict[str, str]) -> web.Response:
        """Mints a certificate, as the real action does: the client must never call it."""
        issued = await self._mint_owner_certificate(account)
        return _download(issued.combined_pem, "application/x-crt", f"{account.owner}.crt")

    async def _get_p12(self, account: SimulatedAccount, params: dict[str, str]) -> web.Response:
        """The same as ``get_crt``, as PKCS#12 locked with the SIP password.

        See docs/settings-api.md §2.3.
        """
        issued = await self._mint_owner_certificate(account)
        p12 = issued.pkcs12(account.password)
        return _download(p12, "application/x-p12", f"{account.owner}.p12")

    async def _mint_owner_certificate(self, account: SimulatedAccount) -> IssuedCertificate:
        return await asyncio.get_running_loop().run_in_executor(
            None, issue_client_certificate, self.certs.enrollment_authority, str(account.owner)
        )

    async def _delete_account(
        self, account: SimulatedAccount, params: dict[str, str]
    ) -> web.Response:
        return _text("<p>No pending delete request for this account</p>")

    def _backend_fails(self, action: str) -> bool:
        return self.faults.backend_error and self.faults.applies_to(action)


@functools.cache
def _nobodys_ca() -> str:
    """A CA that issued no client certificate (for ``tls_reject``); made once per process."""
    return new_authority("Nobody's CA").certificate_pem.decode()


def _nonce_expiry(nonce: str, key: str) -> float | None:
    """When a nonce this page issued expires; None when it did not issue it."""
    try:
        expiry, _, signature = base64.b64decode(nonce, validate=True).decode().partition(":")
        expires = float(expiry)
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return None
    expected = hashlib.md5(f"{expiry}:{key}".encode()).hexdigest()  # noqa: S324
    return expires if secrets.compare_digest(expected, signature) else None


def _normalise_target(value: str, account: SimulatedAccount) -> str:
    """``set_call_forwarding``'s normalisation rules, in order (docs/settings-api.md §5.17)."""
    if value == "<mobile-number>" and account.mobile_number:
        value = account.mobile_number
    if value and value != "<voice-mailbox>" and "@" not in value:
        value = f"{value}@{account.domain}"
    if value[:1] in ("+", "0", "|") and "@" in value:
        value = f"{value.rsplit('@', 1)[0]}@{account.domain}"
    if value and value != "<voice-mailbox>" and not value.startswith("sip:"):
        value = f"sip:{value}"
    return value


def _php_intval(text: str) -> int:
    """PHP's ``intval`` on a string: the leading integer, else 0."""
    match = re.match(r"\s*([+-]?\d+)", text)
    return int(match.group(1)) if match else 0


def _peer_certificate(ssl_object: ssl.SSLObject) -> bytes | None:
    try:
        return ssl_object.getpeercert(binary_form=True)
    except ValueError:  # the post-handshake exchange is still going on
        return None


def _ssl_protocol(transport: asyncio.BaseTransport) -> Any:
    """The TLS protocol behind an asyncio app transport (private, hence ``Any``)."""
    protocol = getattr(transport, "_ssl_protocol", None)
    assert isinstance(protocol, SSLProtocol)
    return protocol


def _install_alert_flush() -> None:
    """Make asyncio send the TLS alert before it drops a refused client.

    asyncio closes a server-side TLS connection on a fatal error without writing the
    alert OpenSSL has prepared, so a refused client would see only a dropped
    connection. Apache sends the alert ("unknown CA", "certificate expired"), and
    clients tell a refusal from a network failure by it. This changes server-side
    connections only, and only when they fail.
    """
    original: Any = SSLProtocol._fatal_error  # noqa: SLF001
    if getattr(original, "sends_alert", False):
        return

    def _fatal_error(
        self: Any, exc: BaseException, message: str = "Fatal error on transport"
    ) -> None:
        if getattr(self, "_server_side", False) and isinstance(exc, ssl.SSLError):
            with contextlib.suppress(Exception):
                self._process_outgoing()
        original(self, exc, message)

    _fatal_error.sends_alert = True  # type: ignore[attr-defined]
    SSLProtocol._fatal_error = _fatal_error  # type: ignore[method-assign]  # noqa: SLF001


async def _send_body(request: web.Request, faults: Faults) -> web.StreamResponse:
    """Send ``faults.body`` framed as ``faults.body_framing`` says.

    Written in pieces with a yield between them: the simulator shares the event loop
    with the client under test, and loop-stall measurements are about the client.
    """
    body = (faults.body or "").encode()
    response = web.StreamResponse(headers={"Content-Type": _CONTENT_TYPE})
    if faults.body_framing == "length":
        response.content_length = len(body)
    elif faults.body_framing == "announced":
        response.content_length = faults.announced_length
    else:
        response.enable_chunked_encoding()
    await response.prepare(request)
    with contextlib.suppress(ConnectionError):
        await _write_in_pieces(response, body)
        if faults.body_framing == "endless":
            while request.transport is not None and not request.transport.is_closing():
                await _write_in_pieces(response, body or b" ")
        elif faults.body_framing == "announced":
            # aiohttp 3.11 has no event for a client that leaves, so look every 10 ms.
            while request.transport is not None and not request.transport.is_closing():  # noqa: ASYNC110
                await asyncio.sleep(0.01)
            return response
        await response.write_eof()
    return response


async def _write_in_pieces(response: web.StreamResponse, body: bytes) -> None:
    piece = 64 * 1024
    for start in range(0, len(body), piece):
        await response.write(body[start : start + piece])
        await asyncio.sleep(0)  # a write below the buffer limit does not yield


def _raw_refusal(request: web.Request, challenges: tuple[bytes, ...]) -> web.Response:
    """Write a 401 with ``challenges`` byte for byte, and close the connection.

    aiohttp writes header values as UTF-8 (and drops what is not), so a challenge with
    other bytes is written to the transport directly; the response returned after it
    goes nowhere.
    """
    transport = request.transport
    assert transport is not None
    head = b"HTTP/1.1 401 Unauthorized\r\nContent-Length: 0\r\nConnection: close\r\n"
    values = b"".join(b"WWW-Authenticate: " + value + b"\r\n" for value in challenges)
    transport.write(head + values + b"\r\n")
    transport.close()
    return web.Response(status=499)


def _alert(message: str) -> str:
    return (
        '<div class=row-fluid><div class=span12><div class="alert alert-error">'
        f"{message}</div></div></div>"
    )


def _json(value: Json) -> web.Response:
    return _text(php_json(value))


def _download(body: bytes, content_type: str, suffix: str) -> web.Response:
    """A certificate file, with the headers CDRTool sends (docs/settings-api.md §2.3)."""
    disposition = f"inline; filename=sipthor-owner-certificate-{suffix}"
    return web.Response(
        body=body, content_type=content_type, headers={"Content-Disposition": disposition}
    )


def _text(body: str) -> web.Response:
    return web.Response(text=body, headers={"Content-Type": _CONTENT_TYPE})
