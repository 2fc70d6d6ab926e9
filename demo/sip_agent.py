"""A scripted SIP user agent for the Kamailio bed: a phone, a caller, a publisher, a watcher.

One :class:`SipAgent` is one user on one TCP or TLS connection to the bed's Kamailio.
It says the connection's own address in Via and Contact, so that Kamailio sends
requests for it (INVITEs, NOTIFYs) back over the same connection. It answers Digest
challenges (401 and 407) with the user's password and can:

- ``register()`` as the user's phone, then take calls from :attr:`SipAgent.calls`:
  each INVITE is answered 180 at once, and 200 when the test says (:meth:`IncomingCall.answer`),
  or is cancelled by the caller (:attr:`IncomingCall.cancelled`);
- ``call(user)`` as a caller: INVITE, then :meth:`OutgoingCall.cancel` (a missed call)
  or :meth:`OutgoingCall.wait_answered` + :meth:`OutgoingCall.hang_up`;
- ``publish_mwi(...)`` the user's voicemail state (one stored state: ``SIP-If-Match``);
- ``subscribe(event)`` as a plain watcher, collecting NOTIFYs (answered 200).

A tool of the tests and the demo (``scripts/ring``), not the integration's client: no
retransmissions (TCP is reliable), no forking, one dialog per call.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Iterable
import contextlib
from dataclasses import dataclass, field
import hashlib
import re
import secrets
import ssl
from typing import Final, Self

from demo.kamailio import SipServer, SipUser, Transport

RESPONSE_TIMEOUT: Final = 32.0  # RFC 3261's Timer B/F
USER_AGENT: Final = "sipthor-test-agent"
# RFC 3261 §7.3.3 and the event packages' compact forms.
_COMPACT: Final = {
    "i": "call-id",
    "m": "contact",
    "e": "content-encoding",
    "l": "content-length",
    "c": "content-type",
    "f": "from",
    "s": "subject",
    "k": "supported",
    "t": "to",
    "v": "via",
    "o": "event",
    "u": "allow-events",
}
_TAG: Final = re.compile(r";\s*tag=([^;>\s,]+)", re.IGNORECASE)
_BRANCH: Final = re.compile(r";\s*branch=([^;\s,]+)", re.IGNORECASE)
_URI_IN_BRACKETS: Final = re.compile(r"<([^>]*)>")
_DIGEST_PARAM: Final = re.compile(r'(\w+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^\s,]+))')


class SipError(Exception):
    """The agent could not do what it was told (no answer, connection lost)."""


@dataclass(slots=True)
class SipMessage:
    """A request or a response, headers in their order (names lower-cased, long form)."""

    first_line: str
    headers: list[tuple[str, str]]
    body: bytes = b""

    @classmethod
    def parse(cls, head: bytes, body: bytes) -> SipMessage:
        """A message from its head (start line and headers, without the blank line)."""
        lines = head.decode("utf-8", errors="replace").split("\r\n")
        headers: list[tuple[str, str]] = []
        for line in lines[1:]:
            if line[:1] in (" ", "\t") and headers:  # a folded line continues the last
                name, value = headers[-1]
                headers[-1] = (name, f"{value} {line.strip()}")
                continue
            name, _, value = line.partition(":")
            name = name.strip().lower()
            headers.append((_COMPACT.get(name, name), value.strip()))
        return cls(lines[0], headers, body)

    @property
    def is_response(self) -> bool:
        """Whether this is a response."""
        return self.first_line.startswith("SIP/2.0 ")

    @property
    def status(self) -> int:
        """A response's status code."""
        return int(self.first_line.split(" ", 2)[1])

    @property
    def method(self) -> str:
        """A request's method (a response's: that of its CSeq)."""
        if self.is_response:
            return self.cseq[1]
        return self.first_line.split(" ", 1)[0]

    @property
    def request_uri(self) -> str:
        """A request's Request-URI."""
        return self.first_line.split(" ", 2)[1]

    def header(self, name: str) -> str | None:
        """The first value of a header, or None."""
        return next(iter(self.all(name)), None)

    def all(self, name: str) -> list[str]:
        """Every value of a header, comma-separated ones split for Via and Route kinds."""
        wanted = name.lower()
        values = [value for key, value in self.headers if key == wanted]
        if wanted in ("via", "record-route", "route"):
            return [part.strip() for value in values for part in _split_commas(value)]
        return values

    @property
    def call_id(self) -> str:
        """Call-ID."""
        return self.header("call-id") or ""

    @property
    def cseq(self) -> tuple[int, str]:
        """CSeq number and method."""
        number, _, method = (self.header("cseq") or "0 ?").partition(" ")
        return int(number), method.strip()

    @property
    def from_tag(self) -> str | None:
        """The From tag."""
        return _tag(self.header("from"))

    @property
    def to_tag(self) -> str | None:
        """The To tag."""
        return _tag(self.header("to"))

    @property
    def branch(self) -> str | None:
        """The top Via's branch."""
        via = self.all("via")
        match = _BRANCH.search(via[0]) if via else None
        return match.group(1) if match else None

    @property
    def text(self) -> str:
        """The body as text."""
        return self.body.decode("utf-8", errors="replace")

    def encode(self) -> bytes:
        """The message on the wire, with a Content-Length of the body."""
        lines = [self.first_line]
        lines += [f"{_title(name)}: {value}" for name, value in self.headers]
        lines.append(f"Content-Length: {len(self.body)}")
        return ("\r\n".join(lines) + "\r\n\r\n").encode() + self.body


