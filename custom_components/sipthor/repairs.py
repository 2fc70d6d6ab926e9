"""Repair issues about signing in, and about entities a release removed.

- ``certificate_expiring``: the certificate expires within 30 days.
- ``certificate_refused``: the settings page refuses a certificate that has not expired
  (revoked, or replaced by a new one downloaded elsewhere).

Their fix flow starts reauthentication, which asks for the new certificate.

- ``digest_downgrade``: the Digest page now offers only a weaker algorithm than it did
  (SipThorDowngradeError), so the client no longer signs in. The client remembers the
  strongest algorithm while the entry is loaded; the fix flow, after the user accepts
  the change, reloads the entry, which forgets it. The issue ends at the next setup.

Two more only inform, while automations or scripts use entities that a release removed:
``forwarding_sensors_replaced`` (the forwarding sensors, replaced by selects) and
``dnd_sensor_removed`` (the do-not-disturb binary sensor, which said what the switch says).

- ``live_password_refused``: the SIP server refused the SIP password of the live events
  (live.py). Nothing to click: the user enters the password where the entry keeps it.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, Final

from homeassistant import data_entry_flow
from homeassistant.components.automation import automations_with_entity
from homeassistant.components.repairs import RepairsFlow
from homeassistant.components.script import scripts_with_entity
from homeassistant.config_entries import ConfigEntry
from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers import entity_registry as er, issue_registry as ir
from homeassistant.helpers.event import async_track_time_interval
from homeassistant.helpers.start import async_at_started
from homeassistant.util import dt as dt_util
import voluptuous as vol

from .api import CertificateInfo, SipThorDowngradeError
from .const import CERTIFICATE_WARNING, DOMAIN

_CHECK_INTERVAL: Final = timedelta(hours=12)
ISSUE_EXPIRING: Final = "certificate_expiring"
ISSUE_REFUSED: Final = "certificate_refused"
ISSUE_SENSORS_REPLACED: Final = "forwarding_sensors_replaced"
ISSUE_DND_SENSOR_REMOVED: Final = "dnd_sensor_removed"
ISSUE_DIGEST_DOWNGRADE: Final = "digest_downgrade"
ISSUE_LIVE_PASSWORD: Final = "live_password_refused"  # noqa: S105 - an issue key
# Where an issue keeps the entry its fix flow reauthenticates.
_ENTRY_ID: Final = "entry_id"
# Where an issue about removed entities keeps their IDs (comma-separated).
_REMOVED: Final = "removed"


def issue_id(kind: str, entry_id: str) -> str:
    """The repair issue of kind ``kind`` of one entry."""
    return f"{kind}_{entry_id}"


def _create_issue(
    hass: HomeAssistant,
    entry: ConfigEntry[Any],
    kind: str,
    severity: ir.IssueSeverity,
    placeholders: dict[str, str],
    *,
    is_fixable: bool = True,
) -> None:
    ir.async_create_issue(
        hass,
        DOMAIN,
        issue_id(kind, entry.entry_id),
        is_fixable=is_fixable,
        is_persistent=False,
        severity=severity,
        translation_key=kind,
        translation_placeholders={"account": entry.title, **placeholders},
        data={_ENTRY_ID: entry.entry_id},
    )


def _expiry(expires: datetime) -> dict[str, str]:
    return {"date": dt_util.as_local(expires).date().isoformat()}


@callback
def async_check_certificate_expiry(
    hass: HomeAssistant, entry: ConfigEntry[Any], certificate: CertificateInfo | None
) -> None:
    """Raise the expiry issue within 30 days of expiry; check again twice a day.

    Called once the entry is set up: the server accepts the certificate, so an earlier
    refusal issue is over; so is a refused downgrade (the new client signed in).
    """
    ir.async_delete_issue(hass, DOMAIN, issue_id(ISSUE_REFUSED, entry.entry_id))
    ir.async_delete_issue(hass, DOMAIN, issue_id(ISSUE_DIGEST_DOWNGRADE, entry.entry_id))
    if certificate is None:
        return  # the account signs in with its SIP password, which does not expire

    @callback
    def check(_now: datetime | None = None) -> None:
        expires = certificate.not_valid_after
        if expires - dt_util.utcnow() > CERTIFICATE_WARNING:
            ir.async_delete_issue(hass, DOMAIN, issue_id(ISSUE_EXPIRING, entry.entry_id))
            return
        _create_issue(hass, entry, ISSUE_EXPIRING, ir.IssueSeverity.WARNING, _expiry(expires))

    check()
    entry.async_on_unload(async_track_time_interval(hass, check, _CHECK_INTERVAL))
    entry.async_on_unload(
        lambda: ir.async_delete_issue(hass, DOMAIN, issue_id(ISSUE_EXPIRING, entry.entry_id))
    )


@callback
def async_certificate_refused(
    hass: HomeAssistant, entry: ConfigEntry[Any], certificate: CertificateInfo | None
) -> None:
    """Raise the refusal issue when the server refuses a certificate still valid.

    An expired certificate explains itself (its sensor and the expiry issue): only a
    refusal within the validity means that the platform revoked or replaced it.
    """
    if certificate is not None and certificate.not_valid_after > dt_util.utcnow():
        _create_issue(
            hass,
            entry,
            ISSUE_REFUSED,
            ir.IssueSeverity.ERROR,
            _expiry(certificate.not_valid_after),
        )


@callback
def async_digest_downgraded(
    hass: HomeAssistant, entry: ConfigEntry[Any], err: SipThorDowngradeError
) -> None:
    """Raise the downgrade issue: the page offers a weaker algorithm than it did."""
    _create_issue(
        hass,
        entry,
        ISSUE_DIGEST_DOWNGRADE,
        ir.IssueSeverity.ERROR,
        {"offered": err.offered, "strongest": err.strongest},
    )


@callback
def async_live_password_refused(hass: HomeAssistant, entry: ConfigEntry[Any]) -> None:
    """Raise the issue of a SIP password the SIP server refused (no fix flow)."""
    _create_issue(hass, entry, ISSUE_LIVE_PASSWORD, ir.IssueSeverity.ERROR, {}, is_fixable=False)


@callback
def async_delete_live_password_issue(hass: HomeAssistant, entry_id: str) -> None:
    """Remove the issue of a refused SIP password, if there is one."""
    ir.async_delete_issue(hass, DOMAIN, issue_id(ISSUE_LIVE_PASSWORD, entry_id))


@callback
def async_delete_issues(hass: HomeAssistant, entry_id: str) -> None:
    """Remove the issues of a deleted entry."""
    for kind in (
        ISSUE_EXPIRING,
        ISSUE_REFUSED,
        ISSUE_SENSORS_REPLACED,
        ISSUE_DND_SENSOR_REMOVED,
        ISSUE_DIGEST_DOWNGRADE,
        ISSUE_LIVE_PASSWORD,
    ):
        ir.async_delete_issue(hass, DOMAIN, issue_id(kind, entry_id))


@callback
def async_remove_entities(
    hass: HomeAssistant,
    entry: ConfigEntry[Any],
    kind: str,
    entities: list[tuple[str, str]],
) -> None:
    """Remove entities a release no longer provides; name whatever still uses them.

    ``entities`` are (platform, unique ID) pairs; those in the registry are removed. An
    automation or script on a removed entity would fail silently, so the issue ``kind``
    names them. The entities are removed once, so the issue is persistent and keeps
    their IDs; each start checks again and drops the issue when nothing uses them any
    more. Automations are loaded only once Home Assistant has started.
    """
    registry = er.async_get(hass)
    removed: list[str] = []
    for platform, unique_id in entities:
        if entity_id := registry.async_get_entity_id(platform, DOMAIN, unique_id):
            registry.async_remove(entity_id)
            removed.append(entity_id)
    this_issue = issue_id(kind, entry.entry_id)
    issue = ir.async_get(hass).async_get_issue(DOMAIN, this_issue)
    if issue is not None and issue.data and isinstance(known := issue.data.get(_REMOVED), str):
        removed = [*removed, *known.split(",")]
    removed = sorted(set(removed))
    if not removed:
        return

    @callback
    def check(hass: HomeAssistant) -> None:
        users = sorted(
            {
                user
                for entity_id in removed
                for user in (
                    *automations_with_entity(hass, entity_id),
                    *scripts_with_entity(hass, entity_id),
                )
            }
        )
        if not users:
            ir.async_delete_issue(hass, DOMAIN, this_issue)
            return
        ir.async_create_issue(
            hass,
            DOMAIN,
            this_issue,
            is_fixable=False,
            is_persistent=True,
            severity=ir.IssueSeverity.WARNING,
            translation_key=kind,
            translation_placeholders={
                "account": entry.title,
                "entities": ", ".join(removed),
                "users": ", ".join(users),
            },
            data={_REMOVED: ",".join(removed)},
        )

    entry.async_on_unload(async_at_started(hass, check))


class ReauthenticateRepairFlow(RepairsFlow):
    """Explain the issue; on confirmation, ask for a new certificate (reauthentication)."""

    def __init__(self, entry: ConfigEntry[Any] | None) -> None:
        """Fix the certificate of ``entry`` (None: the entry is gone)."""
        self._entry = entry

    def _async_fix(self, entry: ConfigEntry[Any]) -> None:
        entry.async_start_reauth(self.hass)

    async def async_step_init(
        self, user_input: dict[str, str] | None = None
    ) -> data_entry_flow.FlowResult:
        """Show what is wrong and what confirming does."""
        return await self.async_step_confirm()

    async def async_step_confirm(
        self, user_input: dict[str, str] | None = None
    ) -> data_entry_flow.FlowResult:
        """Start reauthentication once the user confirms."""
        if self._entry is None:
            return self.async_abort(reason="entry_removed")
        if user_input is not None:
            self._async_fix(self._entry)
            return self.async_create_entry(data={})
        issue = ir.async_get(self.hass).async_get_issue(DOMAIN, self.issue_id)
        return self.async_show_form(
            step_id="confirm",
            data_schema=vol.Schema({}),
            description_placeholders=issue.translation_placeholders if issue else None,
        )


class AcceptDowngradeRepairFlow(ReauthenticateRepairFlow):
    """Explain the downgrade; on confirmation, reload the entry, which accepts it."""

    def _async_fix(self, entry: ConfigEntry[Any]) -> None:
        self.hass.config_entries.async_schedule_reload(entry.entry_id)


async def async_create_fix_flow(
    hass: HomeAssistant, issue_id: str, data: dict[str, str | int | float | None] | None
) -> RepairsFlow:
    """The fix flow of one of this integration's issues."""
    entry_id = str((data or {}).get(_ENTRY_ID))
    entry = hass.config_entries.async_get_entry(entry_id)
    if issue_id.startswith(ISSUE_DIGEST_DOWNGRADE):
        return AcceptDowngradeRepairFlow(entry)
    return ReauthenticateRepairFlow(entry)
