"""Errors of the SIP live-events channel.

They derive from :class:`SipThorError` so that one ``except`` catches everything this
package raises, but not from the settings page's own errors: a wrong SIP password found
here must not start the settings page's reauthentication, and a lost SIP connection says
nothing about the page. The account object turns them into repairs and statuses of
their own.
"""

from __future__ import annotations

from enum import StrEnum

from ..errors import SipThorError


class MessageProblem(StrEnum):
    """Why a message from the server was answered with an error or dropped."""

    HEADER_TOO_LARGE = "header_too_large"
    TOO_MANY_HEADERS = "too_many_headers"
    BODY_TOO_LARGE = "body_too_large"
    BAD_START_LINE = "bad_start_line"
    BAD_HEADER = "bad_header"
    # CR, LF or NUL inside a header line, or another control character: header injection.
    CONTROL_CHARACTER = "control_character"
    NOT_UTF8 = "not_utf8"
    BAD_CONTENT_LENGTH = "bad_content_length"
    MISSING_HEADER = "missing_header"
    INCOMPLETE = "incomplete"
    BAD_BODY = "bad_body"
    UNSUPPORTED_BODY = "unsupported_body"


class SipError(SipThorError):
    """Base class of the errors of the SIP channel."""


class SipMessageError(SipError):
    """A message or body that this client refuses to read, and why."""

    def __init__(self, problem: MessageProblem, detail: str) -> None:
        """Keep the machine-readable problem next to a short text without server data."""
        super().__init__(detail)
        self.problem = problem


class SipAuthenticationError(SipError):
    """The server refused the SIP password, or asked for a Digest this client cannot do.

    Raised once: the channel stops asking until it is started again with new credentials.
    """

    def __init__(self, message: str, *, unsupported: bool = False) -> None:
        """``unsupported``: the challenge, not the password, was the problem."""
        super().__init__(message)
        self.unsupported = unsupported


class SipServerCertificateError(SipError):
    """The SIP server's TLS certificate did not verify for the domain or the SRV target.

    The channel never falls back to TCP after this: that would let whoever presented the
    certificate choose an unencrypted connection.
    """


class SipServerAddressError(SipError, ValueError):
    """A SIP server typed by hand that is not ``host[:port][;transport=tls|tcp]``."""


class SipVoicemailAddressError(SipError, ValueError):
    """A voicemail address that is not ``user@host`` or a ``sip:``/``sips:`` URI."""
