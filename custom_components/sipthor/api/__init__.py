"""Client of the SIP Thor account Settings API.

This package imports nothing from Home Assistant, so that it can be published alone.
"""

from .balance import BalanceEntry, MonthlyUsage, PrepaidStatus
from .call_history import Call, CallDirection, CallHistory, strip_sip_scheme
from .client import SipThorClient
from .credentials import CertificateInfo, ClientCredentials, create_ssl_context, load_credentials
from .errors import (
    CredentialsProblem,
    SipThorApiError,
    SipThorAuthenticationError,
    SipThorCertificateRequiredError,
    SipThorConnectionError,
    SipThorCredentialsError,
    SipThorDowngradeError,
    SipThorEmptyBodyError,
    SipThorError,
    SipThorNotSupportedError,
    SipThorServerCertificateError,
    SipThorServerError,
    SipThorWriteTimeoutError,
)
from .models import (
    MOBILE_NUMBER,
    VOICE_MAILBOX,
    AcceptRule,
    AcceptRules,
    CallForwarding,
    DndState,
    ForwardingCondition,
    Identity,
    Registration,
    StatusResult,
    Transport,
    Voicemail,
)
from .reader import ValueReporter
from .transport import (
    DEFAULT_TIMEOUT,
    DEFAULT_URL,
    DEFAULT_WRITE_TIMEOUT,
    DIGEST_URL,
    MAX_BODY_SIZE,
    MAX_IN_FLIGHT,
)

__all__ = [
    "DEFAULT_TIMEOUT",
    "DEFAULT_URL",
    "DEFAULT_WRITE_TIMEOUT",
    "DIGEST_URL",
    "MAX_BODY_SIZE",
    "MAX_IN_FLIGHT",
    "MOBILE_NUMBER",
    "VOICE_MAILBOX",
    "AcceptRule",
    "AcceptRules",
    "BalanceEntry",
    "Call",
    "CallDirection",
    "CallForwarding",
    "CallHistory",
    "CertificateInfo",
    "ClientCredentials",
    "CredentialsProblem",
    "DndState",
    "ForwardingCondition",
    "Identity",
    "MonthlyUsage",
    "PrepaidStatus",
    "Registration",
    "SipThorApiError",
    "SipThorAuthenticationError",
    "SipThorCertificateRequiredError",
    "SipThorClient",
    "SipThorConnectionError",
    "SipThorCredentialsError",
    "SipThorDowngradeError",
    "SipThorEmptyBodyError",
    "SipThorError",
    "SipThorNotSupportedError",
    "SipThorServerCertificateError",
    "SipThorServerError",
    "SipThorWriteTimeoutError",
    "StatusResult",
    "Transport",
    "ValueReporter",
    "Voicemail",
    "create_ssl_context",
    "load_credentials",
    "strip_sip_scheme",
]
