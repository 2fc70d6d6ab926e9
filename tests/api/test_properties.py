"""Whatever a server sends, the parser and the models raise nothing but the client's errors.

Property tests (hypothesis): arbitrary bytes, arbitrary JSON values, and HTML followed
by JSON. Example counts are modest to keep the suite quick; nothing is registered
globally (no hypothesis profile), so other tests are unaffected.
"""

from __future__ import annotations

from collections.abc import Callable
import contextlib
import json
from typing import Any

from hypothesis import example, given, settings, strategies as st

from custom_components.sipthor.api import (
    AcceptRules,
    Call,
    CallDirection,
    CallForwarding,
    CallHistory,
    Identity,
    MonthlyUsage,
    PrepaidStatus,
    Registration,
    SipThorClient,
    SipThorError,
    StatusResult,
    ValueReporter,
    Voicemail,
)
from custom_components.sipthor.api.balance import BalanceEntry, balance_history_from_json
from custom_components.sipthor.api.models import registrations_from_json
from custom_components.sipthor.api.parse import (
    ParsedBody,
    UnparsableBodyError,
    is_credentials_error,
    parse_body,
)
from custom_components.sipthor.api.reader import string_list

EXAMPLES = settings(max_examples=100, deadline=None)

# Members the models read, so that generated objects hit them and not only new keys.
KNOWN_KEYS = [
    "success",
    "error_message",
    "sip_address",
    "email",
    "first",
    "lastname",
    "pstn_caller_id",
    "mobile_number",
    "timezone",
    "no_answer_timeout",
    "quick_dial",
    "balance",
    "session_counter",
    "sessionCount",
    "sessionCounter",
    "activeCalls",
    "active_sessions",
    "activeSessions",
    "sessions",
    "contact",
    "publicContact",
    "expires",
    "user_agent",
    "transport",
    "remoteParty",
    "displayName",
    "startTime",
    "stopTime",
    "duration",
    "status",
    "price",
    "sessionId",
    "fromTag",
    "toTag",
    "proxyIP",
    "media",
    "placed",
    "received",
    "date",
    "action",
    "description",
    "value",
    "session",
    "calls",
    "FUNC",
    "FNOL",
    "FBUS",
    "FNOA",
    "FUNV",
    "persistent",
    "temporary",
    "groups",
    "start",
    "stop",
    "Mailbox",
    "Password",
    "Name",
    "Email",
    "Info",
    "Account",
    "Options",
    "delete",
]
# Texts the models try to read as numbers, flags, times, transports or groups.
TELLING_TEXTS = (
    "",
    " 0 ",
    "1.5",
    "1e400",
    "-0",
    "nan",
    "inf",
    "true",
    "yes",
    "no",
    "nobody",
    "everybody",
    "udp",
    "TLS",
    "2025-05-03 14:05:40",
    "2025-02-30 25:61:61",
    "9999-12-31 23:59:59",
    "0000-01-01 00:00:00",
    "[]",
    '["a","b"]',
    "null",
    "sip:bob@example.net",
    "1.2.3.4:5060",
)

scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats()
    | st.text(max_size=30)
    | st.sampled_from(TELLING_TEXTS)
)
keys = st.sampled_from(KNOWN_KEYS) | st.text(max_size=10)
json_values = st.recursive(
    scalars,
    lambda children: st.lists(children, max_size=5) | st.dictionaries(keys, children, max_size=8),
    max_leaves=40,
)
# Values as json.dumps can write them and json.loads read them back as equal.
finite_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda children: st.lists(children, max_size=5) | st.dictionaries(st.text(), children),
    max_leaves=30,
)


def _every_model(value: Any) -> list[Any]:
    """Read ``value`` as every model does, and use what a caller would use of each."""
    report = ValueReporter()
    readers: list[Callable[[Any], Any]] = [
        lambda data: StatusResult.from_json(data, report),
        lambda data: Identity.from_json(data, report),
        lambda data: PrepaidStatus.from_json(data, report),
        lambda data: Registration.from_json(data, report).host,
        lambda data: Registration.from_json(data).behind_nat,
        lambda data: [call.caller for call in CallHistory.from_json(data, report).calls],
        lambda data: [call.missed for call in CallHistory.from_json(data).calls],
        lambda data: Call.from_json(CallDirection.PLACED, data, report).key,
        lambda data: BalanceEntry.from_json(data, report),
        lambda data: MonthlyUsage.from_json(data, report),
        lambda data: CallForwarding.from_json(data, report).targets,
        lambda data: AcceptRules.from_json(data, report).dnd_minutes_left,
        lambda data: AcceptRules.from_json(data).dnd_state,
        lambda data: Voicemail.from_json(data, report),
        lambda data: registrations_from_json(data, report),
        lambda data: balance_history_from_json(data, report),
        lambda data: string_list("aliases", data, report),
    ]
    return [read(value) for read in readers]


@EXAMPLES
@given(st.binary(max_size=2000))
@example(b"[" * 100_000)
@example(b"\xff\xfe<html>\x00" + b"{" * 5000)
@example(b'{"balance":' + b"9" * 5000 + b"}")
def test_any_bytes_give_a_value_or_a_client_error(raw: bytes) -> None:
    # What the client does with every answer it reads (in an executor when it is large).
    reader = SipThorClient("alice@example.com", password="secret")
    try:
        parsed = reader._parse("get_prepaid", 200, raw)
    except SipThorError:
        return
    assert isinstance(parsed, ParsedBody)


@EXAMPLES
@given(st.text(max_size=2000))
@example("<p>x</p>" + "[" * 100_000 + "]" * 100_000)
@example('<p>"</p>{"a":"\\"}"}')
def test_any_text_gives_a_value_or_an_unparsable_error(body: str) -> None:
    with contextlib.suppress(UnparsableBodyError):
        parse_body(body)
    is_credentials_error(body)


@EXAMPLES
@given(json_values)
@example({"temporary": {"groups": ["nobody"], "duration": 10**300}})
@example({"persistent": {"x": {"groups": 5}, "31": None}, "groups": {"a": 1}})
@example({"placed": {"7": {"startTime": "2025-05-03 14:05:40"}}, "received": "x"})
@example({"active_sessions": '["a","b"]'})
@example({"Options": [], "Mailbox": 5, "Password": {"x": 1}})
@example(float("nan"))
def test_any_json_value_reads_as_every_model(value: Any) -> None:
    _every_model(value)


@EXAMPLES
@given(
    st.lists(
        st.sampled_from(
            [
                "<p>",
                "</div>",
                '<div class="alert alert-error">',
                "Error (SipPort): Failed (1030): x",
                "Key FUNC changed 0612345678",
                "&nbsp;&euro;",
                '"',
                "'",
                "[",
                "]",
                "{",
                "}",
                "\\",
                "null",
                "\n",
            ]
        ),
        max_size=12,
    ),
    finite_json.filter(lambda value: isinstance(value, dict | list | bool) or value is None),
)
def test_json_after_html_is_found(html_parts: list[str], value: Any) -> None:
    """Whatever HTML (even with brackets and quotes) comes before, the JSON after it is read."""
    body = "".join(html_parts) + "<br>" + json.dumps(value)

    parsed = parse_body(body)

    assert parsed.value == value
    _every_model(parsed.value)
