"""What the actions accept, checked before any request reaches the server.

The settings page checks almost nothing (docs/settings-api.md §5.16, §5.17): whatever
passes here is stored as sent, or mangled. Each check raises a translated
``ServiceValidationError`` from inside the action's schema, so the user sees why (Home
Assistant answers a ``vol.Invalid`` with an untranslated message).

What can be tidied is tidied rather than refused: the spaces, dots, dashes and
parentheses people put between the digits of a phone number, a ``sip:`` before an
alias. What cannot be tidied is refused.

A refusal of a forwarding target names the field, in the user's language. The frontend
translates an error from its key and placeholders, and a placeholder is shown as given:
a field name put in one would show in one language to everyone. So each field has its
own message (``<problem>_<field>``), naming the field as the action's form does.
"""

from __future__ import annotations

import math
import re
from typing import Any, Final

from homeassistant.exceptions import ServiceValidationError

from .api import MOBILE_NUMBER, VOICE_MAILBOX
from .const import DOMAIN

MAX_TARGET_LENGTH: Final = 255
MAX_ALIAS_LENGTH: Final = 64
MAX_DND_MINUTES: Final = 7 * 24 * 60
# The longest value shown back in an error message.
_PREVIEW_LENGTH: Final = 60

# RFC 3261 "unreserved" characters, plus "+" for numbers in international form. The
# rest of a SIP user part ("&", "=", "?", "/", ";", …) is left out: it is legal in a URI
# but not in a user name this platform creates, and only ever a typing or pasting error.
_USER_CHARS: Final = r"A-Za-z0-9\-_.!~*'()+"
_ALIAS: Final = re.compile(rf"[{_USER_CHARS}]+")
_USER: Final = rf"(?:[{_USER_CHARS}]|%[0-9A-Fa-f]{{2}})+"
_LABEL: Final = r"[A-Za-z0-9](?:[A-Za-z0-9\-]{0,61}[A-Za-z0-9])?"
_HOST: Final = rf"(?:{_LABEL}(?:\.{_LABEL})*\.?|\[[0-9A-Fa-f:.]+\])"
_PORT: Final = r"(?::[0-9]{1,5})?"
_DOMAIN: Final = re.compile(_HOST)
_PARAMETERS: Final = r"(?:;[A-Za-z0-9\-_.!~*'()%]+(?:=[A-Za-z0-9\-_.!~*'()%\[\]:]+)?)*"
_PHONE_NUMBER: Final = r"\+?[0-9]{2,32}"
# A phone number as people type it: digits grouped by RFC 3966's visual separators
# (- . ( )), by spaces (also the no-break and thin ones a copied number brings) or by a
# slash, with the + of the international form only in front.
_VISUAL_SEPARATORS: Final = "-.()/ \u00a0\u2009\u202f\u2010\u2011\u2012\u2013"
_TYPED_NUMBER: Final = re.compile(rf"\+?[0-9(][0-9{re.escape(_VISUAL_SEPARATORS)}]*[0-9]")
# "+31 (0)20 …": the 0 in parentheses is dialled only from within the country.
_NATIONAL_TRUNK_PREFIX: Final = re.compile(r"\(\s*0\s*\)")
# Dots between four short groups make an IPv4 address, not a number: left as typed (and
# refused), never dialled as 12 digits.
_IPV4: Final = re.compile(r"[0-9]{1,3}(?:\.[0-9]{1,3}){3}")
# A number (the server adds the account's domain), user@domain, or either as a sip: URI.
_TARGET: Final = re.compile(
    rf"(?:sip:)?(?:{_PHONE_NUMBER}|{_USER}@{_HOST}{_PORT}{_PARAMETERS})", re.IGNORECASE
)
KEYWORDS: Final = (VOICE_MAILBOX, MOBILE_NUMBER)


def _refuse(key: str, **placeholders: str) -> ServiceValidationError:
    return ServiceValidationError(
        translation_domain=DOMAIN, translation_key=key, translation_placeholders=placeholders
    )


def _preview(value: str) -> str:
    """``value`` as it may appear in a message: printable and short."""
    text = "".join(char if char.isprintable() else "?" for char in value)
    return text if len(text) <= _PREVIEW_LENGTH else f"{text[:_PREVIEW_LENGTH]}…"


def tidy_phone_number(text: str) -> str:
    """``text`` without the separators between a phone number's digits; else as it is.

    "+31 20 555 1234", "06-1234 5678", "(020) 555 1234" and "+31 (0)20 555 1234" are
    numbers as people write them; the server stores what it is sent, and dials digits.
    """
    if not _TYPED_NUMBER.fullmatch(text) or _IPV4.fullmatch(text):
        return text
    if text.startswith("+"):
        text = _NATIONAL_TRUNK_PREFIX.sub("", text)
    return "".join(char for char in text if char == "+" or char in "0123456789")


