"""The demo's live events: a Kamailio beside the simulator, and calls that ring Alice.

``scripts/develop`` starts a Kamailio (demo/kamailio.py, the bed the tests use) when
it is installed, points Alice's live events at it through the real options flow and
writes the server's address to ``config/demo-sip.json``. ``scripts/ring`` (demo/ring.py)
reads that file and places a call from Bob to Alice through Kamailio with the scripted
SIP user agents (demo/sip_agent.py): her phone rings, and the integration hears it from
Kamailio at once, as it would from a SIP Thor platform.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
import contextlib
from pathlib import Path
from typing import Any

from demo.kamailio import ALICE, BOB, PACKAGES, KamailioBed, SipServer, unavailable_reason
from demo.sip_agent import SipAgent, SipError
from demo.stack import HomeAssistantApi, StackError
from simulator.certs import ensure_certificates

# Where the running demo says how to reach its Kamailio (in its configuration directory).
ADDRESS_FILE = "demo-sip.json"
INSTALL_HINT = f"sudo apt-get install {PACKAGES}"

# Alice's live entities, shown on the demo dashboard.
CALL_STATE = "sensor.alice_example_com_call_state"
RINGING = "binary_sensor.alice_example_com_ringing"
VOICEMAIL = "sensor.alice_example_com_voicemail_messages"
MESSAGE_WAITING = "binary_sensor.alice_example_com_message_waiting"
LIVE_ENTITIES = (CALL_STATE, RINGING, VOICEMAIL, MESSAGE_WAITING)

# The options form's fields of the live events (custom_components/sipthor/const.py).
LIVE_EVENTS_FIELD = "live_events"
SIP_SERVER_FIELD = "sip_server"


async def set_live_events(api: HomeAssistantApi, entry_id: str, sip_server: str | None) -> bool:
    """Turn the entry's live events on at ``sip_server``, or off (None), by the options flow.

    The other options keep the values the form shows (the entry's, or the defaults). New
    options reload the entry; the same ones leave it be (and the form is closed unsaved).
    Whether they were new.
    """
    flows = "/api/config/config_entries/options/flow"
    form: dict[str, Any] = await api.post(
        flows, {"handler": entry_id, "show_advanced_options": False}
    )
    if form.get("type") != "form":
        msg = f"The options flow did not show its form: {form}"
        raise StackError(msg)
    shown: dict[str, Any] = {}
    for field in form["data_schema"]:
        if "default" in field:
            shown[field["name"]] = field["default"]
        elif (suggested := (field.get("description") or {}).get("suggested_value")) is not None:
            shown[field["name"]] = suggested
    wanted = {**shown, LIVE_EVENTS_FIELD: sip_server is not None}
    wanted.pop(SIP_SERVER_FIELD, None)
    if sip_server is not None:
        wanted[SIP_SERVER_FIELD] = sip_server
    if wanted == shown:
        await api.request("DELETE", f"{flows}/{form['flow_id']}")
        return False
    result: dict[str, Any] = await api.post(f"{flows}/{form['flow_id']}", wanted)
    if result.get("type") != "create_entry":
        msg = f"The options flow did not save the live events: {result}"
        raise StackError(msg)
    return True


async def ring(
    server: SipServer,
    *,
    while_ringing: Callable[[], Awaitable[None]],
    while_talking: Callable[[], Awaitable[None]] | None = None,
    say: Callable[[str], None] = lambda _text: None,
) -> None:
    """Bob calls Alice through ``server``: her phone rings, then he gives up (missed).

    With ``while_talking``, her phone answers once ``while_ringing`` is over, and Bob
    hangs up when ``while_talking`` is (answered). Alice's phone is registered for the
    call only, over a connection of its own, and unregistered after it.
    """
    async with (
        await SipAgent.connect(server, ALICE) as phone,
        await SipAgent.connect(server, BOB) as bob,
    ):
        registered = await phone.register(expires=300)
        if registered.status != 200:  # noqa: PLR2004 - SIP's OK
            msg = f"Alice's phone could not register: {registered.first_line}"
            raise SipError(msg)
        try:
            call = await bob.call(ALICE)
            await call.wait_ringing()
            incoming = await phone.calls.get()
            say(f"Alice's phone rings: {incoming.caller}")
            await while_ringing()
            if while_talking is None:
                await call.cancel()
                say("Bob gave up: a missed call.")
                return
            # The phone's 200 waits for Bob's ACK: both at once.
            await asyncio.gather(incoming.answer(), call.wait_answered())
            say("Alice answered.")
            await while_talking()
            await call.hang_up()
            say("Bob hung up: an answered call.")
        finally:
            with contextlib.suppress(SipError, OSError, TimeoutError):
                await phone.register(expires=0)


async def set_voicemail(server: SipServer, new: int, old: int = 0) -> None:
    """Publish Alice's voicemail count, as a voice mailbox does (RFC 3842)."""
    async with await SipAgent.connect(server, ALICE) as mailbox:
        published = await mailbox.publish_mwi(new=new, old=old)
        if not 200 <= published.status < 300:  # noqa: PLR2004 - SIP's success class
            msg = f"The voicemail count was not published: {published.first_line}"
            raise SipError(msg)


@contextlib.asynccontextmanager
async def running_kamailio(
    certs_dir: Path, config_dir: Path, *, say: Callable[[str], None] = lambda _text: None
) -> AsyncIterator[KamailioBed | None]:
    """The demo's SIP server, its address in ``config_dir`` for scripts/ring.

    Without Kamailio: None, and one line saying how to install it. Its certificate
    comes from the simulator's server CA (in ``certs_dir``), which the demo's Home
    Assistant trusts as it trusts the settings page.
    """
    if (reason := unavailable_reason()) is not None:
        what = reason.split(" (")[0]
        say(f"No live events: {what}. Install Kamailio ({INSTALL_HINT}) and restart.")
        yield None
        return
    say("Starting Kamailio (the SIP server of the live events) ...")
    authority = ensure_certificates(certs_dir, {}).server_authority
    async with KamailioBed(authority) as bed:
        write_address(bed, config_dir)
        try:
            yield bed
        finally:
            forget_address(config_dir)


def address_file(config_dir: Path) -> Path:
    """Where the running demo writes its Kamailio's address."""
    return config_dir / ADDRESS_FILE


def write_address(bed: KamailioBed, config_dir: Path) -> None:
    """Tell ``scripts/ring`` where the demo's Kamailio is."""
    config_dir.mkdir(parents=True, exist_ok=True)
    bed.address.write(address_file(config_dir))


def forget_address(config_dir: Path) -> None:
    """The demo's Kamailio has stopped: no ``scripts/ring`` should try it."""
    address_file(config_dir).unlink(missing_ok=True)
