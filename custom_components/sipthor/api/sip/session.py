"""The subscriptions of one connection: requests out, answers and NOTIFYs in.

A session lives as long as its connection. It sends the subscriptions' requests with
Digest credentials (api/digest.py: 401 answered in Authorization, 407 in
Proxy-Authorization, the Request-URI as the Digest ``uri``), matches responses to them,
and answers every request of the server: NOTIFYs go to their subscription, anything
unreadable gets its 4xx or is dropped (and is reported to the channel).

The first subscription goes alone until the server has accepted the password, so that a
wrong password costs exactly one refused request.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
import contextlib
from datetime import UTC, datetime
import logging
import secrets
from typing import Final

from ..digest import DigestAuth, DigestChallengeError
from .connection import SipConnection
from .errors import MessageProblem, SipAuthenticationError
from .headers import parse_number, parse_via, tag_of
from .locate import uri_host
from .message import SipRequest, SipResponse, serialize_request, serialize_response
from .parser import Malformed, StreamItem
from .status import StatusReason
from .subscription import Subscription
from .timings import LiveTimings

_LOGGER = logging.getLogger(__name__)

# Challenges answered for one request: a new nonce, then a stale one at most.
_MAX_CHALLENGES: Final = 3
_ANSWERS: Final = {
    MessageProblem.BODY_TOO_LARGE: (413, "Request Entity Too Large"),
    MessageProblem.UNSUPPORTED_BODY: (415, "Unsupported Media Type"),
}
_ALLOW: Final = ("Allow", "NOTIFY, OPTIONS")


class SessionAuthenticator:
    """The account's Digest answers, shared by its sessions, with the verdict on them."""

    def __init__(self, auth: DigestAuth) -> None:
        """Wrap the account's :class:`DigestAuth` (which holds the password)."""
        self._auth = auth
        self._header: str | None = None

    def __repr__(self) -> str:
        """Which header it answers in; never the password."""
        return f"SessionAuthenticator({self._header})"

    def credentials(self, method: str, uri: str) -> tuple[str, str] | None:
        """The credentials header for a request, once a challenge has been read."""
        if self._header is None:
            return None
        value = self._auth.authorization(method, uri)
        return None if value is None else (self._header, value)

    def challenge(self, response: SipResponse, *, refused: bool) -> None:
        """Read a 401 or 407; raises :class:`SipAuthenticationError` for a refused password.

        ``refused`` says that the request carried credentials for a nonce the server gave
        in answer to this same request. Only then does a new challenge without
        ``stale=true`` mean a wrong password: credentials sent ahead with an older nonce
        (from before a server restart, say) are merely out of date.
        """
        proxy = response.status == 407  # noqa: PLR2004 - Proxy Authentication Required
        values = response.headers.get_all("proxy-authenticate" if proxy else "www-authenticate")
        try:
            chosen = self._auth.read_challenge(values)
        except DigestChallengeError as error:
            msg = f"The SIP server asks for a Digest this client cannot answer: {error}"
            raise SipAuthenticationError(msg, unsupported=True) from error
        if refused and not chosen.stale:
            msg = f"The SIP server refused the password ({response.status} {response.reason})"
            raise SipAuthenticationError(msg)
        self._header = "Proxy-Authorization" if proxy else "Authorization"


