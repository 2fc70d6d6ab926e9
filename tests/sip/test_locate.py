"""Finding the SIP server: SRV records (TLS first), the domain itself, or a server by hand."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
import random
import struct
import sys

import pytest

from custom_components.sipthor.api.sip import (
    DnsResolver,
    ManualServer,
    SipServerAddressError,
    SrvRecord,
    Transport,
)
from custom_components.sipthor.api.sip.locate import (
    ServerTarget,
    order_srv,
    server_targets,
    uri_host,
)
from tests.sip.helpers import TableResolver


def rng(seed: int = 0) -> random.Random:
    """Reproducible draws (SRV weights, not secrets)."""
    return random.Random(seed)  # noqa: S311


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("sip.example.com", ManualServer("sip.example.com")),
        ("sip.example.com:5070", ManualServer("sip.example.com", 5070)),
        ("192.0.2.7;transport=tcp", ManualServer("192.0.2.7", None, Transport.TCP)),
        (" [2001:db8::1]:5061;transport=TLS ", ManualServer("2001:db8::1", 5061, Transport.TLS)),
    ],
)
def test_a_server_typed_by_hand(text: str, expected: ManualServer) -> None:
    server = ManualServer.parse(text)
    assert server == expected
    assert ManualServer.parse(str(server)) == server


@pytest.mark.parametrize(
    "text",
    [
        "",
        "sip.example.com:0",
        "sip.example.com:70000",
        "sip.example.com;transport=udp",
        "sip:alice@example.com",
        "[not-an-address]:5061",
        "[1:2:3]:5061",
        "bad_host!",
        "host\r\nInjected: yes",
        "a" * 300,
    ],
)
def test_what_is_no_server_is_refused_typed(text: str) -> None:
    with pytest.raises(SipServerAddressError):
        ManualServer.parse(text)


def test_srv_order_is_priority_then_weighted_and_skips_dot() -> None:
    records = [
        SrvRecord(20, 0, 5061, "backup.example.com"),
        SrvRecord(10, 90, 5061, "heavy.example.com"),
        SrvRecord(10, 10, 5061, "light.example.com"),
        SrvRecord(30, 0, 5061, "."),
    ]
    firsts = [order_srv(records, rng(seed))[0].target for seed in range(200)]

    assert set(firsts) == {"heavy.example.com", "light.example.com"}
    assert firsts.count("heavy.example.com") > firsts.count("light.example.com")
    ordered = order_srv(records, rng(1))
    assert [record.target for record in ordered][-1] == "backup.example.com"
    assert len(ordered) == 3


async def test_tls_srv_records_come_before_tcp_ones() -> None:
    resolver = TableResolver(
        srv={
            "_sips._tcp.example.com": [SrvRecord(10, 0, 5061, "tls.example.com")],
            "_sip._tcp.example.com": [SrvRecord(10, 0, 5060, "tcp.example.com")],
        }
    )
    targets = await server_targets("example.com", None, resolver, rng())

    assert [str(target) for target in targets] == [
        "tls.example.com:5061;transport=tls",
        "tcp.example.com:5060;transport=tcp",
    ]
    # The certificate may name the domain or the SRV target.
    assert targets[0].tls_names == ("example.com", "tls.example.com")


async def test_without_srv_the_domain_itself_tls_then_tcp() -> None:
    targets = await server_targets("example.com", None, TableResolver(), rng())
    assert [str(target) for target in targets] == [
        "example.com:5061;transport=tls",
        "example.com:5060;transport=tcp",
    ]


async def test_a_server_by_hand_replaces_dns() -> None:
    resolver = TableResolver(srv={"_sips._tcp.example.com": [SrvRecord(1, 0, 1, "x")]})
    by_hand = await server_targets("example.com", ManualServer("pbx.lan", 5070), resolver, rng())
    assert [str(target) for target in by_hand] == [
        "pbx.lan:5070;transport=tls",
        "pbx.lan:5070;transport=tcp",
    ]
    assert by_hand[0].tls_names == ("pbx.lan", "example.com")
    by_address = await server_targets("example.com", ManualServer("192.0.2.7"), resolver, rng())
    assert by_address[0].tls_names == ("example.com", "192.0.2.7")
    tcp_only = await server_targets(
        "example.com", ManualServer("pbx.lan", None, Transport.TCP), resolver, rng()
    )
    assert [str(target) for target in tcp_only] == ["pbx.lan:5060;transport=tcp"]


# -- the default resolver, against a DNS server on loopback -----------------------------


def _name(labels: str) -> bytes:
    return b"".join(bytes([len(part)]) + part.encode() for part in labels.split(".")) + b"\0"


class _SrvServer(asyncio.DatagramProtocol):
    """Answers SRV queries from a table; NXDOMAIN for anything else."""

    def __init__(self, table: dict[str, list[SrvRecord]]) -> None:
        self.table = table
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.DatagramTransport)
        self.transport = transport

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        query_id = data[:2]
        position, labels = 12, []
        while data[position]:
            length = data[position]
            labels.append(data[position + 1 : position + 1 + length].decode())
            position += 1 + length
        question = data[12 : position + 5]
        records = self.table.get(".".join(labels), [])
        flags = 0x8180 if records else 0x8183
        answers = b"".join(
            b"\xc0\x0c"
            + struct.pack(">HHIH", 33, 1, 60, 6 + len(_name(record.target)))
            + struct.pack(">HHH", record.priority, record.weight, record.port)
            + _name(record.target)
            for record in records
        )
        header = query_id + struct.pack(">HHHHH", flags, 1, len(records), 0, 0)
        assert self.transport is not None
        self.transport.sendto(header + question + answers, addr)


@pytest.fixture
async def dns_server(socket_enabled: None) -> AsyncIterator[tuple[_SrvServer, int]]:
    table = {"_sips._tcp.example.com": [SrvRecord(10, 5, 5061, "sip.example.com")]}
    transport, protocol = await asyncio.get_running_loop().create_datagram_endpoint(
        lambda: _SrvServer(table), local_addr=("127.0.0.1", 0)
    )
    yield protocol, transport.get_extra_info("sockname")[1]
    transport.close()


async def test_the_default_resolver_asks_dns_for_srv(dns_server: tuple[_SrvServer, int]) -> None:
    _, port = dns_server
    resolver = DnsResolver(nameservers=["127.0.0.1"], udp_port=port, tcp_port=port)

    assert await resolver.srv("_sips._tcp.example.com") == [
        SrvRecord(10, 5, 5061, "sip.example.com")
    ]
    # No such record: no targets from it, and no error.
    assert await resolver.srv("_sip._tcp.example.com") == []
    assert await resolver.addresses("127.0.0.1", 5061) == ["127.0.0.1"]


async def test_without_aiodns_the_domain_itself_is_used(monkeypatch: pytest.MonkeyPatch) -> None:
    # A standalone install of the client may lack aiodns (Home Assistant ships it).
    monkeypatch.setitem(sys.modules, "aiodns", None)
    assert await DnsResolver().srv("_sips._tcp.example.com") == []


def test_ipv6_hosts_are_bracketed_where_sip_writes_them() -> None:
    assert (
        str(ServerTarget("2001:db8::1", 5061, Transport.TLS)) == "[2001:db8::1]:5061;transport=tls"
    )
    assert uri_host("192.0.2.7") == "192.0.2.7"
