"""Finding the JSON in what the settings page sends (docs/settings-api.md §4.6)."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from custom_components.sipthor.api.parse import (
    MAX_DEPTH,
    ParsedBody,
    UnparsableBodyError,
    is_credentials_error,
    parse_body,
    readable_text,
)
from tests.api.hostile import cpu_time

ALERT = (
    '<div class=row-fluid><div class=span12><div class="alert alert-error">'
    "Error (SipPort): Failed to connect (1030): Database unavailable</div></div></div>"
)


@pytest.mark.parametrize(
    ("body", "value"),
    [
        ('{"balance":12.3456}', {"balance": 12.3456}),
        ('["+31208001234"]', ["+31208001234"]),
        ("[]", []),
        ("null", None),
        ("true", True),
        ('{"timezone":"Europe\\/Amsterdam"}', {"timezone": "Europe/Amsterdam"}),
        ('{"name":"Jos\\u00e9"}', {"name": "José"}),
        ('  {"a":1}\n', {"a": 1}),
    ],
)
def test_plain_json(body: str, value: object) -> None:
    assert parse_body(body) == ParsedBody(value, "")


@pytest.mark.parametrize("empty", ["null", "[]"])
def test_html_error_before_the_empty_answer(empty: str) -> None:
    parsed = parse_body(ALERT + empty)

    assert parsed.value == ([] if empty == "[]" else None)
    assert parsed.prefix == "Error (SipPort): Failed to connect (1030): Database unavailable"
    assert parsed.server_error == parsed.prefix


def test_font_error_line() -> None:
    parsed = parse_body(
        "<p><font color=red>Error (SipPort): getAccount failed (2000): Not found</font>\nnull"
    )

    assert parsed.value is None
    assert parsed.server_error == "Error (SipPort): getAccount failed (2000): Not found"


def test_set_call_forwarding_prefix() -> None:
    body = (
        'Key FUNC changed 0612345678Key FNOA changed {"success":true,'
        '"error_message":"Changed diversions FUNC=sip:0612345678@example.com FNOA= "}'
    )

    parsed = parse_body(body)

    assert parsed.value["success"] is True
    assert parsed.prefix == "Key FUNC changed 0612345678Key FNOA changed"
    assert parsed.server_error is None


def test_prefix_with_json_looking_text() -> None:
    """Candidates that decode but stop short of the end are skipped."""
    body = 'Key FUNC changed null[1]Key FUNV changed true{"success":true,"error_message":"x"}'

    parsed = parse_body(body)

    assert parsed.value == {"success": True, "error_message": "x"}
    assert parsed.prefix.endswith("Key FUNV changed true")


def test_html_page_before_the_invalid_action_answer() -> None:
    body = (
        "<!DOCTYPE html><html><head><title>SIP settings</title><style>b{c:d}</style>"
        '</head><body>{"success":false,"error_message":"Error: invalid action"}'
    )

    parsed = parse_body(body)

    assert parsed.value == {"success": False, "error_message": "Error: invalid action"}
    assert parsed.prefix == "SIP settings b{c:d}"


@pytest.mark.parametrize(
    "body",
    [
        "<html><body>Internal error</body></html>",
        '{"balance":12.34,"sessio',
        '{"a":1} and then some',
        "nothing",
    ],
)
def test_no_json_at_the_end(body: str) -> None:
    with pytest.raises(UnparsableBodyError):
        parse_body(body)


def test_unparsable_message_is_short_and_readable() -> None:
    with pytest.raises(UnparsableBodyError) as caught:
        parse_body("<p>" + "word " * 100 + "</p>")

    assert len(str(caught.value)) == 200
    assert "<p>" not in str(caught.value)


def test_readable_text() -> None:
    assert readable_text("<b>Balance:</b>\n  10&nbsp;&euro;<br/>") == "Balance: 10 €"
    assert readable_text("") == ""


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ("Error, please specify an accountX.509 Credentials error", True),
        ("Error: No X.509 client certificate provided\nX.509 Credentials error\n", True),
        ("X.509 Credentials error", True),
        ('{"success":false,"error_message":"X.509 Credentials error"}', False),
        ("null", False),
    ],
)
def test_credentials_error(body: str, expected: bool) -> None:
    assert is_credentials_error(body) is expected


@pytest.mark.parametrize(
    ("body", "value", "prefix"),
    [
        # Brackets and escaped quotes inside strings do not count as structure.
        ('<p>warn</p>{"a":"]\\"}[","b":["\\\\"]}', {"a": ']"}[', "b": ["\\"]}, "warn"),
        ('x"]"[]', [], 'x"]"'),
        ('a["\\\\\\""]', ['\\"'], "a"),
        ("<p>x</p>[[1],[2]]", [[1], [2]], "x"),
        ("<p>x</p>[[[{}]]]", [[[{}]]], "x"),
        ("Key FUNV changed false", False, "Key FUNV changed"),
    ],
)
def test_json_after_a_prefix(body: str, value: object, prefix: str) -> None:
    assert parse_body(body) == ParsedBody(value, prefix)


@pytest.mark.parametrize(
    "body",
    [
        "[" * 100_000,
        "[" * 100_000 + "]" * 100_000,
        "<p>Error</p>" + "[" * 100_000 + "]" * 100_000,
        '{"a":' * 50_000 + "1" + "}" * 50_000,
        '{"calls":' + "9" * 5_000 + "}",  # over int()'s digit limit
        "<p>x</p>" + '"\\' * 1000 + "]",
        '<p>x</p>["unterminated]',
    ],
    ids=["open", "closed", "after-html", "objects", "digits", "escapes", "unterminated"],
)
def test_deep_nesting_and_other_failures_are_unparsable(body: str) -> None:
    """Never RecursionError or a bare ValueError: the client turns this into its error."""
    with pytest.raises(UnparsableBodyError):
        parse_body(body)


@pytest.mark.parametrize(
    "unit",
    [
        '<div class="row"><p>Maintenance &amp; upgrade</p></div>\n',
        "<",
        "[",
        "]",
        '"',
        '\\"',
        "<p>x</p>[]",
    ],
    ids=["html", "open-tags", "openers", "closers", "quotes", "escaped-quotes", "nested"],
)
def test_a_megabyte_is_parsed_in_linear_time(unit: str) -> None:
    """On main a 1 MB HTML page took 37 s: every candidate start was decoded. Four times
    the body may cost at most eight times the CPU time (quadratic: sixteen)."""

    def parse(size: int) -> Callable[[], object]:
        body = unit * (size // len(unit))
        if unit == "<p>x</p>[]":  # a prefix, then nesting that ends the body
            body = "<p>x</p>" + "[" * (size // 2) + "]" * (size // 2)
        if unit in ('"', '\\"'):
            body += "]"
        return lambda: parse_body(body)

    with pytest.raises(UnparsableBodyError):
        parse(1_000_000)()
    quarter, whole = cpu_time(parse(250_000)), cpu_time(parse(1_000_000))

    assert whole <= 8 * quarter + 0.005, (quarter, whole)


def test_nesting_up_to_the_limit_is_read_after_a_prefix() -> None:
    nested = "[" * MAX_DEPTH + "]" * MAX_DEPTH

    assert parse_body("<p>x</p>" + nested).prefix == "x"
    with pytest.raises(UnparsableBodyError):
        parse_body("<p>x</p>[" + nested + "]")


@pytest.mark.parametrize(
    ("depth", "parsed"), [(4, True), (512, True), (513, False)], ids=["answer", "limit", "over"]
)
def test_nesting_limit_is_the_same_on_every_python(depth: int, *, parsed: bool) -> None:
    """Python 3.14 decodes far deeper than 3.13 did: the limit is the client's own."""
    body = "[" * depth + "]" * depth
    if parsed:
        assert parse_body(body).prefix == ""
    else:
        with pytest.raises(UnparsableBodyError):
            parse_body(body)
