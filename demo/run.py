"""The demo, once ``python -m demo`` has read its arguments (demo/__main__.py)."""

from __future__ import annotations

import argparse
import asyncio
from pathlib import Path
import shutil
import signal
import sys
from typing import Any

from demo.live import LIVE_ENTITIES, running_kamailio, set_live_events
from demo.stack import (
    ACCOUNT,
    CERTIFICATE_ACCOUNT,
    DASHBOARD_PATH,
    DOMAIN,
    KEY_ENTITIES,
    TRACKED_CONFIG,
    Stack,
    StackError,
    ensure_demo_accounts,
    place_demo_calls,
    port_in_use,
    running_stack,
    wait_for_entities,
)


def _say(text: str = "") -> None:
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


def _reset(config_dir: Path) -> None:
    """Delete Home Assistant's state in the demo's configuration; keep tracked files."""
    for path in config_dir.iterdir():
        if path.name in TRACKED_CONFIG:
            continue
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
        else:
            path.unlink()


async def demo(args: argparse.Namespace) -> int:
    """Bring the demo up, print how to use it, run until Ctrl-C."""
    config_dir: Path = args.config
    if port_in_use(args.sim_port):
        _say(f"Port {args.sim_port} is taken: is another scripts/develop running?")
        return 1
    # Ctrl-C (SIGINT) or SIGTERM cancel this task: the context managers below then stop
    # Home Assistant and the simulator, even while they are still starting.
    main_task = asyncio.current_task()
    assert main_task is not None
    for signum in (signal.SIGINT, signal.SIGTERM):
        asyncio.get_running_loop().add_signal_handler(signum, main_task.cancel)
    # Kamailio first, so that it stops last: Home Assistant never sees it go away.
    async with running_kamailio(args.certs, config_dir, say=_say) as kamailio:
        _say(
            f"Starting the simulator on port {args.sim_port} and Home Assistant on {args.port} ..."
        )
        async with running_stack(
            config_dir, args.certs, ha_port=args.port, sim_port=args.sim_port
        ) as stack:
            api = stack.api
            timings = stack.timings
            _say(
                f"Home Assistant is up after {timings['running']:.1f} s "
                f"(HTTP after {timings['http']:.1f} s)."
            )
            entries = await ensure_demo_accounts(api, stack.simulator, say=_say)
            # Alice's live events: at the demo's Kamailio, or off without one (a stored
            # server of an earlier run would only fail to connect).
            server = kamailio.server_setting("tls") if kamailio is not None else None
            await set_live_events(api, entries[ACCOUNT], server)
            live = LIVE_ENTITIES if kamailio is not None else ()
            await wait_for_entities(api, (*KEY_ENTITIES, *live), process=stack.hass)
            _say("A call comes in and is answered, then one is missed ...")
            await place_demo_calls(api, stack.simulator, process=stack.hass)
            states = await api.states()
            device_id = await api.device_id(KEY_ENTITIES[0])
            entity_ids = await api.entity_ids()
            missing = {"frontend", DOMAIN} - await api.components()
            _summary(
                stack,
                entry_id=entries[ACCOUNT],
                device_id=device_id,
                entity_ids=entity_ids,
                states=states,
                missing=missing,
            )
            if kamailio is not None:
                _say("Ring Alice's phone (the dashboard shows it live): scripts/ring, or")
                _say("scripts/ring --answer; scripts/ring --voicemail 3 sets her voicemail count.")
            running = (
                "Home Assistant, the simulator and Kamailio"
                if kamailio is not None
                else "Home Assistant and the simulator"
            )
            _say(f"Ctrl-C stops {running}.")
            try:
                code = await stack.hass.wait()
            except asyncio.CancelledError:
                _say(f"\nStopping {running} ...")
                raise
    _say(f"Home Assistant exited ({code}); see {stack.hass.log_file}.")
    return 1


def _summary(
    stack: Stack,
    *,
    entry_id: str,
    device_id: str,
    entity_ids: list[str],
    states: dict[str, dict[str, Any]],
    missing: set[str],
) -> None:
    url = stack.hass.url
    width = max(len(entity_id) for entity_id in entity_ids) if entity_ids else 40

    def shown(entity_id: str) -> str:
        state = states.get(entity_id)
        if state is None:
            return "(not yet)"
        if state["state"] in ("unknown", "unavailable"):
            return str(state["state"])
        unit = state["attributes"].get("unit_of_measurement") or ""
        return f"{state['state']} {unit}".strip()

    _say()
    rows = [
        ("Home Assistant", url),
        ("Login", f"{stack.owner.username} / {stack.owner.password}"),
        ("Dashboard", f"{url}/{DASHBOARD_PATH}"),
        ("Account device", f"{url}/config/devices/device/{device_id}"),
        ("Integration", f"{url}/config/integrations/integration/{DOMAIN} (entry {entry_id})"),
        ("Password page", f"{stack.simulator.digest_url} ({ACCOUNT})"),
        ("Certificate page", f"{stack.simulator.url} ({CERTIFICATE_ACCOUNT})"),
        ("Certificates", str(stack.simulator.certs.directory)),
        ("Log", str(stack.hass.log_file)),
    ]
    _say("SIP Thor demo")
    for label, value in rows:
        _say(f"  {label:<16} {value}")
    if missing:
        _say(f"  WARNING: not loaded: {', '.join(sorted(missing))} (see the log)")
    _say("  Entities:")
    ordered = [e for e in KEY_ENTITIES if e in entity_ids] + [
        e for e in entity_ids if e not in KEY_ENTITIES
    ]
    for entity_id in ordered:
        _say(f"    {entity_id:<{width}}  {shown(entity_id)}")
    _say()


def run(args: argparse.Namespace) -> int:
    """Run the demo with the arguments ``python -m demo`` read."""
    if args.reset and args.config.is_dir():
        _reset(args.config)
        _say(f"Removed Home Assistant's state from {args.config}.")
    try:
        return asyncio.run(demo(args))
    except StackError as err:
        _say(f"scripts/develop: {err}")
        return 1
    except (KeyboardInterrupt, asyncio.CancelledError):
        _say("Stopped.")
        return 0
