"""The simulator in a process of its own, and a proxy that stands for the network.

Its TLS and HTTP work then runs neither on Home Assistant's loop nor in its process: it
counts in none of the stalls, CPU time or resident memory measured, as a real server's
would not. Nothing here imports Home Assistant (the process starts fresh and quickly).

Two models of a round trip L:

- the server model: the simulator holds every answer L seconds (the server's work);
- the network model: the proxy delays every byte L/2 each way, and the first bytes of a
  new connection one more L (the TCP handshake before them); TLS runs end to end through
  it, so a new connection pays its handshake, and the certificate the settings page asks
  for after the request, in round trips as it would on a network.
"""

from __future__ import annotations

import asyncio
from collections import Counter
import contextlib
import copy
from multiprocessing import get_context
from multiprocessing.connection import Connection
from pathlib import Path
import ssl
from typing import Any

from simulator import Platform, SettingsSimulator
from simulator.certs import ensure_certificates

ALICE = "alice@example.com"
# Apache's default KeepAliveTimeout: an idle connection is closed after 5 s.
APACHE_KEEPALIVE = 5.0
_STARTUP = 120.0


def add_alice_copies(platform: Platform, certs_dir: Path, count: int) -> list[str]:
    """Alice, plus ``count - 1`` copies of her with certificates of their own."""
    alice = platform.accounts[ALICE]
    addresses = [ALICE]
    for number in range(1, count):
        clone = copy.deepcopy(alice)
        clone.username = f"bench{number:02d}"
        clone.owner = alice.owner + 1000 + number
        platform.add_account(clone)
        addresses.append(clone.address)
    accounts = [platform.accounts[address] for address in addresses]
    ensure_certificates(
        certs_dir, {account.address: (account.owner, account.password) for account in accounts}
    )
    return addresses


class ServerProcess:
    """The simulator (and, on demand, the proxy) in a child process, asked by commands."""

    def __init__(self, certs_dir: Path, *, accounts: int = 1) -> None:
        """Serve Alice and ``accounts - 1`` copies, closing idle connections after 5 s."""
        spawn = get_context("spawn")
        self._commands, child = spawn.Pipe()
        self._process = spawn.Process(
            target=_serve, args=(str(certs_dir), accounts, child), name="bench-simulator"
        )
        self.url = ""
        self.addresses: list[str] = []

    def start(self) -> None:
        self._process.start()
        if not self._commands.poll(_STARTUP):
            msg = "The simulator's process did not start"
            raise RuntimeError(msg)
        self.url, self.addresses = self._commands.recv()

    def _ask(self, command: str, argument: Any = None) -> Any:
        self._commands.send((command, argument))
        return self._commands.recv()

    def set_latency(self, seconds: float) -> None:
        """The server model: every answer held ``seconds``."""
        self._ask("latency", seconds)

    def network(self, latency: float) -> str:
        """The network model: the URL of a proxy with round trip ``latency``."""
        url: str = self._ask("network", latency)
        return url

    def requests(self) -> Counter[str]:
        """The requests received so far, per action."""
        return Counter(self._ask("requests"))

    def handshakes(self) -> int:
        """The TLS handshakes so far."""
        count: int = self._ask("handshakes")
        return count

    def reset(self) -> None:
        """Count from zero."""
        self._ask("reset")

    def forwarding(self, address: str) -> dict[str, str]:
        """What the server holds as ``address``'s forwarding targets."""
        targets: dict[str, str] = self._ask("forwarding", address)
        return targets

    def stop(self) -> None:
        with contextlib.suppress(BrokenPipeError, EOFError):
            self._ask("stop")
        self._process.join(10)
        if self._process.is_alive():  # pragma: no cover - only when stopping hangs
            self._process.kill()


def _serve(certs_dir: str, accounts: int, commands: Connection) -> None:
    asyncio.run(_serve_until_stopped(Path(certs_dir), accounts, commands))


async def _serve_until_stopped(certs_dir: Path, accounts: int, commands: Connection) -> None:
    platform = Platform()
    addresses = add_alice_copies(platform, certs_dir, accounts)
    server = SettingsSimulator(certs_dir, platform=platform, keepalive_timeout=APACHE_KEEPALIVE)
    await server.start()
    proxy: DelayingProxy | None = None
    commands.send((server.url, addresses))
    loop = asyncio.get_running_loop()
    while True:
        command, argument = await loop.run_in_executor(None, commands.recv)
        answer: Any = None
        match command:
            case "latency":
                server.faults.latency = argument
            case "network":
                proxy = DelayingProxy(server.port, argument)
                answer = server.url.replace(f":{server.port}/", f":{await proxy.start()}/")
            case "requests":
                answer = dict(server.counters.requests)
            case "handshakes":
                answer = server.counters.handshakes
            case "reset":
                server.counters.reset()
            case "forwarding":
                answer = dict(platform.accounts[argument].forwarding)
            case "stop":
                break
        commands.send(answer)
    if proxy is not None:
        await proxy.stop()
    await server.stop()
    commands.send(None)


