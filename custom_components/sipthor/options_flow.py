"""The options flow of SIP Thor: polling, currency, the call list's zone, live events."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from homeassistant.config_entries import ConfigFlowResult, OptionsFlow
from homeassistant.const import CONF_CURRENCY, CONF_SCAN_INTERVAL

from .const import CONF_HISTORY_TIMEZONE, CONF_SIP_PASSWORD, CONF_SLOW_SCAN_INTERVAL
from .flow_helpers import FormError, live_options, options_schema

if TYPE_CHECKING:
    _OptionsFlow = OptionsFlow
else:
    try:  # Home Assistant 2025.8 and newer reload the entry after the options flow.
        from homeassistant.config_entries import OptionsFlowWithReload as _OptionsFlow
    except ImportError:  # Before, __init__ adds an update listener (OPTIONS_NEED_UPDATE_LISTENER).
        _OptionsFlow = OptionsFlow


class SipThorOptionsFlow(_OptionsFlow):
    """Polling intervals, the currency of the balance, the zone of call times, live events."""

    async def async_step_init(self, user_input: dict[str, Any] | None = None) -> ConfigFlowResult:
        """Show and save the options; a certificate account's SIP password goes to its data."""
        entry = self.config_entry
        errors: dict[str, str] = {}
        schema = options_schema(entry.options, entry.data)
        if user_input is not None:
            try:
                live = live_options(user_input, entry.data)
            except FormError as err:
                errors[err.field] = err.key
                # Shown again as typed, but for the password.
                schema = self.add_suggested_values_to_schema(
                    schema, {k: v for k, v in user_input.items() if k != CONF_SIP_PASSWORD}
                )
            else:
                options = {
                    CONF_SCAN_INTERVAL: int(user_input[CONF_SCAN_INTERVAL]),
                    CONF_SLOW_SCAN_INTERVAL: int(user_input[CONF_SLOW_SCAN_INTERVAL]),
                    CONF_CURRENCY: user_input[CONF_CURRENCY],
                    CONF_HISTORY_TIMEZONE: user_input[CONF_HISTORY_TIMEZONE],
                    **live,
                }
                self._async_keep_sip_password(user_input.get(CONF_SIP_PASSWORD), options)
                return self.async_create_entry(data=options)
        return self.async_show_form(step_id="init", data_schema=schema, errors=errors)

    def _async_keep_sip_password(self, password: str | None, options: dict[str, Any]) -> None:
        """Store a new SIP password with the entry's data (a secret: not with the options).

        New options reload the entry; a new password alone reloads it here.
        """
        entry = self.config_entry
        if not password or password == entry.data.get(CONF_SIP_PASSWORD):
            return
        self.hass.config_entries.async_update_entry(
            entry, data={**entry.data, CONF_SIP_PASSWORD: password}
        )
        if options == dict(entry.options):
            self.hass.config_entries.async_schedule_reload(entry.entry_id)
