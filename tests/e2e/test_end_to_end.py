"""The integration inside a real Home Assistant, driven only through its REST API.

Home Assistant runs as its own process; the simulator runs in the test's event loop,
so the test reads and changes the simulated platform directly.
"""

from __future__ import annotations

from typing import Any

import pytest

from demo.stack import (
    ACCOUNT,
    CERTIFICATE_ACCOUNT,
    DOMAIN,
    KEY_ENTITIES,
    Stack,
    add_account,
    wait_for,
    wait_for_entities,
)

pytestmark = pytest.mark.e2e

BALANCE = "sensor.alice_example_com_balance"
DND = "switch.alice_example_com_do_not_disturb"
NOT_ONLINE = "select.alice_example_com_forward_when_not_online"
ALWAYS = "select.alice_example_com_forward_all_calls"
NIGHT = "automation.do_not_disturb_at_night_demo"
LOW_BALANCE = "automation.warn_when_the_balance_runs_low_demo"
BOB_BALANCE = "sensor.bob_example_com_balance"
NEW_PASSWORD = "alice-new-sip-password"


async def _state(stack: Stack, entity_id: str) -> str | None:
    state = await stack.api.state(entity_id)
    return None if state is None else str(state["state"])


async def _until_state(stack: Stack, entity_id: str, expected: str, timeout: float = 30) -> None:
    async def reached() -> bool:
        return await _state(stack, entity_id) == expected

    await wait_for(
        reached, timeout=timeout, what=f"{entity_id} to be {expected!r}", process=stack.hass
    )


async def _reauth_flows(stack: Stack) -> list[dict[str, Any]]:
    return [
        flow
        for flow in await stack.api.flows_in_progress()
        if flow["handler"] == DOMAIN and flow["context"].get("source") == "reauth"
    ]


async def test_account_in_a_real_home_assistant(stack: Stack) -> None:
    # The demo automations would act on their own at 22:00 and 07:00: not in this test.
    for automation in (NIGHT, LOW_BALANCE):
        assert await _state(stack, automation) == "on", f"{automation} did not load"
    await stack.api.call("automation", "turn_off", {"entity_id": NIGHT})

    # Alice signs in with her SIP password; every entity and action works so.
    entry_id = await _config_flow(stack)
    await _states(stack)
    await _dnd_switch(stack)
    await _forwarding(stack, entry_id)
    await _low_balance(stack)
    bob_entry_id = await _certificate_account(stack)
    # Nothing so far made the integration log an error, or the password.
    errors = [line for line in stack.hass.errors() if "sipthor" in line]
    assert not errors, "\n".join(errors)
    password = stack.simulator.platform.accounts[ACCOUNT].password
    assert password not in stack.hass.tail(100_000)
    await _password_reauthentication(stack, entry_id)
    await _reauthentication(stack, bob_entry_id)
    assert NEW_PASSWORD not in stack.hass.tail(100_000)


async def _config_flow(stack: Stack) -> str:
    """The config flow, as the frontend drives it: the menu, then the password form."""
    result = await add_account(stack.api, stack.simulator)
    assert result["title"] == ACCOUNT
    entry_id = str(result["result"]["entry_id"])
    (entry,) = await stack.api.entries()
    assert entry["entry_id"] == entry_id
    assert entry["state"] == "loaded"
    assert DOMAIN in await stack.api.components()
    # Signed in on the Digest page, not with a certificate.
    assert stack.simulator.counters.last("get_identity").authorization.startswith("Digest ")
    return entry_id


async def _certificate_account(stack: Stack) -> str:
    """A second account beside the first, with its certificate uploaded as the frontend does."""
    result = await add_account(
        stack.api, stack.simulator, account=CERTIFICATE_ACCOUNT, method="certificate"
    )
    assert result["title"] == CERTIFICATE_ACCOUNT
    states = await wait_for_entities(stack.api, (BOB_BALANCE,), process=stack.hass)
    assert states[BOB_BALANCE]["state"] != "unknown"
    assert "sensor.bob_example_com_certificate_expiry" in await stack.api.entity_ids()
    # Alice, who signs in with her password, has no certificate to expire.
    assert "sensor.alice_example_com_certificate_expiry" not in await stack.api.entity_ids()
    return str(result["result"]["entry_id"])


async def _states(stack: Stack) -> None:
    """States over the REST API: the demo account as the simulator holds it."""
    states = await wait_for_entities(stack.api, process=stack.hass)
    assert states[BALANCE]["state"] == "12.3456"
    assert states[BALANCE]["attributes"]["unit_of_measurement"] == "EUR"
    assert states["binary_sensor.alice_example_com_registered"]["state"] == "on"
    assert states["sensor.alice_example_com_registered_devices"]["state"] == "2"
    assert states[DND]["state"] == "off"
    assert states["sensor.alice_example_com_last_missed_caller"]["state"] == "Bob de Vries"
    assert states["select.alice_example_com_forward_when_busy"]["state"] == "voice_mailbox"
    assert set(KEY_ENTITIES) <= set(await stack.api.entity_ids())


async def _dnd_switch(stack: Stack) -> None:
    """The DND switch, through the service API: the simulator's accept rules change."""
    account = stack.simulator.platform.accounts[ACCOUNT]
    await stack.api.call("switch", "turn_on", {"entity_id": DND})
    await _until_state(stack, DND, "on")
    assert account.temporary_groups == ["nobody"]
    assert account.dnd_until is None
    await stack.api.call("switch", "turn_off", {"entity_id": DND})
    await _until_state(stack, DND, "off")
    assert account.temporary_groups == ["everybody"]


