"""The demo: ``scripts/develop`` runs ``python -m demo``.

The simulator with its demo accounts and a real Home Assistant running the integration
against it (demo/stack.py), the accounts added through the real config flow: Alice with
her SIP password, Bob with his certificate. Prints the URL, the login and the entities,
then runs until Ctrl-C. Running it again reuses config/ (owner, accounts, history);
``--reset`` starts afresh.

This module reads the arguments with the standard library alone, so that ``--help``
answers before ``scripts/setup`` has built the virtualenv; the demo itself is
demo/run.py.
"""

from __future__ import annotations

import argparse
from pathlib import Path
import sys

from demo.defaults import DEMO_CERTS, DEMO_CONFIG, DEMO_HA_PORT, DEMO_SIM_PORT


def arguments(argv: list[str] | None = None) -> argparse.Namespace:
    """The command line of ``scripts/develop``."""
    parser = argparse.ArgumentParser(
        prog="scripts/develop",
        description="Run Home Assistant with the SIP Thor integration against the simulator. "
        "Running it again reuses config/: the owner, the accounts and their history.",
    )
    parser.add_argument(
        "--port", type=int, default=DEMO_HA_PORT, help=f"Home Assistant's port ({DEMO_HA_PORT})"
    )
    parser.add_argument(
        "--sim-port",
        type=int,
        default=DEMO_SIM_PORT,
        help=f"the simulator's port ({DEMO_SIM_PORT}); the accounts remember it, so keep it "
        "once they exist, or --reset",
    )
    parser.add_argument("--config", type=Path, default=DEMO_CONFIG, help=argparse.SUPPRESS)
    parser.add_argument("--certs", type=Path, default=DEMO_CERTS, help=argparse.SUPPRESS)
    parser.add_argument(
        "--reset",
        action="store_true",
        help="start afresh: delete Home Assistant's state in config/ (owner, entries, history)",
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    """``scripts/develop``."""
    args = arguments(argv)
    # Only now what needs the virtualenv (aiohttp, Home Assistant's harness).
    from demo.run import run  # noqa: PLC0415

    return run(args)


if __name__ == "__main__":
    sys.exit(main())
