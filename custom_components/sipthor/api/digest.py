"""HTTP Digest authentication (RFC 7616) as the settings page's Digest front uses it.

aiohttp gained a Digest middleware only in 3.12, and Home Assistant 2025.4 ships 3.11,
so the client answers the challenges itself: MD5 and SHA-256 with ``qop=auth``, one
nonce reused with an increasing ``nc``, and a new nonce taken from every 401. This module
does no I/O: it reads ``WWW-Authenticate`` values and writes ``Authorization`` values.

The page (CDRTool's ``sip_settings_digest.phtml``, docs/settings-api.md §2.5) offers
MD5 only and lets a nonce live 5 minutes. After that it answers 401 with ``stale=true``
and a new nonce, which the client answers once more without asking for a password.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
import hashlib
import re
import secrets
from typing import Final
from urllib.parse import quote

# Hash functions by the names of RFC 7616 §3.3, strongest first. Without an
# ``algorithm`` parameter a challenge means MD5.
_ALGORITHMS: Final = {"SHA-256": "sha256", "MD5": "md5"}
# RFC 9110 §5.6.2: a token, as in scheme and parameter names and bare values.
_TCHARS: Final = r"[!#$%&'*+.^_`|~0-9A-Za-z-]+"
_QUOTED: Final = r'"(?:[^"\\]|\\.)*"'
_PARAM: Final = re.compile(rf"\s*({_TCHARS})\s*=\s*({_QUOTED}|{_TCHARS})\s*(?:,|$)")
_SCHEME: Final = re.compile(rf"\s*({_TCHARS})(?=\s|,|$)")
_ESCAPED: Final = re.compile(r"\\(.)")


class DigestChallengeError(ValueError):
    """No challenge the client can answer: none at all, or none with MD5 or SHA-256 and auth."""


@dataclass(frozen=True, slots=True)
class DigestChallenge:
    """One ``Digest`` challenge of a ``WWW-Authenticate`` header."""

    realm: str
    nonce: str
    algorithm: str = "MD5"
    qop: tuple[str, ...] = ()
    opaque: str | None = None
    stale: bool = False

    @property
    def answerable(self) -> bool:
        """Whether this client can answer it: a known algorithm and ``qop=auth``."""
        return self.algorithm in _ALGORITHMS and "auth" in self.qop and bool(self.nonce)


def parse_challenges(values: Iterable[str]) -> list[DigestChallenge]:
    """The Digest challenges in ``WWW-Authenticate`` header values, in their order.

    A value may hold several challenges of any scheme (RFC 9110 §11.6.1); other schemes
    and parameters that cannot be read are skipped, not fatal.
    """
    challenges: list[DigestChallenge] = []
    for value in values:
        for scheme, params in _split_challenges(value):
            if scheme.lower() != "digest" or "nonce" not in params:
                continue
            challenges.append(
                DigestChallenge(
                    realm=params.get("realm", ""),
                    nonce=params["nonce"],
                    algorithm=params.get("algorithm", "MD5").upper(),
                    qop=tuple(
                        option.strip().lower()
                        for option in params.get("qop", "").split(",")
                        if option.strip()
                    ),
                    opaque=params.get("opaque"),
                    stale=params.get("stale", "").lower() == "true",
                )
            )
    return challenges


def _split_challenges(value: str) -> list[tuple[str, dict[str, str]]]:
    """``[(scheme, {name: value})]`` of one header value; names in lower case."""
    challenges: list[tuple[str, dict[str, str]]] = []
    position = 0
    while position < len(value):
        if value[position] in " \t,":
            position += 1
            continue
        param = _PARAM.match(value, position)
        if param and challenges:
            name, raw = param.group(1).lower(), param.group(2)
            if raw.startswith('"'):
                raw = _ESCAPED.sub(r"\1", raw[1:-1])
            challenges[-1][1].setdefault(name, raw)
            position = param.end()
            continue
        scheme = _SCHEME.match(value, position)
        if scheme and not param:
            challenges.append((scheme.group(1), {}))
            position = scheme.end()
            continue
        # Something this parser does not read (a token68, a stray quote): skip one item.
        comma = value.find(",", position)
        position = len(value) if comma < 0 else comma + 1
    return challenges


def _new_cnonce() -> str:
    return secrets.token_hex(16)


class DigestAuth:
    """The ``Authorization`` values of one user, answering the latest challenge.

    ``username`` is a SIP user name in ``domain``. It is sent bare when the challenge's
    realm is that domain, which is what the page expects when asked with the ``realm``
    parameter (a stored HA1 or web password hashes the bare name with the domain), and
    as ``username@domain`` to a page whose realm is something else (docs/settings-api.md
    §2.5). Without a domain it is always sent as given.
    """

    def __init__(
        self,
        username: str,
        password: str,
        *,
        domain: str | None = None,
        cnonce: Callable[[], str] = _new_cnonce,
        allow_without_qop: bool = False,
    ) -> None:
        """Answer challenges for ``username`` with ``password``; ``cnonce`` is for tests.

        ``allow_without_qop`` also answers challenges without ``qop`` (RFC 2069, kept by
        RFC 2617 for compatibility). The settings page never sends them; SIP servers do:
        Kamailio's sample configuration challenges SIP requests that way.
        """
        self._username = username
        self._domain = domain
        self._password = password
        self._new_cnonce = cnonce
        self._allow_without_qop = allow_without_qop
        self._challenge: DigestChallenge | None = None
        self._nonce_count = 0

    def __repr__(self) -> str:
        """Name the user and the realm, never the password."""
        realm = self._challenge.realm if self._challenge else None
        return f"DigestAuth(username={self._username!r}, domain={self._domain!r}, realm={realm!r})"

    def read_challenge(self, values: Iterable[str]) -> DigestChallenge:
        """Answer the strongest usable challenge in ``values`` from now on.

        RFC 7616 §3.7 lets local policy pick among several challenges; preferring the
        strongest keeps a server's MD5 offer from being chosen over its SHA-256 one.
        Raises :class:`DigestChallengeError` when none can be answered.
        """
        challenges = parse_challenges(values)
        usable = [
            challenge
            for challenge in challenges
            if challenge.answerable
            or (
                self._allow_without_qop
                and not challenge.qop
                and challenge.algorithm in _ALGORITHMS
                and challenge.nonce
            )
        ]
        if not usable:
            offered = ", ".join(
                f"{challenge.algorithm} qop={'/'.join(challenge.qop) or 'none'}"
                for challenge in challenges
            )
            msg = f"No Digest challenge with MD5 or SHA-256 and qop=auth ({offered or 'none'})"
            raise DigestChallengeError(msg)
        strength = list(_ALGORITHMS)
        chosen = min(
            usable,
            key=lambda challenge: (strength.index(challenge.algorithm), not challenge.qop),
        )
        if self._challenge is None or chosen.nonce != self._challenge.nonce:
            self._nonce_count = 0
        self._challenge = chosen
        return chosen

    def authorization(self, method: str, uri: str) -> str | None:
        """The ``Authorization`` value for the next request, or None before a challenge.

        ``uri`` is the request target exactly as sent (path and query). Each call counts
        one more use of the nonce.
        """
        challenge = self._challenge
        if challenge is None:
            return None
        self._nonce_count += 1
        algorithm = _ALGORITHMS[challenge.algorithm]
        username = self._username
        if self._domain is not None and challenge.realm.lower() != self._domain.lower():
            username = f"{username}@{self._domain}"
        nc = f"{self._nonce_count:08x}"
        cnonce = self._new_cnonce()

        def digest(text: str) -> str:
            return hashlib.new(algorithm, text.encode()).hexdigest()

        ha1 = digest(f"{username}:{challenge.realm}:{self._password}")
        ha2 = digest(f"{method}:{uri}")
        fields = [
            _username_field(username),
            f"realm={_quoted(challenge.realm)}",
            f"nonce={_quoted(challenge.nonce)}",
            f"uri={_quoted(uri)}",
            f"algorithm={challenge.algorithm}",
        ]
        if challenge.qop:
            response = digest(f"{ha1}:{challenge.nonce}:{nc}:{cnonce}:auth:{ha2}")
            fields += ["qop=auth", f"nc={nc}", f"cnonce={_quoted(cnonce)}"]
        else:
            # RFC 2069: no client nonce and no count (allow_without_qop).
            response = digest(f"{ha1}:{challenge.nonce}:{ha2}")
        fields.append(f"response={_quoted(response)}")
        if challenge.opaque is not None:
            fields.append(f"opaque={_quoted(challenge.opaque)}")
        return "Digest " + ", ".join(fields)


def _username_field(username: str) -> str:
    """``username="…"``, or RFC 7616 §3.4.4's ``username*`` for a name beyond ASCII."""
    if username.isascii() and username.isprintable():
        return f"username={_quoted(username)}"
    return f"username*=UTF-8''{quote(username, safe='')}"


def _quoted(value: str) -> str:
    escaped = value.replace("\\", "\\\\").replace('"', '\\"')
    return f'"{escaped}"'
