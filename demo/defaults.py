"""Where the demo keeps its state, and the ports it listens on.

The standard library only: ``scripts/develop --help`` reads these before the
virtualenv exists.
"""

from __future__ import annotations

from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DEMO_CONFIG = REPO / "config"
DEMO_CERTS = REPO / ".sim-certs"
DEMO_HA_PORT = 8123
DEMO_SIM_PORT = 8443
