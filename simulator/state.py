"""What the simulated platform knows about its SIP accounts, and how it changes.

Writes change what reads return; the temporary accept rule (do not disturb) counts
down on the simulator's clock, which tests can move with :meth:`Platform.advance`.
"""

from __future__ import annotations

from collections.abc import Callable
import copy
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
import itertools
import math
import time
from typing import Any, Literal
from zoneinfo import ZoneInfo

type Json = Any
FORWARDING_CONDITIONS = ("FUNC", "FNOL", "FBUS", "FNOA", "FUNV")
_TIME_FORMAT = "%Y-%m-%d %H:%M:%S"


@dataclass
class SimulatedCall:
    """A completed call; ``started`` is a UTC time, rendered per the server's zone."""

    direction: Literal["placed", "received"]
    remote_party: str
    display_name: str
    started: datetime
    duration: int
    status: int
    price: float | None = None
    session_id: str = ""
    from_tag: str = ""
    to_tag: str = ""
    media: list[str] = field(default_factory=lambda: ["audio"])


@dataclass
class SimulatedAccount:
    """One SIP account as NGNPro would hold it."""

    username: str
    domain: str
    owner: int
    # The SIP password: it locks the .p12 download and signs in on the Digest page.
    password: str
    # A separate password for the settings page (the ``web_password`` property); when
    # set, the Digest page takes it instead of the SIP password (docs/settings-api.md §2.5).
    web_password: str | None = None
    # NGNPro hands out only the HA1 of the SIP password (a platform storing hashes), so
    # the Digest page checks it against the bare user name in the account's domain.
    password_as_ha1: bool = False
    first_name: str | None = None
    last_name: str | None = None
    email: str | None = None
    pstn_caller_id: str | None = None
    mobile_number: str = ""
    timezone: str = "Europe/Amsterdam"
    no_answer_timeout: int = 35
    quick_dial: str | None = None
    language: str = "en"
    prepaid: bool = True
    balance: float = 0.0
    # Whether get_prepaid carries the number of calls in progress (an unpublished
    # member of NGNPro's PrepaidStatus; the simulator names it as CDRTool's engine does).
    report_active_calls: bool = False
    active_calls: int = 0
    registrations: list[dict[str, Json]] = field(default_factory=list)
    calls: list[SimulatedCall] = field(default_factory=list)
    forwarding: dict[str, str] = field(default_factory=dict)
    persistent_rules: dict[str, dict[str, Json]] = field(default_factory=dict)
    temporary_groups: list[str] = field(default_factory=lambda: ["everybody"])
    # Clock time at which a timed do not disturb ends; None when not timed.
    dnd_until: float | None = None
    contact_groups: list[str] = field(default_factory=list)
    privacy: bool = False
    aliases: list[str] = field(default_factory=list)
    enum_numbers: list[str] = field(default_factory=list)
    rejected: list[str] = field(default_factory=list)
    voicemail: dict[str, Json] | None = None
    # Dates in UTC ("YYYY-MM-DD HH:MM:SS"); printed in the zone of the call list.
    balance_history: list[dict[str, Json]] = field(default_factory=list)
    monthly_calls: int = 0
    monthly_price: float = 0.0

    @property
    def address(self) -> str:
        """``user@domain``."""
        return f"{self.username}@{self.domain}"


@dataclass
class SimulatedVoucher:
    """A prepaid card of the platform: worth ``value`` once, then used."""

    value: float
    used: bool = False


