"""Typed answers of the Settings API: the status of a write, and the account's settings.

Identity, registered devices, call forwarding, accept rules (do not disturb) and the
voice mailbox. Each is read tolerantly (reader.py); the call list is in call_history.py,
the prepaid balance and its history in balance.py.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Self

from .reader import ObjectReader, ValueReporter, object_list, to_int

VOICE_MAILBOX = "<voice-mailbox>"
MOBILE_NUMBER = "<mobile-number>"


@dataclass(frozen=True, slots=True)
class StatusResult:
    """The status object of write actions. ``message`` is set on success too."""

    success: bool
    message: str
    extra: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_json(cls, data: Any, report: ValueReporter | None = None) -> Self:
        """Read the JSON answer, tolerating odd or missing members."""
        reader = ObjectReader("status", data, report or ValueReporter())
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
        reader = ObjectReader("identity", data, report or ValueReporter())
        # Personal details no entity shows: not kept, so they cannot leak.
        reader.ignore("email", "first", "lastname", "pstn_caller_id", "quick_dial")
        return cls(
            sip_address=reader.text("sip_address", "") or "",
            mobile_number=reader.text("mobile_number") or None,
            timezone=reader.text("timezone") or None,
            no_answer_timeout=reader.integer("no_answer_timeout"),
            extra=reader.extra(),
        )


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
        reader = ObjectReader("registration", data, report or ValueReporter())
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
    return [Registration.from_json(item, report) for item in object_list("devices", data, report)]


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
        reader = ObjectReader("call forwarding", data, report or ValueReporter())
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
        reader = ObjectReader("accept rules", data, report or ValueReporter())
        # The groups a rule may name: this integration only writes everybody and nobody.
        reader.ignore("groups")
        persistent_raw = reader.raw("persistent")
        persistent: list[AcceptRule] = []
        if isinstance(persistent_raw, Mapping):
            items: Iterable[tuple[Any, Any]] = persistent_raw.items()
        else:
            items = enumerate(object_list("accept rules", persistent_raw, reader.report))
        for mask, rule in items:
            rule_reader = ObjectReader("accept rule", rule, reader.report)
            persistent.append(
                AcceptRule(
                    days=to_int(mask, lambda _value: None)
                    if isinstance(persistent_raw, Mapping)
                    else None,
                    start=rule_reader.text("start"),
                    stop=rule_reader.text("stop"),
                    groups=rule_reader.texts("groups"),
                )
            )
        temporary = ObjectReader("temporary accept rule", reader.raw("temporary"), reader.report)
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
        reader = ObjectReader("voicemail", data, report or ValueReporter())
        options = ObjectReader("voicemail options", reader.raw("Options"), reader.report)
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
