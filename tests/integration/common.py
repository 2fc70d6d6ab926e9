"""Helpers of the integration's tests (fixtures live in conftest.py)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
import contextlib
from datetime import timedelta
import socket
from typing import Any
from unittest.mock import patch

from freezegun.api import FrozenDateTimeFactory
from homeassistant.config_entries import SOURCE_USER, ConfigFlowResult
from homeassistant.const import CONF_URL, CONF_VERIFY_SSL, STATE_UNAVAILABLE, STATE_UNKNOWN
from homeassistant.core import Event, HomeAssistant
from homeassistant.data_entry_flow import FlowResultType
from pytest_homeassistant_custom_component.common import MockConfigEntry, async_fire_time_changed

from custom_components.sipthor.const import DOMAIN

type Upload = Callable[[bytes, str], Awaitable[str]]

# The collapsed section of the password forms that holds the URL and verification.
ADVANCED = "advanced"

CALL_EVENT = "event.alice_example_com_call"


def fired_calls(events: list[Event]) -> list[tuple[str, str | None]]:
    """The call events fired among ``events`` (state changes): (type, remote party)."""
    return [
        (
            event.data["new_state"].attributes["event_type"],
            event.data["new_state"].attributes["remote_party"],
        )
        for event in events
        if event.data["entity_id"] == CALL_EVENT
        and event.data["new_state"].state not in (STATE_UNKNOWN, STATE_UNAVAILABLE)
    ]


async def setup_entry(
    hass: HomeAssistant, entry: MockConfigEntry, *, all_enabled: bool = False
) -> bool:
    """Set up ``entry`` (added first if need be), and wait for what follows setup.

    ``all_enabled`` also enables the entities that are off by default.
    """
    if hass.config_entries.async_get_entry(entry.entry_id) is None:
        entry.add_to_hass(hass)
    with contextlib.ExitStack() as stack:
        if all_enabled:
            stack.enter_context(
                patch(
                    "homeassistant.helpers.entity.Entity.entity_registry_enabled_default",
                    return_value=True,
                )
            )
        result = await hass.config_entries.async_setup(entry.entry_id)
        # What setup did not fetch arrives in the background, right after it.
        await hass.async_block_till_done(wait_background_tasks=True)
    return result


async def advance(hass: HomeAssistant, freezer: FrozenDateTimeFactory, delta: timedelta) -> None:
    """Move the clock, fire what is due, and wait for the polls that started."""
    freezer.tick(delta)
    async_fire_time_changed(hass)
    # Coordinators poll in background tasks.
    await hass.async_block_till_done(wait_background_tasks=True)


async def start_certificate_flow(hass: HomeAssistant) -> ConfigFlowResult:
    """The user flow past its menu: the certificate form."""
    result = await hass.config_entries.flow.async_init(DOMAIN, context={"source": SOURCE_USER})
    assert result["type"] is FlowResultType.MENU
    assert result["menu_options"] == ["password", "certificate"]
    return await hass.config_entries.flow.async_configure(
        result["flow_id"], {"next_step_id": "certificate"}
    )


async def start_password_flow(hass: HomeAssistant) -> ConfigFlowResult:
    """The user flow past its menu: the password form."""
    result = await hass.config_entries.flow.async_init(DOMAIN, context={"source": SOURCE_USER})
    assert result["type"] is FlowResultType.MENU
    return await hass.config_entries.flow.async_configure(
        result["flow_id"], {"next_step_id": "password"}
    )


async def start_reconfigure_flow(
    hass: HomeAssistant, entry: MockConfigEntry, method: str
) -> ConfigFlowResult:
    """Reconfiguration past its menu: the form of ``method`` (password or certificate)."""
    result = await entry.start_reconfigure_flow(hass)
    assert result["type"] is FlowResultType.MENU
    assert result["menu_options"] == ["reconfigure_password", "reconfigure_certificate"]
    return await hass.config_entries.flow.async_configure(
        result["flow_id"], {"next_step_id": f"reconfigure_{method}"}
    )


def shown(schema: Any, field: str) -> Any:
    """What a form shows in ``field`` (of the form or its advanced section) before typing."""
    for key, value in schema.schema.items():
        if key == field:
            if key.description and "suggested_value" in key.description:
                return key.description["suggested_value"]
            return key.default() if callable(key.default) else None
        if key == ADVANCED and field in (CONF_URL, CONF_VERIFY_SSL):
            return shown(value.schema, field)
    raise AssertionError(field)


def closed_port_url() -> str:
    """A settings page URL on a port nothing listens on."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"https://127.0.0.1:{port}/settings.phtml"