@dataclass
class Behaviour:
    """Answers to the open questions of docs/settings-api.md §9, so tests can try each of them."""

    # Question 2: a certificate whose CN is user@domain has owner 0. True: NGNPro
    # treats owner 0 as "no owner filter", so enrollment certificates work.
    owner_zero_matches_any: bool = True
    # Question 4: after a timed DND runs out, "reset" puts "everybody" back; "keep"
    # leaves "nobody" with 0 minutes, which reads like an indefinite DND.
    dnd_expiry: Literal["reset", "keep"] = "reset"
    # Question 5: NGNPro faults when adding the account to "anonymous" twice.
    privacy_on_fails_when_set: bool = False
    # Question 6: clearing the last forwarding condition fails.
    clear_all_forwarding_fails: bool = False
    # Question 7: unset forwarding conditions read back as "" instead of null.
    unset_forwarding_as_empty_string: bool = False
    # Question 8: history times in the account's zone ("account") or PHP's default
    # zone, UTC ("utc").
    history_timezone: Literal["account", "utc"] = "account"
    # get_monthly_usage works as on CDRTool before 2022-11 instead of HTTP 500.
    legacy_monthly_usage: bool = False
    # The settings tab shows the caller-ID privacy checkbox only where PSTN access is
    # enabled for the engine or reseller (docs/settings-api.md §6.2).
    privacy_checkbox: bool = True


_MESSAGES: dict[str, dict[str, str]] = {
    "nl": {
        "Do not disturb has been enabled": "Niet storen is ingeschakeld",
        "Do not disturb has been enabled for %d minutes": (
            "Niet storen is ingeschakeld voor %d minuten"
        ),
        "Do not disturb has been disabled": "Niet storen is uitgeschakeld",
        "Caller-ID is now hidden for outgoing calls": (
            "Nummerweergave is nu verborgen voor uitgaande gesprekken"
        ),
        "Caller-ID is now visible for outgoing calls": (
            "Nummerweergave is nu zichtbaar voor uitgaande gesprekken"
        ),
        "Added alias %s": "Alias %s toegevoegd",
        "Changed diversions ": "Doorschakelingen gewijzigd ",
    }
}


