"""The live channel's times, in seconds: the defaults, and why they are what they are.

Tests and benchmarks shrink them to run the same behaviour in seconds instead of hours.
"""

from __future__ import annotations

from dataclasses import dataclass
import random


@dataclass(frozen=True, slots=True)
class LiveTimings:
    """Every time the channel waits for, or waits before."""

    # Asked for in SUBSCRIBE. Kamailio's presence module grants at most 3600 by default;
    # fewer refreshes cost less than the minutes a lost subscription would stay unnoticed,
    # which the connection's loss already reveals.
    expires: int = 3600
    # RFC 3261 §17.1.2.2: a non-INVITE transaction times out after 64*T1.
    transaction_timeout: float = 32.0
    # RFC 6665 §4.1.2.4: no NOTIFY within 64*T1 of the 2xx means the subscription failed
    # (typically: the server cannot reach the Contact; see the NAT notes).
    notify_timeout: float = 32.0
    connect_timeout: float = 10.0
    # RFC 5626 CRLF pings, at a random 80-100 % of this. Below the 120 s after which
    # Kamailio and OpenSIPS close an idle TCP connection by default, and below the
    # idle timeouts of most home routers. A Flow-Timer from the server replaces it.
    keepalive_interval: float = 60.0
    # RFC 5626 §4.4.1: a pong not back within 10 s means the flow failed.
    pong_timeout: float = 10.0
    # A message whose end does not arrive within this is taken as lost framing.
    message_timeout: float = 10.0
    # Jittered exponential back-off after a loss: 1 s, 2 s, 4 s … at most 5 minutes.
    backoff_first: float = 1.0
    backoff_max: float = 300.0
    # An event package the server does not offer is asked for again at most hourly.
    not_offered_retry: float = 3600.0
    # stop() waits this long for the unsubscriptions to be answered.
    stop_timeout: float = 2.0

    def backoff(self, attempt: int, rng: random.Random) -> float:
        """The wait before attempt ``attempt`` (1, 2, …): between half and all of the step.

        The randomness spreads the reconnections of many accounts after a server
        restart over seconds instead of one instant.
        """
        step = min(self.backoff_first * 2 ** max(0, attempt - 1), self.backoff_max)
        return rng.uniform(step / 2, step)

    def refresh_after(self, granted: float) -> float:
        """When to refresh a subscription granted for ``granted`` seconds.

        Leaves a transaction's time before it expires, and never refreshes more often
        than at half of what was granted.
        """
        return max(granted / 2, min(granted * 0.9, granted - self.transaction_timeout - 5))

    def not_offered_delay(self, rng: random.Random) -> float:
        """At least an hour (``not_offered_retry``), a tenth more at random."""
        return self.not_offered_retry * rng.uniform(1.0, 1.1)
