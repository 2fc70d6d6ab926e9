"""``scripts/ring``: ring Alice's phone in the running demo, through its Kamailio.

Bob calls Alice; her phone rings for a few seconds, then Bob gives up (a missed call),
or, with ``--answer``, she answers and they talk a few seconds. ``--voicemail N``
instead sets her voicemail count to N new messages. The demo dashboard shows each as it
happens: the call state, the ringing sensor, the call event, the voicemail count.
"""

from __future__ import annotations

import argparse
import asyncio
from pathlib import Path
import sys

from demo.defaults import DEMO_CONFIG
from demo.kamailio import BedAddress
from demo.live import address_file, ring, set_voicemail
from demo.sip_agent import SipError


def _say(text: str) -> None:
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


def arguments(argv: list[str] | None = None) -> argparse.Namespace:
    """The command line of ``scripts/ring``."""
    parser = argparse.ArgumentParser(
        prog="scripts/ring",
        description="Ring Alice's phone in the running demo (scripts/develop): Bob calls "
        "her through the demo's Kamailio, and gives up (a missed call) unless --answer.",
    )
    parser.add_argument(
        "--answer", action="store_true", help="Alice answers; Bob hangs up after --talk seconds"
    )
    parser.add_argument(
        "--ring", type=float, default=5, metavar="SECONDS", help="how long it rings (5)"
    )
    parser.add_argument(
        "--talk", type=float, default=5, metavar="SECONDS", help="how long they talk (5)"
    )
    parser.add_argument(
        "--voicemail",
        type=int,
        metavar="N",
        help="instead of a call: set Alice's voicemail count to N new messages",
    )
    parser.add_argument("--config", type=Path, default=DEMO_CONFIG, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.voicemail is not None and args.voicemail < 0:
        parser.error("--voicemail takes a count of 0 or more")
    return args


async def _run(args: argparse.Namespace, server: BedAddress) -> None:
    if args.voicemail is not None:
        await set_voicemail(server, args.voicemail)
        _say(f"Alice has {args.voicemail} new voicemail message(s).")
        return

    async def ringing() -> None:
        await asyncio.sleep(args.ring)

    async def talking() -> None:
        await asyncio.sleep(args.talk)

    _say("Bob calls Alice ...")
    await ring(
        server, while_ringing=ringing, while_talking=talking if args.answer else None, say=_say
    )


def main(argv: list[str] | None = None) -> int:
    """``scripts/ring``."""
    args = arguments(argv)
    try:
        server = BedAddress.read(address_file(args.config))
    except (OSError, ValueError):
        _say(
            "scripts/ring: no demo with Kamailio is running: start scripts/develop (with "
            "Kamailio installed) first."
        )
        return 1
    try:
        asyncio.run(_run(args, server))
    except (SipError, OSError, TimeoutError) as err:
        _say(f"scripts/ring: the call failed: {err}")
        return 1
    except KeyboardInterrupt:
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
