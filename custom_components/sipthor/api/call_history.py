"""The call list of ``get_history``: completed calls, placed and received.

Read tolerantly, as every answer (see reader.py).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any, Self

from .reader import ObjectReader, ValueReporter, object_list


class CallDirection(StrEnum):
    """Whether the account placed or received a call."""

    PLACED = "placed"
    RECEIVED = "received"


@dataclass(frozen=True, slots=True)
class Call:
    """One completed call from ``get_history`` (docs/settings-api.md §5.4).

    The server prints times without a zone. Which zone they are in is an open
    question (docs/settings-api.md §9 question 8), so they stay naive here and the caller decides.
    """

    direction: CallDirection
    remote_party: str
    display_name: str
    start_time: datetime | None
    timezone: str | None
    duration: int
    status: int | None
    price: float | None
    session_id: str
    from_tag: str
    media: list[str]
    extra: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_json(
        cls, direction: CallDirection, data: Any, report: ValueReporter | None = None
    ) -> Self:
        """Read the JSON answer, tolerating odd or missing members."""
        reader = ObjectReader(f"{direction} call", data, report or ValueReporter())
        reader.ignore("stopTime", "toTag", "proxyIP")
        return cls(
            direction=direction,
            remote_party=reader.text("remoteParty", "") or "",
            display_name=reader.text("displayName", "") or "",
            start_time=reader.timestamp("startTime"),
            timezone=reader.text("timezone") or None,
            duration=reader.integer("duration") or 0,
            status=reader.integer("status"),
            price=reader.number("price"),
            session_id=reader.text("sessionId", "") or "",
            from_tag=reader.text("fromTag", "") or "",
            media=[item for item in reader.texts("media") if item],
            extra=reader.extra(),
        )

    @property
    def key(self) -> str:
        """Identifies the call across polls by ``sessionId`` and ``fromTag``.

        See docs/settings-api.md §7.
        """
        return f"{self.direction}:{self.session_id}:{self.from_tag}"

    @property
    def missed(self) -> bool:
        """A received call nobody answered: duration 0, as Blink reads it."""
        return self.direction is CallDirection.RECEIVED and self.duration == 0

    @property
    def caller(self) -> str:
        """The remote party without the ``sip:`` scheme."""
        return strip_sip_scheme(self.remote_party)


def strip_sip_scheme(uri: str) -> str:
    """``sip:bob@example.net`` → ``bob@example.net``."""
    scheme, colon, rest = uri.partition(":")
    return rest if colon and scheme.lower() in ("sip", "sips") else uri


@dataclass(frozen=True, slots=True)
class CallHistory:
    """``get_history``: completed calls of the last 14 days, at most 50 per direction."""

    placed: list[Call]
    received: list[Call]

    @classmethod
    def from_json(cls, data: Any, report: ValueReporter | None = None) -> Self:
        """Read the JSON answer, tolerating odd or missing members."""
        reader = ObjectReader("history", data, report or ValueReporter())
        placed = object_list("history", reader.raw("placed"), reader.report)
        received = object_list("history", reader.raw("received"), reader.report)
        reader.extra()
        return cls(
            placed=[Call.from_json(CallDirection.PLACED, item, reader.report) for item in placed],
            received=[
                Call.from_json(CallDirection.RECEIVED, item, reader.report) for item in received
            ],
        )

    @property
    def calls(self) -> list[Call]:
        """Both directions, newest first; calls without a start time last."""
        return sorted(
            [*self.placed, *self.received],
            key=lambda call: call.start_time or datetime.min,  # noqa: DTZ901 - naive times
            reverse=True,
        )
