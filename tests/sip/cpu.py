"""CPU time of one call on this thread: what a parse costs the event loop, machine-load free.

Thread time does not grow when other processes take the cores (the suite must pass with
two ``yes > /dev/null`` beside it). The garbage collector is held off during the call:
a collection scans the whole test process's heap, which is not the code under test's
work (Home Assistant pays it wherever it falls).
"""

from __future__ import annotations

from collections.abc import Callable
import gc
import time

# The live channel's stall target.
STALL_LIMIT = 0.005


def cpu_time(call: Callable[[], object]) -> float:
    """Seconds of this thread's CPU that ``call()`` took; exceptions are swallowed."""
    enabled = gc.isenabled()
    gc.disable()
    began = time.thread_time()
    try:
        call()
    except Exception:  # noqa: BLE001, S110 - the caller checks the outcome separately
        pass
    finally:
        spent = time.thread_time() - began
        if enabled:
            gc.enable()
    return spent
