"""When the requests of a password client may be sent (HTTP Digest, docs/settings-api.md §2.5)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
import contextlib

from .digest import DigestAuth


class DigestTurn:
    """One request's turn to send: whether it was alone in flight until its answer came."""

    def __init__(self, turns: DigestTurns) -> None:
        """Begin a turn of ``turns``."""
        self._turns = turns
        self._alone_from_start = turns.sending == 1
        self._started = turns.started

    @property
    def alone(self) -> bool:
        """Nothing else was sent since this turn began, and nothing was in flight then."""
        return self._alone_from_start and self._turns.started == self._started


class DigestTurns:
    """When requests of a password client may be sent.

    Before the first challenge, one request goes unauthenticated and the others wait
    for the challenge it brings (at setup one 401, not three). A request sent again
    after a refusal that did not judge the password goes alone: nothing else is in
    flight, so a server that counts ``nc`` strictly cannot see it out of order.
    Otherwise requests go side by side, up to :data:`MAX_IN_FLIGHT`.
    """

    def __init__(self, auth: DigestAuth | None) -> None:
        """Pace the requests that answer ``auth``'s challenges (None: no password)."""
        self._auth = auth
        self._changed = asyncio.Condition()
        self.sending = 0
        self.started = 0
        self._probing = False
        self._alone = False
        self._waiting_alone = 0
        # Refusals that judged the password: one answers for every request refused with it.
        self.verdicts = 0

    def _may_start(self, *, alone: bool) -> bool:
        if self._alone or self._probing:
            return False
        if alone:
            return self.sending == 0
        return not self._waiting_alone

    @contextlib.asynccontextmanager
    async def turn(self, *, alone: bool) -> AsyncIterator[DigestTurn]:
        """Wait for a turn to send (``alone``: with nothing else in flight), and take it."""
        async with self._changed:
            self._waiting_alone += alone
            try:
                await self._changed.wait_for(lambda: self._may_start(alone=alone))
            finally:
                self._waiting_alone -= alone
            probing = self._auth is not None and self._auth.challenge is None
            self._probing = probing
            self._alone = alone
            self.sending += 1
            self.started += 1
            turn = DigestTurn(self)
        try:
            yield turn
        finally:
            async with self._changed:
                self.sending -= 1
                if probing:
                    self._probing = False
                if alone:
                    self._alone = False
                self._changed.notify_all()
