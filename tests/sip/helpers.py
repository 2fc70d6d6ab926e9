"""What the live-channel tests share: a DNS table, short timings, an event recorder."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
import contextlib
from typing import Any

from custom_components.sipthor.api.sip import (
    ChannelStatus,
    EventPackage,
    LiveEvent,
    LiveTimings,
    SipLiveChannel,
    SrvRecord,
    StatusEvent,
    SubscriptionState,
)

# Generous: the suite must pass on a loaded machine. Nothing asserts how long it took.
WAIT = 30.0

# The channel's behaviour at a smaller scale: back-offs of 50 ms … 0.4 s, and so on.
FAST = LiveTimings(
    transaction_timeout=10.0,
    notify_timeout=10.0,
    connect_timeout=10.0,
    pong_timeout=5.0,
    message_timeout=1.0,
    backoff_first=0.05,
    backoff_max=0.4,
    stop_timeout=2.0,
)


class TableResolver:
    """DNS from a table: SRV records by name, addresses by host (127.0.0.1 by default)."""

    def __init__(
        self,
        srv: dict[str, list[SrvRecord]] | None = None,
        hosts: dict[str, list[str]] | None = None,
    ) -> None:
        self.srv_table = srv or {}
        self.hosts = hosts
        self.asked: list[str] = []

    async def srv(self, name: str) -> list[SrvRecord]:
        self.asked.append(name)
        return list(self.srv_table.get(name, []))

    async def addresses(self, host: str, port: int) -> list[str]:
        del port  # the table holds addresses only
        if self.hosts is None:
            return ["127.0.0.1"]
        if host not in self.hosts:
            raise OSError(f"no address for {host}")
        return self.hosts[host]


class Recorder:
    """Every event of a channel, and a way to wait until one (or a status) shows up."""

    def __init__(self, channel: SipLiveChannel) -> None:
        self.channel = channel
        self.events: list[LiveEvent] = []
        self._changed = asyncio.Event()
        self.remove = channel.add_listener(self._record)

    def _record(self, event: LiveEvent) -> None:
        self.events.append(event)
        self._changed.set()

    def of(self, kind: type[Any]) -> list[Any]:
        return [event for event in self.events if isinstance(event, kind)]

    @property
    def statuses(self) -> list[ChannelStatus]:
        return [event.status for event in self.of(StatusEvent)]

    async def until(self, predicate: Callable[[], Any], timeout: float = WAIT) -> Any:
        """Until ``predicate()`` is true: checked at each event, and every 50 ms."""
        async with asyncio.timeout(timeout):
            while not (result := predicate()):
                self._changed.clear()
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(0.05):
                        await self._changed.wait()
        return result

    async def active(self, *packages: EventPackage, timeout: float = WAIT) -> None:
        """Until every package (default: all the channel has) is active."""
        wanted = packages or tuple(self.channel.status.subscriptions)

        def all_active() -> bool:
            subscriptions = self.channel.status.subscriptions
            return all(subscriptions[p].state is SubscriptionState.ACTIVE for p in wanted)

        await self.until(all_active, timeout)


class CountingProxy:
    """A TCP relay on 127.0.0.1 to ``target_port``, counting the bytes each way.

    To the server, every connection comes from the relay's own port: the client's
    address is rewritten, as a home router's NAT does. TLS passes through untouched.
    """

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.port = 0
        self.up = 0  # client → server
        self.down = 0  # server → client
        self.connections = 0
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._writers: list[asyncio.StreamWriter] = []

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._relay, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
        for writer in self._writers:
            writer.transport.abort()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._server is not None:
            await self._server.wait_closed()

    async def _relay(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            upstream_reader, upstream_writer = await asyncio.open_connection(
                "127.0.0.1", self.target_port
            )
        except OSError:
            writer.transport.abort()
            return
        self._writers += [writer, upstream_writer]

        async def pipe(
            source: asyncio.StreamReader, sink: asyncio.StreamWriter, upward: bool
        ) -> None:
            try:
                while data := await source.read(65536):
                    if upward:
                        self.up += len(data)
                    else:
                        self.down += len(data)
                    sink.write(data)
            except OSError:
                pass
            finally:
                sink.transport.abort()

        for task in (
            asyncio.create_task(pipe(reader, upstream_writer, True)),
            asyncio.create_task(pipe(upstream_reader, writer, False)),
        ):
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
