"""``python -m simulator``: the banner's curl command must work as printed."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
import contextlib
import json
import os
from pathlib import Path
import re
import shlex
import shutil
import signal
import subprocess
import sys

import pytest

from simulator.__main__ import main, serve

ROOT = Path(__file__).parents[2]
BANNER_END = "Ctrl-C stops it."

type Served = Callable[[list[str]], AsyncIterator[str]]


async def run_shell(command: str) -> tuple[int, str]:
    """Run a command line as a user pastes it into a shell."""
    process = await asyncio.create_subprocess_shell(
        command, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    stdout, _stderr = await asyncio.wait_for(process.communicate(), timeout=20)
    assert process.returncode is not None
    return process.returncode, stdout.decode()


def curl_command(banner: str) -> str:
    (line,) = [line for line in banner.splitlines() if line.startswith("  try: ")]
    return line.removeprefix("  try: ")


@contextlib.asynccontextmanager
async def served(argv: list[str], capsys: pytest.CaptureFixture[str]) -> AsyncIterator[str]:
    """Run ``serve`` in this process until the block ends; yield what it printed."""
    stop = asyncio.Event()
    task = asyncio.create_task(serve(argv, stop=stop))
    printed = ""
    try:
        async with asyncio.timeout(10):
            while BANNER_END not in printed:
                await asyncio.sleep(0.01)
                assert not task.done(), task
                printed += capsys.readouterr().out
        yield printed
    finally:
        stop.set()
        await task


needs_curl = pytest.mark.skipif(
    shutil.which("curl") is None, reason="curl is not installed (apt-get install curl)"
)


@needs_curl
async def test_printed_curl_command_returns_json(
    sim_certs_dir: Path, socket_enabled: None, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["--port", "0", "--certs", str(sim_certs_dir)]
    async with served(argv, capsys) as banner:
        url = re.search(r"simulator at (https://\S+)", banner)
        assert url is not None
        assert re.fullmatch(r"https://127\.0\.0\.1:\d+/settings\.phtml", url.group(1))
        assert ":0/" not in url.group(1)
        for account, password, owner in (
            ("alice@example.com", "alice-sip-password", 1001),
            ("bob@example.com", "bob-sip-password", 1001),
            ("carol@example.net", "carol-sip-password", 2002),
        ):
            assert (
                f"{account}.crt (PEM), {account}.p12 (password {password}), owner-{owner}.crt"
            ) in banner
        command = curl_command(banner)
        assert "get_prepaid" in command
        (digest_command,) = [
            line.removeprefix("  or: ") for line in banner.splitlines() if line.startswith("  or: ")
        ]
        assert "--digest --user alice:alice-sip-password" in digest_command

        status, output = await run_shell(command)
        digest_status, digest_output = await run_shell(digest_command)

    assert status == digest_status == 0
    assert json.loads(output) == json.loads(digest_output)
    assert json.loads(output) == {"balance": 12.3456, "session_counter": 0}


@needs_curl
async def test_command_line_switches(
    sim_certs_dir: Path, socket_enabled: None, capsys: pytest.CaptureFixture[str]
) -> None:
    """--strict-owner refuses Alice's user@domain certificate, the owner certificate still
    works, and --legacy-monthly-usage answers get_monthly_usage."""
    argv = [
        "--port",
        "0",
        "--certs",
        str(sim_certs_dir),
        "--client-auth",
        "handshake",
        "--strict-owner",
        "--legacy-monthly-usage",
        "--dnd-expiry",
        "keep",
        "--history-timezone",
        "utc",
    ]
    async with served(argv, capsys) as banner:
        command = curl_command(banner)
        refused = await run_shell(command)
        owner_certificate = shlex.quote(str(sim_certs_dir / "owner-1001.crt"))
        alice_certificate = shlex.quote(str(sim_certs_dir / "alice@example.com.crt"))
        usage = await run_shell(
            command.replace(alice_certificate, owner_certificate).replace(
                "get_prepaid", "get_monthly_usage"
            )
        )

    assert refused == (0, "X.509 Credentials error")
    assert usage[0] == 0
    assert json.loads(usage[1]) == {"calls": 37, "price": 4.1875}


def test_help_lists_the_switches(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as caught:
        main(["--help"])

    assert caught.value.code == 0
    out = capsys.readouterr().out
    for switch in ("--client-auth", "--strict-owner", "--dnd-expiry", "--legacy-monthly-usage"):
        assert switch in out


def test_python_dash_m_stops_on_ctrl_c(sim_certs_dir: Path) -> None:
    """The real command: it serves until SIGINT and then exits cleanly."""
    process = subprocess.Popen(  # noqa: S603 - our own interpreter and module
        [sys.executable, "-m", "simulator", "--port", "0", "--certs", str(sim_certs_dir)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        assert process.stdout is not None
        lines = []
        for line in process.stdout:
            lines.append(line)
            if BANNER_END in line:
                break
        assert any(line.startswith("SIP Thor settings page simulator at") for line in lines)
        # The banner is printed once Ctrl-C works.
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=20) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
