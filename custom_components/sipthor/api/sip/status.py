"""What the live channel tells its owner: events, and the status of each subscription."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

from .calls import CallEvent
from .message_summary import MessageSummary


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
    one; ``next_attempt`` is when the channel tries again (UTC).
    """

    package: EventPackage
    state: SubscriptionState = SubscriptionState.STOPPED
    reason: StatusReason | None = None
    code: int | None = None
    detail: str | None = None
    next_attempt: datetime | None = None
    expires: datetime | None = None
    last_notify: datetime | None = None


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