def _title(name: str) -> str:
    special = {"call-id": "Call-ID", "cseq": "CSeq", "www-authenticate": "WWW-Authenticate"}
    return special.get(name) or "-".join(part.capitalize() for part in name.split("-"))


def _split_commas(value: str) -> list[str]:
    """Split a header value at commas outside <>, quotes."""
    parts: list[str] = []
    depth, quoted, start = 0, False, 0
    for index, char in enumerate(value):
        if char == '"':
            quoted = not quoted
        elif not quoted and char == "<":
            depth += 1
        elif not quoted and char == ">":
            depth -= 1
        elif not quoted and depth == 0 and char == ",":
            parts.append(value[start:index])
            start = index + 1
    parts.append(value[start:])
    return [part for part in parts if part.strip()]


def _tag(value: str | None) -> str | None:
    match = _TAG.search(value.split(">", 1)[-1] if value and ">" in value else value or "")
    return match.group(1) if match else None


def uri_of(value: str) -> str:
    """The URI of a name-addr (``"Bob" <sip:bob@x>;tag=1``) or of a bare addr-spec."""
    match = _URI_IN_BRACKETS.search(value)
    return match.group(1) if match else value.split(";", 1)[0].strip()


async def read_message(reader: asyncio.StreamReader) -> SipMessage | None:
    """The next message on a stream (keep-alive CRLFs skipped), or None at its end."""
    while True:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
        except asyncio.IncompleteReadError:
            return None
        head = head.lstrip(b"\r\n")
        if head:
            break
    message = SipMessage.parse(head[:-4], b"")
    length = int(message.header("content-length") or 0)
    if length:
        message.body = await reader.readexactly(length)
    return message


def digest_authorization(
    challenge: str, method: str, uri: str, user: SipUser, nonce_count: int = 1
) -> str:
    """The Authorization value answering a Digest ``challenge`` (MD5, qop auth or none)."""
    params = {
        match.group(1).lower(): match.group(2) if match.group(2) is not None else match.group(3)
        for match in _DIGEST_PARAM.finditer(challenge.split(" ", 1)[1])
    }

    def md5(text: str) -> str:
        return hashlib.md5(text.encode(), usedforsecurity=False).hexdigest()

    realm, nonce = params["realm"], params["nonce"]
    ha1 = md5(f"{user.name}:{realm}:{user.password}")
    ha2 = md5(f"{method}:{uri}")
    fields = [
        f'username="{user.name}"',
        f'realm="{realm}"',
        f'nonce="{nonce}"',
        f'uri="{uri}"',
        "algorithm=MD5",
    ]
    qops = [qop.strip() for qop in params.get("qop", "").split(",") if qop.strip()]
    if "auth" in qops:
        cnonce = secrets.token_hex(8)
        count = f"{nonce_count:08x}"
        response = md5(f"{ha1}:{nonce}:{count}:{cnonce}:auth:{ha2}")
        fields += ["qop=auth", f"nc={count}", f'cnonce="{cnonce}"']
    else:
        response = md5(f"{ha1}:{nonce}:{ha2}")
    fields.append(f'response="{response}"')
    if "opaque" in params:
        fields.append(f'opaque="{params["opaque"]}"')
    return "Digest " + ", ".join(fields)


