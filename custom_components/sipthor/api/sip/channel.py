"""The live channel of one account: SIP event subscriptions, turned into typed events.

:class:`SipLiveChannel` is what the account object owns next to the settings-page
client. ``start()`` returns at once; the channel then finds the server, connects (TLS
first), subscribes to message-summary and dialog, and keeps doing so across lost
connections, server restarts and refusals, each with its own wait. message-summary goes
to the voicemail URI when the owner gives one; otherwise to the account's own address,
and where that does not offer it, to the account's mailbox (:meth:`set_mailbox`). What happens comes
out as :data:`LiveEvent` values, to listeners and to ``events()`` iterators; where it
stands is :attr:`SipLiveChannel.status`, and :meth:`SipLiveChannel.snapshot` is its
diagnostics, without secrets or phone numbers.

It shares nothing with the settings-page client: a failure on either side never
touches the other.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Callable, Sequence
import contextlib
from dataclasses import replace
from datetime import UTC, datetime, timedelta
import logging
import random
import re
import ssl
from typing import Any, Final

from ..digest import DigestAuth
from .address import voicemail_uri as parse_voicemail_uri
from .calls import CallState, CallTracker
from .connection import SipConnection
from .dialog_info import parse_dialog_info
from .errors import (
    MessageProblem,
    SipAuthenticationError,
    SipMessageError,
    SipServerCertificateError,
)
from .headers import media_type
from .locate import DnsResolver, ManualServer, ServerTarget, SipResolver, server_targets
from .message import SipRequest
from .message_summary import MessageSummary, parse_message_summary
from .session import SessionAuthenticator, SipSession
from .status import (
    ChannelState,
    ChannelStatus,
    EventPackage,
    EventStream,
    LiveEvent,
    MessageSummaryEvent,
    StatusEvent,
    StatusReason,
    SubscriptionState,
    SubscriptionStatus,
    SubscriptionTarget,
)
from .subscription import Subscription
from .targets import Refusals, Target, targets_for
from .timings import LiveTimings

_LOGGER = logging.getLogger(__name__)

DEFAULT_PACKAGES: Final = (EventPackage.DIALOG, EventPackage.MESSAGE_SUMMARY)
USER_AGENT: Final = "sipthor-home-assistant"
_ACCOUNT: Final = re.compile(r"[^@\s\x00-\x1f\x7f<>\";]+@[A-Za-z0-9.-]+")

type Listener = Callable[[LiveEvent], None]


class SipLiveChannel:
    """Live calls and voicemail counts of one SIP account."""

    def __init__(
        self,
        account: str,
        password: str,
        *,
        ssl_context: ssl.SSLContext | None = None,
        server: ManualServer | None = None,
        voicemail_uri: str | None = None,
        packages: Sequence[EventPackage] = DEFAULT_PACKAGES,
        resolver: SipResolver | None = None,
        timings: LiveTimings | None = None,
        rng: random.Random | None = None,
        user_agent: str = USER_AGENT,
    ) -> None:
        """Watch ``account`` (``user@domain``), signing in with its SIP ``password``.

        ``ssl_context`` verifies the server (Home Assistant passes its shared one; without
        it a default context is made off the event loop at start). ``server`` replaces
        the DNS lookup. ``voicemail_uri`` (``user@host`` or a SIP URI), when given, is
        the only place message-summary is subscribed at. Raises ``ValueError`` for an
        account or URI that could not be written into a SIP header safely.
        """
        if not _ACCOUNT.fullmatch(account):
            msg = "The account must be user@domain"
            raise ValueError(msg)
        self._voicemail_uri = parse_voicemail_uri(voicemail_uri) if voicemail_uri else None
        self._mailbox: str | None = None
        self._user, _, self._domain = account.partition("@")
        self._aor = f"sip:{account}"
        self._authenticator = SessionAuthenticator(
            DigestAuth(self._user, password, domain=self._domain, allow_without_qop=True)
        )
        self._ssl_context = ssl_context
        self._server = server
        self._packages = tuple(dict.fromkeys(packages))
        # The addresses each package was refused at, across connections.
        self._refusals: dict[EventPackage, Refusals] = {package: {} for package in self._packages}
        self._resolver: SipResolver = resolver or DnsResolver()
        self._timings = timings or LiveTimings()
        self._rng = rng or random.Random()  # noqa: S311 - jitter, not secrecy
        self._user_agent = user_agent
        self._status = ChannelStatus(
            subscriptions={package: SubscriptionStatus(package) for package in self._packages}
        )
        self._calls = CallTracker()
        self._summary: MessageSummary | None = None
        self._listeners: list[Listener] = []
        self._queues: list[EventStream] = []
        self._task: asyncio.Task[None] | None = None
        self._session: SipSession | None = None
        # The name each TLS target's certificate verified with, so a reconnection does
        # not try the others first.
        self._tls_names: dict[ServerTarget, str] = {}
        self._refused: Counter[MessageProblem] = Counter()
        self._connections = 0
        self._events_dropped = 0

    def __repr__(self) -> str:
        """The domain and state; never the password (nor the user, which is personal)."""
        return f"SipLiveChannel(domain={self._domain!r}, state={self._status.state})"

    # -- what the owner uses -------------------------------------------------------------

    @property
    def status(self) -> ChannelStatus:
        """The connection and every subscription, as they stand."""
        return self._status

    @property
    def call_state(self) -> CallState:
        """Idle, ringing or in a call, across the account's calls."""
        return self._calls.state

    @property
    def message_summary(self) -> MessageSummary | None:
        """The mailbox's last counts; None before the first NOTIFY that had them."""
        return self._summary

    @property
    def running(self) -> bool:
        """Whether the channel was started and not stopped (nor stopped by a refusal)."""
        return self._task is not None and not self._task.done()

    async def start(self) -> None:
        """Start in the background; returns at once. Starting twice does nothing."""
        if self.running:
            return
        if self._ssl_context is None:
            # Loading the system's CA store takes tens of milliseconds of CPU.
            self._ssl_context = await asyncio.get_running_loop().run_in_executor(
                None, ssl.create_default_context
            )
        self._task = asyncio.get_running_loop().create_task(
            self._run(), name=f"sipthor live channel {self._domain}"
        )

    async def stop(self) -> None:
        """Unsubscribe (waiting at most ``stop_timeout``), disconnect, and stop."""
        task, self._task = self._task, None
        session = self._session
        if session is not None and task is not None and not task.done():
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self._timings.stop_timeout):
                    await session.unsubscribe()
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
        if self._status.state is not ChannelState.AUTH_FAILED:
            self._set_channel(ChannelState.STOPPED, reason=None, next_attempt=None)
            for package in self._packages:
                self._subscription_status(
                    replace(
                        self._status.subscriptions[package],
                        state=SubscriptionState.STOPPED,
                        next_attempt=None,
                        expires=None,
                    )
                )

    def set_mailbox(self, address: str | None) -> None:
        """The account's voice mailbox: ``user@host`` or a SIP URI; None when it has none.

        message-summary moves there, at once, when the account's own address does not
        offer it (and no voicemail URI was given); a mailbox that changes or goes away
        moves it again. Raises ``ValueError`` for an address that is not one (the
        mailbox stays as it was).
        """
        uri = parse_voicemail_uri(address) if address else None
        if uri == self._mailbox:
            return
        self._mailbox = uri
        summary = self._status.subscriptions.get(EventPackage.MESSAGE_SUMMARY)
        if summary is not None and summary.target is SubscriptionTarget.MAILBOX:
            # The counts were the old mailbox's; the subscription moves.
            self._summary = None
        session = self._session
        for subscription in session.subscriptions if session else ():
            subscription.retarget(self._targets(subscription.package))

    def _targets(self, package: EventPackage) -> tuple[Target, ...]:
        return targets_for(
            package, self._aor, voicemail_uri=self._voicemail_uri, mailbox=self._mailbox
        )

    def add_listener(self, listener: Listener) -> Callable[[], None]:
        """Call ``listener`` with every event, in the event loop; returns its remover."""
        self._listeners.append(listener)

        def remove() -> None:
            with contextlib.suppress(ValueError):
                self._listeners.remove(listener)

        return remove

    def events(self) -> EventStream:
        """Every event from now on, as an async iterator; ``aclose()`` it when done.

        A reader that falls :data:`MAX_QUEUED_EVENTS` behind loses the oldest ones.
        """
        return EventStream(self._queues)

    def snapshot(self) -> dict[str, Any]:
        """Diagnostics: the server, the subscriptions and counters; no secret, no number."""
        session = self._session
        connection = session.connection if session else None
        return {
            "state": self._status.state,
            "reason": self._status.reason,
            "server": self._status.server,
            "next_attempt": _iso(self._status.next_attempt),
            "connections": self._connections,
            "subscriptions": {
                package: {
                    "state": status.state,
                    "reason": status.reason,
                    "code": status.code,
                    "detail": status.detail,
                    "next_attempt": _iso(status.next_attempt),
                    "expires": _iso(status.expires),
                    "last_notify": _iso(status.last_notify),
                    # Whose address, never the address (it is personal).
                    "resource": status.target,
                }
                for package, status in self._status.subscriptions.items()
            },
            "last_notify": _iso(self._status.last_notify),
            "call_state": self._calls.state,
            "active_calls": self._calls.active_calls,
            "messages_waiting": self._summary.messages_waiting if self._summary else None,
            "refused_messages": dict(self._refused),
            "events_dropped": self._events_dropped,
            "connection": None
            if connection is None
            else {
                "transport": connection.target.transport,
                "address_learned": connection.public_address is not None,
                "bytes_sent": connection.bytes_sent,
                "bytes_received": connection.bytes_received,
                "keepalive_interval": connection.keepalive_interval,
                "pings_sent": connection.pings_sent,
                "pongs_received": connection.pongs_received,
            },
        }

    # -- the work ------------------------------------------------------------------------

    async def _run(self) -> None:
        """Connect, serve, and reconnect after a back-off, until stopped or refused."""
        failures = 0
        while True:
            self._set_channel(ChannelState.CONNECTING, next_attempt=None)
            try:
                reason, healthy = await self._connect_and_serve()
            except Exception:
                # A fault of this client, not of the server: reported, then retried as if
                # the connection had been lost, so the channel does not die silently.
                _LOGGER.exception("The SIP live channel failed; it connects again")
                reason, healthy = StatusReason.CONNECTION_LOST, False
            if reason in (StatusReason.AUTH_FAILED, StatusReason.AUTH_UNSUPPORTED):
                return
            failures = 1 if healthy else failures + 1
            delay = self._timings.backoff(failures, self._rng)
            next_attempt = datetime.now(UTC) + timedelta(seconds=delay)
            self._set_channel(ChannelState.WAITING, reason=reason, next_attempt=next_attempt)
            for status in self._status.subscriptions.values():
                # A package the server does not offer stays so while it is merely away.
                if status.state is not SubscriptionState.NOT_OFFERED:
                    self._subscription_status(
                        replace(
                            status,
                            state=SubscriptionState.RETRYING,
                            reason=reason,
                            code=None,
                            detail=None,
                            next_attempt=next_attempt,
                            expires=None,
                        )
                    )
            await asyncio.sleep(delay)

    async def _connect_and_serve(self) -> tuple[StatusReason, bool]:
        """One connection's life; why it ended, and whether it had worked."""
        try:
            connection = await self._connect()
        except SipServerCertificateError as error:
            _LOGGER.warning("SIP live events: %s", error)
            return StatusReason.TLS_CERTIFICATE, False
        if connection is None:
            return StatusReason.CONNECT_FAILED, False
        self._connections += 1
        self._set_channel(ChannelState.CONNECTED, reason=None, server=str(connection.target))
        session = SipSession(
            connection,
            self._authenticator,
            self._user,
            self._timings,
            on_malformed=self._refuse,
        )
        self._session = session
        subscriptions = [
            Subscription(
                package,
                self._targets(package),
                self._aor,
                session,
                timings=self._timings,
                rng=self._rng,
                on_body=self._on_body,
                on_status=self._subscription_status,
                user_agent=self._user_agent,
                status=self._status.subscriptions[package],
                refusals=self._refusals[package],
            )
            for package in self._packages
        ]
        try:
            reason = await session.run(subscriptions)
        except SipAuthenticationError as error:
            self._auth_failed(error)
            return StatusReason.AUTH_FAILED, False
        finally:
            self._session = None
        healthy = any(
            status.state in (SubscriptionState.ACTIVE, SubscriptionState.PENDING)
            or status.state is SubscriptionState.NOT_OFFERED
            for status in self._status.subscriptions.values()
        )
        _LOGGER.debug("SIP connection to %s ended: %s", connection.target, reason)
        return reason, healthy

    async def _connect(self) -> SipConnection | None:
        """The first target that answers, TLS before TCP; None when none does.

        Never TCP after a TLS server whose certificate failed: that is an attack or a
        misconfiguration, and neither is solved by sending in clear text.
        """
        assert self._ssl_context is not None  # noqa: S101 - set by start()
        targets = await server_targets(self._domain, self._server, self._resolver, self._rng)
        for target in targets:
            try:
                addresses = await self._resolver.addresses(target.host, target.port)
            except OSError as error:
                _LOGGER.debug("No address for %s: %s", target, error)
                continue
            for address in addresses:
                preferred = self._tls_names.get(target)
                names = (preferred,) if preferred else target.tls_names
                try:
                    connection, name = await SipConnection.open(
                        target,
                        address,
                        self._ssl_context,
                        self._timings,
                        self._rng,
                        tls_names=names,
                    )
                except (OSError, TimeoutError) as error:
                    _LOGGER.debug("Could not connect to %s (%s): %s", target, address, error)
                    continue
                if name is not None:
                    self._tls_names[target] = name
                return connection
        return None

    def _on_body(
        self, package: EventPackage, request: SipRequest, at: datetime, first: bool
    ) -> tuple[int, str]:
        """Read a NOTIFY's body and announce what it says; the answer to the NOTIFY."""
        if package is EventPackage.DIALOG and first:
            self._calls.new_subscription()
        if not request.body:
            # The first NOTIFY may come empty, without a type; for dialog, an empty body
            # says the server knows no call.
            if package is EventPackage.DIALOG:
                for ended in self._calls.nothing_known(at).events:
                    self._emit(ended)
            return 200, "OK"
        if media_type(request.headers.get("content-type")) != package.content_type:
            self._refuse(MessageProblem.UNSUPPORTED_BODY)
            return 415, "Unsupported Media Type"
        events: list[LiveEvent] = []
        try:
            if package is EventPackage.DIALOG:
                update = self._calls.apply(parse_dialog_info(request.body), at, initial=first)
                events.extend(update.events)
                if update.refresh and self._session is not None:
                    for subscription in self._session.subscriptions:
                        if subscription.package is package:
                            subscription.refresh_soon()
            else:
                summary = parse_message_summary(request.body)
                if summary != self._summary:
                    self._summary = summary
                    events.append(MessageSummaryEvent(summary, at))
        except SipMessageError as error:
            self._refuse(error.problem)
            return 400, "Bad Request"
        for event in events:
            self._emit(event)
        return 200, "OK"

    def _refuse(self, problem: MessageProblem) -> None:
        """Count a refused message or body; the first of each kind gets a warning."""
        self._refused[problem] += 1
        if self._refused[problem] == 1:
            _LOGGER.warning(
                "The SIP server sent a message the live channel refuses (%s); "
                "further ones are logged at debug level",
                problem,
            )
        else:
            _LOGGER.debug("Refused a message from the SIP server: %s", problem)

    def _auth_failed(self, error: SipAuthenticationError) -> None:
        _LOGGER.warning("SIP live events stopped: %s", error)
        reason = StatusReason.AUTH_UNSUPPORTED if error.unsupported else StatusReason.AUTH_FAILED
        for status in self._status.subscriptions.values():
            self._subscription_status(
                replace(
                    status,
                    state=SubscriptionState.AUTH_FAILED,
                    reason=reason,
                    next_attempt=None,
                    expires=None,
                )
            )
        self._set_channel(ChannelState.AUTH_FAILED, reason=reason, next_attempt=None)

    def _subscription_status(self, status: SubscriptionStatus) -> None:
        previous = self._status.subscriptions.get(status.package)
        if (
            status.package is EventPackage.MESSAGE_SUMMARY
            and previous is not None
            and previous.target not in (None, status.target)
        ):
            # Another mailbox's counts: none are known until its first NOTIFY.
            self._summary = None
        subscriptions = {**self._status.subscriptions, status.package: status}
        self._publish(replace(self._status, subscriptions=subscriptions))

    def _set_channel(self, state: ChannelState, **changes: Any) -> None:
        self._publish(replace(self._status, state=state, **changes))

    def _publish(self, status: ChannelStatus) -> None:
        if status != self._status:
            self._status = status
            self._emit(StatusEvent(status))

    def _emit(self, event: LiveEvent) -> None:
        for listener in list(self._listeners):
            try:
                listener(event)
            except Exception:
                _LOGGER.exception("A listener of the SIP live channel failed")
        for stream in self._queues:
            self._events_dropped += stream.put(event)


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None
