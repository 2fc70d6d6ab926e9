"""A repair issue when the client certificate is about to expire."""

from __future__ import annotations

from datetime import datetime, timedelta

from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers import issue_registry as ir
from homeassistant.helpers.event import async_track_time_interval
from homeassistant.util import dt as dt_util

from .const import CERTIFICATE_WARNING, DOMAIN
from .coordinator import SipThorConfigEntry

_CHECK_INTERVAL = timedelta(hours=12)


def certificate_issue_id(entry: SipThorConfigEntry) -> str:
    """The repair issue of this entry's certificate."""
    return f"certificate_expiring_{entry.entry_id}"


@callback
def async_check_certificate_expiry(hass: HomeAssistant, entry: SipThorConfigEntry) -> None:
    """Raise the repair issue within 30 days of expiry; check again twice a day."""

    @callback
    def check(_now: datetime | None = None) -> None:
        expires = entry.runtime_data.certificate.not_valid_after
        if expires - dt_util.utcnow() > CERTIFICATE_WARNING:
            ir.async_delete_issue(hass, DOMAIN, certificate_issue_id(entry))
            return
        ir.async_create_issue(
            hass,
            DOMAIN,
            certificate_issue_id(entry),
            is_fixable=False,
            severity=ir.IssueSeverity.WARNING,
            translation_key="certificate_expiring",
            translation_placeholders={
                "account": entry.title,
                "date": dt_util.as_local(expires).date().isoformat(),
            },
        )

    check()
    entry.async_on_unload(async_track_time_interval(hass, check, _CHECK_INTERVAL))
    entry.async_on_unload(lambda: ir.async_delete_issue(hass, DOMAIN, certificate_issue_id(entry)))