def forwarding_target(field: str) -> Any:
    """A validator of the forwarding target in ``field``: "" (or None) turns it off.

    ``field`` is the action's field (``always``, ``no_answer``, …): each refusal names it
    with a message of its own, see the module's docstring.
    """

    def refuse(problem: str, **placeholders: str) -> ServiceValidationError:
        return _refuse(f"{problem}_{field}", **placeholders)

    def validate(value: Any) -> str:
        if value is None:
            return ""
        if not isinstance(value, str):
            # YAML reads +31612345678 and 0612345678 as numbers, dropping the + or the 0:
            # forwarding to what is left would ring someone else.
            raise refuse("forwarding_target_not_text")
        target = value.strip()
        if len(target) > MAX_TARGET_LENGTH:
            raise refuse("forwarding_target_too_long", maximum=str(MAX_TARGET_LENGTH))
        target = tidy_phone_number(target)
        # Line breaks, NUL and other control characters would reach NGNPro as they are;
        # a space anywhere but between a number's digits is a mistake.
        if any(char.isspace() or not char.isprintable() for char in target):
            raise refuse("forwarding_target_characters")
        if not target or target in KEYWORDS:
            return target
        if target.startswith("<") or target.endswith(">"):
            # The keywords go in as placeholders: hassfest rejects a translation string
            # that looks like HTML, as "<voice-mailbox>" does.
            raise _refuse(
                "unknown_keyword",
                target=_preview(target),
                voice_mailbox=VOICE_MAILBOX,
                mobile_number=MOBILE_NUMBER,
            )
        if target[:5].lower() == "sips:":
            # The page prefixes "sip:" to anything not starting with it: a sips: target
            # would be stored as sip:sips:… and never ring (docs/settings-api.md §5.17).
            raise refuse("forwarding_target_sips")
        if not _TARGET.fullmatch(target):
            raise refuse("invalid_forwarding_target", target=_preview(target))
        if target[:4].lower() == "sip:":
            # The page looks for a lower-case "sip:": SIP:bob@… would become sip:SIP:bob@….
            return f"sip:{target[4:]}"
        return target

    return validate


def alias_username(value: Any) -> str:
    """A new alias: its user part, what a SIP user name may hold, at most 64.

    Given as ``name@domain`` (or ``sip:name@domain``), the domain is kept for the action
    to compare with the account's, the only one an alias can have; the rest of the
    address is checked here.
    """
    if not isinstance(value, str):
        raise _refuse("invalid_alias", username=_preview(str(value)))
    # The page trims and lower-cases it (docs/settings-api.md §5.16); trim here so the
    # length and characters checked are those sent.
    alias = value.strip()
    if alias[:4].lower() == "sip:":
        alias = alias[4:]
    username, at, domain = alias.partition("@")
    if len(username) > MAX_ALIAS_LENGTH:
        raise _refuse("alias_too_long", maximum=str(MAX_ALIAS_LENGTH))
    if (
        not _ALIAS.fullmatch(username)
        or username.strip(".") == ""
        or (at and not _DOMAIN.fullmatch(domain))
    ):
        raise _refuse("invalid_alias", username=_preview(value.strip()))
    return f"{username}@{domain}" if at else username


def dnd_minutes(value: Any) -> int:
    """A do-not-disturb duration: a whole number of minutes, 1 to a week.

    The page turns anything into an integer (docs/settings-api.md §5.13): 1.5 would
    silently become 1 minute and ``true`` 1 minute, so neither is accepted.
    """
    minutes: int | None = None
    if isinstance(value, bool):
        minutes = None
    elif isinstance(value, int):
        minutes = value
    elif isinstance(value, float) and math.isfinite(value) and value.is_integer():
        minutes = int(value)
    elif isinstance(value, str) and value.strip().isascii() and value.strip().isdigit():
        minutes = int(value.strip())
    if minutes is None or not 1 <= minutes <= MAX_DND_MINUTES:
        raise _refuse("invalid_duration", value=_preview(str(value)), maximum=str(MAX_DND_MINUTES))
    return minutes


# NGNPro's PrepaidCard id is an integer (the page applies PHP's intval to it,
# docs/settings-api.md §5.18); above a 32-bit integer it would be mangled.
MAX_VOUCHER_ID: Final = 2**31 - 1
MAX_VOUCHER_NUMBER_LENGTH: Final = 64
# The number printed on a voucher: digits, on some platforms letters too. Nothing else
# is accepted, not even the spaces or dashes that group it on a card: whether they are
# part of the number is not documented, and a wrong guess would spend a request (and
# the platform's attempt counter, where there is one) on a number that cannot match.
_VOUCHER_NUMBER: Final = re.compile(r"[A-Za-z0-9]+")


def voucher_id(value: Any) -> int:
    """A voucher id: a whole number from 1, as printed on the voucher.

    The page applies ``intval`` (docs/settings-api.md §5.18): "12abc" or 1.5 would
    become another voucher's id, so neither is accepted.
    """
    number: int | None = None
    if isinstance(value, bool):
        number = None
    elif isinstance(value, int):
        number = value
    elif isinstance(value, float) and math.isfinite(value) and value.is_integer():
        number = int(value)
    elif isinstance(value, str) and value.strip().isascii() and value.strip().isdigit():
        number = int(value.strip())
    if number is None or not 1 <= number <= MAX_VOUCHER_ID:
        raise _refuse("invalid_voucher_id", value=_preview(str(value)))
    return number


def voucher_number(value: Any) -> str:
    """A voucher number: letters and digits only, as printed.

    Never repeated in an error message: whoever holds the number holds the money.
    """
    if not isinstance(value, str):
        # YAML reads 0123456 as a number, dropping the leading 0 (or as octal).
        raise _refuse("voucher_number_not_text")
    number = value.strip()
    if len(number) > MAX_VOUCHER_NUMBER_LENGTH or not _VOUCHER_NUMBER.fullmatch(number):
        raise _refuse("invalid_voucher_number", maximum=str(MAX_VOUCHER_NUMBER_LENGTH))
    return number
