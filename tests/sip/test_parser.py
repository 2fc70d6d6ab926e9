"""The stream parser: what the server sends, however it is cut or forged, reads the same.

Each hostile input is answered (the parser hands over the request, so it gets its 4xx)
or dropped, with a typed problem; the bounds on memory and work are checked by counting
what the parser keeps, and by the CPU time of its calls on the worst inputs (thread
time, so a busy machine does not change it).
"""

from __future__ import annotations

from hypothesis import example, given, settings, strategies as st
import pytest

from custom_components.sipthor.api.sip import MessageProblem
from custom_components.sipthor.api.sip.headers import parse_name_addr, split_list
from custom_components.sipthor.api.sip.message import (
    Headers,
    SipRequest,
    SipResponse,
    serialize_request,
    serialize_response,
    trace_text,
)
from custom_components.sipthor.api.sip.parser import (
    MAX_BODY_BYTES,
    MAX_HEADER_BYTES,
    KeepAlive,
    Malformed,
    StreamParser,
)
from tests.sip.cpu import STALL_LIMIT, cpu_time

EXAMPLES = settings(max_examples=150, deadline=None)


def notify(body: bytes = b"", *, extra: bytes = b"", length: int | None = None) -> bytes:
    """A NOTIFY as Kamailio writes one."""
    size = len(body) if length is None else length
    return (
        b"NOTIFY sip:alice@127.0.0.1:5555;transport=tls;ob SIP/2.0\r\n"
        b"Via: SIP/2.0/TLS 127.0.0.1:5061;branch=z9hG4bK1\r\n"
        b"To: <sip:alice@example.com>;tag=ours\r\n"
        b"From: <sip:alice@example.com>;tag=theirs\r\n"
        b"CSeq: 2 NOTIFY\r\n"
        b"Call-ID: abc\r\n" + extra + b"Event: dialog\r\n"
        b"Subscription-State: active;expires=3600\r\n"
        b"Content-Type: application/dialog-info+xml\r\n"
        b"Content-Length: %d\r\n\r\n" % size
    ) + body


def read_all(data: bytes, chunk: int = 1 << 20) -> list[object]:
    parser = StreamParser()
    items: list[object] = []
    for start in range(0, len(data), chunk):
        items += parser.feed(data[start : start + chunk])
    return items


def test_a_message_cut_anywhere_reads_the_same() -> None:
    body = b"<dialog-info/>" * 10
    whole = read_all(notify(body))
    for size in (1, 2, 3, 7, 64):
        assert read_all(notify(body), size) == whole
    (request,) = whole
    assert isinstance(request, SipRequest)
    assert request.method == "NOTIFY"
    assert request.headers.get("subscription-state") == "active;expires=3600"
    assert request.body == body


def test_keepalives_between_messages_are_skipped_and_told_apart() -> None:
    items = read_all(b"\r\n" + notify() + b"\r\n\r\n" + notify())

    assert [type(item).__name__ for item in items] == [
        "KeepAlive",
        "SipRequest",
        "KeepAlive",
        "SipRequest",
    ]
    assert items[0] is KeepAlive.PONG
    assert items[2] is KeepAlive.PING


def test_a_lone_cr_waits_for_its_lf() -> None:
    parser = StreamParser()
    assert parser.feed(b"\r") == []
    assert parser.feed(b"\n") == [KeepAlive.PONG]
    assert not parser.mid_message


def test_compact_headers_and_folded_lines() -> None:
    data = (
        b"SIP/2.0 200 OK\r\nv: SIP/2.0/TLS h;branch=z9hG4bKx\r\nf: <sip:a@b>;tag=1\r\n"
        b"t: <sip:a@b>\r\n  ;tag=2\r\ni: x\r\nCSeq: 1 SUBSCRIBE\r\nl: 0\r\n\r\n"
    )
    (response,) = read_all(data)
    assert isinstance(response, SipResponse)
    assert response.status == 200
    assert response.headers.get("to") == "<sip:a@b> ;tag=2"
    assert response.cseq == (1, "SUBSCRIBE")


@pytest.mark.parametrize(
    ("injected", "problem"),
    [
        (b"X-A: one\rInjected: yes\r\n", MessageProblem.CONTROL_CHARACTER),
        (b"X-A: one\nInjected: yes\r\n", MessageProblem.CONTROL_CHARACTER),
        (b"X-A: o\x00ne\r\n", MessageProblem.CONTROL_CHARACTER),
        (b"X-A: \x1b[31mred\r\n", MessageProblem.CONTROL_CHARACTER),
        (b"X-A: \xff\xfe\r\n", MessageProblem.NOT_UTF8),
        (b"No colon here\r\n", MessageProblem.BAD_HEADER),
    ],
    ids=["bare-cr", "bare-lf", "nul", "escape", "latin1", "no-colon"],
)
def test_header_injection_is_refused_yet_answerable(injected: bytes, problem: str) -> None:
    (item,) = read_all(notify(extra=injected) + notify())[:1]

    assert isinstance(item, Malformed)
    assert item.problem == problem
    assert not item.framing_lost
    # What can be answered is handed over, without the forged line.
    assert isinstance(item.message, SipRequest)
    assert item.message.headers.get("injected") is None
    assert item.message.call_id == "abc"
    # The next message is read as usual.
    assert isinstance(read_all(notify(extra=injected) + notify())[1], SipRequest)


