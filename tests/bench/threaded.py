"""The simulator serving from a thread of its own, for the stall benchmarks.

The stall rows (test_stalls.py) change the simulator's faults between requests, which a
simulator in another process (server_process.py) cannot take; a thread keeps its TLS and
HTTP work off Home Assistant's loop all the same, so it shows up neither as a stall there
nor in that thread's CPU time.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from pathlib import Path
import threading
import time
from typing import Any

from simulator import Platform, SettingsSimulator


class _RealTimeLoop(asyncio.SelectorEventLoop):
    """An event loop on the real monotonic clock, even while a test freezes time.

    The simulator's keep-alive and TLS timers then run in real time in its thread.
    freezegun replaces ``time.monotonic`` (and every module's reference to it) while a
    test freezes the clock; it leaves ``clock_gettime`` alone.
    """

    def time(self) -> float:
        return time.clock_gettime(time.CLOCK_MONOTONIC)


class ThreadedSimulator:
    """The simulator serving from a thread with its own event loop.

    Its TLS and HTTP work then never runs on Home Assistant's loop: it cannot show up as
    a stall there, nor in the Home Assistant thread's CPU time.
    """

    def __init__(
        self,
        certs_dir: Path,
        *,
        platform: Platform | None = None,
        keepalive_timeout: float | None = None,
    ) -> None:
        self.server = SettingsSimulator(
            certs_dir, platform=platform, keepalive_timeout=keepalive_timeout
        )
        self._loop = _RealTimeLoop()
        self._thread = threading.Thread(
            target=self._loop.run_forever, name="bench-simulator", daemon=True
        )

    def _run[T](self, coroutine: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop).result(timeout=60)

    async def _abort_connections(self) -> None:
        """Drop the open connections before the server closes.

        A TLS connection closed politely waits for the client's answer, and the client's
        loop is not running while a fixture ends: the connection would outlive the
        server, and Python 3.13.0 then fails in ``Server._detach`` when it is collected.
        """
        runner = self.server._runner
        if runner is not None and runner.server is not None:
            for handler in runner.server.connections:
                if handler.transport is not None:
                    handler.transport.abort()
        await asyncio.sleep(0)
        await asyncio.sleep(0)

    def start(self) -> None:
        self._thread.start()
        self._run(self.server.start())

    def stop(self) -> None:
        self._run(self._abort_connections())
        self._run(self.server.stop())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join()
        self._loop.close()
