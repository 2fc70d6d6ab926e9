"""The money of a prepaid account: its balance, the history of its credit, the month's cost.

Read tolerantly, as every answer (see reader.py).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Self

from .parse import UnparsableBodyError, parse_body
from .reader import ObjectReader, ValueReporter, object_list

# NGNPro's PrepaidStatus is unpublished (docs/settings-api.md §9 question 3). CDRTool's own prepaid
# engine counts calls in progress as ``session_counter`` and keeps them in
# ``active_sessions``; these are the names an answer carrying them is likely to use.
_ACTIVE_CALL_COUNTS = ("session_counter", "sessionCount", "sessionCounter", "activeCalls")
_ACTIVE_CALL_LISTS = ("active_sessions", "activeSessions", "sessions")


@dataclass(frozen=True, slots=True)
class PrepaidStatus:
    """``get_prepaid``: the balance, in a currency the API does not name.

    See docs/settings-api.md §5.6.
    """

    balance: float | None
    active_calls: int | None
    extra: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_json(cls, data: Any, report: ValueReporter | None = None) -> Self:
        """Read the JSON answer, tolerating odd or missing members."""
        reader = ObjectReader("prepaid", data, report or ValueReporter())
        balance = reader.number("balance")
        active_calls: int | None = None
        for key in _ACTIVE_CALL_COUNTS:
            if key in reader.data:
                active_calls = reader.integer(key)
                break
        else:
            for key in _ACTIVE_CALL_LISTS:
                if key in reader.data:
                    active_calls = _count_sessions(reader.raw(key))
                    break
        return cls(balance=balance, active_calls=active_calls, extra=reader.extra())


def _count_sessions(value: Any) -> int | None:
    if isinstance(value, list | Mapping):
        return len(value)
    if value in (None, ""):
        return 0
    if isinstance(value, str):
        # CDRTool stores the list as JSON text in its prepaid table.
        try:
            return _count_sessions(parse_body(value).value)
        except UnparsableBodyError:
            return None
    return None


@dataclass(frozen=True, slots=True)
class BalanceEntry:
    """One line of ``get_balance_history`` (docs/settings-api.md §5.7)."""

    date: datetime | None
    action: str
    description: str
    value: float | None
    balance: float | None
    extra: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_json(cls, data: Any, report: ValueReporter | None = None) -> Self:
        """Read the JSON answer, tolerating odd or missing members."""
        reader = ObjectReader("balance entry", data, report or ValueReporter())
        reader.ignore("session")
        return cls(
            date=reader.timestamp("date"),
            action=reader.text("action", "") or "",
            description=reader.text("description", "") or "",
            value=reader.number("value"),
            balance=reader.number("balance"),
            extra=reader.extra(),
        )


def balance_history_from_json(data: Any, report: ValueReporter | None = None) -> list[BalanceEntry]:
    """``null`` and ``[]`` both mean no entries."""
    report = report or ValueReporter()
    return [
        BalanceEntry.from_json(item, report)
        for item in object_list("balance history", data, report)
    ]


@dataclass(frozen=True, slots=True)
class MonthlyUsage:
    """``get_monthly_usage``, on servers where it works (docs/settings-api.md §5.8)."""

    calls: int | None
    price: float | None
    extra: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_json(cls, data: Any, report: ValueReporter | None = None) -> Self:
        """Read the JSON answer, tolerating odd or missing members."""
        reader = ObjectReader("monthly usage", data, report or ValueReporter())
        return cls(
            calls=reader.integer("calls"), price=reader.number("price"), extra=reader.extra()
        )