def test_a_request_without_its_required_headers_cannot_be_answered() -> None:
    data = b"NOTIFY sip:a@b SIP/2.0\r\nCall-ID: x\r\nContent-Length: 0\r\n\r\n"
    (item,) = read_all(data)
    assert isinstance(item, Malformed)
    assert item.problem == MessageProblem.MISSING_HEADER


def test_a_body_above_the_cap_is_skipped_as_it_comes_never_stored() -> None:
    body = b"x" * (1024 * 1024)
    parser = StreamParser()
    items: list[object] = []
    largest = 0
    data = notify(body) + notify(b"<ok/>")
    for start in range(0, len(data), 16 * 1024):
        items += parser.feed(data[start : start + 16 * 1024])
        largest = max(largest, len(parser._buffer))

    refused, following = items
    assert isinstance(refused, Malformed)
    assert refused.problem == MessageProblem.BODY_TOO_LARGE
    assert isinstance(refused.message, SipRequest)
    assert refused.message.body == b""
    assert isinstance(following, SipRequest)
    assert following.body == b"<ok/>"
    assert largest <= MAX_HEADER_BYTES + 16 * 1024


@pytest.mark.parametrize(
    "data",
    [
        # The rest of a body whose Content-Length was too small.
        notify(b"<dialog-info/>", length=5) + notify(),
        # Two different lengths, a negative one, one that is no number.
        notify(extra=b"Content-Length: 7\r\n"),
        notify(length=-1),
        notify(extra=b"l: 12x\r\n"),
        # A header section that never ends.
        b"NOTIFY sip:a@b SIP/2.0\r\n" + b"X: y\r\n" * 4000,
        # No SIP at all.
        b"GET / HTTP/1.1\r\nHost: x\r\n\r\n",
    ],
    ids=["short-length", "two-lengths", "negative", "not-a-number", "endless", "http"],
)
def test_lost_framing_is_said_once_and_nothing_more_is_read(data: bytes) -> None:
    parser = StreamParser()
    items = parser.feed(data)
    lost = [item for item in items if isinstance(item, Malformed) and item.framing_lost]

    assert len(lost) == 1
    assert items[-1] is lost[0]
    assert parser.feed(notify()) == []
    assert not parser._buffer


def test_a_long_content_length_leaves_the_parser_waiting_mid_message() -> None:
    # The connection's message timer (tests/sip/test_channel.py) ends this wait.
    parser = StreamParser()
    assert parser.feed(notify(b"<x/>", length=500)) == []
    assert parser.mid_message


def test_too_many_header_lines_are_skipped_by_their_content_length() -> None:
    extra = b"X: y\r\n" * 100
    refused, following = read_all(notify(b"body", extra=extra) + notify())
    assert isinstance(refused, Malformed)
    assert refused.problem == MessageProblem.TOO_MANY_HEADERS
    assert isinstance(following, SipRequest)


