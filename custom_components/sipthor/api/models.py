"""Typed answers of the Settings API.

The server is PHP talking to a SOAP back end whose types are not published (docs/settings-api.md §5,
§9 question 3), so every field is read tolerantly: a number may come as a string, a
list may come as null, a key may be missing or new. A value that cannot be read is
kept in ``extra`` and reported in the log once per client (see :class:`ValueReporter`);
reading never raises, whatever JSON value it is given.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
import logging
import re
import threading
import time
from typing import Any, Final, Self

from .parse import UnparsableBodyError, on_event_loop, parse_body

_LOGGER = logging.getLogger(__package__)

VOICE_MAILBOX = "<voice-mailbox>"
MOBILE_NUMBER = "<mobile-number>"
# PHP's "Y-m-d H:i:s". Read by a pattern rather than strptime, which is ten times
# slower: an answer may hold thousands of times (docs/settings-api.md §5.4, §5.7).
_TIMESTAMP = re.compile(r"(\d{4})-(\d{1,2})-(\d{1,2}) (\d{1,2}):(\d{1,2}):(\d{1,2})", re.ASCII)


_ITEMS_PER_YIELD = 32
# Distinct unforeseen values logged per reporter: a hostile answer with thousands of
# unknown members must not write thousands of log lines.
MAX_REPORTS: Final = 20


class ValueReporter:
    """Logs each value the models did not foresee once: per model, key and problem.

    A client keeps one, so a new member is reported once for its account and not at
    every poll. Models read without one report per answer. Answers may be read in an
    executor thread, hence the lock.
    """

    def __init__(self, max_reports: int = MAX_REPORTS) -> None:
        """Report at most ``max_reports`` distinct values, then say that more were left."""
        self._max_reports = max_reports
        self._reported: set[tuple[str, str, str]] = set()
        self._lock = threading.Lock()
        self._silenced = False

    def __call__(self, model: str, key: str, problem: str, value: Any) -> None:
        """Log that ``model`` had ``problem`` with ``key``; never the value (it may be personal)."""
        marker = (model, key, problem)
        with self._lock:
            if marker in self._reported or self._silenced:
                return
            if len(self._reported) >= self._max_reports:
                self._silenced = True
                _LOGGER.warning(
                    "SIP Thor: more unforeseen values than %d; no longer reported",
                    self._max_reports,
                )
                return
            self._reported.add(marker)
        _LOGGER.warning(
            "SIP Thor %s: %s %r (%s); kept as is, please report it",
            model,
            problem,
            key[:100],
            type(value).__name__,
        )


class _Reader:
    """Reads the members of one JSON object, remembering which ones it used."""

    def __init__(self, model: str, data: Any, report: ValueReporter) -> None:
        self.model = model
        self.report = report
        if not isinstance(data, Mapping):
            if data is not None:
                report(model, "<answer>", "expected an object, got", data)
            data = {}
        self.data: Mapping[str, Any] = data
        self.used: set[str] = set()
        self.unreadable: dict[str, Any] = {}

    def _get(self, key: str) -> Any:
        self.used.add(key)
        return self.data.get(key)

    def _bad(self, key: str, value: Any) -> None:
        self.unreadable[key] = value
        self.report(self.model, key, "unexpected value for", value)

    def text(self, key: str, default: str | None = None) -> str | None:
        value = self._get(key)
        if value is None:
            return default
        if isinstance(value, str):
            return value
        if isinstance(value, int | float) and not isinstance(value, bool):
            return str(value)
        self._bad(key, value)
        return default

    def integer(self, key: str) -> int | None:
        return _to_int(self._get(key), lambda value: self._bad(key, value))

    def number(self, key: str) -> float | None:
        value = self._get(key)
        if value is None or value == "":
            return None
        if isinstance(value, bool):
            self._bad(key, value)
            return None
        if isinstance(value, int | float):
            return float(value)
        if isinstance(value, str):
            try:
                return float(value.strip())
            except ValueError:
                pass
        self._bad(key, value)
        return None

    def flag(self, key: str) -> bool | None:
        value = self._get(key)
        if value is None or isinstance(value, bool):
            return value
        if isinstance(value, int | float):
            return bool(value)
        if isinstance(value, str) and value.strip().lower() in _BOOL_TEXT:
            return _BOOL_TEXT[value.strip().lower()]
        self._bad(key, value)
        return None

    def texts(self, key: str) -> list[str]:
        return _str_list(self._get(key), lambda value: self._bad(key, value))

    def timestamp(self, key: str) -> datetime | None:
        value = self._get(key)
        if value is None or value == "":
            return None
        if isinstance(value, str) and (match := _TIMESTAMP.fullmatch(value.strip())):
            try:
                # Naive on purpose: the zone is the caller's call (docs/settings-api.md §9
                # question 8).
                year, month, day, hour, minute, second = map(int, match.groups())
                return datetime(year, month, day, hour, minute, second)  # noqa: DTZ001
            except ValueError:  # a day or an hour out of range
                pass
        self._bad(key, value)
        return None

    def raw(self, key: str) -> Any:
        return self._get(key)

    def ignore(self, *keys: str) -> None:
        """Members the server sends that nothing here uses: neither kept nor reported."""
        self.used.update(keys)

    def extra(self) -> dict[str, Any]:
        """Members not read (new keys) plus members whose value could not be read."""
        extra = {key: value for key, value in self.data.items() if key not in self.used}
        for key, value in extra.items():
            self.report(self.model, key, "unknown member", value)
        return extra | self.unreadable


_BOOL_TEXT = {"true": True, "1": True, "yes": True, "false": False, "0": False, "no": False}


def _to_int(value: Any, bad: Callable[[Any], None]) -> int | None:
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        bad(value)
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str):
        try:
            return int(value.strip())
        except ValueError:
            try:
                number = float(value.strip())
            except ValueError:
                number = None
            if number is not None and number.is_integer():
                return int(number)
    bad(value)
    return None


def _str_list(value: Any, bad: Callable[[Any], None]) -> list[str]:
    """A list of strings; PHP gives ``null`` or ``[]`` for none, sometimes ``{}``."""
    if value is None or value in ({}, ""):
        return []
    if isinstance(value, str):
        return [value]
    if isinstance(value, list):
        items = [item for item in value if isinstance(item, str)]
        if len(items) != len(value):
            bad(value)
        return items
    bad(value)
    return []


def _object_list(model: str, value: Any, report: ValueReporter) -> Iterator[Any]:
    """A list of objects that PHP may send as null, [] or a map keyed by index."""
    if value is None or value == "":
        return iter(())
    if isinstance(value, list):
        return _yielding(value)
    if isinstance(value, Mapping):
        return _yielding(list(value.values()))
    report(model, "<answer>", "expected a list, got", value)
    return iter(())


def _yielding(items: list[Any]) -> Iterator[Any]:
    """The items; every few, let another thread take the interpreter lock.

    A large answer is read in an executor thread (the client's choice), and the event
    loop's thread would otherwise wait out the 5 ms switch interval each time it needs
    the lock back.
    """
    if on_event_loop():  # small answers are read there, and it must never sleep
        yield from items
        return
    for index, item in enumerate(items, 1):
        if index % _ITEMS_PER_YIELD == 0:
            time.sleep(0)
        yield item


def string_list(model: str, data: Any, report: ValueReporter | None = None) -> list[str]:
    """A top-level list of strings: aliases, ENUM numbers, rejected callers."""
    report = report or ValueReporter()
    return _str_list(data, lambda value: report(model, "<answer>", "odd list", value))


@dataclass(frozen=True, slots=True)
class StatusResult:
    """The status object of write actions. ``message`` is set on success too."""

    success: bool
    message: str
    extra: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_json(cls, data: Any, report: ValueReporter | None = None) -> Self:
        """Read the JSON answer, tolerating odd or missing members."""
        reader = _Reader("status", data, report or ValueReporter())
        return cls(
            success=reader.raw("success") is True,
            message=reader.text("error_message", "") or "",
            extra=reader.extra(),
        )


@dataclass(frozen=True, slots=True)
class Identity:
    """``get_identity``: who the account is (docs/settings-api.md §5.1)."""

    sip_address: str
    mobile_number: str | None
    timezone: str | None
    no_answer_timeout: int | None
    extra: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_json(cls, data: Any, report: ValueReporter | None = None) -> Self:
        """Read the JSON answer, tolerating odd or missing members."""
        reader = _Reader("identity", data, report or ValueReporter())
        # Personal details no entity shows: not kept, so they cannot leak.
        reader.ignore("email", "first", "lastname", "pstn_caller_id", "quick_dial")
        return cls(
            sip_address=reader.text("sip_address", "") or "",
            mobile_number=reader.text("mobile_number") or None,
            timezone=reader.text("timezone") or None,
            no_answer_timeout=reader.integer("no_answer_timeout"),
            extra=reader.extra(),
        )


# NGNPro's PrepaidStatus is unpublished (docs/settings-api.md §9 question 3). CDRTool's own prepaid
# engine counts calls in progress as ``session_counter`` and keeps them in
# ``active_sessions``; these are the names an answer carrying them is likely to use.
_ACTIVE_CALL_COUNTS = ("session_counter", "sessionCount", "sessionCounter", "activeCalls")
_ACTIVE_CALL_LISTS = ("active_sessions", "activeSessions", "sessions")


@dataclass(frozen=True, slots=True)
class PrepaidStatus:
    """``get_prepaid``: the balance, in a currency the API does not name.

    See docs/settings-api.md §5.6.
    """

    balance: float | None
    active_calls: int | None
    extra: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_json(cls, data: Any, report: ValueReporter | None = None) -> Self:
        """Read the JSON answer, tolerating odd or missing members."""
        reader = _Reader("prepaid", data, report or ValueReporter())
        balance = reader.number("balance")
        active_calls: int | None = None
        for key in _ACTIVE_CALL_COUNTS:
            if key in reader.data:
                active_calls = reader.integer(key)
                break
        else:
            for key in _ACTIVE_CALL_LISTS:
                if key in reader.data:
                    active_calls = _count_sessions(reader.raw(key))
                    break
        return cls(balance=balance, active_calls=active_calls, extra=reader.extra())


def _count_sessions(value: Any) -> int | None:
    if isinstance(value, list | Mapping):
        return len(value)
    if value in (None, ""):
        return 0
    if isinstance(value, str):
        # CDRTool stores the list as JSON text in its prepaid table.
        try:
            return _count_sessions(parse_body(value).value)
        except UnparsableBodyError:
            return None
    return None


class Transport(StrEnum):
    """How a device registered."""

    UDP = "udp"
    TCP = "tcp"
    TLS = "tls"
    WS = "ws"
    WSS = "wss"
    OTHER = "other"


@dataclass(frozen=True, slots=True)
class Registration:
    """One registered contact from ``get_devices`` (docs/settings-api.md §5.5)."""

    contact: str
    public_contact: str
    expires: int | None
    user_agent: str
    transport: Transport
    transport_name: str
    extra: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_json(cls, data: Any, report: ValueReporter | None = None) -> Self:
        """Read the JSON answer, tolerating odd or missing members."""
        reader = _Reader("registration", data, report or ValueReporter())
        contact = reader.text("contact", "") or ""
        transport_name = (reader.text("transport", "") or "").lower()
        try:
            transport = Transport(transport_name)
        except ValueError:
            transport = Transport.OTHER
        return cls(
            contact=contact,
            public_contact=reader.text("publicContact") or contact,
            expires=reader.integer("expires"),
            user_agent=reader.text("user_agent", "") or "",
            transport=transport,
            transport_name=transport_name,
            extra=reader.extra(),
        )

    @property
    def host(self) -> str:
        """The contact's address without the port (IPv6 is joined with a bare ``:``)."""
        host, colon, port = self.contact.rpartition(":")
        return host if colon and port.isdigit() else self.contact

    @property
    def behind_nat(self) -> bool:
        """Whether the registrar saw the device at another public address."""
        return self.public_contact != self.contact


def registrations_from_json(data: Any, report: ValueReporter | None = None) -> list[Registration]:
    """``get_devices`` is ``null`` when nothing is registered."""
    report = report or ValueReporter()
    return [Registration.from_json(item, report) for item in _object_list("devices", data, report)]


class CallDirection(StrEnum):
    """Whether the account placed or received a call."""

    PLACED = "placed"
    RECEIVED = "received"


@dataclass(frozen=True, slots=True)
class Call:
    """One completed call from ``get_history`` (docs/settings-api.md §5.4).

    The server prints times without a zone. Which zone they are in is an open
    question (docs/settings-api.md §9 question 8), so they stay naive here and the caller decides.
    """

    direction: CallDirection
    remote_party: str
    display_name: str
    start_time: datetime | None
    timezone: str | None
    duration: int
    status: int | None
    price: float | None
    session_id: str
    from_tag: str
    media: list[str]
    extra: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_json(
        cls, direction: CallDirection, data: Any, report: ValueReporter | None = None
    ) -> Self:
        """Read the JSON answer, tolerating odd or missing members."""
        reader = _Reader(f"{direction} call", data, report or ValueReporter())
        reader.ignore("stopTime", "toTag", "proxyIP")
        return cls(
            direction=direction,
            remote_party=reader.text("remoteParty", "") or "",
            display_name=reader.text("displayName", "") or "",
            start_time=reader.timestamp("startTime"),
            timezone=reader.text("timezone") or None,
            duration=reader.integer("duration") or 0,
            status=reader.integer("status"),
            price=reader.number("price"),
            session_id=reader.text("sessionId", "") or "",
            from_tag=reader.text("fromTag", "") or "",
            media=[item for item in reader.texts("media") if item],
            extra=reader.extra(),
        )

    @property
    def key(self) -> str:
        """Identifies the call across polls by ``sessionId`` and ``fromTag``.

        See docs/settings-api.md §7.
        """
        return f"{self.direction}:{self.session_id}:{self.from_tag}"

    @property
    def missed(self) -> bool:
        """A received call nobody answered: duration 0, as Blink reads it."""
        return self.direction is CallDirection.RECEIVED and self.duration == 0

    @property
    def caller(self) -> str:
        """The remote party without the ``sip:`` scheme."""
        return strip_sip_scheme(self.remote_party)


def strip_sip_scheme(uri: str) -> str:
    """``sip:bob@example.net`` → ``bob@example.net``."""
    scheme, colon, rest = uri.partition(":")
    return rest if colon and scheme.lower() in ("sip", "sips") else uri


@dataclass(frozen=True, slots=True)
class CallHistory:
    """``get_history``: completed calls of the last 14 days, at most 50 per direction."""

    placed: list[Call]
    received: list[Call]

    @classmethod
    def from_json(cls, data: Any, report: ValueReporter | None = None) -> Self:
        """Read the JSON answer, tolerating odd or missing members."""
        reader = _Reader("history", data, report or ValueReporter())
        placed = _object_list("history", reader.raw("placed"), reader.report)
        received = _object_list("history", reader.raw("received"), reader.report)
        reader.extra()
        return cls(
            placed=[Call.from_json(CallDirection.PLACED, item, reader.report) for item in placed],
            received=[
                Call.from_json(CallDirection.RECEIVED, item, reader.report) for item in received
            ],
        )

    @property
    def calls(self) -> list[Call]:
        """Both directions, newest first; calls without a start time last."""
        return sorted(
            [*self.placed, *self.received],
            key=lambda call: call.start_time or datetime.min,  # noqa: DTZ901 - naive times
            reverse=True,
        )


@dataclass(frozen=True, slots=True)
class BalanceEntry:
    """One line of ``get_balance_history`` (docs/settings-api.md §5.7)."""

    date: datetime | None
    action: str
    description: str
    value: float | None
    balance: float | None
    extra: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_json(cls, data: Any, report: ValueReporter | None = None) -> Self:
        """Read the JSON answer, tolerating odd or missing members."""
        reader = _Reader("balance entry", data, report or ValueReporter())
        reader.ignore("session")
        return cls(
            date=reader.timestamp("date"),
            action=reader.text("action", "") or "",
            description=reader.text("description", "") or "",
            value=reader.number("value"),
            balance=reader.number("balance"),
            extra=reader.extra(),
        )


def balance_history_from_json(data: Any, report: ValueReporter | None = None) -> list[BalanceEntry]:
    """``null`` and ``[]`` both mean no entries."""
    report = report or ValueReporter()
    return [
        BalanceEntry.from_json(item, report)
        for item in _object_list("balance history", data, report)
    ]


@dataclass(frozen=True, slots=True)
class MonthlyUsage:
    """``get_monthly_usage``, on servers where it works (docs/settings-api.md §5.8)."""

    calls: int | None
    price: float | None
    extra: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_json(cls, data: Any, report: ValueReporter | None = None) -> Self:
        """Read the JSON answer, tolerating odd or missing members."""
        reader = _Reader("monthly usage", data, report or ValueReporter())
        return cls(
            calls=reader.integer("calls"), price=reader.number("price"), extra=reader.extra()
        )


class ForwardingCondition(StrEnum):
    """The five call-forwarding conditions, in the server's order (docs/settings-api.md §5.9)."""

    ALWAYS = "FUNC"
    NOT_ONLINE = "FNOL"
    BUSY = "FBUS"
    NO_ANSWER = "FNOA"
    UNAVAILABLE = "FUNV"


@dataclass(frozen=True, slots=True)
class CallForwarding:
    """``get_call_forwarding``: the target of each condition, None when off.

    Targets read back without ``sip:``; ``<voice-mailbox>`` stands for voicemail.
    """

    targets: dict[ForwardingCondition, str | None]
    extra: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_json(cls, data: Any, report: ValueReporter | None = None) -> Self:
        """Read the JSON answer, tolerating odd or missing members."""
        reader = _Reader("call forwarding", data, report or ValueReporter())
        # NGNPro may send "" instead of null for an unset condition (docs/settings-api.md §9
        # question 7).
        targets = {
            condition: reader.text(condition.value) or None for condition in ForwardingCondition
        }
        return cls(targets=targets, extra=reader.extra())

    def target(self, condition: ForwardingCondition) -> str | None:
        """The target of ``condition``, or None when it is off."""
        return self.targets.get(condition)


@dataclass(frozen=True, slots=True)
class AcceptRule:
    """A persistent accept rule: who may call between two times on some days."""

    days: int | None
    start: str | None
    stop: str | None
    groups: list[str]


class DndState(StrEnum):
    """Do not disturb as read from the temporary accept rule (docs/settings-api.md §6.1)."""

    OFF = "off"
    ON = "on"
    # ``nobody`` with 0 minutes left: set without a duration, or expired without
    # NGNPro resetting the groups (docs/settings-api.md §9 question 4). Only the caller can tell.
    ON_OR_EXPIRED = "on_or_expired"


@dataclass(frozen=True, slots=True)
class AcceptRules:
    """``get_accept_rules``: the persistent rules and the temporary rule."""

    persistent: list[AcceptRule]
    temporary_groups: list[str]
    temporary_minutes: int
    extra: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_json(cls, data: Any, report: ValueReporter | None = None) -> Self:
        """Read the JSON answer, tolerating odd or missing members."""
        reader = _Reader("accept rules", data, report or ValueReporter())
        # The groups a rule may name: this integration only writes everybody and nobody.
        reader.ignore("groups")
        persistent_raw = reader.raw("persistent")
        persistent: list[AcceptRule] = []
        if isinstance(persistent_raw, Mapping):
            items: Iterable[tuple[Any, Any]] = persistent_raw.items()
        else:
            items = enumerate(_object_list("accept rules", persistent_raw, reader.report))
        for mask, rule in items:
            rule_reader = _Reader("accept rule", rule, reader.report)
            persistent.append(
                AcceptRule(
                    days=_to_int(mask, lambda _value: None)
                    if isinstance(persistent_raw, Mapping)
                    else None,
                    start=rule_reader.text("start"),
                    stop=rule_reader.text("stop"),
                    groups=rule_reader.texts("groups"),
                )
            )
        temporary = _Reader("temporary accept rule", reader.raw("temporary"), reader.report)
        return cls(
            persistent=persistent,
            temporary_groups=temporary.texts("groups"),
            temporary_minutes=max(temporary.integer("duration") or 0, 0),
            extra=reader.extra(),
        )

    @property
    def dnd_state(self) -> DndState:
        """Do not disturb is on when ``nobody`` may call (docs/settings-api.md §6.1)."""
        if "nobody" not in self.temporary_groups:
            return DndState.OFF
        return DndState.ON if self.temporary_minutes > 0 else DndState.ON_OR_EXPIRED

    @property
    def dnd_minutes_left(self) -> int | None:
        """Minutes until a timed do not disturb ends; None when it is not timed."""
        return self.temporary_minutes if self.dnd_state is DndState.ON else None


@dataclass(frozen=True, slots=True)
class Voicemail:
    """``get_voicemail``: the mailbox (docs/settings-api.md §5.12).

    The PIN never appears in repr.
    """

    mailbox: str
    pin: str | None = field(repr=False)
    name: str | None
    email: str | None
    delete_after_email: bool | None
    account: str | None
    extra: dict[str, Any] = field(default_factory=dict, repr=False)

    @classmethod
    def from_json(cls, data: Any, report: ValueReporter | None = None) -> Self:
        """Read the JSON answer, tolerating odd or missing members."""
        reader = _Reader("voicemail", data, report or ValueReporter())
        options = _Reader("voicemail options", reader.raw("Options"), reader.report)
        delete = options.flag("delete")
        mailbox = reader.text("Mailbox", "") or ""
        pin = reader.text("Password") or None
        name = reader.text("Name") or None
        email = reader.text("Email") or None
        reader.ignore("Info")
        account = reader.text("Account") or None
        extra = reader.extra()
        if options_extra := options.extra():
            extra["Options"] = options_extra
        return cls(
            mailbox=mailbox,
            pin=pin,
            name=name,
            email=email,
            delete_after_email=delete,
            account=account,
            extra=extra,
        )
