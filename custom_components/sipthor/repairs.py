"""Repair issues about the client certificate, each fixed by reauthentication.

- ``certificate_expiring``: the certificate expires within 30 days.
- ``certificate_refused``: the settings page refuses a certificate that has not expired
  (revoked, or replaced by a new one downloaded elsewhere).

Their fix flow starts reauthentication, which asks for the new certificate. One more,
``forwarding_sensors_replaced``, only informs: select.py raises it while automations or
scripts use the forwarding sensors that the selects replaced.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Final

from homeassistant import data_entry_flow
from homeassistant.components.repairs import RepairsFlow
from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers import issue_registry as ir
from homeassistant.helpers.event import async_track_time_interval
from homeassistant.util import dt as dt_util
import voluptuous as vol

from .const import CERTIFICATE_WARNING, DOMAIN

if TYPE_CHECKING:
    # The coordinators raise the refusal issue: a runtime import would be circular.
    from .coordinator import SipThorConfigEntry

_CHECK_INTERVAL: Final = timedelta(hours=12)
ISSUE_EXPIRING: Final = "certificate_expiring"
ISSUE_REFUSED: Final = "certificate_refused"
ISSUE_SENSORS_REPLACED: Final = "forwarding_sensors_replaced"
# Where an issue keeps the entry its fix flow reauthenticates.
_ENTRY_ID: Final = "entry_id"


def issue_id(kind: str, entry_id: str) -> str:
    """The repair issue of kind ``kind`` of one entry."""
    return f"{kind}_{entry_id}"


def _create_issue(
    hass: HomeAssistant,
    entry: SipThorConfigEntry,
    kind: str,
    severity: ir.IssueSeverity,
    expires: datetime,
) -> None:
    ir.async_create_issue(
        hass,
        DOMAIN,
        issue_id(kind, entry.entry_id),
        is_fixable=True,
        is_persistent=False,
        severity=severity,
        translation_key=kind,
        translation_placeholders={
            "account": entry.title,
            "date": dt_util.as_local(expires).date().isoformat(),
        },
        data={_ENTRY_ID: entry.entry_id},
    )


@callback
def async_check_certificate_expiry(hass: HomeAssistant, entry: SipThorConfigEntry) -> None:
    """Raise the expiry issue within 30 days of expiry; check again twice a day.

    Called once the entry is set up: the server accepts the certificate, so an earlier
    refusal issue is over.
    """
    ir.async_delete_issue(hass, DOMAIN, issue_id(ISSUE_REFUSED, entry.entry_id))
    certificate = entry.runtime_data.certificate
    if certificate is None:
        return  # the account signs in with its SIP password, which does not expire

    @callback
    def check(_now: datetime | None = None) -> None:
        expires = certificate.not_valid_after
        if expires - dt_util.utcnow() > CERTIFICATE_WARNING:
            ir.async_delete_issue(hass, DOMAIN, issue_id(ISSUE_EXPIRING, entry.entry_id))
            return
        _create_issue(hass, entry, ISSUE_EXPIRING, ir.IssueSeverity.WARNING, expires)

    check()
    entry.async_on_unload(async_track_time_interval(hass, check, _CHECK_INTERVAL))
    entry.async_on_unload(
        lambda: ir.async_delete_issue(hass, DOMAIN, issue_id(ISSUE_EXPIRING, entry.entry_id))
    )


@callback
def async_certificate_refused(hass: HomeAssistant, entry: SipThorConfigEntry) -> None:
    """Raise the refusal issue when the server refuses a certificate still valid.

    An expired certificate explains itself (its sensor and the expiry issue): only a
    refusal within the validity means that the platform revoked or replaced it.
    """
    certificate = getattr(entry.runtime_data, "certificate", None)
    if certificate is not None and certificate.not_valid_after > dt_util.utcnow():
        _create_issue(
            hass, entry, ISSUE_REFUSED, ir.IssueSeverity.ERROR, certificate.not_valid_after
        )


@callback
def async_delete_issues(hass: HomeAssistant, entry_id: str) -> None:
    """Remove the issues of a deleted entry."""
    for kind in (ISSUE_EXPIRING, ISSUE_REFUSED, ISSUE_SENSORS_REPLACED):
        ir.async_delete_issue(hass, DOMAIN, issue_id(kind, entry_id))


class ReauthenticateRepairFlow(RepairsFlow):
    """Explain the issue; on confirmation, ask for a new certificate (reauthentication)."""

    def __init__(self, entry: SipThorConfigEntry | None) -> None:
        """Fix the certificate of ``entry`` (None: the entry is gone)."""
        self._entry = entry

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
            self._entry.async_start_reauth(self.hass)
            return self.async_create_entry(data={})
        issue = ir.async_get(self.hass).async_get_issue(DOMAIN, self.issue_id)
        return self.async_show_form(
            step_id="confirm",
            data_schema=vol.Schema({}),
            description_placeholders=issue.translation_placeholders if issue else None,
        )


async def async_create_fix_flow(
    hass: HomeAssistant, issue_id: str, data: dict[str, str | int | float | None] | None
) -> RepairsFlow:
    """The fix flow of one of this integration's issues."""
    entry_id = str((data or {}).get(_ENTRY_ID))
    entry: SipThorConfigEntry | None = hass.config_entries.async_get_entry(entry_id)
    return ReauthenticateRepairFlow(entry)