def test_the_worst_inputs_cost_little_cpu_per_read() -> None:
    """Bounded work: each read of 64 KiB costs well under the 5 ms stall target."""
    worst = [
        b"\r\n" * (32 * 1024),
        notify(b"x" * MAX_BODY_BYTES * 16),
        b"NOTIFY sip:a@b SIP/2.0\r\n" + b"a:\r\n" * (MAX_HEADER_BYTES // 4),
        notify(extra=b"X: " + b'\\"' * 7000 + b"\r\n"),
        notify(extra=b"Record-Route: " + b"<sip:a>," * 1800 + b"\r\n"),
    ]
    for data in worst:
        parser = StreamParser()
        for start in range(0, len(data), 64 * 1024):
            chunk = data[start : start + 64 * 1024]
            assert cpu_time(lambda p=parser, c=chunk: p.feed(c)) < STALL_LIMIT


def test_header_values_with_thousands_of_quotes_are_refused_in_linear_time() -> None:
    for value in ('\\"' * 8000, '"a' * 8000, "a," * 8000, '"<' * 8000):
        with pytest.raises(ValueError, match=r"too many|unterminated"):
            split_list(value)
        with pytest.raises(ValueError, match=r"too many|unterminated|URI|display name"):
            parse_name_addr(value)
        assert cpu_time(lambda value=value: split_list(value)) < STALL_LIMIT
        assert cpu_time(lambda value=value: parse_name_addr(value)) < STALL_LIMIT


def test_writing_refuses_what_would_inject_a_header() -> None:
    with pytest.raises(ValueError, match="control character"):
        serialize_request("SUBSCRIBE", "sip:a@b", [("To", "<sip:a@b>\r\nX: y")])
    with pytest.raises(ValueError, match="Request-URI"):
        serialize_request("SUBSCRIBE", "sip:a@b SIP/2.0\r\n", [])
    (request,) = read_all(notify())
    assert isinstance(request, SipRequest)
    answer = serialize_response(request, 200, "OK")
    assert answer.startswith(b"SIP/2.0 200 OK\r\nVia: SIP/2.0/TLS 127.0.0.1:5061;branch=z9hG4bK1")
    assert b"Call-ID: abc\r\nCSeq: 2 NOTIFY\r\nContent-Length: 0\r\n\r\n" in answer


def test_a_trace_redacts_credentials_and_controls() -> None:
    data = serialize_request(
        "SUBSCRIBE",
        "sip:a@b",
        [
            ("Authorization", 'Digest username="alice", response="0123456789abcdef"'),
            ("Proxy-Authorization", 'Digest response="fedcba"'),
        ],
        b"\x1b[2J",
    )
    text = trace_text(data)
    assert "0123456789abcdef" not in text
    assert "fedcba" not in text
    assert "Authorization: <redacted>" in text
    assert "Proxy-Authorization: <redacted>" in text
    assert "\x1b" not in text
    assert "\r" not in text


# -- properties ------------------------------------------------------------------------


@EXAMPLES
@given(st.binary(max_size=4096), st.integers(min_value=1, max_value=64))
@example(b"\r\n\r\n\r", 1)
@example(b"SIP/2.0 200 OK\r\nContent-Length: 99999999\r\n\r\n", 3)
def test_any_bytes_give_typed_items_and_bounded_buffers(data: bytes, chunk: int) -> None:
    parser = StreamParser()
    for start in range(0, len(data), chunk):
        for item in parser.feed(data[start : start + chunk]):
            assert isinstance(item, SipRequest | SipResponse | Malformed | KeepAlive)
        assert len(parser._buffer) <= MAX_HEADER_BYTES + MAX_BODY_BYTES + chunk


header_text = st.text(
    alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\r\n\x00"),
    max_size=40,
).map(str.strip)


@EXAMPLES
@given(
    st.lists(st.tuples(st.from_regex(r"X-[A-Za-z]{1,8}", fullmatch=True), header_text), max_size=8),
    st.binary(max_size=300),
    st.integers(min_value=1, max_value=50),
)
def test_well_formed_messages_read_back_exactly_however_cut(
    headers: list[tuple[str, str]], body: bytes, chunk: int
) -> None:
    try:
        data = serialize_request(
            "NOTIFY",
            "sip:alice@127.0.0.1",
            [
                ("Via", "SIP/2.0/TLS h;branch=z9hG4bK1"),
                ("From", "<sip:a@b>;tag=1"),
                ("To", "<sip:a@b>;tag=2"),
                ("Call-ID", "x"),
                ("CSeq", "1 NOTIFY"),
                *headers,
            ],
            body,
        )
    except ValueError:
        return  # a control character the writer refuses
    items = read_all(b"\r\n" + data + data, chunk)
    requests = [item for item in items if isinstance(item, SipRequest)]

    assert len(requests) == 2
    for request in requests:
        assert request.body == body
        assert [field for field in request.headers.fields if field[0].startswith("x-")] == [
            (name.lower(), value) for name, value in headers
        ]


def test_odd_header_sections() -> None:
    folded_first = notify().replace(b"Via:", b" folded-first\r\nVia:")
    (item,) = read_all(folded_first)
    assert isinstance(item, Malformed)
    assert item.problem == MessageProblem.BAD_HEADER
    folded_latin1 = notify(extra=b"X-A: a\r\n \xe9t\xe9\r\n")
    (item,) = read_all(folded_latin1)
    assert isinstance(item, Malformed)
    assert item.problem == MessageProblem.NOT_UTF8
    bad_cseq = notify().replace(b"CSeq: 2 NOTIFY", b"CSeq: two NOTIFY")
    (item,) = read_all(bad_cseq)
    assert isinstance(item, Malformed)
    assert item.problem == MessageProblem.BAD_HEADER
    (response,) = read_all(b"SIP/2.0 200 \xff\xfe\r\nCall-ID: x\r\n\r\n")
    assert isinstance(response, SipResponse)
    assert response.reason == ""
    assert response.call_id == "x"
    assert response.cseq is None


def test_a_header_section_that_ends_past_the_cap_loses_framing() -> None:
    parser = StreamParser(max_header_bytes=64)
    (item,) = parser.feed(notify())
    assert isinstance(item, Malformed)
    assert item.problem == MessageProblem.HEADER_TOO_LARGE
    assert item.framing_lost


def test_answers_repeat_what_the_request_has() -> None:
    (request,) = read_all(notify())
    assert isinstance(request, SipRequest)
    assert request.cseq == (2, "NOTIFY")
    partial = SipRequest(
        "NOTIFY",
        "sip:a@b",
        Headers((("via", "SIP/2.0/TLS h;branch=z9hG4bKx"), ("to", "<sip:a@b>"))),
    )
    assert partial.cseq is None
    answer = serialize_response(partial, 481, "Gone", to_tag="t1")
    assert b"To: <sip:a@b>;tag=t1\r\n" in answer
    assert b"Call-ID" not in answer