class _Responses:
    """The responses of one client transaction, in their order of arrival."""

    def __init__(self) -> None:
        self._queue: deque[SipMessage] = deque()
        self._arrived = asyncio.Event()

    def put(self, response: SipMessage) -> None:
        self._queue.append(response)
        self._arrived.set()

    def unget(self, response: SipMessage) -> None:
        """Give a response back, to be read first again."""
        self._queue.appendleft(response)
        self._arrived.set()

    async def get(self, closed: asyncio.Event) -> SipMessage:
        """The next response; SipError when the connection closes first."""
        while not self._queue:
            if closed.is_set():
                msg = "the connection closed"
                raise SipError(msg)
            self._arrived.clear()
            waiters = {
                asyncio.ensure_future(self._arrived.wait()),
                asyncio.ensure_future(closed.wait()),
            }
            try:
                await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
            finally:
                for waiter in waiters:
                    waiter.cancel()
        return self._queue.popleft()


@dataclass(slots=True)
class _Dialog:
    """What a UAC needs to send requests inside a dialog (RFC 3261 §12)."""

    call_id: str
    local_tag: str
    local_uri: str
    remote_uri: str
    remote_target: str
    remote_tag: str | None = None
    route_set: list[str] = field(default_factory=list)
    cseq: int = 0

    def learn(self, message: SipMessage, *, as_uac: bool) -> None:
        """Take the remote tag, target and route set from a dialog-forming message."""
        tag = message.to_tag if as_uac else message.from_tag
        if tag:
            self.remote_tag = tag
        if contact := message.header("contact"):
            self.remote_target = uri_of(contact)
        routes = message.all("record-route")
        if routes:
            self.route_set = list(reversed(routes)) if as_uac else routes


