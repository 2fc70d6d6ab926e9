"""A local stand-in for a SIP Thor settings page, faithful to docs/settings-api.md.

Not shipped with the integration: it exists for tests, benchmarks and the demo.
"""

from .server import Counters, Faults, Hold, RecordedRequest, SettingsSimulator
from .state import Behaviour, Platform, SimulatedAccount, SimulatedCall, SimulatedVoucher

__all__ = [
    "Behaviour",
    "Counters",
    "Faults",
    "Hold",
    "Platform",
    "RecordedRequest",
    "SettingsSimulator",
    "SimulatedAccount",
    "SimulatedCall",
    "SimulatedVoucher",
]
