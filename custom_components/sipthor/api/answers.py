"""An action's request, and its answer read as JSON and into a model, or as an error.

What the page's status and text mean (docs/settings-api.md §2, §4): a refused sign-in,
a credentials error page, a status object that says the action failed, a warning the
server printed before the JSON.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from http import HTTPStatus
import logging
import ssl
from typing import Any, Final

import aiohttp

from .digest import DigestAuth
from .errors import (
    SipThorApiError,
    SipThorAuthenticationError,
    SipThorCertificateRequiredError,
    SipThorEmptyBodyError,
    SipThorNotSupportedError,
    SipThorServerError,
)
from .models import StatusResult
from .parse import ParsedBody, UnparsableBodyError, is_credentials_error, parse_body, readable_text
from .reader import ValueReporter, string_list
from .transport import (
    DEFAULT_TIMEOUT,
    DEFAULT_URL,
    DEFAULT_WRITE_TIMEOUT,
    DIGEST_URL,
    PageTransport,
)

_LOGGER = logging.getLogger(__package__)

# Answers above this are decoded, parsed and read into models in an executor thread.
# Below it the work takes well under a millisecond; the answers to a poll nearly all are.
_OFF_LOOP_SIZE: Final = 8 * 1024
# Distinct server warnings logged at warning level per client (then at debug level).
_MAX_PREFIX_REPORTS: Final = 20
# The most of a credentials error page that is shown: the texts of docs/settings-api.md
# §2.2 and §2.5 are short.
_MAX_ERROR_TEXT: Final = 500
INVALID_ACTION: Final = "Error: invalid action"


class ActionAnswers(PageTransport):
    """Sends actions and reads their answers: the layer of the client below its actions."""

    def __init__(
        self,
        account: str,
        ssl_context: ssl.SSLContext | None = None,
        *,
        password: str | None = None,
        url: str | None = None,
        session: aiohttp.ClientSession | None = None,
        request_timeout: float = DEFAULT_TIMEOUT,
        write_timeout: float = DEFAULT_WRITE_TIMEOUT,
    ) -> None:
        """Address ``account`` (``user@domain``) at the settings page ``url``.

        With ``password`` the client answers the page's Digest challenges, ``url``
        defaults to :data:`DIGEST_URL` and ``ssl_context``, if given, only verifies the
        server. Without it, ``ssl_context`` presents the client certificate and ``url``
        defaults to :data:`DEFAULT_URL`.
        """
        user, at, domain = account.partition("@")
        if not (at and user and domain):
            msg = f"The account must be user@domain, not {account!r}"
            raise ValueError(msg)
        if password is None and ssl_context is None:
            msg = "Give the SSL context of a client certificate, or a password"
            raise ValueError(msg)
        super().__init__(
            account,
            url or (DEFAULT_URL if password is None else DIGEST_URL),
            True if ssl_context is None else ssl_context,
            None if password is None else DigestAuth(user, password, domain=domain),
            session,
            request_timeout=request_timeout,
            write_timeout=write_timeout,
        )
        # The page takes its Digest realm from this parameter, as Blink sends it.
        self._realm_field = {} if password is None else {"realm": domain}
        self._reported_prefixes: set[tuple[str, str]] = set()
        self._report = ValueReporter()

    def _model[T](self, from_json: Callable[[Any, ValueReporter], T]) -> Callable[[Any], T]:
        """Read a JSON value with this client's reporter."""
        return lambda value: from_json(value, self._report)

    def _optional[T](
        self, from_json: Callable[[Any, ValueReporter], T]
    ) -> Callable[[Any], T | None]:
        """Read a JSON value with this client's reporter; null reads as None."""
        return lambda value: None if value is None else from_json(value, self._report)

    def _strings(self, model: str) -> Callable[[Any], list[str]]:
        return lambda value: string_list(model, value, self._report)

    async def _read[T](self, action: str, convert: Callable[[Any], T], *, empty: Any = ...) -> T:
        """Send a read action and return its JSON value read by ``convert``.

        ``empty`` is what the action answers when it has nothing (``null`` or ``[]``);
        the same value after a server error message means the action failed. Actions
        without it never legitimately answer ``null``.
        """
        answer = await self._request(action, {})
        parsed = answer.parsed
        value = parsed.value
        if isinstance(value, dict) and value.get("success") is False:
            self._raise_for_status(StatusResult.from_json(value, self._report))
        # A server error before null is a failure even where the action's own "nothing"
        # is [] (get_reject_rules answers [] when empty but null when it fails,
        # docs/settings-api.md §5.11).
        if parsed.server_error and (value is None or value == empty):
            raise SipThorApiError(parsed.server_error)
        if value is None and empty is ...:
            msg = f"{action} answered null"
            raise SipThorServerError(msg)
        if parsed.prefix:
            # The answer is good, but something before it went wrong on the server.
            self._report_prefix(action, parsed.prefix)
        return await off_loop_if_large(answer.size, lambda: convert(value))

    async def _write(
        self,
        action: str,
        params: Mapping[str, str] | None = None,
        *,
        hide: Callable[[str], str] | None = None,
    ) -> StatusResult:
        """Send a write; ``hide`` masks a secret in what the server's text logs."""
        answer = await self._request(action, params or {}, write=True)
        value = answer.parsed.value
        result = await off_loop_if_large(
            answer.size, lambda: StatusResult.from_json(value, self._report)
        )
        if not isinstance(value, dict) or "success" not in value:
            msg = f"{action} answered without a status"
            raise SipThorServerError(msg)
        self._raise_for_status(result)
        # set_call_forwarding always echoes "Key … changed …" first (docs/settings-api.md §5.17).
        if answer.parsed.prefix and action != "set_call_forwarding":
            prefix = answer.parsed.prefix
            self._report_prefix(action, hide(prefix) if hide else prefix)
        return result

    @staticmethod
    def _raise_for_status(result: StatusResult) -> None:
        if result.success:
            return
        if result.message == INVALID_ACTION:
            raise SipThorNotSupportedError(result.message)
        raise SipThorApiError(result.message or "The server refused the request")

    async def _request(
        self, action: str, params: Mapping[str, str], *, write: bool = False
    ) -> _Answer:
        # Writes go as a form body: forwarding targets stay out of access logs, and
        # PHP reads both (docs/settings-api.md §1). Each parameter is sent exactly once.
        fields = {"action": action, "account": self.account, **self._realm_field, **params}
        status, raw = await self._transfer(action, fields, write=write)
        parsed = await off_loop_if_large(len(raw), lambda: self._parse(action, status, raw))
        return _Answer(parsed, len(raw))

    def _parse(self, action: str, status: int, raw: bytes) -> ParsedBody:
        """The JSON value of an answer, or the client's error for what went wrong.

        Runs in an executor thread for a large answer: it changes nothing.
        """
        body = self._page_text(action, status, raw)
        try:
            return parse_body(body)
        except UnparsableBodyError as err:
            msg = f"{action} answered without JSON: {err}"
            raise SipThorServerError(msg) from err

    def _page_text(self, action: str, status: int, raw: bytes) -> str:
        """The text of a page that answered, or the client's error for why it did not."""
        if status == HTTPStatus.FORBIDDEN and self._digest is not None:
            # The Digest page refuses with 401 (docs/settings-api.md §2.5).
            msg = "HTTP 403: the page asks for a client certificate"
            raise SipThorCertificateRequiredError(msg)
        if status in (HTTPStatus.UNAUTHORIZED, HTTPStatus.FORBIDDEN):
            refused = "the SIP address or password" if self._digest else "the client certificate"
            msg = f"HTTP {status}: the server refused {refused}"
            raise SipThorAuthenticationError(msg)
        if status != HTTPStatus.OK:
            msg = f"{action} answered HTTP {status}"
            raise SipThorServerError(msg, status=status)
        body = raw.decode("utf-8", errors="replace")
        if is_credentials_error(body):
            raise SipThorAuthenticationError(readable_text(_error_text(body)))
        if not body.strip():
            msg = f"{action} answered with an empty body"
            raise SipThorEmptyBodyError(msg)
        return body

    def _report_prefix(self, action: str, prefix: str) -> None:
        """Log text printed before the JSON once at warning level, then at debug."""
        marker = (action, prefix[:300])
        known = marker in self._reported_prefixes
        # Bounded: a server that prints a timestamp makes every prefix new.
        if not known and len(self._reported_prefixes) < _MAX_PREFIX_REPORTS:
            self._reported_prefixes.add(marker)
            level = logging.WARNING
        else:
            level = logging.DEBUG
        _LOGGER.log(level, "Server warning with %s: %s", action, marker[1])


@dataclass(frozen=True, slots=True)
class _Answer:
    """A parsed answer, and the size of the body it came in."""

    parsed: ParsedBody
    size: int


async def off_loop_if_large[T](size: int, work: Callable[[], T]) -> T:
    """Run ``work`` on the event loop for a small answer, in an executor for a large one.

    Decoding, parsing and reading models are linear in the answer's size, but a large
    answer would still hold the loop for milliseconds (the goal is under 10 ms).
    """
    if size <= _OFF_LOOP_SIZE:
        return work()
    return await asyncio.get_running_loop().run_in_executor(None, work)


def _error_text(body: str) -> str:
    """A credentials error page, cut to its message (the Digest texts start the page)."""
    if len(body) <= _MAX_ERROR_TEXT:
        return body
    if is_credentials_error(body[-_MAX_ERROR_TEXT:]):
        return body[-_MAX_ERROR_TEXT:]
    return body[:_MAX_ERROR_TEXT]