class SipAgent:
    """One user on one connection to the bed; see the module's docstring."""

    def __init__(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        user: SipUser,
        bed: SipServer,
        transport: Transport,
    ) -> None:
        """Use :meth:`connect`."""
        self.user = user
        self.bed = bed
        self.transport = transport
        self._reader = reader
        self._writer = writer
        host, port = writer.get_extra_info("sockname")[:2]
        self.local_address = f"{host}:{port}"
        self.contact_uri = f"sip:{user.name}@{self.local_address};transport={transport}"
        self.aor = bed.uri(user)
        # Calls that rang this phone, in their order.
        self.calls: asyncio.Queue[IncomingCall] = asyncio.Queue()
        # Every request and response the agent received, for tests that look at the
        # traffic (the challenges its requests got, the NOTIFYs that came).
        self.received: list[SipMessage] = []
        self.closed = asyncio.Event()
        self._transactions: dict[tuple[str, str], _Responses] = {}
        self._incoming: dict[str, IncomingCall] = {}
        self._subscriptions: dict[str, Subscription] = {}
        self._etags: dict[tuple[str, str], str] = {}
        self._task = asyncio.create_task(self._read_loop(), name=f"sip agent {user.name}")

    @classmethod
    async def connect(cls, bed: SipServer, user: SipUser, transport: Transport = "tls") -> SipAgent:
        """Open a connection to the bed (TLS verified against the domain)."""
        context: ssl.SSLContext | None = None
        if transport == "tls":
            context = bed.client_ssl_context()
        reader, writer = await asyncio.open_connection(
            bed.host,
            bed.port(transport),
            ssl=context,
            server_hostname=bed.domain if context else None,
            limit=4 * 1024 * 1024,
        )
        return cls(reader, writer, user, bed, transport)

    def statuses(self, method: str) -> list[int]:
        """The status codes of every response to ``method`` so far, in their order."""
        return [
            message.status
            for message in self.received
            if message.is_response and message.method == method
        ]

    async def close(self) -> None:
        """Close the connection; the read loop ends."""
        self._writer.close()
        with contextlib.suppress(OSError, ssl.SSLError, TimeoutError):
            async with asyncio.timeout(5):
                await self._writer.wait_closed()
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task

    async def __aenter__(self) -> Self:
        """The agent itself."""
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        """Close."""
        await self.close()

    # -- as a phone -------------------------------------------------------------------

    async def register(self, expires: int = 600) -> SipMessage:
        """REGISTER this connection's Contact for the user's address of record."""
        dialog = self._new_dialog(self.aor)
        return await self.request(
            "REGISTER",
            f"sip:{self.bed.domain}",
            dialog,
            headers=[("contact", f"<{self.contact_uri}>"), ("expires", str(expires))],
        )

    # -- as a caller ------------------------------------------------------------------

    async def call(self, callee: SipUser | str) -> OutgoingCall:
        """INVITE ``callee`` through the bed (answering its 407), without waiting more."""
        target = self.bed.uri(callee)
        dialog = self._new_dialog(target)
        offer = _sdp(self.bed.host)
        call = OutgoingCall(self, dialog)
        call.invite_branch, call.responses = await self._send_authenticated(
            "INVITE",
            target,
            dialog,
            headers=[("contact", f"<{self.contact_uri}>"), ("content-type", "application/sdp")],
            body=offer,
        )
        return call

    # -- as a publisher ---------------------------------------------------------------

    async def publish(
        self,
        event: str,
        content_type: str,
        body: bytes | str,
        *,
        expires: int = 3600,
        target: str | None = None,
    ) -> SipMessage:
        """PUBLISH a state; refreshes and changes name the stored one (``SIP-If-Match``).

        When the server has forgotten the entity tag (a restart), the state is published
        afresh, once.
        """
        target = target or self.aor
        payload = body.encode() if isinstance(body, str) else body
        key = (target, event)
        for _attempt in range(2):
            headers = [("event", event), ("expires", str(expires))]
            if etag := self._etags.get(key):
                headers.append(("sip-if-match", etag))
            if payload:
                headers.append(("content-type", content_type))
            response = await self.request(
                "PUBLISH", target, self._new_dialog(target), headers=headers, body=payload
            )
            if etag and response.status in (412, 500):
                # The server forgot the entity tag (Kamailio answers 500, not RFC 3903's
                # 412, after a restart that lost its presentity table).
                self._etags.pop(key, None)
                continue
            if 200 <= response.status < 300 and (new_tag := response.header("sip-etag")):
                self._etags[key] = new_tag
            return response
        return response

    async def publish_mwi(
        self,
        *,
        new: int,
        old: int = 0,
        urgent_new: int = 0,
        urgent_old: int = 0,
        waiting: bool | None = None,
        expires: int = 3600,
        mailbox: str | None = None,
    ) -> SipMessage:
        """PUBLISH a voicemail state as RFC 3842 ``simple-message-summary``.

        At the user's own address, or at ``mailbox`` (a SIP URI), as a voicemail server
        with mailboxes at addresses of their own does.
        """
        waiting = new > 0 if waiting is None else waiting
        body = (
            f"Messages-Waiting: {'yes' if waiting else 'no'}\r\n"
            f"Message-Account: {mailbox or self.aor}\r\n"
            f"Voice-Message: {new}/{old} ({urgent_new}/{urgent_old})\r\n"
        )
        return await self.publish(
            "message-summary",
            "application/simple-message-summary",
            body,
            expires=expires,
            target=mailbox,
        )

    # -- as a watcher -----------------------------------------------------------------

    async def subscribe(
        self,
        event: str,
        *,
        target: str | None = None,
        expires: int = 600,
        accept: str | None = None,
        contact: str | None = None,
    ) -> Subscription:
        """SUBSCRIBE to ``event`` at ``target`` (the user's own address by default).

        NOTIFYs are collected from the moment the request leaves, so one that arrives
        before the final response is not lost. ``contact`` replaces the Contact URI
        (to see what the server does with one it cannot reach).
        """
        target = target or self.aor
        dialog = self._new_dialog(target)
        subscription = Subscription(self, dialog, event)
        self._subscriptions[dialog.call_id] = subscription
        headers = [
            ("event", event),
            ("expires", str(expires)),
            ("contact", f"<{contact or self.contact_uri}>"),
        ]
        if accept:
            headers.append(("accept", accept))
        subscription.response = await self.request("SUBSCRIBE", target, dialog, headers=headers)
        if subscription.response.status < 300:
            dialog.learn(subscription.response, as_uac=True)
        return subscription

    # -- requests ---------------------------------------------------------------------

    async def request(
        self,
        method: str,
        uri: str,
        dialog: _Dialog,
        *,
        headers: Iterable[tuple[str, str]] = (),
        body: bytes = b"",
        answer_challenge: bool = True,
    ) -> SipMessage:
        """Send a request and return its final response.

        A 401/407 is answered once, with the user's password, unless ``answer_challenge``
        is false (to see the challenge itself).
        """
        _branch, responses = await self._send_authenticated(
            method, uri, dialog, headers=headers, body=body, answer_challenge=answer_challenge
        )
        return await self._final(responses)

    async def _send_authenticated(
        self,
        method: str,
        uri: str,
        dialog: _Dialog,
        *,
        headers: Iterable[tuple[str, str]] = (),
        body: bytes = b"",
        answer_challenge: bool = True,
    ) -> tuple[str, _Responses]:
        """Send; on a 401/407 send again with credentials. The transaction still open."""
        headers = list(headers)
        branch, responses = await self._send_request(method, uri, dialog, headers, body)
        if method in ("ACK", "CANCEL") or not answer_challenge:
            return branch, responses
        response = await self._first_non_provisional(responses)
        if response.status not in (401, 407):
            responses.unget(response)  # for the caller to read
            return branch, responses
        if method == "INVITE":
            self._ack_failure(branch, uri, dialog, response)
        is_proxy = response.status == 407
        challenge = response.header("proxy-authenticate" if is_proxy else "www-authenticate")
        if challenge is None:
            responses.unget(response)
            return branch, responses
        credentials = digest_authorization(challenge, method, uri, self.user)
        headers.append(("proxy-authorization" if is_proxy else "authorization", credentials))
        return await self._send_request(method, uri, dialog, headers, body)

    async def _send_request(
        self,
        method: str,
        uri: str,
        dialog: _Dialog,
        headers: list[tuple[str, str]],
        body: bytes,
        *,
        branch: str | None = None,
        cseq: int | None = None,
    ) -> tuple[str, _Responses]:
        if cseq is None:
            dialog.cseq += 1
            cseq = dialog.cseq
        branch = branch or f"z9hG4bK{secrets.token_hex(8)}"
        to = f"<{dialog.remote_uri}>" + (f";tag={dialog.remote_tag}" if dialog.remote_tag else "")
        message = SipMessage(
            f"{method} {uri} SIP/2.0",
            [
                (
                    "via",
                    f"SIP/2.0/{self.transport.upper()} {self.local_address};branch={branch};rport",
                ),
                ("max-forwards", "70"),
                ("from", f'"{self.user.display_name}" <{dialog.local_uri}>;tag={dialog.local_tag}'),
                ("to", to),
                ("call-id", dialog.call_id),
                ("cseq", f"{cseq} {method}"),
                *[("route", route) for route in dialog.route_set],
                ("user-agent", USER_AGENT),
                *headers,
            ],
            body,
        )
        responses = _Responses()
        if method != "ACK":
            self._transactions[(branch, method)] = responses
        await self._send(message)
        return branch, responses

    def _ack_failure(self, branch: str, uri: str, dialog: _Dialog, response: SipMessage) -> None:
        """The ACK of an INVITE's non-2xx final response: same branch, hop by hop."""
        to = response.header("to") or f"<{dialog.remote_uri}>"
        ack = SipMessage(
            f"ACK {uri} SIP/2.0",
            [
                (
                    "via",
                    f"SIP/2.0/{self.transport.upper()} {self.local_address};branch={branch};rport",
                ),
                ("max-forwards", "70"),
                ("from", f"<{dialog.local_uri}>;tag={dialog.local_tag}"),
                ("to", to),
                ("call-id", dialog.call_id),
                ("cseq", f"{response.cseq[0]} ACK"),
                *[("route", route) for route in dialog.route_set],
            ],
        )
        self._writer.write(ack.encode())

    async def _first_non_provisional(self, responses: _Responses) -> SipMessage:
        """The next response that is not 100 Trying (a 180 counts: it is news)."""
        while True:
            response = await self._next(responses)
            if response.status != 100:
                return response

    async def _final(self, responses: _Responses) -> SipMessage:
        while True:
            response = await self._next(responses)
            if response.status >= 200:
                return response

    async def _next(self, responses: _Responses) -> SipMessage:
        try:
            async with asyncio.timeout(RESPONSE_TIMEOUT):
                return await responses.get(self.closed)
        except TimeoutError:
            msg = f"{self.user.name}: no response within {RESPONSE_TIMEOUT:.0f} s"
            raise SipError(msg) from None

    async def _send(self, message: SipMessage) -> None:
        if self.closed.is_set():
            msg = f"{self.user.name}: the connection is closed"
            raise SipError(msg)
        self._writer.write(message.encode())
        await self._writer.drain()

    def _via(self, branch: str) -> str:
        return f"SIP/2.0/{self.transport.upper()} {self.local_address};branch={branch};rport"

    def _new_dialog(self, remote_uri: str) -> _Dialog:
        return _Dialog(
            call_id=f"{secrets.token_hex(10)}@{self.user.name}.test",
            local_tag=secrets.token_hex(5),
            local_uri=self.aor,
            remote_uri=remote_uri,
            remote_target=remote_uri,
        )

    def reply(
        self,
        request: SipMessage,
        status: int,
        reason: str,
        *,
        to_tag: str | None = None,
        headers: Iterable[tuple[str, str]] = (),
        body: bytes = b"",
    ) -> None:
        """Answer a request (Via, From, To, Call-ID, CSeq copied; a To tag added)."""
        copied: list[tuple[str, str]] = [
            (name, value)
            for name, value in request.headers
            if name in ("via", "from", "call-id", "cseq")
            or (name == "record-route" and 100 < status < 300)
        ]
        to = request.header("to") or ""
        if to_tag and request.to_tag is None:
            to = f"{to};tag={to_tag}"
        copied.append(("to", to))
        copied.append(("server", USER_AGENT))
        message = SipMessage(f"SIP/2.0 {status} {reason}", [*copied, *headers], body)
        self._writer.write(message.encode())

    # -- what arrives -----------------------------------------------------------------

    async def _read_loop(self) -> None:
        try:
            while (message := await read_message(self._reader)) is not None:
                self.received.append(message)
                if message.is_response:
                    key = (message.branch or "", message.method)
                    if (responses := self._transactions.get(key)) is not None:
                        responses.put(message)
                else:
                    self._on_request(message)
        except (OSError, ssl.SSLError, ValueError, asyncio.LimitOverrunError):
            pass
        finally:
            self.closed.set()

    def _on_request(self, request: SipMessage) -> None:
        method = request.method
        if method == "NOTIFY":
            subscription = self._subscriptions.get(request.call_id)
            if subscription is None:
                self.reply(request, 481, "Subscription Does Not Exist")
                return
            self.reply(request, 200, "OK")
            subscription.take(request)
        elif method == "INVITE" and request.to_tag is None:
            call = IncomingCall(self, request)
            self._incoming[request.call_id] = call
            self.reply(request, 180, "Ringing", to_tag=call.local_tag, headers=call.contact)
            self.calls.put_nowait(call)
        elif method in ("CANCEL", "ACK", "BYE") and request.call_id in self._incoming:
            self._incoming[request.call_id].take(request)
        elif method == "BYE":
            self.reply(request, 481, "Call/Transaction Does Not Exist")
        elif method == "OPTIONS":
            self.reply(request, 200, "OK")
        elif method != "ACK":
            self.reply(request, 501, "Not Implemented")


