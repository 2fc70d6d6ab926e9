"""Asynchronous client of the SIP Thor (CDRTool) account Settings API."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from http import HTTPStatus
import logging
import re
from typing import Final
import unicodedata

from .answers import ActionAnswers, off_loop_if_large
from .balance import BalanceEntry, MonthlyUsage, PrepaidStatus, balance_history_from_json
from .call_history import CallHistory
from .errors import SipThorApiError, SipThorError, SipThorNotSupportedError, SipThorServerError
from .models import (
    AcceptRules,
    CallForwarding,
    ForwardingCondition,
    Identity,
    Registration,
    StatusResult,
    Voicemail,
    registrations_from_json,
)
from .privacy import privacy_from_settings_page

_LOGGER = logging.getLogger(__package__)

# What the HTML settings tab is called in errors and logs (it has no action).
SETTINGS_PAGE: Final = "the settings page"
# The call list: the public documentation names get_calls, upstream CDRTool renamed
# it get_history in 2012 and answers get_calls with "invalid action" (docs/settings-api.md §5.4).
HISTORY_ACTIONS: Final = ("get_history", "get_calls")


class SipThorClient(ActionAnswers):
    """One SIP account on a SIP Thor settings page.

    The account signs in with a client certificate (an SSL context holding it) or with
    its SIP password (HTTP Digest, docs/settings-api.md §2.5). At most
    :data:`MAX_IN_FLIGHT` requests are in flight at once (each costs the platform 6 to 9
    back-end calls, docs/settings-api.md §3), and writes go one at a time. A request's
    timeout includes its wait for a turn, so a slow server makes calls fail rather than
    queue without bound. The session is the caller's when given; otherwise
    the client makes one and closes it in :meth:`close`.
    """

    # Set when a server answers one of HISTORY_ACTIONS (get_call_history).
    _history_action: str | None = None

    @property
    def history_action(self) -> str | None:
        """The call-list action this server answered, once one did."""
        return self._history_action

    # -- reads -----------------------------------------------------------------------

    async def get_identity(self) -> Identity:
        """The account's identity; the cheapest proof that the credentials work."""
        identity = await self._read("get_identity", self._model(Identity.from_json))
        if not identity.sip_address:
            msg = "get_identity answered without a SIP address"
            raise SipThorServerError(msg)
        return identity

    async def get_aliases(self) -> list[str]:
        """Aliases pointing at the account (at most 20)."""
        return await self._read("get_aliases", self._strings("aliases"), empty=[])

    async def get_enum(self) -> list[str]:
        """ENUM numbers (``+<digits>``) mapped to the account (at most 10)."""
        return await self._read("get_enum", self._strings("enum"), empty=[])

    async def get_call_history(self) -> CallHistory:
        """Completed calls of the last 14 days, at most 50 per direction.

        Asks ``get_history`` and ``get_calls`` in turn until one is answered, and
        asks that one first from then on.
        """
        candidates = sorted(HISTORY_ACTIONS, key=lambda action: action != self._history_action)
        for action in candidates:
            try:
                history = await self._read(action, self._model(CallHistory.from_json))
            except SipThorNotSupportedError:
                if self._history_action == action:
                    self._history_action = None
                continue
            if self._history_action != action:
                _LOGGER.debug("%s answers the call list as %s", self.url, action)
                self._history_action = action
            return history
        msg = "The server answers neither get_history nor get_calls"
        raise SipThorNotSupportedError(msg)

    async def get_devices(self) -> list[Registration]:
        """Registered contacts; an empty list when nothing is registered."""
        return await self._read("get_devices", self._model(registrations_from_json), empty=None)

    async def get_prepaid(self) -> PrepaidStatus | None:
        """The prepaid status, or None when the server reports none for the account."""
        return await self._read("get_prepaid", self._optional(PrepaidStatus.from_json), empty=None)

    async def get_balance_history(self) -> list[BalanceEntry]:
        """Credit history (up to 200 entries, probably newest first)."""
        return await self._read(
            "get_balance_history", self._model(balance_history_from_json), empty=None
        )

    async def get_monthly_usage(self) -> MonthlyUsage:
        """Calls and cost of the period; broken upstream since 2022 (HTTP 500).

        Raises :class:`SipThorNotSupportedError` when the server fails it that way.
        """
        try:
            return await self._read("get_monthly_usage", self._model(MonthlyUsage.from_json))
        except SipThorServerError as err:
            if err.status == HTTPStatus.INTERNAL_SERVER_ERROR:
                msg = "This server fails get_monthly_usage (HTTP 500)"
                raise SipThorNotSupportedError(msg) from err
            raise

    async def get_call_forwarding(self) -> CallForwarding:
        """The target of each forwarding condition."""
        return await self._read("get_call_forwarding", self._model(CallForwarding.from_json))

    async def get_accept_rules(self) -> AcceptRules:
        """Accept rules, with the do-not-disturb state derived from the temporary rule."""
        return await self._read("get_accept_rules", self._model(AcceptRules.from_json))

    async def get_reject_rules(self) -> list[str]:
        """SIP URIs whose calls are always rejected."""
        return await self._read("get_reject_rules", self._strings("reject rules"), empty=[])

    async def get_voicemail(self) -> Voicemail | None:
        """The voice mailbox, or None when the account has none."""
        return await self._read("get_voicemail", self._optional(Voicemail.from_json), empty=None)

    # -- writes ----------------------------------------------------------------------

    async def set_dnd_on(self, duration: int | None = None) -> StatusResult:
        """Turn do not disturb on, for ``duration`` minutes or without an end."""
        params: dict[str, str] = {}
        if duration is not None:
            if duration < 1:
                msg = "The duration is a positive number of minutes"
                raise ValueError(msg)
            params["duration"] = str(duration)
        return await self._write("set_dnd_on", params)

    async def set_dnd_off(self) -> StatusResult:
        """Turn do not disturb off."""
        return await self._write("set_dnd_off")

    async def get_privacy(self) -> bool | None:
        """Caller-ID privacy as the HTML settings tab shows it (docs/settings-api.md §6.2).

        No JSON action reads it. None when the page shows no privacy checkbox (PSTN
        access is off for the platform) or is not such a page at all.
        """
        fields = {"account": self.account, **self._realm_field, "tab": "settings"}
        status, raw = await self._transfer(SETTINGS_PAGE, fields, write=False)
        return await off_loop_if_large(
            len(raw),
            lambda: privacy_from_settings_page(self._page_text(SETTINGS_PAGE, status, raw)),
        )

    async def set_privacy_on(self) -> StatusResult:
        """Hide the caller ID on outgoing calls."""
        return await self._write("set_privacy_on")

    async def set_privacy_off(self) -> StatusResult:
        """Show the caller ID on outgoing calls."""
        return await self._write("set_privacy_off")

    async def add_alias(self, username: str) -> StatusResult:
        """Add ``username@<account domain>`` as an alias of the account."""
        username = username.strip()
        if not username:
            msg = "The alias needs a user name"
            raise ValueError(msg)
        return await self._write("add_alias", {"username": username})

    async def add_balance(self, voucher_id: int, number: str) -> StatusResult:
        """Top up a prepaid account with the voucher ``voucher_id`` / ``number``.

        The number is what makes a voucher worth money: it goes in the form body only,
        and any text of the server's that repeats it, in any form, has it masked before
        it reaches an error or the log (docs/settings-api.md §5.18).
        """
        number = number.strip()
        if voucher_id < 1 or not number:
            msg = "A voucher needs a positive id and a number"
            raise ValueError(msg)
        hide = _masking(number)
        try:
            result = await self._write(
                "add_balance", {"id": str(voucher_id), "number": number}, hide=hide
            )
        except SipThorError as err:
            refused = _masked_error(err, hide)
        else:
            return result
        # Raised here, outside the handler, so that nothing chains the original to it.
        raise refused

    async def set_call_forwarding(
        self, targets: Mapping[ForwardingCondition, str | None]
    ) -> StatusResult:
        """Set the conditions in ``targets``; None or "" clears one.

        Conditions left out stay as they are. A target is a number, ``user@domain``,
        a SIP URI, ``<voice-mailbox>`` or ``<mobile-number>`` (docs/settings-api.md §6.3).
        """
        if not targets:
            msg = "Name at least one forwarding condition"
            raise ValueError(msg)
        params = {
            ForwardingCondition(condition).value: (target or "").strip()
            for condition, target in targets.items()
        }
        return await self._write("set_call_forwarding", params)


# How a voucher number may be repeated: its letters and digits in any case, grouped by
# up to three other characters (spaces, dashes, dots, what was markup).
_GROUPING: Final = r"[\W_]{0,3}"
_MASK: Final = "********"


def _masking(secret: str) -> Callable[[str], str]:
    """A function that masks every form of ``secret`` in a text."""
    characters = [character for character in secret if character.isalnum()] or list(secret)
    pattern = re.compile(
        _GROUPING.join(re.escape(character) for character in characters), re.IGNORECASE
    )

    def hide(text: str) -> str:
        # Full-width digits and the like read as the number too.
        readable = text if text.isascii() else unicodedata.normalize("NFKC", text)
        return pattern.sub(_MASK, readable)

    return hide


def _masked_error[E: SipThorError](err: E, hide: Callable[[str], str]) -> E:
    """``err`` with the secret masked in its text, cut from the errors it came from."""
    err.args = tuple(hide(arg) if isinstance(arg, str) else arg for arg in err.args)
    if isinstance(err, SipThorApiError):
        err.message = hide(err.message)
    # The errors it was raised from hold the server's text as it came.
    err.__cause__ = None
    err.__context__ = None
    err.__suppress_context__ = True
    return err
