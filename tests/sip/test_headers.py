"""The header values the channel reads: what real servers write, and what they must not."""

from __future__ import annotations

import contextlib

from hypothesis import given, settings, strategies as st
import pytest

from custom_components.sipthor.api.sip.headers import (
    NameAddr,
    event_package,
    media_type,
    parse_cseq,
    parse_name_addr,
    parse_number,
    parse_params,
    parse_subscription_state,
    parse_via,
    split_list,
    tag_of,
)
from tests.sip.cpu import STALL_LIMIT, cpu_time

EXAMPLES = settings(max_examples=200, deadline=None)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("<sip:a@b>", NameAddr("sip:a@b")),
        ('"Bob \\"B\\"" <sip:bob@x>;tag=7', NameAddr("sip:bob@x", 'Bob "B"', {"tag": "7"})),
        ("Bob <sip:bob@x;transport=tls>", NameAddr("sip:bob@x;transport=tls", "Bob")),
        ("sip:bob@x;tag=9;lr", NameAddr("sip:bob@x", None, {"tag": "9", "lr": ""})),
        (
            '<sip:a@b>;x="q;uo\\"ted";TAG=1;tag=2',
            NameAddr("sip:a@b", None, {"x": 'q;uo"ted', "tag": "1"}),
        ),
    ],
)
def test_name_addresses(value: str, expected: NameAddr) -> None:
    assert parse_name_addr(value) == expected


@pytest.mark.parametrize(
    "value",
    [
        '"unterminated <sip:a@b>',
        '"Bob" sip:bob@x',
        "<sip:a@b",
        "<not a uri>",
        "<sip:a@b> trailing",
        "<sip:a@b>;bad name=1",
        '<sip:a@b>;x="open',
        '<sip:a@b>;x="closed"trailing',
        "",
    ],
)
def test_name_addresses_that_cannot_be_read(value: str) -> None:
    with pytest.raises(ValueError, match=r"quoted|display|URI|unterminated|after|parameter"):
        parse_name_addr(value)
    assert tag_of(value) is None


def test_tags() -> None:
    assert tag_of("<sip:a@b;tag=uri-param>;tag=header") == "header"
    assert tag_of("<sip:a@b>") is None
    assert tag_of(None) is None


def test_lists_keep_commas_in_quotes_and_brackets() -> None:
    assert split_list('"a, b" <sip:x,y>;p=1, <sip:z>,') == ['"a, b" <sip:x,y>;p=1', "<sip:z>"]
    with pytest.raises(ValueError, match="unterminated"):
        split_list("<sip:a, <sip:b")
    assert parse_params(";;a=1;;") == {"a": "1"}


@pytest.mark.parametrize(
    ("value", "transport", "host", "port", "branch"),
    [
        (
            "SIP/2.0/TLS 10.0.0.1:5061;branch=z9hG4bK1;rport=4;received=1.2.3.4",
            "TLS",
            "10.0.0.1",
            5061,
            "z9hG4bK1",
        ),
        ("SIP / 2.0 / tcp [2001:db8::1]", "TCP", "[2001:db8::1]", None, None),
    ],
)
def test_via(value: str, transport: str, host: str, port: int | None, branch: str | None) -> None:
    via = parse_via(value)
    assert (via.transport, via.host, via.port, via.branch) == (transport, host, port, branch)


@pytest.mark.parametrize(
    "value", ["SIP/2.0/TLS", "HTTP/1.1 x", "SIP/2.0/TLS h junk", "SIP/2.0/TLS ;x"]
)
def test_bad_via(value: str) -> None:
    with pytest.raises(ValueError, match="Via"):
        parse_via(value)


def test_numbers_cseq_and_subscription_state() -> None:
    assert parse_cseq(" 12  subscribe ") == (12, "SUBSCRIBE")
    assert parse_number("120 (in a meeting)") == 120
    for bad_cseq in ("x SUBSCRIBE", "1", "99999999999 X"):
        with pytest.raises(ValueError, match="CSeq"):
            parse_cseq(bad_cseq)
    with pytest.raises(ValueError, match="number"):
        parse_number("soon")
    state = parse_subscription_state("Terminated;Reason=NoResource;retry-after=60")
    assert (state.state, state.reason, state.retry_after, state.expires) == (
        "terminated",
        "noresource",
        60,
        None,
    )
    assert parse_subscription_state("active;expires=3590").expires == 3590
    with pytest.raises(ValueError, match="Subscription-State"):
        parse_subscription_state("act ive")
    assert media_type("Application/Dialog-Info+XML; charset=UTF-8") == "application/dialog-info+xml"
    assert media_type(None) is None
    assert event_package(" Dialog ;id=4") == "dialog"
    assert event_package(None) is None


@EXAMPLES
@given(st.text(max_size=300))
def test_any_text_is_read_or_refused_with_value_error(value: str) -> None:
    for read in (split_list, parse_params, parse_name_addr, parse_via, parse_subscription_state):
        with contextlib.suppress(ValueError):
            read(value)


@EXAMPLES
@given(st.text(alphabet='"\\<>,;=a ', min_size=1, max_size=40), st.integers(100, 500))
def test_repeated_punctuation_stays_linear(unit: str, times: int) -> None:
    value = (unit * times)[:16384]
    for read in (split_list, parse_params, parse_name_addr):
        assert cpu_time(lambda read=read: read(value)) < STALL_LIMIT
