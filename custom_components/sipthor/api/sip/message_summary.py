"""simple-message-summary bodies (RFC 3842): the voicemail count.

The server passes the body on as the voicemail system published it::

    Messages-Waiting: yes
    Message-Account: sip:alice@example.com
    Voice-Message: 2/8 (0/2)

new/old counts per message class, the urgent ones among them in parentheses (optional).
Message headers may follow an empty line; they are not read.
"""

from __future__ import annotations

from dataclasses import dataclass, field
import re
from typing import Final

from .dialog_info import clean_text
from .errors import MessageProblem, SipMessageError

# Summary lines read; RFC 3842 defines one status line, one account and six classes.
MAX_LINES: Final = 32
_LINE: Final = re.compile(r"([A-Za-z-]{1,40})[ \t]*:[ \t]*(.*)")
_COUNTS: Final = re.compile(
    r"(\d{1,9})[ \t]*/[ \t]*(\d{1,9})"
    r"(?:[ \t]*\([ \t]*(\d{1,9})[ \t]*/[ \t]*(\d{1,9})[ \t]*\))?[ \t]*"
)
# RFC 3458's message-context classes, as RFC 3842 names their summary lines.
MESSAGE_CLASSES: Final = (
    "voice-message",
    "fax-message",
    "pager-message",
    "multimedia-message",
    "text-message",
    "none",
)


@dataclass(frozen=True, slots=True)
class MessageCounts:
    """Messages of one class: new and old, and how many of each are urgent."""

    new: int
    old: int
    urgent_new: int = 0
    urgent_old: int = 0


@dataclass(frozen=True, slots=True)
class MessageSummary:
    """What the mailbox holds."""

    messages_waiting: bool
    account: str | None = None
    voice: MessageCounts | None = None
    # The other classes by their names in lower case ("fax-message", …).
    other: dict[str, MessageCounts] = field(default_factory=dict)


def _bad(detail: str) -> SipMessageError:
    return SipMessageError(MessageProblem.BAD_BODY, f"message-summary refused: {detail}")


def parse_message_summary(body: bytes) -> MessageSummary:
    """Read a simple-message-summary; raises :class:`SipMessageError` for anything else."""
    try:
        text = body.decode()
    except UnicodeDecodeError as error:
        raise _bad("not UTF-8") from error
    waiting: bool | None = None
    account: str | None = None
    counts: dict[str, MessageCounts] = {}
    for line in text.split("\n", MAX_LINES)[:MAX_LINES]:
        if not line.strip():
            if waiting is not None or counts:
                break  # the optional message headers follow
            continue
        match = _LINE.fullmatch(line.strip())
        if match is None:
            raise _bad("a line is not name: value")
        name, value = match.group(1).lower(), match.group(2)
        if name == "messages-waiting":
            if value.strip().lower() not in ("yes", "no"):
                raise _bad("Messages-Waiting is neither yes nor no")
            waiting = value.strip().lower() == "yes"
        elif name == "message-account":
            account = clean_text(value)
        elif name in MESSAGE_CLASSES:
            numbers = _COUNTS.fullmatch(value)
            if numbers is None:
                raise _bad(f"{name} is not new/old (urgent-new/urgent-old)")
            new, old, urgent_new, urgent_old = numbers.groups()
            counts[name] = MessageCounts(
                new=int(new),
                old=int(old),
                urgent_new=int(urgent_new or 0),
                urgent_old=int(urgent_old or 0),
            )
    if waiting is None:
        if not counts:
            raise _bad("no Messages-Waiting line and no counts")
        # RFC 3842 requires the status line; a voicemail system that leaves it out still
        # means "waiting" by any new message.
        waiting = any(class_counts.new for class_counts in counts.values())
    voice = counts.pop("voice-message", None)
    return MessageSummary(messages_waiting=waiting, account=account, voice=voice, other=counts)
