"""Where the account's SIP server is: DNS SRV (RFC 3263 §4.2), or a server set by hand.

Order: ``_sips._tcp.<domain>`` (TLS), then ``_sip._tcp.<domain>`` (TCP), each by
priority and weight (RFC 2782); without SRV records the domain itself, TLS on 5061 then
TCP on 5060. UDP is never used: NOTIFYs must come back on the connection the client
opened, through the user's router. A TLS server's certificate must name the domain or
the SRV target.

The resolver is injectable: tests and benchmarks answer from a table, and Home
Assistant may share one among accounts.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from enum import StrEnum
import ipaddress
import logging
import random
import re
import socket
from typing import Any, Final, Protocol

from .errors import SipServerAddressError

_LOGGER = logging.getLogger(__name__)

DNS_TIMEOUT: Final = 5.0
_HOST: Final = re.compile(
    r"(?=.{1,253}$)[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
    r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*\.?"
)
_MANUAL: Final = re.compile(
    r"\s*(?P<host>\[[0-9A-Fa-f:.]+\]|[^:;\[\]\s]+)(?::(?P<port>\d{1,5}))?"
    r"(?:;transport=(?P<transport>[A-Za-z]+))?\s*"
)


def uri_host(host: str) -> str:
    """A host as a SIP URI or Via writes it: an IPv6 address in brackets."""
    return f"[{host}]" if ":" in host else host


def parse_host(text: str) -> str:
    """A host name, an IPv4 address, or an IPv6 address in brackets (returned without).

    Raises :class:`SipServerAddressError` for anything else.
    """
    if text.startswith("["):
        try:
            ipaddress.IPv6Address(text[1:-1])
        except ValueError as error:
            msg = "Not an IPv6 address in brackets"
            raise SipServerAddressError(msg) from error
        return text[1:-1]
    if not _HOST.fullmatch(text):
        msg = "Not a host name or an IPv4 address"
        raise SipServerAddressError(msg)
    return text


def parse_port(text: str | None) -> int | None:
    """A port as typed (None: none given); raises :class:`SipServerAddressError`."""
    if not text:
        return None
    port = int(text)
    if not 0 < port < 65536:  # noqa: PLR2004 - the TCP port range
        msg = "The port must be between 1 and 65535"
        raise SipServerAddressError(msg)
    return port


class Transport(StrEnum):
    """A SIP transport this client speaks."""

    TLS = "tls"
    TCP = "tcp"

    @property
    def default_port(self) -> int:
        """RFC 3261 §19.1.2: 5061 for TLS, 5060 otherwise."""
        return 5061 if self is Transport.TLS else 5060

    @property
    def via(self) -> str:
        """The name in a Via header."""
        return self.value.upper()


@dataclass(frozen=True, slots=True)
class ManualServer:
    """A SIP server set by hand: ``host[:port][;transport=tls|tcp]``."""

    host: str
    port: int | None = None
    transport: Transport | None = None

    @classmethod
    def parse(cls, text: str) -> ManualServer:
        """Read what a user typed; raises :class:`SipServerAddressError` when it is not that."""
        match = _MANUAL.fullmatch(text)
        if match is None:
            msg = "Expected host[:port][;transport=tls|tcp]"
            raise SipServerAddressError(msg)
        host = parse_host(match.group("host"))
        port = parse_port(match.group("port"))
        transport_name = (match.group("transport") or "").lower()
        if transport_name and transport_name not in Transport:
            msg = "The transport must be tls or tcp"
            raise SipServerAddressError(msg)
        return cls(host, port, Transport(transport_name) if transport_name else None)

    def __str__(self) -> str:
        """The form it was typed in."""
        port = f":{self.port}" if self.port else ""
        transport = f";transport={self.transport}" if self.transport else ""
        return f"{uri_host(self.host)}{port}{transport}"


@dataclass(frozen=True, slots=True)
class ServerTarget:
    """One place to connect to, and the names its TLS certificate may carry."""

    host: str
    port: int
    transport: Transport
    tls_names: tuple[str, ...] = ()

    def __str__(self) -> str:
        """``host:port;transport=tls``: what diagnostics show."""
        return f"{uri_host(self.host)}:{self.port};transport={self.transport}"


@dataclass(frozen=True, slots=True)
class SrvRecord:
    """One SRV answer."""

    priority: int
    weight: int
    port: int
    target: str


class SipResolver(Protocol):
    """What the channel asks DNS."""

    async def srv(self, name: str) -> list[SrvRecord]:
        """The SRV records of ``name``; empty when there are none."""

    async def addresses(self, host: str, port: int) -> list[str]:
        """The IP addresses of ``host``, in the order to try them."""


class DnsResolver:
    """SRV through aiodns (which Home Assistant ships), addresses through the system.

    Without aiodns, SRV lookups are skipped and the domain itself is used.
    """

    def __init__(self, **aiodns_options: Any) -> None:
        """Create the aiodns resolver on first use, inside the running loop.

        ``aiodns_options`` go to ``aiodns.DNSResolver`` (tests name a loopback server).
        """
        self._options = aiodns_options
        self._resolver: Any = None

    async def srv(self, name: str) -> list[SrvRecord]:
        """Answer from aiodns 3 (``query``) or 4 (``query_dns``); errors mean no records."""
        try:
            import aiodns  # noqa: PLC0415 - optional: only where the SRV lookup runs
        except ImportError:
            _LOGGER.debug("aiodns is not installed: no SRV lookup for %s", name)
            return []
        if self._resolver is None:
            self._resolver = aiodns.DNSResolver(**self._options)
        try:
            async with asyncio.timeout(DNS_TIMEOUT):
                if hasattr(self._resolver, "query_dns"):
                    result = await self._resolver.query_dns(name, "SRV")
                    return [
                        _srv(
                            record.data.priority,
                            record.data.weight,
                            record.data.port,
                            record.data.target,
                        )
                        for record in result.answer
                        if hasattr(record.data, "target")
                    ]
                answers = await self._resolver.query(name, "SRV")
                return [
                    _srv(answer.priority, answer.weight, answer.port, answer.host)
                    for answer in answers
                ]
        except (aiodns.error.DNSError, TimeoutError) as error:
            _LOGGER.debug("No SRV records for %s: %s", name, error)
            return []

    async def addresses(self, host: str, port: int) -> list[str]:
        """The system's answer (/etc/hosts included), IPv6 and IPv4 as it orders them."""
        infos = await asyncio.get_running_loop().getaddrinfo(
            host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP
        )
        seen: dict[str, None] = {}
        for *_, sockaddr in infos:
            seen.setdefault(str(sockaddr[0]))
        return list(seen)


