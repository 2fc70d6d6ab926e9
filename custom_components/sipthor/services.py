"""Actions: call forwarding, do not disturb with a duration, a new alias."""

from __future__ import annotations

from typing import Final

from homeassistant.config_entries import ConfigEntryState
from homeassistant.core import HomeAssistant, ServiceCall, callback
from homeassistant.exceptions import ServiceValidationError
from homeassistant.helpers import config_validation as cv
import voluptuous as vol

from .api import MOBILE_NUMBER, VOICE_MAILBOX, ForwardingCondition
from .const import ATTR_CONFIG_ENTRY_ID, DOMAIN
from .coordinator import SipThorConfigEntry, Source
from .helpers import translated_errors
from .validation import alias_username, dnd_minutes, forwarding_target

SERVICE_SET_CALL_FORWARDING: Final = "set_call_forwarding"
SERVICE_ENABLE_DND: Final = "enable_dnd"
SERVICE_ADD_ALIAS: Final = "add_alias"

ATTR_DURATION: Final = "duration"
ATTR_USERNAME: Final = "username"
# Action fields, named for what they mean, and the condition each sets.
FORWARDING_FIELDS: Final = {
    "always": ForwardingCondition.ALWAYS,
    "busy": ForwardingCondition.BUSY,
    "no_answer": ForwardingCondition.NO_ANSWER,
    "not_online": ForwardingCondition.NOT_ONLINE,
    "unavailable": ForwardingCondition.UNAVAILABLE,
}

_ENTRY: dict[vol.Marker, object] = {vol.Required(ATTR_CONFIG_ENTRY_ID): cv.string}
SET_CALL_FORWARDING_SCHEMA: Final = vol.Schema(
    _ENTRY | {vol.Optional(name): forwarding_target(name) for name in FORWARDING_FIELDS}
)
ENABLE_DND_SCHEMA: Final = vol.Schema(_ENTRY | {vol.Optional(ATTR_DURATION): dnd_minutes})
ADD_ALIAS_SCHEMA: Final = vol.Schema(_ENTRY | {vol.Required(ATTR_USERNAME): alias_username})


def _entry(call: ServiceCall) -> SipThorConfigEntry:
    """The loaded SIP Thor entry the action names."""
    entry_id: str = call.data[ATTR_CONFIG_ENTRY_ID]
    entry: SipThorConfigEntry | None = call.hass.config_entries.async_get_entry(entry_id)
    if entry is None or entry.domain != DOMAIN:
        raise ServiceValidationError(
            translation_domain=DOMAIN,
            translation_key="invalid_config_entry",
            translation_placeholders={"config_entry_id": entry_id},
        )
    if entry.state is not ConfigEntryState.LOADED:
        raise ServiceValidationError(
            translation_domain=DOMAIN,
            translation_key="unloaded_config_entry",
            translation_placeholders={"title": entry.title},
        )
    return entry


async def _set_call_forwarding(call: ServiceCall) -> None:
    entry = _entry(call)
    runtime = entry.runtime_data
    targets = {
        condition: call.data[name]
        for name, condition in FORWARDING_FIELDS.items()
        if name in call.data
    }
    if not targets:
        raise ServiceValidationError(
            translation_domain=DOMAIN, translation_key="no_forwarding_condition"
        )
    async with translated_errors(call.hass, entry):
        # The server stores either keyword without checking that it means anything.
        if VOICE_MAILBOX in targets.values() and await runtime.client.get_voicemail() is None:
            raise ServiceValidationError(
                translation_domain=DOMAIN, translation_key="no_voice_mailbox"
            )
        if MOBILE_NUMBER in targets.values():
            identity = await runtime.client.get_identity()
            if not identity.mobile_number:
                raise ServiceValidationError(
                    translation_domain=DOMAIN, translation_key="no_mobile_number"
                )
        await runtime.client.set_call_forwarding(targets)
    await runtime.slow.async_refresh_sources(Source.CALL_FORWARDING)


async def _enable_dnd(call: ServiceCall) -> None:
    entry = _entry(call)
    runtime = entry.runtime_data
    duration: int | None = call.data.get(ATTR_DURATION)
    async with translated_errors(call.hass, entry):
        await runtime.client.set_dnd_on(duration)
    runtime.store.async_remember_dnd(without_end=duration is None)
    await runtime.fast.async_refresh_sources(Source.ACCEPT_RULES)


async def _add_alias(call: ServiceCall) -> None:
    entry = _entry(call)
    runtime = entry.runtime_data
    username: str = call.data[ATTR_USERNAME]
    async with translated_errors(call.hass, entry):
        await runtime.client.add_alias(username)
    await runtime.slow.async_refresh_sources(Source.ALIASES)


@callback
def async_setup_services(hass: HomeAssistant) -> None:
    """Register the actions (once, for every account)."""
    hass.services.async_register(
        DOMAIN, SERVICE_SET_CALL_FORWARDING, _set_call_forwarding, SET_CALL_FORWARDING_SCHEMA
    )
    hass.services.async_register(DOMAIN, SERVICE_ENABLE_DND, _enable_dnd, ENABLE_DND_SCHEMA)
    hass.services.async_register(DOMAIN, SERVICE_ADD_ALIAS, _add_alias, ADD_ALIAS_SCHEMA)