class Platform:
    """The accounts, the clock and the behaviour of the simulated platform."""

    def __init__(
        self,
        accounts: list[SimulatedAccount] | None = None,
        *,
        clock: Callable[[], float] | None = None,
        behaviour: Behaviour | None = None,
        vouchers: dict[tuple[int, str], SimulatedVoucher] | None = None,
    ) -> None:
        """Start with ``accounts`` (the demo accounts when None) and ``vouchers``.

        Vouchers are keyed by id and number, as NGNPro's PrepaidCard names them; the
        demo vouchers when None.
        """
        # Looked up at each call, so that a test's frozen clock (freezegun) applies.
        self._clock = clock or (lambda: time.time())  # noqa: PLW0108
        self._offset = 0.0
        self.behaviour = behaviour or Behaviour()
        self.accounts: dict[str, SimulatedAccount] = {}
        for account in demo_accounts(self.now()) if accounts is None else accounts:
            self.add_account(account)
        self._ids = itertools.count(1)
        self.vouchers = demo_vouchers() if vouchers is None else vouchers

    def add_account(self, account: SimulatedAccount) -> None:
        """Make ``account`` known to the platform."""
        self.accounts[account.address] = account

    def now(self) -> datetime:
        """The simulator's current time (UTC)."""
        return datetime.fromtimestamp(self.timestamp(), UTC)

    def timestamp(self) -> float:
        """The simulator's clock, in seconds."""
        return self._clock() + self._offset

    def advance(self, seconds: float) -> None:
        """Move the simulator's clock forward."""
        self._offset += seconds

    def find(self, username: str, domain: str, owner: int) -> list[SimulatedAccount]:
        """NGNPro ``Sip.getAccounts`` filtered on user, domain and owner.

        See docs/settings-api.md §2.2.
        """
        return [
            account
            for account in self.accounts.values()
            if account.username == username
            and account.domain == domain
            and (account.owner == owner or (owner == 0 and self.behaviour.owner_zero_matches_any))
        ]

    def message(self, account: SimulatedAccount, text: str, *args: object) -> str:
        """An info text in the account's language, as gettext would give it."""
        translated = _MESSAGES.get(account.language, {}).get(text, text)
        return translated % args if args else translated

    # -- reads ------------------------------------------------------------------------

    def identity(self, account: SimulatedAccount) -> Json:
        return {
            "sip_address": account.address,
            "email": account.email,
            "first": account.first_name,
            "lastname": account.last_name,
            "pstn_caller_id": account.pstn_caller_id,
            "mobile_number": account.mobile_number,
            "timezone": account.timezone,
            "no_answer_timeout": account.no_answer_timeout or 35,
            "quick_dial": account.quick_dial,
        }

    def prepaid(self, account: SimulatedAccount) -> Json:
        if not account.prepaid:
            return None
        status: dict[str, Json] = {"balance": float(account.balance)}
        if account.report_active_calls:
            status["session_counter"] = account.active_calls
        return status

    def _history_zone(self, account: SimulatedAccount) -> Any:
        """The zone the call list and the balance history are printed in."""
        return ZoneInfo(account.timezone) if self.behaviour.history_timezone == "account" else UTC

    def history(self, account: SimulatedAccount) -> Json:
        zone = self._history_zone(account)
        since = self.now() - timedelta(days=14)
        answer: dict[str, Json] = {}
        for direction in ("placed", "received"):
            calls = sorted(
                (
                    call
                    for call in account.calls
                    if call.direction == direction and since <= call.started <= self.now()
                ),
                key=lambda call: call.started,
                reverse=True,
            )[:50]
            answer[direction] = [self._call(account, call, zone) for call in calls] or None
        return answer

    @staticmethod
    def _call(account: SimulatedAccount, call: SimulatedCall, zone: Any) -> Json:
        entry: dict[str, Json] = {
            "remoteParty": call.remote_party,
            "displayName": call.display_name if call.direction == "received" else "",
            "startTime": call.started.astimezone(zone).strftime(_TIME_FORMAT),
            "stopTime": (call.started + timedelta(seconds=call.duration or 19))
            .astimezone(zone)
            .strftime(_TIME_FORMAT),
            "timezone": account.timezone,
            "duration": call.duration,
            "status": call.status,
        }
        if call.direction == "placed":
            entry["price"] = float(call.price or 0.0)
        entry |= {
            "sessionId": call.session_id,
            "fromTag": call.from_tag,
            "toTag": call.to_tag,
            "proxyIP": "192.0.2.10",
            "media": call.media or [""],
        }
        return entry

    def devices(self, account: SimulatedAccount) -> Json:
        return copy.deepcopy(account.registrations) or None

    def forwarding(self, account: SimulatedAccount) -> Json:
        unset = "" if self.behaviour.unset_forwarding_as_empty_string else None
        answer: dict[str, Json] = {}
        for condition in FORWARDING_CONDITIONS:
            stored = account.forwarding.get(condition)
            if not stored:
                answer[condition] = unset
            elif stored == "<voice-mailbox>":
                answer[condition] = stored
            else:
                lowered = stored.lower()
                prefix = (
                    5 if lowered.startswith("sips:") else 4 if lowered.startswith("sip:") else 0
                )
                answer[condition] = stored[prefix:]
        return answer

    def accept_rules(self, account: SimulatedAccount) -> Json:
        self._expire_dnd(account)
        minutes = 0
        if account.dnd_until is not None:
            minutes = max(0, math.ceil((account.dnd_until - self.timestamp()) / 60))
        answer: dict[str, Json] = {}
        if account.persistent_rules:
            answer["persistent"] = copy.deepcopy(account.persistent_rules)
        answer["temporary"] = {"groups": list(account.temporary_groups), "duration": minutes}
        answer["groups"] = ["everybody", "nobody", *account.contact_groups]
        return answer

    def _expire_dnd(self, account: SimulatedAccount) -> None:
        if account.dnd_until is None or account.dnd_until > self.timestamp():
            return
        account.dnd_until = None
        if self.behaviour.dnd_expiry == "reset":
            account.temporary_groups = ["everybody"]

    def balance_history(self, account: SimulatedAccount) -> Json:
        """The entries, their dates (kept in UTC) printed as the call list's times are."""
        if not account.balance_history:
            return copy.deepcopy(account.balance_history)
        zone = self._history_zone(account)
        return [
            {
                **copy.deepcopy(entry),
                "date": datetime.strptime(entry["date"], _TIME_FORMAT)
                .replace(tzinfo=UTC)
                .astimezone(zone)
                .strftime(_TIME_FORMAT),
            }
            for entry in account.balance_history
        ]

    def monthly_usage(self, account: SimulatedAccount) -> Json:
        return {"calls": account.monthly_calls, "price": float(account.monthly_price)}

    # -- writes -----------------------------------------------------------------------

    def set_dnd(self, account: SimulatedAccount, minutes: int | None) -> str:
        """``minutes`` None turns DND off; 0 turns it on without an end."""
        if minutes is None:
            account.temporary_groups = ["everybody"]
            account.dnd_until = None
            return self.message(account, "Do not disturb has been disabled")
        account.temporary_groups = ["nobody"]
        if minutes > 0:
            account.dnd_until = self.timestamp() + minutes * 60
            return self.message(account, "Do not disturb has been enabled for %d minutes", minutes)
        account.dnd_until = None
        return self.message(account, "Do not disturb has been enabled")

    def add_balance(self, account: SimulatedAccount, voucher_id: int, number: str) -> str | None:
        """Spend a voucher on a prepaid account: None, or NGNPro's fault text.

        A card is found by id and number together; a wrong number, a used card and a
        postpaid account each give a fault (codes and texts are inferred: the WSDL is
        not public, docs/settings-api.md §9 question 3).
        """
        voucher = self.vouchers.get((voucher_id, number))
        if not account.prepaid:
            return "Error (SipPort): Account is not prepaid (1040): Not a prepaid account"
        if voucher is None:
            return "Error (SipPort): Invalid prepaid card (1050): Prepaid card not found"
        if voucher.used:
            return "Error (SipPort): Invalid prepaid card (1051): Prepaid card already used"
        voucher.used = True
        account.balance = round(account.balance + voucher.value, 4)
        account.balance_history.insert(
            0,
            {
                "date": self.now().strftime(_TIME_FORMAT),
                "action": "Add balance",
                "description": f"Prepaid card {voucher_id}",
                "value": float(voucher.value),
                "balance": account.balance,
                "session": "",
            },
        )
        return None

    def add_call(
        self,
        address: str,
        direction: Literal["placed", "received"],
        remote_party: str,
        *,
        duration: int = 0,
        display_name: str = "",
        seconds_ago: float = 60,
        price: float | None = None,
    ) -> SimulatedCall:
        """Record a completed call, as if it had just ended."""
        number = next(self._ids)
        call = SimulatedCall(
            direction=direction,
            remote_party=remote_party,
            display_name=display_name,
            started=self.now() - timedelta(seconds=seconds_ago),
            duration=duration,
            status=200 if duration else 487,
            price=price if direction == "placed" else None,
            session_id=f"sim-{number}-{int(self.timestamp())}@192.0.2.44",
            from_tag=f"tag{number}",
            to_tag=f"to{number}" if duration else "",
        )
        self.accounts[address].calls.append(call)
        return call


