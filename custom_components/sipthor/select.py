"""Selects: where each forwarding condition sends calls, changed in one tap.

The options are state-dependent. *Off*, *voice mailbox* and *mobile number* are
translation keys (``entity.select.<key>.state``); the voice mailbox and the mobile
number are offered only when the account has them. A target that is neither, set with
``sipthor.set_call_forwarding`` or on the provider's page, is shown as it is, as one
more option. Translated keys and a raw value mix: neither Home Assistant 2025.4 nor
2026.x checks options against the translations, and the frontend shows a state without
one as it is. Such a target reads back with an ``@`` (the server adds the account's
domain), so it is never mistaken for a fixed option.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from homeassistant.components.select import SelectEntity, SelectEntityDescription
from homeassistant.const import Platform
from homeassistant.core import HomeAssistant
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback

from .api import MOBILE_NUMBER, VOICE_MAILBOX, ForwardingCondition, Identity, Voicemail
from .coordinator import SipThorCoordinator
from .entity import SipThorEntity
from .errors import sipthor_exception_handler
from .repairs import ISSUE_SENSORS_REPLACED, async_remove_entities
from .sources import CallForwardingCoordinator, SipThorConfigEntry, SipThorRuntimeData
from .validation import forwarding_target

# Each select writes to the server: one request at a time.
PARALLEL_UPDATES = 1

OPTION_OFF: Final = "off"
OPTION_VOICE_MAILBOX: Final = "voice_mailbox"
OPTION_MOBILE_NUMBER: Final = "mobile_number"
FIXED_OPTIONS: Final = (OPTION_OFF, OPTION_VOICE_MAILBOX, OPTION_MOBILE_NUMBER)
# What each fixed option writes ("" turns the condition off).
_OPTION_TARGETS: Final = {
    OPTION_OFF: "",
    OPTION_VOICE_MAILBOX: VOICE_MAILBOX,
    OPTION_MOBILE_NUMBER: MOBILE_NUMBER,
}


@dataclass(frozen=True, kw_only=True)
class ForwardingSelectEntityDescription(SelectEntityDescription):
    """The select of one forwarding condition."""

    condition: ForwardingCondition
    # The field of sipthor.set_call_forwarding for this condition, named in errors.
    field: str


SELECTS: tuple[ForwardingSelectEntityDescription, ...] = tuple(
    ForwardingSelectEntityDescription(
        # The keys of the forwarding sensors these selects replace.
        key=f"forwarding_{condition.name.lower()}",
        translation_key=f"forwarding_{condition.name.lower()}",
        condition=condition,
        field=condition.name.lower(),
    )
    for condition in ForwardingCondition
)


def stored_form(target: str, domain: str) -> str:
    """``target`` as the server reads it back once stored (docs/settings-api.md §5.17).

    A target without a domain gets the account's, and a number has its domain replaced;
    ``sip:`` is added on write and removed on read (docs/settings-api.md §5.9).
    """
    if target[:4].lower() == "sip:":
        target = target[4:]
    if "@" not in target:
        target = f"{target}@{domain}"
    if target[:1] in ("+", "0", "|"):
        target = f"{target.rsplit('@', 1)[0]}@{domain}"
    return target


async def async_setup_entry(
    hass: HomeAssistant,
    entry: SipThorConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    """Add one select per forwarding condition; remove the sensors they replace."""
    # Up to 0.1.0 each condition was a read-only sensor with the same unique ID.
    async_remove_entities(
        hass,
        entry,
        ISSUE_SENSORS_REPLACED,
        [(Platform.SENSOR, f"{entry.unique_id}_{description.key}") for description in SELECTS],
    )
    runtime = entry.runtime_data
    async_add_entities(ForwardingSelect(runtime, description) for description in SELECTS)


class ForwardingSelect(SipThorEntity[CallForwardingCoordinator], SelectEntity):
    """Where one forwarding condition sends calls.

    Besides the forwarding, it follows the voicemail (whether there is a mailbox to
    offer) and the identity (the mobile number, to offer and to recognise in a target).
    """

    entity_description: ForwardingSelectEntityDescription

    def __init__(
        self, runtime: SipThorRuntimeData, description: ForwardingSelectEntityDescription
    ) -> None:
        """Show ``description.condition`` of the account's forwarding."""
        super().__init__(runtime.call_forwarding, description)
        self._identity: SipThorCoordinator[Identity] = runtime.identity
        self._voicemail: SipThorCoordinator[Voicemail | None] = runtime.voicemail
        self._domain = runtime.account.client.account.partition("@")[2]

    async def async_added_to_hass(self) -> None:
        """Also follow the sources that decide the options."""
        await super().async_added_to_hass()
        for source in (self._identity, self._voicemail):
            self.async_on_remove(source.async_add_listener(self._handle_coordinator_update))

    @property
    def available(self) -> bool:
        """Unavailable until the forwarding, and the mobile number, have been read.

        Without the mobile number a forwarding to it reads as a raw number, then turns
        into *mobile number* when the identity arrives: a change of state that never
        happened. After the identity fails, the raw number is the best there is.
        """
        identity = self._identity
        identity_settled = (
            identity.fetched or not identity.last_update_success or not identity.supported
        )
        return super().available and identity_settled

    @property
    def _target(self) -> str | None:
        """The current target of the condition; None when off (or not read yet)."""
        if not self.coordinator.fetched:
            return None
        return self.coordinator.data.target(self.entity_description.condition)

    @property
    def _mobile_number(self) -> str | None:
        """The account's mobile number, as last read (kept while identity fails)."""
        return self._identity.data.mobile_number if self._identity.fetched else None

    def _option_of(self, target: str | None) -> str:
        """The option a target stands for: a fixed one, or the target itself."""
        if not target:
            return OPTION_OFF
        if target == VOICE_MAILBOX:
            return OPTION_VOICE_MAILBOX
        if target == MOBILE_NUMBER:
            # Shown this way between our write and its read-back.
            return OPTION_MOBILE_NUMBER
        mobile = self._mobile_number
        if mobile and (
            stored_form(target, self._domain).casefold()
            == stored_form(mobile, self._domain).casefold()
        ):
            return OPTION_MOBILE_NUMBER
        return target

    @property
    def current_option(self) -> str:
        """The option the server holds now."""
        return self._option_of(self._target)

    @property
    def options(self) -> list[str]:
        """Off, what the account has, and the current custom target if there is one.

        Asked for even while the select is unavailable: what is not read yet is not
        offered.
        """
        current = self._option_of(self._target)
        options = [OPTION_OFF]
        voicemail = self._voicemail
        if (voicemail.fetched and voicemail.data is not None) or current == OPTION_VOICE_MAILBOX:
            options.append(OPTION_VOICE_MAILBOX)
        if self._mobile_number or current == OPTION_MOBILE_NUMBER:
            options.append(OPTION_MOBILE_NUMBER)
        if current not in FIXED_OPTIONS:
            options.append(current)
        return options

    @sipthor_exception_handler
    async def async_select_option(self, option: str) -> None:
        """Forward the condition as ``option`` says, then read it back."""
        description = self.entity_description
        if option in _OPTION_TARGETS:
            target = _OPTION_TARGETS[option]
        else:
            # The custom target as read back: checked as any target the action takes,
            # so that nothing the server would store mangled is written back.
            target = forwarding_target(description.field)(option)
        await self.coordinator.async_set_targets({description.condition: target})
