"""Diagnostics: what the integration knows, without secrets or personal numbers.

Built from allow-lists: each source names the fields it may show, so a field (or a
source) added later shows nothing until someone decides it is safe to.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import fields, is_dataclass
from typing import Any

from homeassistant.components.diagnostics import REDACTED
from homeassistant.const import CONF_PASSWORD, CONF_URL
from homeassistant.core import HomeAssistant
from yarl import URL

from .const import CONF_ACCOUNT, CONF_CERTIFICATE_FILE, CONF_SIP_PASSWORD, Source
from .dnd import AcceptRulesData
from .sources import CallRecord, SipThorConfigEntry

# Personal or secret: shown as redacted wherever they would appear.
_ENTRY_REDACTED = {CONF_ACCOUNT, CONF_CERTIFICATE_FILE, CONF_PASSWORD, CONF_SIP_PASSWORD}
_CERTIFICATE_FIELDS = (
    "issuer",
    "not_valid_before",
    "not_valid_after",
    "key_type",
    "key_size",
    "signature_hash",
)


def _pick(value: Any, allowed: tuple[str, ...]) -> dict[str, Any]:
    """The allowed fields of a model; unknown server members by name and type only.

    Members this integration does not know may hold anything, personal data included;
    their names and types are what a bug report needs.
    """
    picked: dict[str, Any] = {name: _plain(getattr(value, name)) for name in allowed}
    if isinstance(extra := getattr(value, "extra", None), dict):
        picked["extra"] = {name: type(item).__name__ for name, item in extra.items()}
    return picked


def _plain(value: Any) -> Any:
    if hasattr(value, "isoformat"):
        return value.isoformat()
    if isinstance(value, list):
        return [_plain(item) for item in value]
    if is_dataclass(value) and not isinstance(value, type):
        return {field.name: _plain(getattr(value, field.name)) for field in fields(value)}
    return value


def _accept_rules(data: AcceptRulesData) -> dict[str, Any]:
    return {
        "rules": _pick(data.rules, ("persistent", "temporary_groups", "temporary_minutes")),
        "dnd_state": data.rules.dnd_state,
        "without_end": data.without_end,
    }


def _calls(records: list[CallRecord]) -> list[dict[str, Any]]:
    return [
        {
            "direction": record.call.direction,
            "started": _plain(record.started),
            "duration": record.call.duration,
            "status": record.call.status,
            "price": record.call.price,
            "media": record.call.media,
        }
        for record in records
    ]


# What each source may show. A source missing here shows its health, not its data.
SOURCE_FIELDS: dict[Source, Callable[[Any], Any]] = {
    Source.PREPAID: lambda data: None if data is None else _pick(data, ("balance", "active_calls")),
    Source.REGISTRATIONS: lambda data: [
        _pick(item, ("expires", "user_agent", "transport", "transport_name", "behind_nat"))
        for item in data
    ],
    Source.ACCEPT_RULES: _accept_rules,
    Source.IDENTITY: lambda data: (
        _pick(data, ("timezone", "no_answer_timeout"))
        | {"has_mobile_number": bool(data.mobile_number)}
    ),
    # Targets are numbers and addresses: which conditions are set is what helps.
    Source.CALL_FORWARDING: lambda data: {
        condition.name.lower(): REDACTED if target else None
        for condition, target in data.targets.items()
    },
    Source.VOICEMAIL: lambda data: (
        None if data is None else _pick(data, ("delete_after_email",)) | {"has_pin": bool(data.pin)}
    ),
    Source.ALIASES: lambda data: {"count": len(data)},
    Source.ENUM: lambda data: {"count": len(data)},
    Source.CALLS: _calls,
    Source.BALANCE_HISTORY: lambda data: [
        _pick(item, ("date", "action", "value", "balance")) for item in data
    ],
    Source.MONTHLY_USAGE: lambda data: _pick(data, ("calls", "price")),
    # None: the settings page has no privacy checkbox; the switch's state is assumed.
    Source.PRIVACY: lambda data: {"page_has_checkbox": data is not None, "caller_id_hidden": data},
    # The addresses are other people's: how many is what helps.
    Source.REJECT_RULES: lambda data: {"count": len(data)},
}


def _url(url: str) -> str:
    """The settings page's URL without user info (which may hold a password)."""
    return str(URL(url).with_user(None))


async def async_get_config_entry_diagnostics(
    hass: HomeAssistant, entry: SipThorConfigEntry
) -> dict[str, Any]:
    """The entry, the certificate's public facts and each source's allowed data."""
    runtime = entry.runtime_data
    account = runtime.account
    data = {key: REDACTED if key in _ENTRY_REDACTED else value for key, value in entry.data.items()}
    if CONF_URL in data:
        data[CONF_URL] = _url(data[CONF_URL])
    sources: dict[str, Any] = {}
    for coordinator in runtime.coordinators:
        shown = SOURCE_FIELDS.get(coordinator.source)
        sources[coordinator.source] = {
            "polled": coordinator.has_listeners,
            "usable": coordinator.usable,
            "supported": coordinator.supported,
            "last_update_success": coordinator.last_update_success,
            "update_interval": str(coordinator.update_interval),
            "data": shown(coordinator.data) if shown and coordinator.usable else None,
        }
    certificate = account.certificate
    return {
        "entry": {"data": data, "options": dict(entry.options)},
        # None: the account signs in with its SIP password.
        "certificate": None
        if certificate is None
        else _pick(certificate, _CERTIFICATE_FIELDS)
        | {"needs_legacy_security_level": certificate.needs_legacy_security_level},
        "history_action": account.client.history_action,
        "page_reachable": account.page_reachable,
        # Whether the privacy switch shows the settings page's checkbox or what it last set.
        "privacy_switch": (
            "settings page"
            if runtime.privacy.usable and runtime.privacy.data is not None
            else "assumed"
        ),
        "sources": sources,
        # None: live events are off, or no SIP password is known. Otherwise the channel:
        # the server, each subscription (accepted, not offered and why), the last NOTIFY.
        "live": None if account.live is None else account.live.diagnostics(),
    }