def _sdp(host: str) -> bytes:
    """A minimal audio offer/answer (nobody sends media on the bed)."""
    session = secrets.randbelow(10**9)
    return (
        f"v=0\r\no=- {session} {session} IN IP4 {host}\r\ns=-\r\nc=IN IP4 {host}\r\n"
        "t=0 0\r\nm=audio 49170 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n"
    ).encode()


class IncomingCall:
    """An INVITE that rang the phone (180 already sent)."""

    def __init__(self, agent: SipAgent, invite: SipMessage) -> None:
        """Ringing now."""
        self.agent = agent
        self.invite = invite
        self.local_tag = secrets.token_hex(5)
        self.contact = [("contact", f"<{agent.contact_uri}>")]
        self.cancelled = asyncio.Event()
        self.confirmed = asyncio.Event()  # the ACK of our 200 came
        self.ended = asyncio.Event()  # a BYE came
        self._answered = False

    @property
    def caller(self) -> str:
        """The From header as it arrived (display name and URI)."""
        return self.invite.header("from") or ""

    async def answer(self) -> None:
        """Send 200 OK with an answer, and wait for the caller's ACK."""
        if self.cancelled.is_set():
            msg = "the call was cancelled before it was answered"
            raise SipError(msg)
        self._answered = True
        self.agent.reply(
            self.invite,
            200,
            "OK",
            to_tag=self.local_tag,
            headers=[*self.contact, ("content-type", "application/sdp")],
            body=_sdp(self.agent.bed.host),
        )
        await _wait(self.confirmed, "the ACK of the 200")

    def take(self, request: SipMessage) -> None:
        """A CANCEL, ACK or BYE of this call."""
        if request.method == "CANCEL":
            self.agent.reply(request, 200, "OK", to_tag=self.local_tag)
            if not self._answered:
                self.agent.reply(self.invite, 487, "Request Terminated", to_tag=self.local_tag)
                self.cancelled.set()
        elif request.method == "ACK":
            self.confirmed.set()
        else:
            self.agent.reply(request, 200, "OK")
            self.ended.set()


