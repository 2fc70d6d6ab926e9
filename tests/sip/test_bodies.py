"""NOTIFY bodies: dialog-info (RFC 4235) and simple-message-summary (RFC 3842).

Kamailio passes published bodies on untouched, so each reader is fed what a hostile
publisher could send: entity bombs, DTDs, deep nesting, 64 KiB of anything. Each gives a
typed error or a correct reading, within the stall target.
"""

from __future__ import annotations

import unicodedata

from hypothesis import given, settings, strategies as st
import pytest

from custom_components.sipthor.api.sip import MessageCounts, MessageProblem, SipMessageError
from custom_components.sipthor.api.sip.dialog_info import (
    _INVISIBLE,
    MAX_DIALOGS,
    MAX_TEXT,
    DialogDirection,
    DialogState,
    parse_dialog_info,
)
from custom_components.sipthor.api.sip.message_summary import parse_message_summary
from custom_components.sipthor.api.sip.parser import MAX_BODY_BYTES
from tests.sip.cpu import STALL_LIMIT, cpu_time

EXAMPLES = settings(max_examples=150, deadline=None)
NS = "urn:ietf:params:xml:ns:dialog-info"


def document(*dialogs: str, version: int = 1, state: str = "full") -> bytes:
    return (
        f'<?xml version="1.0"?>\n<dialog-info xmlns="{NS}" version="{version}" '
        f'state="{state}" entity="sip:alice@example.com">{"".join(dialogs)}</dialog-info>'
    ).encode()


def dialog(
    call_id: str = "c1",
    state: str = "early",
    *,
    direction: str = "recipient",
    dialog_id: str = "d1",
    remote: str = '<identity display="Bob">sip:bob@example.com</identity>',
    event: str = "",
) -> str:
    event_attribute = f' event="{event}"' if event else ""
    return (
        f'<dialog id="{dialog_id}" call-id="{call_id}" direction="{direction}">'
        f"<state{event_attribute}>{state}</state>"
        f"<local><identity>sip:alice@example.com</identity></local>"
        f"<remote>{remote}<target uri='sip:bob@10.0.0.2'/></remote></dialog>"
    )


def test_a_kamailio_document_reads() -> None:
    # As presence_dialoginfo writes it for a ringing call (namespaces, declaration).
    info = parse_dialog_info(document(dialog(), version=3))

    assert info.version == 3
    assert info.full
    assert info.entity == "sip:alice@example.com"
    (entry,) = info.dialogs
    assert entry.call_id == "c1"
    assert entry.direction is DialogDirection.RECIPIENT
    assert entry.state is DialogState.EARLY
    assert entry.remote.uri == "sip:bob@example.com"
    assert entry.remote.display_name == "Bob"


def test_partial_state_the_end_reason_and_a_target_without_identity() -> None:
    info = parse_dialog_info(
        document(
            dialog(state="terminated", event="cancelled", remote=""),
            version=9,
            state="partial",
        )
    )
    assert not info.full
    (entry,) = info.dialogs
    assert entry.state is DialogState.TERMINATED
    assert entry.event == "cancelled"
    assert entry.remote.uri == "sip:bob@10.0.0.2"
    assert entry.remote.display_name is None


def test_dialogs_the_client_cannot_use_are_skipped() -> None:
    info = parse_dialog_info(
        document(
            '<dialog call-id="x"><state>early</state></dialog>',  # no id
            '<dialog id="y"><state>ringing-ish</state></dialog>',  # no such state
            '<dialog id="z"/>',  # no state
            dialog(direction="sideways"),
        )
    )
    (entry,) = info.dialogs
    assert entry.direction is None


def test_display_names_lose_controls_and_length() -> None:
    remote = (
        '<identity display="Bob\u202e\u200b the builder">'
        "sip:" + "b" * 5000 + "@example.com</identity>"
    )
    (entry,) = parse_dialog_info(document(dialog(remote=remote))).dialogs
    assert entry.remote.display_name == "Bob the builder"
    assert entry.remote.uri is not None
    assert len(entry.remote.uri) == MAX_TEXT