class SipSession:
    """Requests and answers on one connection, for its subscriptions."""

    def __init__(
        self,
        connection: SipConnection,
        authenticator: SessionAuthenticator,
        user: str,
        timings: LiveTimings,
        *,
        on_malformed: Callable[[MessageProblem], None],
    ) -> None:
        """Serve ``connection``; ``user`` is the Contact's user part."""
        self.connection = connection
        self._authenticator = authenticator
        self._user = user
        self._timings = timings
        self._on_malformed = on_malformed
        self.subscriptions: list[Subscription] = []
        self._pending: dict[str, asyncio.Future[SipResponse]] = {}

    def __repr__(self) -> str:
        """The connection it serves."""
        return f"SipSession({self.connection})"

    @property
    def contact(self) -> str:
        """RFC 5626 ``ob``: the server should send in-dialog requests over this flow."""
        host, port = self.connection.contact_address
        transport = self.connection.target.transport
        return f"<sip:{self._user}@{uri_host(host)}:{port};transport={transport};ob>"

    async def run(self, subscriptions: Sequence[Subscription]) -> StatusReason:
        """Serve until the connection ends or the password is refused; say which."""
        self.subscriptions = list(subscriptions)
        loop = asyncio.get_running_loop()
        serving = loop.create_task(
            self.connection.serve(self.handle), name=f"sipthor live reader {self.connection}"
        )
        tasks: list[asyncio.Task[None]] = []
        try:
            for index, subscription in enumerate(self.subscriptions):
                task = loop.create_task(
                    subscription.run(), name=f"sipthor live {subscription.package}"
                )
                tasks.append(task)
                if index + 1 < len(self.subscriptions):
                    # The next one goes once the server has judged the password.
                    answered = loop.create_task(subscription.answered.wait())
                    await asyncio.wait(
                        (answered, task, serving), return_when=asyncio.FIRST_COMPLETED
                    )
                    answered.cancel()
                    if serving.done() or task.done():
                        break
            await asyncio.wait((serving, *tasks), return_when=asyncio.FIRST_COMPLETED)
            for task in tasks:
                if task.done() and (error := task.exception()) is not None:
                    raise error
            return await serving if serving.done() else StatusReason.CONNECTION_LOST
        finally:
            for task in tasks:
                task.cancel()
            for future in self._pending.values():
                future.cancel()
            self.connection.close()
            # A cancellation of this task (stop()) must get through: gather passes it on,
            # where a suppressed CancelledError would swallow it.
            await asyncio.gather(*tasks, serving, return_exceptions=True)

    async def unsubscribe(self) -> None:
        """Tell the server to end every subscription it knows (best effort)."""
        await asyncio.gather(
            *(subscription.unsubscribe() for subscription in self.subscriptions),
            return_exceptions=True,
        )

    async def request(
        self, method: str, build: Callable[[], tuple[str, list[tuple[str, str]]]]
    ) -> SipResponse:
        """Send ``build()``'s request, answering Digest challenges; the final response."""
        fresh = False
        challenges = 0
        while True:
            uri, headers = build()
            credentials = self._authenticator.credentials(method, uri)
            if credentials is not None:
                headers.append(credentials)
            response = await self._transaction(method, uri, headers)
            challenges += 1
            if response.status not in (401, 407) or challenges > _MAX_CHALLENGES:
                return response
            self._authenticator.challenge(response, refused=fresh and credentials is not None)
            fresh = True

    async def _transaction(
        self, method: str, uri: str, headers: list[tuple[str, str]]
    ) -> SipResponse:
        branch = "z9hG4bK" + secrets.token_hex(10)
        host, port = self.connection.local_address
        via = f"SIP/2.0/{self.connection.target.transport.via} {uri_host(host)}:{port}"
        # rport: tell us the address you see (RFC 3581); alias: send your requests back
        # over this connection (RFC 5923).
        via += f";branch={branch};rport;alias"
        data = serialize_request(method, uri, [("Via", via), ("Max-Forwards", "70"), *headers])
        future: asyncio.Future[SipResponse] = asyncio.get_running_loop().create_future()
        self._pending[branch] = future
        try:
            self.connection.send(data)
            async with asyncio.timeout(self._timings.transaction_timeout):
                return await future
        finally:
            self._pending.pop(branch, None)

    def handle(self, item: StreamItem) -> None:
        """One thing read from the connection (the connection answers keep-alives)."""
        if isinstance(item, Malformed):
            self._malformed(item)
        elif isinstance(item, SipResponse):
            self._response(item)
        elif isinstance(item, SipRequest):
            self._request(item)

    def _response(self, response: SipResponse) -> None:
        vias = response.headers.get_all("via")
        try:
            via = parse_via(vias[0].split(",")[0]) if vias else None
        except ValueError:
            via = None
        future = self._pending.get(via.branch or "") if via else None
        if via is None or future is None or future.done() or response.status < 200:  # noqa: PLR2004
            return
        self.connection.learn_address(via)
        if flow_timer := response.headers.get("flow-timer"):
            with contextlib.suppress(ValueError):
                self.connection.set_flow_timer(parse_number(flow_timer))
        future.set_result(response)

    def _request(self, request: SipRequest) -> None:
        at = datetime.now(UTC)
        if request.method == "ACK":
            return
        if request.method == "OPTIONS":
            self._answer(request, 200, "OK", extra=(_ALLOW,))
            return
        if request.method != "NOTIFY":
            self._answer(request, 405, "Method Not Allowed", extra=(_ALLOW,))
            return
        subscription = next(
            (
                subscription
                for subscription in self.subscriptions
                if subscription.call_id == request.call_id
                and tag_of(request.headers.get("to")) == subscription.local_tag
            ),
            None,
        )
        if subscription is None:
            self._answer(request, 481, "Subscription Does Not Exist")
            return
        status, reason = subscription.on_notify(request, at)
        extra = (("Accept", subscription.package.content_type),) if status == 415 else ()  # noqa: PLR2004
        self._answer(request, status, reason, extra=extra)

    def _malformed(self, item: Malformed) -> None:
        self._on_malformed(item.problem)
        if isinstance(item.message, SipRequest) and item.message.method != "ACK":
            status, reason = _ANSWERS.get(item.problem, (400, "Bad Request"))
            self._answer(item.message, status, reason)

    def _answer(
        self,
        request: SipRequest,
        status: int,
        reason: str,
        *,
        extra: tuple[tuple[str, str], ...] = (),
    ) -> None:
        # The parser let no control character into these headers, so writing cannot fail.
        self.connection.send(
            serialize_response(request, status, reason, to_tag=secrets.token_hex(4), extra=extra)
        )