class OutgoingCall:
    """A call this agent placed."""

    def __init__(self, agent: SipAgent, dialog: _Dialog) -> None:
        """Set up by :meth:`SipAgent.call`."""
        self.agent = agent
        self.dialog = dialog
        self.invite_branch = ""
        self.responses = _Responses()

    async def wait_ringing(self) -> SipMessage:
        """Until the callee rings (180 or 183); a final response instead is an error."""
        while True:
            response = await self.agent._next(self.responses)
            if 180 <= response.status < 200:
                return response
            if response.status >= 200:
                msg = f"the call ended before ringing: {response.first_line}"
                raise SipError(msg)

    async def cancel(self) -> SipMessage:
        """CANCEL the ringing call (a missed call); returns the INVITE's final response."""
        invite_cseq = self.dialog.cseq
        await self.agent._send_request(
            "CANCEL",
            self.dialog.remote_uri,
            self.dialog,
            [],
            b"",
            branch=self.invite_branch,
            cseq=invite_cseq,
        )
        final = await self.agent._final(self.responses)
        if final.status >= 300:
            self.agent._ack_failure(self.invite_branch, self.dialog.remote_uri, self.dialog, final)
        return final

    async def wait_answered(self) -> SipMessage:
        """Until the 200 OK, then ACK it; the call is up."""
        final = await self.agent._final(self.responses)
        if final.status >= 300:
            self.agent._ack_failure(self.invite_branch, self.dialog.remote_uri, self.dialog, final)
            msg = f"the call was not answered: {final.first_line}"
            raise SipError(msg)
        self.dialog.learn(final, as_uac=True)
        await self.agent._send_request(
            "ACK",
            self.dialog.remote_target,
            self.dialog,
            [],
            b"",
            cseq=self.dialog.cseq,
        )
        return final

    async def hang_up(self) -> SipMessage:
        """BYE the answered call; returns the BYE's final response."""
        return await self.agent.request("BYE", self.dialog.remote_target, self.dialog)