def test_the_invisible_characters_table_is_unicode_s() -> None:
    # What the running Python's Unicode database calls control, format or separator
    # characters is exactly what display names lose. Planes 4 to 13 are unassigned, and
    # 15 and 16 are for private use.
    codes = [*range(0x40000), *range(0xE0000, 0xE1000)]
    text = "".join(map(chr, codes))
    invisible = {
        char for char in text if unicodedata.category(char) in ("Cc", "Cf", "Cs", "Zl", "Zp")
    }
    assert set(_INVISIBLE.findall(text)) == invisible


ENTITY_BOMB = (
    b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
    + b"".join(
        b'<!ENTITY lol%d "%s">'
        % (level, (b"&lol%d;" % (level - 1) if level > 1 else b"&lol;") * 10)
        for level in range(1, 10)
    )
    + b']><dialog-info version="1" state="full" entity="x">&lol9;</dialog-info>'
)


@pytest.mark.parametrize(
    "body",
    [
        ENTITY_BOMB,
        b'<?xml version="1.0"?><!DOCTYPE d SYSTEM "file:///etc/passwd"><dialog-info/>',
        b'<!DOCTYPE d [<!ENTITY % p SYSTEM "http://x/">%p;]><dialog-info/>',
        b"<dialog-info>" + b"<a>" * 10000 + b"</a>" * 10000 + b"</dialog-info>",
        b'<dialog-info version="1" state="full" entity="x">'
        + b'<dialog id="1"><state>early</state></dialog>' * (MAX_DIALOGS + 1)
        + b"</dialog-info>",
        b'<dialog-info version="1" state="full" entity="x" '
        + b" ".join(b'a%d="1"' % n for n in range(2000))
        + b"/>",
        b"<dialog-info version='1' state='full' entity='x'>&undefined;</dialog-info>",
        b"<dialog-info version='1' state='full'",
        b"<presence/>",
        b'<dialog version="1" state="full"/>',
        b"<dialog-info version='one' state='full' entity='x'/>",
        b"\xff\xfe<\x00",
        b"",
    ],
    ids=[
        "entity-bomb",
        "external-dtd",
        "parameter-entity",
        "deep",
        "too-many-dialogs",
        "attribute-flood",
        "undefined-entity",
        "truncated",
        "other-root",
        "dialog-root",
        "bad-version",
        "bad-encoding",
        "empty",
    ],
)
def test_hostile_documents_are_refused_typed_and_quickly(body: bytes) -> None:
    with pytest.raises(SipMessageError) as refused:
        parse_dialog_info(body)
    assert refused.value.problem is MessageProblem.BAD_BODY
    assert cpu_time(lambda: parse_dialog_info(body)) < STALL_LIMIT


