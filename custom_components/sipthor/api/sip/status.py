"""What the live channel tells its owner: events, and the status of each subscription."""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Final

from .calls import CallEvent
from .message_summary import MessageSummary

# Events an ``events()`` iterator holds for a slow reader; the oldest go first.
MAX_QUEUED_EVENTS: Final = 256


class EventPackage(StrEnum):
    """The event packages subscribed to."""

    MESSAGE_SUMMARY = "message-summary"
    DIALOG = "dialog"

    @property
    def content_type(self) -> str:
        """The body type its NOTIFYs carry."""
        if self is EventPackage.DIALOG:
            return "application/dialog-info+xml"
        return "application/simple-message-summary"


class SubscriptionTarget(StrEnum):
    """Whose address a subscription is at (the address itself is personal)."""

    ACCOUNT = "account"
    # The account's voice mailbox, from its settings: message-summary's second choice.
    MAILBOX = "mailbox"
    # A voicemail URI the owner set: message-summary only there.
    VOICEMAIL_URI = "voicemail_uri"


class ChannelState(StrEnum):
    """The connection to the SIP server."""

    STOPPED = "stopped"
    CONNECTING = "connecting"
    CONNECTED = "connected"
    # Lost or not reached: the next attempt is scheduled (``next_attempt``).
    WAITING = "waiting"
    # The password was refused: nothing more is tried until the channel is started again.
    AUTH_FAILED = "auth_failed"


class SubscriptionState(StrEnum):
    """One event package's subscription."""

    STOPPED = "stopped"
    SUBSCRIBING = "subscribing"
    ACTIVE = "active"
    # Accepted, but the server waits for someone to authorize it (RFC 6665 §4.1.2.2).
    PENDING = "pending"
    # The server does not offer this package to this account: tried again hourly.
    NOT_OFFERED = "not_offered"
    RETRYING = "retrying"
    AUTH_FAILED = "auth_failed"


class StatusReason(StrEnum):
    """Why a subscription or the channel is not active; translated by the owner."""

    # Not offered (RFC 6665 §8.3.1, RFC 3261 §21).
    BAD_EVENT = "bad_event"
    FORBIDDEN = "forbidden"
    NOT_FOUND = "not_found"
    NOT_ALLOWED = "not_allowed"
    REJECTED = "rejected"
    NO_RESOURCE = "no_resource"
    # Retried with back-off.
    SUBSCRIPTION_GONE = "subscription_gone"
    TERMINATED = "terminated"
    SERVER_ERROR = "server_error"
    NO_ANSWER = "no_answer"
    NO_NOTIFY = "no_notify"
    CONNECTION_LOST = "connection_lost"
    CONNECT_FAILED = "connect_failed"
    FRAMING_LOST = "framing_lost"
    TLS_CERTIFICATE = "tls_certificate"
    # Final until the channel is started again.
    AUTH_FAILED = "auth_failed"
    AUTH_UNSUPPORTED = "auth_unsupported"


@dataclass(frozen=True, slots=True)
class SubscriptionStatus:
    """Where one subscription stands.

    ``code`` and ``detail`` are the server's status code and reason phrase when it gave
    one; ``next_attempt`` is when the channel tries again (UTC); ``target`` is the
    address subscribed at, or last tried.
    """

    package: EventPackage
    state: SubscriptionState = SubscriptionState.STOPPED
    reason: StatusReason | None = None
    code: int | None = None
    detail: str | None = None
    next_attempt: datetime | None = None
    expires: datetime | None = None
    last_notify: datetime | None = None
    target: SubscriptionTarget | None = None


@dataclass(frozen=True, slots=True)
class ChannelStatus:
    """The channel and its subscriptions, as one value."""

    state: ChannelState = ChannelState.STOPPED
    reason: StatusReason | None = None
    server: str | None = None
    next_attempt: datetime | None = None
    subscriptions: dict[EventPackage, SubscriptionStatus] = field(default_factory=dict)

    @property
    def last_notify(self) -> datetime | None:
        """When the last NOTIFY of any package came."""
        times = [status.last_notify for status in self.subscriptions.values() if status.last_notify]
        return max(times, default=None)


@dataclass(frozen=True, slots=True)
class MessageSummaryEvent:
    """A NOTIFY brought the mailbox's counts."""

    summary: MessageSummary
    at: datetime


@dataclass(frozen=True, slots=True)
class StatusEvent:
    """The channel's or a subscription's status changed."""

    status: ChannelStatus


type LiveEvent = CallEvent | MessageSummaryEvent | StatusEvent


class EventStream:
    """The events of a channel from its creation on; see :meth:`SipLiveChannel.events`."""

    def __init__(self, streams: list[EventStream]) -> None:
        """Join ``streams`` (the channel's), so that nothing emitted from now is missed."""
        self._streams = streams
        self._queue: asyncio.Queue[LiveEvent] = asyncio.Queue(MAX_QUEUED_EVENTS)
        streams.append(self)

    def put(self, event: LiveEvent) -> int:
        """Queue ``event``; how many old ones were dropped to make room (0 or 1)."""
        dropped = 0
        if self._queue.full():
            self._queue.get_nowait()
            dropped = 1
        self._queue.put_nowait(event)
        return dropped

    def __aiter__(self) -> EventStream:
        """The stream itself."""
        return self

    async def __anext__(self) -> LiveEvent:
        """The next event; waits for it."""
        if self not in self._streams:
            raise StopAsyncIteration
        return await self._queue.get()

    async def aclose(self) -> None:
        """Stop receiving events."""
        with contextlib.suppress(ValueError):
            self._streams.remove(self)
