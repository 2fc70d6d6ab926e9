"""Exceptions raised by the SIP Thor Settings API client.

One base class and one level below it, so callers catch exactly what they can act on:
a new certificate (authentication), a retry later (connection, server), a message to
show (API), a feature to hide (not supported), or a file to fix (credentials).
"""

from __future__ import annotations

from enum import StrEnum


class SipThorError(Exception):
    """Base class of every error raised by this package."""


class SipThorAuthenticationError(SipThorError):
    """The server refused the client certificate or SIP password, or the account named.

    Raised for the ``X.509 Credentials error`` answers, HTTP 401 and 403 (with a
    password: a refusal that judged it), a TLS alert about the client certificate
    (unknown CA, expired, revoked, bad certificate), and the Digest page's own error
    texts. A Digest challenge the client cannot answer is a server error.
    """


class SipThorCertificateRequiredError(SipThorAuthenticationError):
    """A client signing in with the SIP password met a page that wants a certificate.

    The Digest page refuses with HTTP 401. HTTP 403, or a TLS alert about the client
    certificate, is how the page behind client certificates refuses a client without one
    (docs/settings-api.md §2.1): the URL is the other page, whatever the password.
    """


class SipThorDowngradeError(SipThorError):
    """The server now offers a weaker Digest algorithm than it offered before: refused.

    A settings page that offered SHA-256 and now offers only MD5 has changed its setup,
    or something between the client and the page removes its stronger challenges. The
    client does not answer: the password would be sent with the weaker hash. Not an
    authentication error: the password was not judged.
    """

    def __init__(self, offered: str, strongest: str) -> None:
        """Name the algorithm offered now and the strongest one offered before."""
        super().__init__(
            f"The settings page offered {strongest} before and now only {offered}: "
            f"the client does not sign in with {offered}"
        )
        self.offered = offered
        self.strongest = strongest


class SipThorConnectionError(SipThorError):
    """The server could not be reached, or did not answer in time."""


class SipThorWriteTimeoutError(SipThorConnectionError):
    """A write was sent but not answered in time: the server may still have applied it.

    Seen on a real server: ``set_dnd_off`` applied after the client had given up. The
    caller should read the changed value again rather than assume either outcome.
    """

    def __init__(self, action: str, timeout: float) -> None:
        """Say which write went unanswered, and that it may have taken effect."""
        super().__init__(
            f"{action} was not answered within {timeout:g} s; the change may have been applied"
        )
        self.action = action
        self.timeout = timeout


class SipThorServerCertificateError(SipThorConnectionError):
    """The server's own TLS certificate did not verify.

    A connection error (the account is fine), kept apart so that the user can be told
    to check the URL or to turn verification off for a self-hosted platform.
    """


class SipThorServerError(SipThorError):
    """The server answered, but with an HTTP error status or a body without JSON."""

    def __init__(self, message: str, *, status: int | None = None) -> None:
        """Keep the HTTP status, when that is what went wrong."""
        super().__init__(message)
        self.status = status


class SipThorEmptyBodyError(SipThorServerError):
    """HTTP 200 and nothing: the page ran and failed (docs/settings-api.md §4.5).

    Not a wrong URL: another page would have answered something.
    """


class SipThorApiError(SipThorError):
    """The server answered ``success: false`` or reported a failure of its back end."""

    def __init__(self, message: str) -> None:
        """Keep the server's own message, which is shown to the user as is."""
        super().__init__(message)
        self.message = message


class SipThorNotSupportedError(SipThorError):
    """This server does not implement the action (unknown action, or HTTP 500 for it)."""


class CredentialsProblem(StrEnum):
    """Why a certificate file could not be used; the values double as error keys."""

    INVALID_CERTIFICATE = "invalid_certificate"
    MISSING_KEY = "missing_key"
    WRONG_PASSWORD = "wrong_password"  # noqa: S105 - a reason, not a password
    KEY_MISMATCH = "key_mismatch"
    EXPIRED_CERTIFICATE = "expired_certificate"


class SipThorCredentialsError(SipThorError):
    """A certificate, key or PKCS#12 file cannot be used as the client credential."""

    def __init__(self, problem: CredentialsProblem, detail: str) -> None:
        """Store the machine-readable problem next to a human-readable detail."""
        super().__init__(detail)
        self.problem = problem