def test_the_largest_accepted_document_reads_within_the_stall_target() -> None:
    # As many dialogs as allowed, their text padded to the body cap.
    padding = "x" * ((MAX_BODY_BYTES - MAX_DIALOGS * 400) // MAX_DIALOGS)
    body = document(
        *(
            dialog(f"c{n}", dialog_id=f"d{n}", remote=f"<identity>sip:{padding}</identity>")
            for n in range(MAX_DIALOGS)
        )
    )
    assert len(body) <= MAX_BODY_BYTES
    assert len(parse_dialog_info(body).dialogs) == MAX_DIALOGS
    assert cpu_time(lambda: parse_dialog_info(body)) < STALL_LIMIT


@pytest.mark.parametrize(
    ("body", "waiting", "voice"),
    [
        (
            (
                b"Messages-Waiting: yes\r\nMessage-Account: sip:alice@example.com\r\n"
                b"Voice-Message: 2/8 (0/2)\r\n"
            ),
            True,
            MessageCounts(2, 8, 0, 2),
        ),
        (b"Messages-Waiting: no\r\nVoice-Message: 0/3\r\n", False, MessageCounts(0, 3)),
        (b"messages-waiting:YES\nvoice-message:1/0(1/0)\n", True, MessageCounts(1, 0, 1, 0)),
        (b"Voice-Message: 4/1\r\n", True, MessageCounts(4, 1)),
        (b"Messages-Waiting: no\r\n", False, None),
        (
            (
                b"Messages-Waiting: yes\r\nVoice-Message: 1/0\r\n\r\n"
                b"To: <sip:alice@example.com>\r\nSubject: call me\r\nVoice-Message: 9/9\r\n"
            ),
            True,
            MessageCounts(1, 0),
        ),
    ],
    ids=["rfc-example", "no-urgent", "lower-case", "no-status-line", "no-counts", "headers-after"],
)
def test_message_summaries(body: bytes, waiting: bool, voice: MessageCounts | None) -> None:
    summary = parse_message_summary(body)
    assert summary.messages_waiting is waiting
    assert summary.voice == voice


def test_other_message_classes_are_kept_apart_from_voice() -> None:
    summary = parse_message_summary(
        b"Messages-Waiting: yes\r\nFax-Message: 1/0\r\nVoice-Message: 0/0\r\n"
    )
    assert summary.voice == MessageCounts(0, 0)
    assert summary.other == {"fax-message": MessageCounts(1, 0)}


@pytest.mark.parametrize(
    "body",
    [
        b"Messages-Waiting: maybe\r\n",
        b"Messages-Waiting: yes\r\nVoice-Message: lots\r\n",
        b"Voice-Message: 99999999999/1\r\n",
        b"just text\r\n",
        b"\xff\xfe",
        b"",
        b"\r\n" * 40000,
    ],
    ids=["bad-status", "bad-counts", "huge-count", "no-header", "not-utf8", "empty", "blank"],
)
def test_bad_message_summaries_are_refused(body: bytes) -> None:
    with pytest.raises(SipMessageError) as refused:
        parse_message_summary(body)
    assert refused.value.problem is MessageProblem.BAD_BODY
    assert cpu_time(lambda: parse_message_summary(body)) < STALL_LIMIT


@EXAMPLES
@given(st.binary(max_size=2048))
def test_any_bytes_are_a_document_or_a_typed_refusal(body: bytes) -> None:
    try:
        info = parse_dialog_info(body)
    except SipMessageError:
        return
    assert info.version >= 0


xml_text = st.text(
    alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="<&\"'"),
    max_size=30,
)


@EXAMPLES
@given(
    st.lists(
        st.tuples(
            st.sampled_from(["trying", "proceeding", "early", "confirmed", "terminated"]),
            st.sampled_from(["initiator", "recipient"]),
            xml_text,
            xml_text,
        ),
        max_size=10,
    ),
    st.integers(min_value=0, max_value=2**32),
    st.booleans(),
)
def test_generated_documents_read_back(
    dialogs: list[tuple[str, str, str, str]], version: int, full: bool
) -> None:
    body = document(
        *(
            dialog(
                f"call-{index}",
                state,
                direction=direction,
                dialog_id=f"d{index}",
                remote=f'<identity display="{display}">sip:{user}@example.com</identity>',
            )
            for index, (state, direction, display, user) in enumerate(dialogs)
        ),
        version=version,
        state="full" if full else "partial",
    )
    try:
        info = parse_dialog_info(body)
    except SipMessageError:
        # Text XML 1.0 cannot carry (some control characters) is refused, typed.
        return
    assert info.version == version
    assert info.full is full
    assert [entry.state.value for entry in info.dialogs] == [state for state, *_ in dialogs]
    assert [entry.call_id for entry in info.dialogs] == [f"call-{n}" for n in range(len(dialogs))]


@EXAMPLES
@given(
    st.integers(min_value=0, max_value=10**9 - 1),
    st.integers(min_value=0, max_value=10**9 - 1),
    st.one_of(st.none(), st.tuples(st.integers(0, 999), st.integers(0, 999))),
    st.sampled_from(["\r\n", "\n"]),
)
def test_generated_summaries_read_back(
    new: int, old: int, urgent: tuple[int, int] | None, newline: str
) -> None:
    counts = f"{new}/{old}" + (f" ({urgent[0]}/{urgent[1]})" if urgent else "")
    body = f"Messages-Waiting: {'yes' if new else 'no'}{newline}Voice-Message: {counts}{newline}"
    summary = parse_message_summary(body.encode())
    assert summary.voice == MessageCounts(new, old, *(urgent or (0, 0)))
    assert summary.messages_waiting is bool(new)


@EXAMPLES
@given(st.binary(max_size=1024))
def test_any_bytes_are_a_summary_or_a_typed_refusal(body: bytes) -> None:
    problem: MessageProblem | None = None
    try:
        parse_message_summary(body)
    except SipMessageError as error:
        problem = error.problem
    assert problem in (None, MessageProblem.BAD_BODY)
