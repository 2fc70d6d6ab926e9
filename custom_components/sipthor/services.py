"""Actions: call forwarding, do not disturb with a duration, a new alias, a top-up."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Final

from homeassistant.config_entries import ConfigEntryState
from homeassistant.core import (
    HomeAssistant,
    ServiceCall,
    ServiceResponse,
    SupportsResponse,
    callback,
)
from homeassistant.exceptions import ServiceValidationError
from homeassistant.helpers import config_validation as cv
import voluptuous as vol

from .api import MOBILE_NUMBER, VOICE_MAILBOX, ForwardingCondition, SipThorApiError, SipThorClient
from .const import ATTR_CONFIG_ENTRY_ID, DOMAIN, LOGGER
from .coordinator import SipThorCoordinator
from .errors import sipthor_exception_handler
from .sources import SipThorConfigEntry
from .validation import alias_username, dnd_minutes, forwarding_target, voucher_id, voucher_number

SERVICE_SET_CALL_FORWARDING: Final = "set_call_forwarding"
SERVICE_ENABLE_DND: Final = "enable_dnd"
SERVICE_ADD_ALIAS: Final = "add_alias"
SERVICE_ADD_BALANCE: Final = "add_balance"

ATTR_DURATION: Final = "duration"
ATTR_USERNAME: Final = "username"
ATTR_VOUCHER_ID: Final = "id"
ATTR_VOUCHER_NUMBER: Final = "number"
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
ADD_BALANCE_SCHEMA: Final = vol.Schema(
    _ENTRY
    | {
        vol.Required(ATTR_VOUCHER_ID): voucher_id,
        vol.Required(ATTR_VOUCHER_NUMBER): voucher_number,
    }
)


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


async def _async_known[T](
    coordinator: SipThorCoordinator[T], fetch: Callable[[SipThorClient], Awaitable[T]]
) -> T:
    """What ``coordinator`` holds; asked from the server only when it holds nothing."""
    if coordinator.usable:
        return coordinator.data
    return await coordinator.account.async_read(fetch)


async def _async_write_input(write: Awaitable[None], translation_key: str) -> None:
    """Send what the user typed; the server refusing it is a fault of the input.

    The server refuses a used or unknown voucher, or an alias that exists, with a
    message of its own. That is the user's to fix, not a failure of the integration: a
    ``ServiceValidationError``, which Home Assistant logs as one line, where any other
    ``HomeAssistantError`` is logged as an unexpected exception with its traceback.
    """
    try:
        await write
    except SipThorApiError as err:
        raise ServiceValidationError(
            translation_domain=DOMAIN,
            translation_key=translation_key,
            translation_placeholders={"message": err.message},
        ) from err


@sipthor_exception_handler
async def _set_call_forwarding(call: ServiceCall) -> ServiceResponse:
    """Set the conditions given; answer the targets as sent (tidied, see validation)."""
    entry = _entry(call)
    runtime = entry.runtime_data
    sent: dict[str, str] = {
        name: call.data[name] for name in FORWARDING_FIELDS if name in call.data
    }
    targets: dict[ForwardingCondition, str | None] = {
        FORWARDING_FIELDS[name]: target for name, target in sent.items()
    }
    if not targets:
        raise ServiceValidationError(
            translation_domain=DOMAIN, translation_key="no_forwarding_condition"
        )
    # The server stores either keyword without checking that it means anything; what
    # the coordinators already know answers that without a request.
    if VOICE_MAILBOX in targets.values():
        voicemail = await _async_known(runtime.voicemail, SipThorClient.get_voicemail)
        if voicemail is None:
            raise ServiceValidationError(
                translation_domain=DOMAIN, translation_key="no_voice_mailbox"
            )
    if MOBILE_NUMBER in targets.values():
        identity = await _async_known(runtime.identity, SipThorClient.get_identity)
        if not identity.mobile_number:
            raise ServiceValidationError(
                translation_domain=DOMAIN, translation_key="no_mobile_number"
            )
    LOGGER.debug("%s: setting call forwarding %s", entry.title, sent)
    await runtime.call_forwarding.async_set_targets(targets)
    return dict(sent)


@sipthor_exception_handler
async def _enable_dnd(call: ServiceCall) -> None:
    entry = _entry(call)
    duration: int | None = call.data.get(ATTR_DURATION)
    await entry.runtime_data.accept_rules.async_set_dnd(on=True, duration=duration)


@sipthor_exception_handler
async def _add_alias(call: ServiceCall) -> ServiceResponse:
    """Add the alias; answer the user name sent and the alias it makes."""
    entry = _entry(call)
    username, _, domain = str(call.data[ATTR_USERNAME]).partition("@")
    own_domain = entry.runtime_data.account.client.account.partition("@")[2]
    if domain and domain.rstrip(".").casefold() != own_domain.casefold():
        # The server adds the account's domain to whatever it is sent.
        raise ServiceValidationError(
            translation_domain=DOMAIN,
            translation_key="alias_other_domain",
            translation_placeholders={"domain": own_domain},
        )
    LOGGER.debug("%s: adding the alias %s", entry.title, username)
    await _async_write_input(entry.runtime_data.aliases.async_add_alias(username), "alias_refused")
    # The page lower-cases the user name (docs/settings-api.md §5.16).
    return {ATTR_USERNAME: username, "alias": f"{username.lower()}@{own_domain}"}


@sipthor_exception_handler
async def _add_balance(call: ServiceCall) -> None:
    entry = _entry(call)
    runtime = entry.runtime_data
    card_id: int = call.data[ATTR_VOUCHER_ID]
    number: str = call.data[ATTR_VOUCHER_NUMBER]
    # The server states no new balance (docs/settings-api.md §5.18): the write reads
    # the balance back, and the history, which shows the top-up (when its sensor is on).
    await _async_write_input(
        runtime.prepaid.async_write(lambda client: client.add_balance(card_id, number)),
        "voucher_refused",
    )
    runtime.balance_history.async_read_back()


@callback
def async_setup_services(hass: HomeAssistant) -> None:
    """Register the actions (once, for every account)."""
    # The two that tidy what they are given answer with what they sent, when asked.
    hass.services.async_register(
        DOMAIN,
        SERVICE_SET_CALL_FORWARDING,
        _set_call_forwarding,
        SET_CALL_FORWARDING_SCHEMA,
        supports_response=SupportsResponse.OPTIONAL,
    )
    hass.services.async_register(DOMAIN, SERVICE_ENABLE_DND, _enable_dnd, ENABLE_DND_SCHEMA)
    hass.services.async_register(
        DOMAIN,
        SERVICE_ADD_ALIAS,
        _add_alias,
        ADD_ALIAS_SCHEMA,
        supports_response=SupportsResponse.OPTIONAL,
    )
    hass.services.async_register(DOMAIN, SERVICE_ADD_BALANCE, _add_balance, ADD_BALANCE_SCHEMA)
