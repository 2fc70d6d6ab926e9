"""Constants of the SIP Thor integration."""

from __future__ import annotations

from datetime import timedelta
from enum import StrEnum
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

# The SIP password of a certificate account, kept for the live events with the user's
# consent (a .p12's password in the config flow, a PEM account's in the options).
CONF_SIP_PASSWORD: Final = "sip_password"  # noqa: S105 - a key, not a password

# Config flow field that is never stored (CONF_PASSWORD is the other).
CONF_CERTIFICATE_UPLOAD: Final = "certificate"
# Config flow checkbox: keep the .p12's password (the SIP password) for the live events.
CONF_KEEP_PASSWORD: Final = "keep_password"  # noqa: S105 - a key, not a password

# Options (with CONF_CURRENCY and CONF_SCAN_INTERVAL of homeassistant.const).
CONF_SLOW_SCAN_INTERVAL: Final = "slow_scan_interval"
CONF_HISTORY_TIMEZONE: Final = "history_timezone"
# The live events (live.py): on or off, the SIP server when not found through DNS, and
# the voicemail URI when the count is not to be found automatically.
CONF_LIVE_EVENTS: Final = "live_events"
CONF_SIP_SERVER: Final = "sip_server"
CONF_VOICEMAIL_URI: Final = "voicemail_uri"

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
# The most calls per direction the call list holds (docs/settings-api.md §5.4).
CALL_LIST_LIMIT: Final = 50
# A timed do not disturb is read again this long after the minutes the server stated.
DND_END_MARGIN: Final = timedelta(seconds=5)
# Requests in flight to one settings page at once, over all the accounts on it (each
# account also keeps to six). Many accounts starting together would otherwise send
# hundreds at once: each costs the platform 6 to 9 back-end calls, and each open TLS
# connection Home Assistant some 300 KiB (asyncio's buffer, OpenSSL's), which the
# allocator keeps after the burst.
PAGE_IN_FLIGHT: Final = 12
# Setup's own requests open their connections first, the reads of what the entities
# showed last time this many seconds later: a TLS handshake costs milliseconds of CPU on
# both sides, better spent while setup's answers are on their way than before its requests.
EARLY_READS_AFTER: Final = 0.025
# A source that failed while the settings page answered the others is read again this
# soon, not after its whole interval; while the page cannot be reached, it is asked
# again this often (one request, whatever the number of sources).
RETRY_INTERVAL: Final = timedelta(minutes=1)
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


class Source(StrEnum):
    """One kind of data, fetched by one request (sources.py declares each)."""

    PREPAID = "prepaid"
    REGISTRATIONS = "registrations"
    ACCEPT_RULES = "accept_rules"
    IDENTITY = "identity"
    CALL_FORWARDING = "call_forwarding"
    VOICEMAIL = "voicemail"
    ALIASES = "aliases"
    ENUM = "enum"
    CALLS = "calls"
    BALANCE_HISTORY = "balance_history"
    MONTHLY_USAGE = "monthly_usage"
    PRIVACY = "privacy"
    REJECT_RULES = "reject_rules"
