"""A scripted SIP server for the faults Kamailio will not produce.

It accepts SUBSCRIBE over TLS or TCP on 127.0.0.1, challenges with Digest (checked with
its own arithmetic, not the client's), grants subscriptions, and sends whatever NOTIFY a
test asks for, well formed or not: bodies of any size, a wrong Content-Length, injected
header lines, a connection cut in the middle. Each test scripts the answers it needs
(``answers``, ``refresh_answers``) and reads what the client sent (``requests``).

It is a test tool: one server dialog per subscription, no transactions beyond what a
subscriber exercises, no retransmissions.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict, deque
import contextlib
from dataclasses import dataclass
import hashlib
import re
import secrets
import ssl
from typing import Literal

DOMAIN = "example.com"
WAIT = 20.0

_PARAM = re.compile(r'(\w+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^\s,]+))')
_TAG = re.compile(r";\s*tag=([^;>\s,]+)", re.IGNORECASE)


@dataclass
class Message:
    """A request or response as the server read it (headers by lower-case name)."""

    start: str
    headers: list[tuple[str, str]]
    body: bytes = b""

    def header(self, name: str) -> str | None:
        return next((value for key, value in self.headers if key == name), None)

    def all(self, name: str) -> list[str]:
        return [value for key, value in self.headers if key == name]

    @property
    def method(self) -> str:
        if self.start.startswith("SIP/2.0"):
            return (self.header("cseq") or " ").split()[1]
        return self.start.split()[0]

    @property
    def status(self) -> int:
        return int(self.start.split()[1])

    @property
    def call_id(self) -> str:
        return self.header("call-id") or ""

    @property
    def uri(self) -> str:
        return self.start.split()[1]


_COMPACT = {
    "i": "call-id",
    "m": "contact",
    "l": "content-length",
    "c": "content-type",
    "f": "from",
    "t": "to",
    "v": "via",
    "o": "event",
}


async def read_message(reader: asyncio.StreamReader) -> Message | None:
    """One message; None at the end of the stream. Bare CRLFs are returned as ''."""
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except (asyncio.IncompleteReadError, ConnectionError, ssl.SSLError):
        return None
    text = head.decode("utf-8", errors="replace").lstrip("\r\n")
    if not text.strip():
        return Message("", [])
    lines = text.split("\r\n")
    headers = []
    for line in lines[1:]:
        if ":" in line:
            name, _, value = line.partition(":")
            name = name.strip().lower()
            headers.append((_COMPACT.get(name, name), value.strip()))
    message = Message(lines[0], headers)
    length = int(message.header("content-length") or 0)
    if length:
        message.body = await reader.readexactly(length)
    return message


def tag_of(value: str | None) -> str | None:
    match = _TAG.search(value or "")
    return match.group(1) if match else None


def md5(text: str) -> str:
    return hashlib.md5(text.encode(), usedforsecurity=False).hexdigest()


@dataclass
class FakeSubscription:
    """A subscription the server granted."""

    connection: FakeConnection
    package: str
    call_id: str
    subscriber_tag: str
    server_tag: str
    contact: str
    cseq: int = 0
    active: bool = True


@dataclass
class FakeConnection:
    """One client connection."""

    server: FakeSipServer
    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter
    pings: int = 0
    task: asyncio.Task[None] | None = None

    def send(self, data: bytes) -> None:
        if not self.writer.is_closing():
            self.writer.write(data)

    def cut(self) -> None:
        """End the connection at once, without a TLS goodbye."""
        self.writer.transport.abort()


class FakeSipServer:
    """The scripted server; see the module's docstring."""

    def __init__(
        self,
        ssl_context: ssl.SSLContext | None,
        *,
        password: str,
        user: str = "alice",
        domain: str = DOMAIN,
        challenge: Literal[401, 407] | None = 407,
        max_expires: int = 3600,
        qop: bool = True,
        answer_pings: bool = True,
    ) -> None:
        self.ssl_context = ssl_context
        self.transport = "tls" if ssl_context else "tcp"
        self.password = password
        self.user = user
        self.domain = domain
        self.challenge = challenge
        self.max_expires = max_expires
        self.qop = qop
        # An algorithm named in the challenge (none: MD5 by default).
        self.algorithm: str | None = None
        # Headers added to every 200 to a SUBSCRIBE (a Flow-Timer, say).
        self.grant_headers: list[tuple[str, str]] = []
        # Whether SUBSCRIBEs go unanswered (a server that hangs).
        self.silent = False
        self.answer_pings = answer_pings
        self.port = 0
        self.requests: list[Message] = []
        self.notify_answers: list[Message] = []
        self.connections: list[FakeConnection] = []
        self.subscriptions: list[FakeSubscription] = []
        # Status codes (or codes with headers) for the next initial SUBSCRIBEs of a
        # package (then 200).
        self.answers: dict[str, deque[int | tuple[int, list[tuple[str, str]]]]] = defaultdict(deque)
        # Status codes for the next refreshes of a package (then 200); 481 forgets it.
        self.refresh_answers: dict[str, deque[int]] = defaultdict(deque)
        self.stale_next = False
        # Whether a grant is followed by the first NOTIFY (empty, as Kamailio's).
        self.notify_on_grant = True
        self.authentication_failures = 0
        self._nonces: set[str] = set()
        self._server: asyncio.Server | None = None
        self._changed = asyncio.Condition()
        self._pending: dict[str, asyncio.Future[Message]] = {}

    @property
    def server_uri(self) -> str:
        return f"sip:127.0.0.1:{self.port};transport={self.transport}"

    async def start(self) -> None:
        self._server = await asyncio.start_server(
            self._serve, "127.0.0.1", self.port, ssl=self.ssl_context
        )
        self.port = self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        """Close the listener and every connection (a crash: no goodbyes)."""
        if self._server is not None:
            self._server.close()
        for connection in self.connections:
            connection.cut()
            if connection.task is not None:
                connection.task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await connection.task
        if self._server is not None:
            await self._server.wait_closed()
            self._server = None
        self.connections.clear()
        for subscription in self.subscriptions:
            subscription.active = False

    async def wait_for(self, predicate, timeout: float = WAIT):
        """Until ``predicate()`` is true (it is checked whenever something arrives)."""
        async with asyncio.timeout(timeout), self._changed:
            await self._changed.wait_for(predicate)
        return predicate()

    async def subscription(self, package: str, count: int = 1) -> FakeSubscription:
        """The ``count``-th subscription granted for ``package``, once it is."""

        def found() -> FakeSubscription | None:
            granted = [sub for sub in self.subscriptions if sub.package == package]
            return granted[count - 1] if len(granted) >= count else None

        return await self.wait_for(found)

    def subscribes(self, package: str | None = None) -> list[Message]:
        return [
            request
            for request in self.requests
            if request.method == "SUBSCRIBE"
            and (package is None or request.header("event") == package)
        ]

    async def notify(
        self,
        subscription: FakeSubscription,
        body: bytes = b"",
        content_type: str | None = None,
        *,
        state: str | None = None,
        extra: str = "",
        content_length: int | None = None,
        wait: bool = True,
    ) -> Message | None:
        """Send a NOTIFY in ``subscription``; its answer (unless ``wait`` is False)."""
        subscription.cseq += 1
        branch = "z9hG4bK" + secrets.token_hex(8)
        state = state or f"active;expires={self.max_expires}"
        head = (
            f"NOTIFY {subscription.contact} SIP/2.0\r\n"
            f"Via: SIP/2.0/{self.transport.upper()} 127.0.0.1:{self.port};branch={branch}\r\n"
            f"From: <sip:{self.user}@{self.domain}>;tag={subscription.server_tag}\r\n"
            f"To: <sip:{self.user}@{self.domain}>;tag={subscription.subscriber_tag}\r\n"
            f"Call-ID: {subscription.call_id}\r\n"
            f"CSeq: {subscription.cseq} NOTIFY\r\n"
            f"Contact: <{self.server_uri}>\r\n"
            f"Event: {subscription.package}\r\n"
            f"Subscription-State: {state}\r\n"
            f"{extra}"
        )
        if content_type:
            head += f"Content-Type: {content_type}\r\n"
        length = len(body) if content_length is None else content_length
        head += f"Content-Length: {length}\r\n\r\n"
        future: asyncio.Future[Message] = asyncio.get_running_loop().create_future()
        self._pending[branch] = future
        subscription.connection.send(head.encode() + body)
        if not wait:
            return None
        async with asyncio.timeout(WAIT):
            return await future

    async def request(self, connection: FakeConnection, data: bytes) -> Message:
        """Send a raw request (its Via branch must be unique); the client's answer."""
        branch = re.search(rb"branch=([^;\s]+)", data)
        assert branch is not None
        future: asyncio.Future[Message] = asyncio.get_running_loop().create_future()
        self._pending[branch.group(1).decode()] = future
        connection.send(data)
        async with asyncio.timeout(WAIT):
            return await future

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        connection = FakeConnection(self, reader, writer)
        connection.task = asyncio.current_task()  # type: ignore[assignment]
        self.connections.append(connection)
        try:
            while (message := await read_message(reader)) is not None:
                if not message.start:
                    connection.pings += 1
                    if self.answer_pings:
                        connection.send(b"\r\n")
                elif message.start.startswith("SIP/2.0"):
                    self.notify_answers.append(message)
                    branch = re.search(r"branch=([^;\s]+)", message.header("via") or "")
                    future = self._pending.pop(branch.group(1) if branch else "", None)
                    if future is not None and not future.done():
                        future.set_result(message)
                else:
                    self.requests.append(message)
                    self._request(connection, message)
                async with self._changed:
                    self._changed.notify_all()
        finally:
            for subscription in self.subscriptions:
                if subscription.connection is connection:
                    subscription.active = False
            writer.transport.abort()
            async with self._changed:
                self._changed.notify_all()

    def reply(
        self,
        connection: FakeConnection,
        request: Message,
        status: int,
        reason: str,
        *,
        extra: list[tuple[str, str]] | None = None,
        to_tag: str | None = None,
    ) -> None:
        lines = [f"SIP/2.0 {status} {reason}"]
        lines += [f"Via: {via}" for via in request.all("via")]
        lines.append(f"From: {request.header('from')}")
        to = request.header("to") or ""
        if to_tag and not tag_of(to):
            to += f";tag={to_tag}"
        lines.append(f"To: {to}")
        lines.append(f"Call-ID: {request.call_id}")
        lines.append(f"CSeq: {request.header('cseq')}")
        lines += [f"{name}: {value}" for name, value in extra or []]
        lines.append("Content-Length: 0")
        connection.send(("\r\n".join(lines) + "\r\n\r\n").encode())

    def _authorized(self, connection: FakeConnection, request: Message) -> bool:
        if self.challenge is None:
            return True
        header = "proxy-authorization" if self.challenge == 407 else "authorization"
        credentials = request.header(header)
        if credentials is not None:
            params = {
                m.group(1).lower(): m.group(2) if m.group(2) is not None else m.group(3)
                for m in _PARAM.finditer(credentials)
            }
            ha1 = md5(f"{params.get('username')}:{params.get('realm')}:{self.password}")
            ha2 = md5(f"{request.method}:{params.get('uri')}")
            if params.get("qop"):
                expected = md5(
                    f"{ha1}:{params.get('nonce')}:{params.get('nc')}:{params.get('cnonce')}"
                    f":auth:{ha2}"
                )
            else:
                expected = md5(f"{ha1}:{params.get('nonce')}:{ha2}")
            known = params.get("nonce") in self._nonces
            if (
                known
                and not self.stale_next
                and params.get("uri") == request.uri
                and params.get("username") == self.user
                and params.get("response") == expected
            ):
                return True
            if known and params.get("response") != expected:
                self.authentication_failures += 1
        stale = credentials is not None and (
            self.stale_next or (params.get("nonce") not in self._nonces)
        )
        self.stale_next = False
        nonce = secrets.token_hex(8)
        self._nonces.add(nonce)
        challenge = f'Digest realm="{self.domain}", nonce="{nonce}"'
        if self.algorithm:
            challenge += f", algorithm={self.algorithm}"
        if self.qop:
            challenge += ', qop="auth"'
        if stale:
            challenge += ", stale=true"
        name = "Proxy-Authenticate" if self.challenge == 407 else "WWW-Authenticate"
        reason = "Proxy Authentication Required" if self.challenge == 407 else "Unauthorized"
        self.reply(connection, request, self.challenge, reason, extra=[(name, challenge)])
        return False

    def _request(self, connection: FakeConnection, request: Message) -> None:
        if request.method != "SUBSCRIBE":
            self.reply(connection, request, 405, "Method Not Allowed")
            return
        if self.silent:
            return
        if not self._authorized(connection, request):
            return
        package = request.header("event") or ""
        expires = min(int(request.header("expires") or 3600), self.max_expires)
        existing = next(
            (sub for sub in self.subscriptions if sub.call_id == request.call_id and sub.active),
            None,
        )
        if tag_of(request.header("to")):
            answers = self.refresh_answers[package]
            status = answers.popleft() if answers else 200
            if existing is None or status == 481:
                if existing is not None:
                    existing.active = False
                self.reply(connection, request, 481, "Subscription does not exist")
                return
            if status >= 300:
                self.reply(connection, request, status, "Scripted")
                return
            self._grant(connection, request, existing, expires)
            return
        answers = self.answers[package]
        answer = answers.popleft() if answers else 200
        status, extra = answer if isinstance(answer, tuple) else (answer, [])
        if status >= 300:
            self.reply(connection, request, status, "Scripted", extra=extra)
            return
        contact = re.search(r"<([^>]*)>", request.header("contact") or "")
        subscription = FakeSubscription(
            connection,
            package,
            request.call_id,
            tag_of(request.header("from")) or "",
            secrets.token_hex(6),
            contact.group(1) if contact else "",
        )
        self.subscriptions.append(subscription)
        self._grant(connection, request, subscription, expires)

    def _grant(
        self,
        connection: FakeConnection,
        request: Message,
        subscription: FakeSubscription,
        expires: int,
    ) -> None:
        self.reply(
            connection,
            request,
            200,
            "OK",
            extra=[
                ("Expires", str(expires)),
                ("Contact", f"<{self.server_uri}>"),
                *self.grant_headers,
            ],
            to_tag=subscription.server_tag,
        )
        if expires == 0:
            subscription.active = False
            asyncio.get_running_loop().create_task(
                self.notify(subscription, state="terminated;reason=timeout", wait=False)
            )
        elif self.notify_on_grant:
            asyncio.get_running_loop().create_task(
                self.notify(subscription, state=f"active;expires={expires}", wait=False)
            )
