"""``python -m simulator``: serve the simulated settings page until interrupted.

Two pages share the accounts: the certificate page, and the Digest page that signs in
with the SIP user name (or ``user@domain``) and the SIP password the banner lists.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
from pathlib import Path
import shlex
import signal
import sys

from .server import SettingsSimulator
from .state import Behaviour, Platform


def _arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m simulator",
        description="Serve a simulated SIP Thor settings page over TLS, signed in with a "
        "client certificate or, on the Digest page, with the SIP password.",
    )
    parser.add_argument(
        "--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)"
    )
    parser.add_argument("--port", type=int, default=8443, help="port (default 8443; 0 picks one)")
    parser.add_argument(
        "--certs",
        type=Path,
        default=Path(".sim-certs"),
        help="directory for the CAs and certificates, created and reused (default .sim-certs)",
    )
    parser.add_argument(
        "--client-auth",
        choices=("post-handshake", "handshake"),
        default="post-handshake",
        help="ask for the client certificate after the request, as Apache does (default), "
        "or during the handshake",
    )
    parser.add_argument(
        "--strict-owner",
        action="store_true",
        help=(
            "refuse certificates whose CN is user@domain (owner 0; "
            "docs/settings-api.md §9 question 2)"
        ),
    )
    parser.add_argument(
        "--dnd-expiry",
        choices=("reset", "keep"),
        default="reset",
        help="after a timed DND: put 'everybody' back (default) or keep 'nobody' with 0 minutes",
    )
    parser.add_argument(
        "--history-timezone",
        choices=("account", "utc"),
        default="account",
        help="zone of the call-history times (default: the account's own)",
    )
    parser.add_argument(
        "--legacy-monthly-usage",
        action="store_true",
        help="answer get_monthly_usage as CDRTool did before 2022 instead of HTTP 500",
    )
    return parser.parse_args(argv)


async def serve(argv: list[str] | None = None, stop: asyncio.Event | None = None) -> None:
    """Serve until SIGINT or SIGTERM, or until ``stop`` is set (tests)."""
    args = _arguments(argv)
    behaviour = Behaviour(
        owner_zero_matches_any=not args.strict_owner,
        dnd_expiry=args.dnd_expiry,
        history_timezone=args.history_timezone,
        legacy_monthly_usage=args.legacy_monthly_usage,
    )
    simulator = SettingsSimulator(
        args.certs,
        host=args.host,
        port=args.port,
        platform=Platform(behaviour=behaviour),
        client_auth=args.client_auth,
    )
    await simulator.start()
    # Handlers first, so that the banner's "Ctrl-C stops it." holds once it is printed.
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(signum, stop.set)
    certs = simulator.certs.directory
    account = "alice@example.com"
    # The platform's certificates are RSA-1024/MD5, which curl's OpenSSL refuses to
    # load at its default security level; the configuration file lowers it for curl.
    curl = " ".join(
        [
            f"OPENSSL_CONF={shlex.quote(str(simulator.certs.legacy_openssl_conf))}",
            "curl",
            "--cacert",
            shlex.quote(str(simulator.certs.server_ca)),
            "--cert",
            shlex.quote(str(certs / f"{account}.crt")),
            shlex.quote(f"{simulator.url}?action=get_prepaid&account={account}"),
        ]
    )
    print(f"SIP Thor settings page simulator at {simulator.url}", flush=True)
    print(f"  certificates in {certs}:", flush=True)
    print(
        f"    server CA (verify the server with it)  {simulator.certs.server_ca.name}", flush=True
    )
    for address, account_state in simulator.platform.accounts.items():
        print(
            f"    {address:<22} {address}.crt (PEM), {address}.p12 "
            f"(password {account_state.password}), owner-{account_state.owner}.crt",
            flush=True,
        )
    print(f"  try: {curl}", flush=True)
    user, _, domain = account.partition("@")
    password = simulator.platform.accounts[account].password
    curl_digest = " ".join(
        [
            "curl --digest --user",
            shlex.quote(f"{user}:{password}"),
            "--cacert",
            shlex.quote(str(simulator.certs.server_ca)),
            shlex.quote(f"{simulator.digest_url}?action=get_prepaid&realm={domain}"),
        ]
    )
    print(
        f"  Digest page at {simulator.digest_url}: the SIP user name and password above",
        flush=True,
    )
    print(f"  or: {curl_digest}", flush=True)
    print("  Ctrl-C stops it.", flush=True)
    try:
        await stop.wait()
    finally:
        for signum in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError):
                loop.remove_signal_handler(signum)
        await simulator.stop()


def main(argv: list[str] | None = None) -> int:
    """Run the simulator until SIGINT or SIGTERM."""
    asyncio.run(serve(argv))
    return 0


if __name__ == "__main__":
    sys.exit(main())
