"""Constants of the SIP Thor integration."""

from __future__ import annotations

from datetime import timedelta
import logging
from typing import Final

from homeassistant import config_entries

DOMAIN: Final = "sipthor"
LOGGER = logging.getLogger(__package__)

# Config entry data: how to reach the account (with CONF_URL and CONF_VERIFY_SSL of
# homeassistant.const).
CONF_ACCOUNT: Final = "account"
# Name of the private PEM file under .storage/sipthor/ (certificate + key).
CONF_CERTIFICATE_FILE: Final = "certificate_file"

# Config flow field that is never stored (CONF_PASSWORD is the other).
CONF_CERTIFICATE_UPLOAD: Final = "certificate"

# Options (with CONF_CURRENCY and CONF_SCAN_INTERVAL of homeassistant.const).
CONF_SLOW_SCAN_INTERVAL: Final = "slow_scan_interval"
CONF_HISTORY_TIMEZONE: Final = "history_timezone"

DEFAULT_CURRENCY: Final = "EUR"
DEFAULT_SCAN_INTERVAL: Final = 60  # seconds: registrations (the balance: BALANCE_INTERVAL)
MIN_SCAN_INTERVAL: Final = 30
MAX_SCAN_INTERVAL: Final = 3600
# minutes: do not disturb, calls, forwarding, voicemail, identity, aliases, ENUM
DEFAULT_SLOW_SCAN_INTERVAL: Final = 10
MIN_SLOW_SCAN_INTERVAL: Final = 5
MAX_SLOW_SCAN_INTERVAL: Final = 60

HISTORY_TIMEZONE_ACCOUNT: Final = "account"
HISTORY_TIMEZONE_UTC: Final = "utc"

# The balance changes only when a call ends or credit is added: at most this often (and
# once after the call list shows a new call), never more often than the registrations.
BALANCE_INTERVAL: Final = timedelta(minutes=5)
# Caller-ID privacy is read from the HTML settings page, which costs a full page render
# (docs/settings-api.md §6.2), and changes only when someone changes it: hourly, and after
# each change made here.
PRIVACY_INTERVAL: Final = timedelta(hours=1)
# A timed do not disturb is read again this long after the minutes the server stated.
DND_END_MARGIN: Final = timedelta(seconds=5)
# Bounds over a whole poll and a whole write, including the wait for a free request
# slot (the client bounds each request on its own).
POLL_TIMEOUT: Final = 45.0
WRITE_TIMEOUT: Final = 45.0

# A repair issue asks for a new certificate this long before the current one expires.
CERTIFICATE_WARNING: Final = timedelta(days=30)

STORAGE_VERSION: Final = 1

# Home Assistant 2025.8 and newer reload the entry after the options flow
# (OptionsFlowWithReload); before that an update listener does.
OPTIONS_NEED_UPDATE_LISTENER: Final = not hasattr(config_entries, "OptionsFlowWithReload")

ATTR_CONFIG_ENTRY_ID: Final = "config_entry_id"
