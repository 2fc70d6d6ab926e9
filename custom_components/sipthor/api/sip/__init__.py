"""The live channel: SIP event subscriptions of a SIP Thor account, without Home Assistant.

:class:`SipLiveChannel` subscribes to message-summary (RFC 3842) and dialog (RFC 4235)
over one TLS or TCP connection and turns the NOTIFYs into typed events. docs/sip-events.md
describes the SIP side; this package imports nothing from Home Assistant.
"""

from .address import voicemail_uri
from .calls import CallEvent, CallEventKind, CallState
from .channel import DEFAULT_PACKAGES, SipLiveChannel
from .dialog_info import Party
from .errors import (
    MessageProblem,
    SipAuthenticationError,
    SipError,
    SipMessageError,
    SipServerAddressError,
    SipServerCertificateError,
    SipVoicemailAddressError,
)
from .locate import DnsResolver, ManualServer, SipResolver, SrvRecord, Transport
from .message_summary import MessageCounts, MessageSummary
from .status import (
    MAX_QUEUED_EVENTS,
    ChannelState,
    ChannelStatus,
    EventPackage,
    LiveEvent,
    MessageSummaryEvent,
    StatusEvent,
    StatusReason,
    SubscriptionState,
    SubscriptionStatus,
    SubscriptionTarget,
)
from .timings import LiveTimings

__all__ = [
    "DEFAULT_PACKAGES",
    "MAX_QUEUED_EVENTS",
    "CallEvent",
    "CallEventKind",
    "CallState",
    "ChannelState",
    "ChannelStatus",
    "DnsResolver",
    "EventPackage",
    "LiveEvent",
    "LiveTimings",
    "ManualServer",
    "MessageCounts",
    "MessageProblem",
    "MessageSummary",
    "MessageSummaryEvent",
    "Party",
    "SipAuthenticationError",
    "SipError",
    "SipLiveChannel",
    "SipMessageError",
    "SipResolver",
    "SipServerAddressError",
    "SipServerCertificateError",
    "SipVoicemailAddressError",
    "SrvRecord",
    "StatusEvent",
    "StatusReason",
    "SubscriptionState",
    "SubscriptionStatus",
    "SubscriptionTarget",
    "Transport",
    "voicemail_uri",
]
