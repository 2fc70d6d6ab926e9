"""One event package's subscription on one connection (RFC 6665).

It subscribes, refreshes before the subscription expires, reads the Subscription-State
of each NOTIFY, and decides what follows an end:

- 481, a NOTIFY saying ``terminated``, no NOTIFY after the 2xx, no answer, a server
  error: subscribe again, with jittered exponential back-off (1 s … 5 min);
- ``deactivated`` or ``timeout`` (RFC 6665 §4.1.3): subscribe again at once;
- 489, 403, 404, 405, 501, 603 or ``rejected``/``noresource``: the event is not offered
  at that address. The next of the subscription's targets is tried at once (for
  message-summary: the account's address, then its mailbox's); when every one refused,
  each is asked again at most hourly, with one info line (a repeated answer is logged
  at debug level);
- a refused password: :class:`SipAuthenticationError`, which ends the whole channel.

The NOTIFY bodies are the channel's business: this module hands them over.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
import contextlib
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
import logging
import random
import secrets
from typing import Any, Final, Protocol

from .headers import (
    NameAddr,
    event_package,
    parse_name_addr,
    parse_number,
    parse_subscription_state,
    split_list,
)
from .message import SipRequest, SipResponse
from .status import EventPackage, StatusReason, SubscriptionState, SubscriptionStatus
from .targets import WHOSE, Refusals, Target, TargetOrder
from .timings import LiveTimings

_LOGGER = logging.getLogger(__name__)

_NOT_OFFERED: Final = {
    403: StatusReason.FORBIDDEN,
    404: StatusReason.NOT_FOUND,
    405: StatusReason.NOT_ALLOWED,
    489: StatusReason.BAD_EVENT,
    501: StatusReason.NOT_ALLOWED,
    603: StatusReason.REJECTED,
}
# Subscription-State reasons (RFC 6665 §4.1.3).
_TERMINATED_NOT_OFFERED: Final = {
    "rejected": StatusReason.REJECTED,
    "noresource": StatusReason.NO_RESOURCE,
    "invariant": StatusReason.NO_RESOURCE,
}
_TERMINATED_AT_ONCE: Final = frozenset({"deactivated", "timeout"})
_MAX_DETAIL: Final = 80
_MAX_RETRY_AFTER: Final = 3600


class RequestSender(Protocol):
    """What a subscription needs from its connection's session."""

    @property
    def contact(self) -> str:
        """This client's Contact, pointing at the connection."""

    async def request(
        self, method: str, build: Callable[[], tuple[str, list[tuple[str, str]]]]
    ) -> SipResponse:
        """Send what ``build`` makes (again for each challenge) and return the final answer."""


type BodyHandler = Callable[[EventPackage, SipRequest, datetime, bool], tuple[int, str]]


@dataclass(frozen=True, slots=True)
class Ending:
    """Why a subscription ended, and when to try again."""

    reason: StatusReason
    code: int | None = None
    detail: str | None = None
    not_offered: bool = False
    at_once: bool = False
    retry_after: float | None = None


def _detail(text: str) -> str | None:
    """A reason phrase from the server, shortened, for diagnostics."""
    return text.strip()[:_MAX_DETAIL] or None


def ending_for(response: SipResponse) -> Ending:
    """What a final non-2xx answer to SUBSCRIBE means."""
    detail = _detail(response.reason)
    if response.status in _NOT_OFFERED:
        return Ending(_NOT_OFFERED[response.status], response.status, detail, not_offered=True)
    if response.status == 481:  # noqa: PLR2004 - Call/Transaction Does Not Exist
        return Ending(StatusReason.SUBSCRIPTION_GONE, response.status, detail)
    retry_after: float | None = None
    if value := response.headers.get("retry-after"):
        try:
            retry_after = float(min(parse_number(value), _MAX_RETRY_AFTER)) or None
        except ValueError:
            retry_after = None
    return Ending(StatusReason.SERVER_ERROR, response.status, detail, retry_after=retry_after)


