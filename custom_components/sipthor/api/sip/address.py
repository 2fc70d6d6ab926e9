"""Voicemail addresses: where message-summary may be subscribed besides the account's own.

A mailbox's address comes from the settings page (``get_voicemail``'s ``Account``,
``<mailbox>@<voicemail server>``) or from a user: ``user@host``, with or without
``sip:``/``sips:``, a port and URI parameters. Either ends up in the Request-URI and the
To header of a SUBSCRIBE, so only what RFC 3261 allows there unescaped is taken; a
name-addr, headers (``?``), spaces or control characters are refused.
"""

from __future__ import annotations

import re
from typing import Final

from .errors import SipServerAddressError, SipVoicemailAddressError
from .locate import parse_host, parse_port, uri_host

# RFC 3261 §25.1: unreserved, escaped, and the user-unreserved characters but ; ? /.
_USER: Final = r"(?:[A-Za-z0-9\-_.!~*'()&=+$,]|%[0-9A-Fa-f]{2}){1,64}"
_PARAM: Final = r";[A-Za-z0-9\-_.!~*'%]{1,32}(?:=[A-Za-z0-9\-_.!~*'%\[\]:]{1,64})?"
_ADDRESS: Final = re.compile(
    rf"(?:(?P<scheme>sips?):)?(?P<user>{_USER})@"
    rf"(?P<host>\[[0-9A-Fa-f:.]+\]|[^:;@\[\]\s]+)(?::(?P<port>[0-9]{{1,5}}))?"
    rf"(?P<params>(?:{_PARAM}){{0,8}})",
    re.IGNORECASE,
)


def voicemail_uri(text: str) -> str:
    """``text`` (``user@host`` or a SIP URI) as the SIP URI to subscribe at.

    Raises :class:`SipVoicemailAddressError` for anything else.
    """
    match = _ADDRESS.fullmatch(text.strip())
    if match is None:
        msg = "A voicemail address must be user@host or a sip: URI"
        raise SipVoicemailAddressError(msg)
    try:
        host = parse_host(match["host"])
        port = parse_port(match["port"])
    except SipServerAddressError as error:
        raise SipVoicemailAddressError(str(error)) from error
    scheme = (match["scheme"] or "sip").lower()
    port_text = f":{port}" if port else ""
    return f"{scheme}:{match['user']}@{uri_host(host)}{port_text}{match['params']}"
