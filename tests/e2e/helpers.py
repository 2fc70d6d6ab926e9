"""What several end-to-end tests share."""

from __future__ import annotations

from collections.abc import AsyncIterator
import contextlib

from demo.stack import Stack


@contextlib.asynccontextmanager
async def log_on_failure(stack: Stack) -> AsyncIterator[None]:
    """Print Home Assistant's log when the block fails (shown with the failure)."""
    try:
        yield
    except BaseException:
        print(stack.hass.tail(300))  # noqa: T201 - the log of the failed test
        raise