class DelayingProxy:
    """A TCP proxy on loopback that delays what passes as a network would."""

    def __init__(self, port: int, latency: float) -> None:
        """Forward to ``port``; a round trip takes ``latency``."""
        self._port = port
        self._latency = latency
        self._server: asyncio.Server | None = None
        self._connections: set[asyncio.Task[None]] = set()

    async def start(self) -> int:
        """Listen; the port it listens on."""
        self._server = await asyncio.start_server(self._on_connection, "127.0.0.1", 0)
        port: int = self._server.sockets[0].getsockname()[1]
        return port

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
        for task in self._connections:
            task.cancel()
        await asyncio.gather(*self._connections, return_exceptions=True)

    async def _on_connection(
        self, client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter
    ) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._connections.add(task)
        try:
            server_reader, server_writer = await asyncio.open_connection("127.0.0.1", self._port)
        except OSError:
            client_writer.close()
            self._connections.discard(task)
            return
        half = self._latency / 2
        try:
            await asyncio.gather(
                # The client's first bytes wait for the TCP handshake: one round trip.
                _carry(client_reader, server_writer, half, first=self._latency),
                _carry(server_reader, client_writer, half, first=0.0),
                return_exceptions=True,
            )
        finally:
            for writer in (client_writer, server_writer):
                writer.close()
            self._connections.discard(task)


async def _carry(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, delay: float, *, first: float
) -> None:
    """Copy ``reader`` to ``writer``, every piece ``delay`` late (the first ``first`` more)."""
    loop = asyncio.get_running_loop()
    pieces: asyncio.Queue[tuple[float, bytes]] = asyncio.Queue()

    async def deliver() -> None:
        while True:
            due, data = await pieces.get()
            await asyncio.sleep(max(0.0, due - loop.time()))
            if not data:
                if writer.can_write_eof():
                    with contextlib.suppress(OSError):
                        writer.write_eof()
                return
            writer.write(data)
            with contextlib.suppress(ConnectionError):
                await writer.drain()

    delivering = asyncio.create_task(deliver())
    extra = first
    with contextlib.suppress(ConnectionError):
        while data := await reader.read(64 * 1024):
            await pieces.put((loop.time() + delay + extra, data))
            extra = 0.0
    await pieces.put((loop.time() + delay, b""))
    await delivering


class ChallengeProcess:
    """A server in a child process that refuses every request with the same 401.

    The 401 carries ``challenges`` as its ``WWW-Authenticate`` values, byte for byte
    (several, huge, or not UTF-8), then the connection closes. The stall rows of the
    Digest challenges read it: a simulator in a thread would share the interpreter lock
    with Home Assistant's loop, and writing megabytes of headers there holds the loop
    up to the lock's switch interval (5 ms) whatever the client does.
    """

    def __init__(self, certs_dir: Path, challenges: tuple[bytes, ...]) -> None:
        """Serve with the simulator's server certificate in ``certs_dir``."""
        spawn = get_context("spawn")
        self._commands, child = spawn.Pipe()
        self._process = spawn.Process(
            target=_refuse, args=(str(certs_dir), challenges, child), name="bench-challenges"
        )
        self.port = 0

    def start(self) -> None:
        self._process.start()
        if not self._commands.poll(_STARTUP):
            msg = "The challenge server's process did not start"
            raise RuntimeError(msg)
        self.port = self._commands.recv()

    def stop(self) -> None:
        with contextlib.suppress(BrokenPipeError, EOFError):
            self._commands.send("stop")
            self._commands.recv()
        self._process.join(10)
        if self._process.is_alive():  # pragma: no cover - only when stopping hangs
            self._process.kill()


def _refuse(certs_dir: str, challenges: tuple[bytes, ...], commands: Connection) -> None:
    asyncio.run(_refuse_until_stopped(Path(certs_dir), challenges, commands))


async def _refuse_until_stopped(
    certs_dir: Path, challenges: tuple[bytes, ...], commands: Connection
) -> None:
    files = ensure_certificates(certs_dir, {})
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(files.server_certificate, files.server_key)
    refusal = (
        b"HTTP/1.1 401 Unauthorized\r\nContent-Length: 0\r\nConnection: close\r\n"
        + b"".join(b"WWW-Authenticate: " + value + b"\r\n" for value in challenges)
        + b"\r\n"
    )

    async def refuse(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError):
            await reader.readuntil(b"\r\n\r\n")
            writer.write(refusal)
            await writer.drain()
        writer.close()

    server = await asyncio.start_server(refuse, "127.0.0.1", 0, ssl=context)
    commands.send(server.sockets[0].getsockname()[1])
    await asyncio.get_running_loop().run_in_executor(None, commands.recv)
    server.close()
    commands.send(None)
