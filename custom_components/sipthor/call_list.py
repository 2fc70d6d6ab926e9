"""What the call list says: the newest calls, today's counts, whether the list is full.

The call sensors read it; the server lists the calls newest first, at most
:data:`~.const.CALL_LIST_LIMIT` per direction (docs/settings-api.md §5.4).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from homeassistant.util import dt as dt_util

from .api import CallDirection
from .const import CALL_LIST_LIMIT
from .sources import CallRecord


def newest_started(calls: list[CallRecord], *, missed: bool) -> datetime | None:
    """When the newest received call that was (not) missed started."""
    record = newest_received(calls, missed=missed)
    return record.started if record else None


def newest_received(calls: list[CallRecord], *, missed: bool) -> CallRecord | None:
    """The newest received call that was (not) missed; the list is newest first."""
    return next(
        (
            record
            for record in calls
            if record.call.direction is CallDirection.RECEIVED and record.call.missed is missed
        ),
        None,
    )


def caller_name(record: CallRecord | None) -> str | None:
    """Who called: the display name, else the address."""
    if record is None:
        return None
    return record.call.display_name or record.call.caller


def call_attributes(record: CallRecord | None) -> dict[str, Any] | None:
    """The caller's address, display name and the call's duration."""
    if record is None:
        return None
    return {
        "remote_party": record.call.caller,
        "display_name": record.call.display_name or None,
        "duration": record.call.duration,
    }


def calls_today(calls: list[CallRecord], direction: CallDirection) -> list[CallRecord]:
    """The calls of ``direction`` that started since local midnight."""
    start = dt_util.start_of_local_day()
    return [
        record
        for record in calls
        if record.call.direction is direction
        and record.started is not None
        and record.started >= start
    ]


def count_today(
    direction: CallDirection, *, missed: bool = False
) -> Callable[[list[CallRecord]], int]:
    """Count today's calls of ``direction``; received ones split into answered and missed."""
    return lambda calls: sum(
        1 for record in calls_today(calls, direction) if record.call.missed is missed
    )


def count_attributes(direction: CallDirection) -> Callable[[list[CallRecord]], dict[str, Any]]:
    """Whether the count may fall short: the list is full and all of it is from today."""

    def attributes(calls: list[CallRecord]) -> dict[str, Any]:
        listed = sum(1 for record in calls if record.call.direction is direction)
        return {
            "call_list_full": listed >= CALL_LIST_LIMIT
            and len(calls_today(calls, direction)) == listed
        }

    return attributes