class Subscription:
    """A subscription this agent made, with the NOTIFYs it received."""

    def __init__(self, agent: SipAgent, dialog: _Dialog, event: str) -> None:
        """Set up by :meth:`SipAgent.subscribe`."""
        self.agent = agent
        self.dialog = dialog
        self.event = event
        self.response: SipMessage | None = None
        self.notifies: asyncio.Queue[SipMessage] = asyncio.Queue()
        self.received: list[SipMessage] = []

    def take(self, notify: SipMessage) -> None:
        """A NOTIFY of this subscription (already answered 200)."""
        if self.dialog.remote_tag is None:
            self.dialog.learn(notify, as_uac=False)
        self.received.append(notify)
        self.notifies.put_nowait(notify)

    async def next_notify(self, timeout: float = 10.0) -> SipMessage:
        """The next NOTIFY, waiting at most ``timeout`` seconds."""
        try:
            async with asyncio.timeout(timeout):
                return await self.notifies.get()
        except TimeoutError:
            msg = f"no NOTIFY for {self.event} within {timeout:.0f} s"
            raise SipError(msg) from None

    async def refresh(self, expires: int = 600, *, over: SipAgent | None = None) -> SipMessage:
        """SUBSCRIBE again inside the dialog (``expires=0`` ends it).

        ``over`` sends it over another agent's connection (the first one dropped), with
        that connection's Contact; the NOTIFYs then come there.
        """
        if over is not None:
            self.agent = over
            over._subscriptions[self.dialog.call_id] = self
        return await self.agent.request(
            "SUBSCRIBE",
            self.dialog.remote_target,
            self.dialog,
            headers=[
                ("event", self.event),
                ("expires", str(expires)),
                ("contact", f"<{self.agent.contact_uri}>"),
            ],
        )


async def _wait(event: asyncio.Event, what: str, timeout: float = RESPONSE_TIMEOUT) -> None:
    try:
        async with asyncio.timeout(timeout):
            await event.wait()
    except TimeoutError:
        msg = f"no {what} within {timeout:.0f} s"
        raise SipError(msg) from None
