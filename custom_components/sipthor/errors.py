"""What a user reads when a request fails: one translation for every path.

Polls raise ``UpdateFailed``, actions and entities ``HomeAssistantError``; both come from
:func:`translated`, so a timeout, a refusal or an unreachable page reads the same
wherever it happens. :func:`sipthor_exception_handler` wraps what a user starts (a
switch, a select, an action) as core's ``peblar_exception_handler`` does. What else a
failure means (the page lost, a certificate refused) the account handles where the
request is sent (account.py), whoever sent it.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
import functools
from typing import Any

from homeassistant.exceptions import HomeAssistantError

from .api import (
    SipThorApiError,
    SipThorAuthenticationError,
    SipThorConnectionError,
    SipThorDowngradeError,
    SipThorError,
    SipThorWriteTimeoutError,
)
from .const import DOMAIN, POLL_TIMEOUT


def translated[ErrorT: HomeAssistantError](
    err: SipThorError | TimeoutError, kind: type[ErrorT]
) -> ErrorT:
    """``err`` as the translated exception ``kind`` Home Assistant shows."""
    placeholders: dict[str, str] = {"error": str(err)}
    match err:
        case SipThorWriteTimeoutError():
            key, placeholders = "write_timeout", {}
        case TimeoutError():
            # The bound over a whole poll or read, the wait for a turn included.
            key, placeholders = "poll_timeout", {"seconds": f"{POLL_TIMEOUT:g}"}
        case SipThorAuthenticationError():
            key = "authentication_failed"
        case SipThorDowngradeError():
            key = "digest_downgrade"
            placeholders = {"offered": err.offered, "strongest": err.strongest}
        case SipThorConnectionError():
            key = "communication_error"
        case SipThorApiError():
            # The server's own words: what it refused and why.
            key, placeholders = "server_refused", {"message": err.message}
        case _:
            key = "server_error"
    return kind(
        translation_domain=DOMAIN,
        translation_key=key,
        translation_placeholders=placeholders,
    )


def sipthor_exception_handler[**P, T](
    func: Callable[P, Coroutine[Any, Any, T]],
) -> Callable[P, Coroutine[Any, Any, T]]:
    """Turn the client's errors into translated ``HomeAssistantError``s."""

    @functools.wraps(func)
    async def handler(*args: P.args, **kwargs: P.kwargs) -> T:
        try:
            return await func(*args, **kwargs)
        except (SipThorError, TimeoutError) as err:
            raise translated(err, HomeAssistantError) from err

    return handler
