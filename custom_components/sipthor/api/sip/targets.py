"""Where a subscription goes: its addresses in the order tried, and their refusals.

message-summary goes to the voicemail URI when the owner gives one, and only there.
Otherwise it goes, as dialog does, to the account's own address; where that does not
offer it (489, 403, 404 …), to the account's mailbox (the settings page's
``get_voicemail`` names it). An address that refused the package is passed over for an
hour; the channel keeps the refusals, so a reconnection asks no sooner. A refusal that
repeats the address's last answer is marked so: the log tells it once, not every hour.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Final

from .status import EventPackage, StatusReason, SubscriptionTarget

# How the log names each target (the address itself is personal).
WHOSE: Final = {
    SubscriptionTarget.ACCOUNT: "the account's address",
    SubscriptionTarget.MAILBOX: "the mailbox's address",
    SubscriptionTarget.VOICEMAIL_URI: "the voicemail URI",
}


@dataclass(frozen=True, slots=True)
class Target:
    """One address to subscribe at, and whose it is."""

    kind: SubscriptionTarget
    uri: str


@dataclass(frozen=True, slots=True)
class Refusal:
    """An address that does not offer the package: what it said, and until when.

    ``repeated``: the address said the same when last asked (and accepted nothing since).
    """

    kind: SubscriptionTarget
    reason: StatusReason
    code: int | None
    detail: str | None
    until: datetime
    repeated: bool = False


# By URI, per package.
type Refusals = dict[str, Refusal]


def targets_for(
    package: EventPackage, aor: str, *, voicemail_uri: str | None, mailbox: str | None
) -> tuple[Target, ...]:
    """Where ``package`` is subscribed for the account ``aor``, in the order tried."""
    account = Target(SubscriptionTarget.ACCOUNT, aor)
    if package is not EventPackage.MESSAGE_SUMMARY:
        return (account,)
    if voicemail_uri is not None:
        return (Target(SubscriptionTarget.VOICEMAIL_URI, voicemail_uri),)
    if mailbox is None or mailbox == aor:
        return (account,)
    return (account, Target(SubscriptionTarget.MAILBOX, mailbox))


class TargetOrder:
    """One subscription's addresses, in the order tried, with the refusals they gave."""

    def __init__(self, targets: Sequence[Target], refusals: Refusals) -> None:
        """Try ``targets`` in order; ``refusals`` are the earlier ones (updated here)."""
        self.targets = tuple(targets)
        self._refusals = refusals

    def next(self) -> Target | None:
        """The first target that has not refused the package within its hour."""
        now = datetime.now(UTC)
        for target in self.targets:
            refusal = self._refusals.get(target.uri)
            if refusal is None or refusal.until <= now:
                return target
        return None

    def refuse(
        self,
        target: Target,
        reason: StatusReason,
        code: int | None,
        detail: str | None,
        hold: float,
    ) -> Refusal:
        """``target`` does not offer the package: pass it over for ``hold`` seconds."""
        now = datetime.now(UTC)
        previous = self._refusals.get(target.uri)
        repeated = previous is not None and (previous.reason, previous.code) == (reason, code)
        # Expired refusals of other addresses go; this one's answer is compared first.
        for uri in [uri for uri, refusal in self._refusals.items() if refusal.until <= now]:
            del self._refusals[uri]
        until = now + timedelta(seconds=hold)
        self._refusals[target.uri] = Refusal(target.kind, reason, code, detail, until, repeated)
        return self._refusals[target.uri]

    def accepted(self, target: Target) -> None:
        """``target`` accepted a subscription: a later refusal from it is news again."""
        self._refusals.pop(target.uri, None)

    def refusals(self) -> list[Refusal]:
        """The refusals of the targets, in their order (when :meth:`next` found none)."""
        return [self._refusals[target.uri] for target in self.targets]