def demo_vouchers() -> dict[tuple[int, str], SimulatedVoucher]:
    """Prepaid cards of the demo: two of 10.00, one of 25.00, one already used."""
    return {
        (1001, "4829175530612847"): SimulatedVoucher(10.0),
        (1002, "7315902648170394"): SimulatedVoucher(10.0),
        (1003, "5502718364950127"): SimulatedVoucher(25.0),
        (1004, "9081736452018836"): SimulatedVoucher(10.0, used=True),
    }


def demo_accounts(now: datetime) -> list[SimulatedAccount]:
    """The seeded platform: Alice (the demo), Bob (same owner, bare), Carol (Dutch)."""

    def ago(**delta: float) -> datetime:
        return now - timedelta(**delta)

    alice = SimulatedAccount(
        username="alice",
        domain="example.com",
        owner=1001,
        password="alice-sip-password",  # noqa: S106 - simulated account
        first_name="Alice",
        last_name="Jansen",
        email="alice.jansen@example.org",
        pstn_caller_id="31208001234",
        mobile_number="+31612345678",
        balance=12.3456,
        report_active_calls=True,
        registrations=[
            {
                "contact": "192.168.1.23:50634",
                "publicContact": "203.0.113.45:50634",
                "expires": 287,
                "user_agent": "Blink 6.0.2 (Linux)",
                "transport": "tls",
            },
            {
                "contact": "198.51.100.20:5060",
                "publicContact": "198.51.100.20:5060",
                "expires": 3241,
                "user_agent": "Grandstream HT802 1.0.53.2",
                "transport": "udp",
            },
        ],
        calls=[
            SimulatedCall(
                "placed",
                "sip:+31201234567@example.com",
                "",
                ago(days=1, hours=2),
                209,
                200,
                price=0.0627,
                session_id="a84b4c76e66710@198.51.100.7",
                from_tag="1928301774",
                to_tag="as6151a1b2",
            ),
            SimulatedCall(
                "received",
                "sip:bob@example.net",
                "Bob de Vries",
                ago(hours=5),
                0,
                487,
                session_id="f81d4fae7dec11d0a76500a0c91e6bf6@203.0.113.9",
                from_tag="8a2b7c1e",
            ),
            SimulatedCall(
                "received",
                "sip:carol@example.com",
                "Carol",
                ago(days=2, hours=3),
                617,
                200,
                session_id="5c1f0e2a-39d4-4b7e-9c11-0a7d2f3e8b61",
                from_tag="b7d0e3f9",
                to_tag="9c4e2a71",
                media=["audio", "video"],
            ),
            SimulatedCall(
                "received",
                "sip:+31851234567@example.com",
                "",
                ago(days=3),
                0,
                486,
                session_id="0d9e8c7b@198.51.100.8",
                from_tag="77aa",
                to_tag="",
            ),
            SimulatedCall(
                "received",
                "sip:dave@example.org",
                "Dave",
                ago(days=20),
                95,
                200,
                session_id="older-than-14-days@198.51.100.9",
                from_tag="old1",
                to_tag="old2",
            ),
        ],
        forwarding={"FBUS": "<voice-mailbox>", "FNOA": "<voice-mailbox>"},
        persistent_rules={
            "31": {"start": "09:00", "stop": "18:00", "groups": ["everybody"]},
        },
        contact_groups=["vip", "family"],
        aliases=["a.jansen@example.com", "alice.jansen@example.com"],
        enum_numbers=["+31208001234"],
        rejected=["sip:spammer@example.net"],
        voicemail={
            "Mailbox": "alice",
            "Password": "4821",
            "Name": "Alice Jansen",
            "Email": "alice.jansen@example.org",
            "Info": "",
            "Options": {"delete": False},
            "Account": "alice@vm.example.com",
        },
        balance_history=[
            {
                "date": ago(days=1, hours=2).strftime(_TIME_FORMAT),
                "action": "Debit balance",
                "description": "Session to 31201234567 for 209s",
                "value": -0.0627,
                "balance": 12.3456,
                "session": "a84b4c76e66710@198.51.100.7",
            },
            {
                "date": ago(days=9).strftime(_TIME_FORMAT),
                "action": "Set balance",
                "description": "Manual update",
                "value": 10.5,
                "balance": 12.4083,
                "session": "",
            },
        ],
        monthly_calls=37,
        monthly_price=4.1875,
    )
    bob = SimulatedAccount(
        username="bob",
        domain="example.com",
        owner=1001,
        password="bob-sip-password",  # noqa: S106 - simulated account
        first_name="Bob",
        balance=0.5,
    )
    carol = SimulatedAccount(
        username="carol",
        domain="example.net",
        owner=2002,
        password="carol-sip-password",  # noqa: S106 - simulated account
        first_name="Carol",
        last_name="de Wit",
        language="nl",
        balance=3.0,
        prepaid=False,
    )
    return [alice, bob, carol]
