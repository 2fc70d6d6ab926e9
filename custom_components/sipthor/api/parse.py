"""Turn the settings page's answers into JSON values (docs/settings-api.md §4.6).

The page sends JSON as ``text/html``, may print an HTML error fragment or the
``Key … changed …`` lines of ``set_call_forwarding`` before it, and ends
authentication failures with the plain text ``X.509 Credentials error`` (its Digest
front prints a few texts of its own instead).
"""

from __future__ import annotations

from dataclasses import dataclass
import html
import json
import re
from typing import Any

CREDENTIALS_ERROR = "X.509 Credentials error"
# What the Digest page prints with HTTP 200 when it cannot read the Authorization header,
# or when the account's domain is not served there (docs/settings-api.md §2.5).
DIGEST_CREDENTIALS_ERRORS = (
    "Invalid credentials from",
    "error: no domainFilter available",
    "HTP digest Credentials error",
)

_JSON_STARTS = frozenset("{[ntf")
_TAG = re.compile(r"<[^>]*>")
_SPACE = re.compile(r"\s+")
# The server's own error texts: "Error (SipPort): <message> (<code>): <text>".
_SERVER_ERROR = re.compile(r"Error \(\w+\):.*")


@dataclass(frozen=True, slots=True)
class ParsedBody:
    """The JSON value at the end of a body, and the text the server printed before it."""

    value: Any
    prefix: str

    @property
    def server_error(self) -> str | None:
        """The server's error message in the prefix (``Error (SipPort): …``), if any."""
        match = _SERVER_ERROR.search(self.prefix)
        return match.group(0).strip() if match else None


class UnparsableBodyError(ValueError):
    """The body holds no JSON value that reaches its end."""


def parse_body(body: str) -> ParsedBody:
    """Find the JSON value that ends ``body``; keep what precedes it as readable text.

    Raises :class:`UnparsableBodyError` when no candidate start position gives a JSON
    value that consumes the body up to its end.
    """
    text = body.strip()
    try:
        return ParsedBody(json.loads(text), "")
    except ValueError:
        pass
    decoder = json.JSONDecoder()
    for start, char in enumerate(text):
        if char not in _JSON_STARTS:
            continue
        try:
            value, end = decoder.raw_decode(text, start)
        except ValueError:
            continue
        if end == len(text):
            return ParsedBody(value, readable_text(text[:start]))
    raise UnparsableBodyError(readable_text(text)[:200])


def is_credentials_error(body: str) -> bool:
    """Whether the body is one of the authentication failures of docs/settings-api.md §2.2, §2.5."""
    text = body.strip()
    return text.endswith(CREDENTIALS_ERROR) or text.startswith(DIGEST_CREDENTIALS_ERRORS)


def readable_text(fragment: str) -> str:
    """An HTML fragment as one line of text, for a log message or an error."""
    return _SPACE.sub(" ", html.unescape(_TAG.sub(" ", fragment))).strip()