async def _forwarding(stack: Stack, entry_id: str) -> None:
    """Forwarding through a select, then the action: stored on the simulator, read back."""
    account = stack.simulator.platform.accounts[ACCOUNT]
    # What a dashboard card does: select.select_option over the service API.
    await stack.api.call(
        "select", "select_option", {"entity_id": ALWAYS, "option": "mobile_number"}
    )
    assert account.forwarding["FUNC"] == "sip:+31612345678@example.com"
    await _until_state(stack, ALWAYS, "mobile_number")
    await stack.api.call("select", "select_option", {"entity_id": ALWAYS, "option": "off"})
    assert account.forwarding.get("FUNC") is None
    await _until_state(stack, ALWAYS, "off")
    # An option the select does not offer: a translated refusal, nothing sent.
    answer = await stack.api.ws_call(
        "select", "select_option", {"entity_id": ALWAYS, "option": "bob@example.com"}
    )
    assert not answer["success"]
    assert answer["error"]["translation_key"] == "not_valid_option"
    assert account.forwarding.get("FUNC") is None

    await stack.api.call(
        DOMAIN,
        "set_call_forwarding",
        {"config_entry_id": entry_id, "not_online": "bob@example.com"},
    )
    assert account.forwarding["FNOL"] == "sip:bob@example.com"
    assert account.forwarding["FBUS"] == "<voice-mailbox>"
    # A target set by the action is the select's state, and one more of its options.
    await _until_state(stack, NOT_ONLINE, "bob@example.com")
    state = await stack.api.state(NOT_ONLINE)
    assert state is not None
    assert state["attributes"]["options"] == [
        "off",
        "voice_mailbox",
        "mobile_number",
        "bob@example.com",
    ]
    # A bad target, as the frontend calls actions: a translated error, nothing changed.
    answer = await stack.api.ws_call(
        DOMAIN, "set_call_forwarding", {"config_entry_id": entry_id, "busy": "<other>"}
    )
    assert not answer["success"]
    assert answer["error"]["translation_key"] == "unknown_keyword"
    assert "<other> is not a forwarding target" in answer["error"]["message"]
    assert account.forwarding["FBUS"] == "<voice-mailbox>"


async def _low_balance(stack: Stack) -> None:
    """The low-balance blueprint in Home Assistant itself: the balance drops below 5."""
    stack.simulator.platform.accounts[ACCOUNT].balance = 2.5
    await stack.api.call("homeassistant", "update_entity", {"entity_id": BALANCE})
    await _until_state(stack, BALANCE, "2.5")

    async def warned() -> bool:
        state = await stack.api.state(LOW_BALANCE)
        return state is not None and state["attributes"].get("last_triggered") is not None

    await wait_for(warned, timeout=30, what="the low-balance automation", process=stack.hass)


async def _password_reauthentication(stack: Stack, entry_id: str) -> None:
    """The SIP password changes on the platform; the entry asks for the new one."""
    stack.simulator.platform.accounts[ACCOUNT].password = NEW_PASSWORD
    await stack.api.call("homeassistant", "update_entity", {"entity_id": BALANCE})

    async def asked() -> bool:
        return bool(await _reauth_flows(stack))

    await wait_for(asked, timeout=60, what="a reauthentication flow", process=stack.hass)
    await _until_state(stack, BALANCE, "unavailable")
    (flow,) = await _reauth_flows(stack)
    assert flow["step_id"] == "reauth_password"
    assert flow["context"]["entry_id"] == entry_id

    result = await stack.api.configure_flow(flow["flow_id"], {"password": NEW_PASSWORD})
    assert result["type"] == "abort", result
    assert result["reason"] == "reauth_successful"
    await _until_state(stack, BALANCE, "2.5")
    assert not await _reauth_flows(stack)


async def _reauthentication(stack: Stack, entry_id: str) -> None:
    """The simulator refuses the certificate; the entry asks for a new one.

    Refused at the TLS layer on new connections, and with the settings page's
    credentials error on connections still open.
    """
    balance = await _state(stack, BOB_BALANCE)
    faults = stack.simulator.faults
    faults.tls_reject = True
    faults.credentials_error = True
    await stack.api.call("homeassistant", "update_entity", {"entity_id": BOB_BALANCE})

    async def asked() -> bool:
        return bool(await _reauth_flows(stack))

    await wait_for(asked, timeout=60, what="a reauthentication flow", process=stack.hass)
    await _until_state(stack, BOB_BALANCE, "unavailable")
    (flow,) = await _reauth_flows(stack)
    assert flow["step_id"] == "reauth_confirm"
    assert flow["context"]["entry_id"] == entry_id

    # The user uploads a certificate the server takes again: the entry comes back.
    faults.tls_reject = False
    faults.credentials_error = False
    certificate = stack.simulator.client_certificate(f"{CERTIFICATE_ACCOUNT}.crt")
    file_id = await stack.api.upload(certificate.name, certificate.read_bytes())
    result = await stack.api.configure_flow(flow["flow_id"], {"certificate": file_id})
    assert result["type"] == "abort", result
    assert result["reason"] == "reauth_successful"
    assert balance is not None
    await _until_state(stack, BOB_BALANCE, balance)
    assert not await _reauth_flows(stack)