class Subscription:
    """One package's subscription; :meth:`run` keeps it alive until cancelled."""

    def __init__(
        self,
        package: EventPackage,
        targets: Sequence[Target],
        aor: str,
        sender: RequestSender,
        *,
        timings: LiveTimings,
        rng: random.Random,
        on_body: BodyHandler,
        on_status: Callable[[SubscriptionStatus], None],
        user_agent: str,
        status: SubscriptionStatus | None = None,
        refusals: Refusals | None = None,
    ) -> None:
        """Subscribe to ``package`` at the first of ``targets`` that offers it, as ``aor``.

        ``refusals`` are the targets' earlier refusals (updated here).
        """
        self.package = package
        self._order = TargetOrder(targets, {} if refusals is None else refusals)
        # Where the current attempt goes (None: every target refused).
        self._target: Target | None = None
        self._resource = ""
        # Set when the targets change so that another one is to be used.
        self._retargeted = asyncio.Event()
        self._aor = aor
        self._sender = sender
        self._timings = timings
        self._rng = rng
        self._on_body = on_body
        self._on_status = on_status
        self._user_agent = user_agent
        self.status = status or SubscriptionStatus(package)
        # The dialog of the current attempt.
        self.call_id = ""
        self.local_tag = ""
        self.remote_tag: str | None = None
        self._cseq = 0
        self._route_set: list[str] = []
        self._remote_target: str | None = None
        self._granted = float(timings.expires)
        self._refresh_after = timings.refresh_after(self._granted)
        self._expires_at = 0.0
        self._notified = False
        self._ending: Ending | None = None
        self._refresh_now = False
        # Unsubscribing: the NOTIFY that confirms the end starts nothing new.
        self._closing = False
        self._wake = asyncio.Event()
        # Set once a final answer other than a challenge came (the password is good), or
        # when this subscription waits without asking: the next one may go.
        self.answered = asyncio.Event()

    def __repr__(self) -> str:
        """The package and its state."""
        return f"Subscription({self.package}, {self.status.state})"

    @property
    def established(self) -> bool:
        """Whether the server knows this subscription (an unsubscribe is worth sending)."""
        return self.remote_tag is not None

    async def run(self) -> None:
        """Subscribe, hold, and subscribe again after each end, until cancelled.

        A target that refused the package is passed over for an hour, also on the next
        connections: reconnecting does not make the server ask again sooner. When the
        targets change (:meth:`retarget`), the subscription moves at once.
        """
        failures = 0
        while True:
            self._retargeted.clear()
            target = self._target = self._order.next()
            if target is None:
                await self._wait_not_offered()
                continue
            self._notified = False
            ending = await self._subscribe_once(target)
            if self._closing:
                return
            if self._retargeted.is_set():
                if not await self._leave():
                    return
                continue
            if self._notified:
                failures = 0
            if ending.not_offered:
                self._refused(target, ending)
                continue
            failures += 1
            if ending.at_once:
                delay = self._rng.uniform(0, self._timings.backoff_first)
            else:
                delay = ending.retry_after or self._timings.backoff(failures, self._rng)
            self._set_status(
                SubscriptionState.RETRYING,
                reason=ending.reason,
                code=ending.code,
                detail=ending.detail,
                next_attempt=datetime.now(UTC) + timedelta(seconds=delay),
                expires=None,
            )
            await self._pause(delay)

    def retarget(self, targets: Sequence[Target]) -> None:
        """Subscribe at ``targets`` from now on; at once where that changes the address."""
        self._order.targets = tuple(targets)
        if self._order.next() != self._target:
            self._retargeted.set()
            self._wake.set()

    def _refused(self, target: Target, ending: Ending) -> None:
        """``target`` does not offer the package: pass it over for an hour."""
        hold = self._timings.not_offered_delay(self._rng)
        refusal = self._order.refuse(target, ending.reason, ending.code, ending.detail, hold)
        if (following := self._order.next()) is not None:
            _LOGGER.log(
                logging.DEBUG if refusal.repeated else logging.INFO,
                "The SIP server does not offer %s events at %s (%s %s); subscribing at %s",
                self.package,
                WHOSE[target.kind],
                ending.code or ending.reason,
                ending.detail or "",
                WHOSE[following.kind],
            )

    async def _wait_not_offered(self) -> None:
        """Every target refused: wait until the first refusal's hour is over, or a move."""
        self.answered.set()
        refusals = self._order.refusals()
        # What the last address in the order said (for message-summary: the mailbox's).
        latest = refusals[-1]
        next_attempt = min(refusal.until for refusal in refusals)
        if self.status.state is not SubscriptionState.NOT_OFFERED:
            _LOGGER.log(
                logging.DEBUG if all(refusal.repeated for refusal in refusals) else logging.INFO,
                "The SIP server does not offer %s events to this account (%s %s); "
                "asking again in an hour",
                self.package,
                latest.code or latest.reason,
                latest.detail or "",
            )
        self._set_status(
            SubscriptionState.NOT_OFFERED,
            reason=latest.reason,
            code=latest.code,
            detail=latest.detail,
            next_attempt=next_attempt,
            expires=None,
            target=latest.kind,
        )
        await self._pause((next_attempt - datetime.now(UTC)).total_seconds())

    async def _pause(self, delay: float) -> None:
        """Wait ``delay`` seconds, or until the subscription is to move."""
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(max(0.0, delay)):
                await self._retargeted.wait()

    async def _leave(self) -> bool:
        """End the dialog at the address left behind (it would go on notifying).

        Whether the subscription goes on: not when it was stopped meanwhile.
        """
        if self.established:
            await self._subscribe(0)
        return not self._closing

    async def _subscribe_once(self, target: Target) -> Ending:
        """One subscription dialog at ``target``, from the first SUBSCRIBE to its end."""
        self._new_dialog()
        self._resource = target.uri
        self._set_status(
            SubscriptionState.SUBSCRIBING,
            reason=None,
            code=None,
            detail=None,
            target=target.kind,
        )
        response = await self._subscribe(self._timings.expires)
        if isinstance(response, Ending):
            return response
        self.answered.set()
        if not 200 <= response.status < 300:  # noqa: PLR2004 - a 2xx answer
            return ending_for(response)
        self._accepted(response)
        self._order.accepted(target)
        loop = asyncio.get_running_loop()
        notify_deadline = loop.time() + self._timings.notify_timeout
        while True:
            if self._retargeted.is_set():
                return Ending(StatusReason.TERMINATED, detail="moved")
            if self._ending is not None:
                return self._ending
            now = loop.time()
            refresh_at = self._expires_at - self._granted + self._refresh_after
            if self._refresh_now or now >= refresh_at:
                self._refresh_now = False
                if (ending := await self._refresh()) is not None:
                    return ending
                continue
            if not self._notified and now >= notify_deadline:
                return Ending(StatusReason.NO_NOTIFY)
            wake_at = refresh_at if self._notified else min(refresh_at, notify_deadline)
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout_at(wake_at):
                    await self._wake.wait()

    async def _refresh(self) -> Ending | None:
        """Refresh in the dialog; None while the subscription lives on."""
        response = await self._subscribe(self._timings.expires)
        if isinstance(response, Ending):
            return response
        if 200 <= response.status < 300:  # noqa: PLR2004 - a 2xx answer
            self._accepted(response)
            return None
        return ending_for(response)

    async def unsubscribe(self) -> None:
        """Expires: 0 (RFC 6665 §4.1.2.3), when the server knows this subscription."""
        self._closing = True
        if self.established:
            await self._subscribe(0)

    def _new_dialog(self) -> None:
        self.call_id = secrets.token_hex(12)
        self.local_tag = secrets.token_hex(6)
        self.remote_tag = None
        self._cseq = self._rng.randint(1, 2**20)
        self._route_set = []
        self._remote_target = None
        self._ending = None
        self._refresh_now = False
        self._granted = float(self._timings.expires)
        self._refresh_after = self._timings.refresh_after(self._granted)
        self._expires_at = 0.0

    async def _subscribe(self, expires: int) -> SipResponse | Ending:
        def build() -> tuple[str, list[tuple[str, str]]]:
            self._cseq += 1
            to = f"<{self._resource}>"
            if self.remote_tag:
                to += f";tag={self.remote_tag}"
            headers = [(name, route) for route in self._route_set for name in ("Route",)]
            headers += [
                ("From", f"<{self._aor}>;tag={self.local_tag}"),
                ("To", to),
                ("Call-ID", self.call_id),
                ("CSeq", f"{self._cseq} SUBSCRIBE"),
                ("Contact", self._sender.contact),
                ("Event", self.package.value),
                ("Accept", self.package.content_type),
                ("Expires", str(expires)),
                ("Allow", "NOTIFY, OPTIONS"),
                ("Allow-Events", "dialog, message-summary"),
                ("User-Agent", self._user_agent),
            ]
            return self._remote_target or self._resource, headers

        try:
            return await self._sender.request("SUBSCRIBE", build)
        except TimeoutError:
            return Ending(StatusReason.NO_ANSWER)

    def _accepted(self, response: SipResponse) -> None:
        """A 2xx: the dialog's tag, route set and target, and the expiry granted."""
        to = _name_addr(response.headers.get("to"))
        if to is not None and to.tag and self.remote_tag is None:
            self.remote_tag = to.tag
        if self._remote_target is None:
            # RFC 3261 §12.1.2: the route set is the Record-Route in reverse.
            self._route_set = [
                route
                for value in reversed(response.headers.get_all("record-route"))
                for route in reversed(split_list(value))
            ]
        contact = _name_addr(response.headers.get("contact"))
        if contact is not None:
            self._remote_target = contact.uri
        granted = self._timings.expires
        if value := response.headers.get("expires"):
            with contextlib.suppress(ValueError):
                granted = min(parse_number(value), granted)
        self._set_expiry(granted)

    def _set_expiry(self, granted: int) -> None:
        self._granted = float(max(granted, 1))
        self._refresh_after = self._timings.refresh_after(self._granted)
        self._expires_at = asyncio.get_running_loop().time() + self._granted
        self._set_status(
            self.status.state, expires=datetime.now(UTC) + timedelta(seconds=self._granted)
        )

    def refresh_soon(self) -> None:
        """Refresh now: a document was missed, and a refresh brings the full state."""
        self._refresh_now = True
        self._wake.set()

    def on_notify(self, request: SipRequest, at: datetime) -> tuple[int, str]:
        """Answer a NOTIFY of this dialog; the status code and reason phrase."""
        if event_package(request.headers.get("event")) != self.package:
            return 489, "Bad Event"
        value = request.headers.get("subscription-state")
        try:
            state = parse_subscription_state(value or "")
        except ValueError:
            return 400, "Bad Subscription-State"
        sender = _name_addr(request.headers.get("from"))
        if sender is None or not sender.tag:
            return 400, "Bad From"
        if self.remote_tag is None:
            self.remote_tag = sender.tag
        elif sender.tag != self.remote_tag:
            return 481, "Subscription Does Not Exist"
        if (contact := _name_addr(request.headers.get("contact"))) is not None:
            self._remote_target = contact.uri
        if self._retargeted.is_set():
            # The dialog being left: what it says is the old address's.
            return 200, "OK"
        first = not self._notified
        self._notified = True
        answer = self._on_body(self.package, request, at, first)
        if state.state in ("active", "pending"):
            remaining = self._expires_at - asyncio.get_running_loop().time()
            if state.expires is not None and 0 < state.expires < remaining - 1:
                # The server shortened the subscription (RFC 6665 §4.2.2): refresh sooner.
                self._set_expiry(state.expires)
            self._set_status(
                SubscriptionState.ACTIVE if state.state == "active" else SubscriptionState.PENDING,
                reason=None,
                code=None,
                detail=None,
                last_notify=at,
            )
        else:
            # The state stays (a late NOTIFY of a dialog being ended must not clear when
            # the subscription is next tried, nor what it is waiting for).
            self._set_status(
                self.status.state, last_notify=at, next_attempt=self.status.next_attempt
            )
            if state.state == "terminated":
                self._ending = _terminated(state.reason, state.retry_after)
        self._wake.set()
        return answer

    def _set_status(self, state: SubscriptionState, **changes: Any) -> None:
        """Publish a changed status; ``next_attempt`` holds only while retrying."""
        changes.setdefault("next_attempt", None)
        status = replace(self.status, state=state, **changes)
        if status != self.status:
            self.status = status
            self._on_status(status)


def _terminated(reason: str | None, retry_after: int | None) -> Ending:
    if reason in _TERMINATED_NOT_OFFERED:
        return Ending(_TERMINATED_NOT_OFFERED[reason], detail=reason, not_offered=True)
    return Ending(
        StatusReason.TERMINATED,
        detail=reason,
        at_once=reason in _TERMINATED_AT_ONCE,
        retry_after=float(min(retry_after, _MAX_RETRY_AFTER)) if retry_after else None,
    )


def _name_addr(value: str | None) -> NameAddr | None:
    if value is None:
        return None
    try:
        return parse_name_addr(split_list(value)[0] if "," in value else value)
    except (ValueError, IndexError):
        return None
