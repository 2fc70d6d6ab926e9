"""Diagnostics: what the integration knows, without secrets or personal numbers."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from homeassistant.components.diagnostics import async_redact_data
from homeassistant.core import HomeAssistant

from .coordinator import AccountData, SipThorConfigEntry

# Key material never reaches the coordinators' data; the voicemail PIN is dropped
# before redaction, the rest is personal: addresses and numbers.
TO_REDACT = {
    "certificate_file",
    "email",
    "mobile_number",
    "pstn_caller_id",
    "first_name",
    "last_name",
    "name",
    "subject",
    "remote_party",
    "display_name",
    "contact",
    "public_contact",
    "session_id",
    "from_tag",
    "to_tag",
    "proxy_ip",
    "session",
    "description",
    "targets",
    "aliases",
    "enum",
    "mailbox",
    "account",
    "fingerprint_sha256",
}


def _data(data: AccountData | None) -> dict[str, Any] | None:
    if data is None:
        return None
    result = asdict(data)
    if result.get("voicemail"):
        result["voicemail"].pop("pin", None)
    for key in ("fetched", "failing", "unsupported"):
        result[key] = sorted(result[key])
    return result


async def async_get_config_entry_diagnostics(
    hass: HomeAssistant, entry: SipThorConfigEntry
) -> dict[str, Any]:
    """The entry, the certificate's public facts and the polled data, redacted."""
    runtime = entry.runtime_data
    certificate = asdict(runtime.certificate)
    return async_redact_data(
        {
            "entry": {"data": dict(entry.data), "options": dict(entry.options)},
            "certificate": certificate
            | {"needs_legacy_security_level": runtime.certificate.needs_legacy_security_level},
            "history_action": runtime.client.history_action,
            "dnd_without_end": runtime.store.dnd_without_end,
            "fast": _data(runtime.fast.data),
            "slow": _data(runtime.slow.data),
        },
        TO_REDACT,
    )