def _is_address(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def _srv(priority: int, weight: int, port: int, target: str) -> SrvRecord:
    return SrvRecord(int(priority), int(weight), int(port), str(target).rstrip("."))


def order_srv(records: list[SrvRecord], rng: random.Random) -> list[SrvRecord]:
    """RFC 2782's order: by priority, then a weighted random draw within each priority."""
    ordered: list[SrvRecord] = []
    for priority in sorted({record.priority for record in records}):
        group = [record for record in records if record.priority == priority]
        while group:
            total = sum(record.weight for record in group)
            if total == 0:
                ordered.extend(group)
                break
            draw = rng.uniform(0, total)
            running = 0
            for index, record in enumerate(group):
                running += record.weight
                if running >= draw and record.weight:
                    ordered.append(group.pop(index))
                    break
    # A target of "." says the service is not offered (RFC 2782).
    return [record for record in ordered if record.target not in ("", ".")]


async def server_targets(
    domain: str,
    manual: ManualServer | None,
    resolver: SipResolver,
    rng: random.Random,
) -> list[ServerTarget]:
    """Where to connect, in order: TLS before TCP."""
    if manual is not None:
        # An address typed by hand is rarely in a certificate: the domain goes first.
        names = tuple(
            dict.fromkeys(
                (domain, manual.host) if _is_address(manual.host) else (manual.host, domain)
            )
        )
        transports = [manual.transport] if manual.transport else [Transport.TLS, Transport.TCP]
        return [
            ServerTarget(manual.host, manual.port or transport.default_port, transport, names)
            for transport in transports
        ]
    targets: list[ServerTarget] = []
    for service, transport in (("_sips._tcp", Transport.TLS), ("_sip._tcp", Transport.TCP)):
        for record in order_srv(await resolver.srv(f"{service}.{domain}"), rng):
            names = tuple(dict.fromkeys((domain, record.target)))
            targets.append(ServerTarget(record.target, record.port, transport, names))
    if targets:
        return targets
    return [
        ServerTarget(domain, transport.default_port, transport, (domain,))
        for transport in (Transport.TLS, Transport.TCP)
    ]
