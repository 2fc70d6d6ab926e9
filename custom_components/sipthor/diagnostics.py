"""Diagnostics: what the integration knows, without secrets or personal numbers."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from homeassistant.components.diagnostics import async_redact_data
from homeassistant.core import HomeAssistant

from .coordinator import SipThorConfigEntry, SipThorCoordinator

# Key material never reaches the coordinators' data and the voicemail PIN is dropped
# before redaction; these are personal: names, addresses and numbers.
TO_REDACT = {
    "sip_address",
    "common_name",
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


def _coordinator(coordinator: SipThorCoordinator) -> dict[str, Any]:
    """The coordinator's own sources, with their state of health."""
    data = coordinator.data
    return {
        "last_update_success": coordinator.last_update_success,
        "update_interval": str(coordinator.update_interval),
        "fetched": sorted(data.fetched),
        "failing": sorted(data.failing),
        "unsupported": sorted(data.unsupported),
        "data": {
            source.value: _public(asdict(data)[source.value]) for source in coordinator.sources
        },
    }


def _public(value: Any) -> Any:
    """Drop the voicemail PIN; show unknown server members by name and type only.

    Members this integration does not know may hold anything, personal data included;
    their names and types are what a bug report needs.
    """
    if isinstance(value, dict):
        return {
            key: (
                {name: type(item).__name__ for name, item in inner.items()}
                if key == "extra" and isinstance(inner, dict)
                else _public(inner)
            )
            for key, inner in value.items()
            if key != "pin"
        }
    if isinstance(value, list):
        return [_public(item) for item in value]
    return value


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
            "fast": _coordinator(runtime.fast),
            "slow": _coordinator(runtime.slow),
        },
        TO_REDACT,
    )
