"""HTTP Digest authentication (RFC 7616), for any protocol that uses its challenges.

aiohttp gained a Digest middleware only in 3.12, and Home Assistant 2025.4 ships 3.11,
so the client answers the challenges itself: MD5 and SHA-256 with ``qop=auth``, one
nonce reused with an increasing ``nc``, and a new nonce taken from every 401. This module
does no I/O and knows nothing of HTTP libraries: it reads ``WWW-Authenticate`` values
(or SIP's ``WWW-Authenticate`` and ``Proxy-Authenticate``, which have the same syntax)
and writes ``Authorization`` values. A caller uses it so:

1. :meth:`DigestAuth.answer` with the request's method and target (an HTTP path and
   query, a SIP request-URI): the header value to send, or None before any challenge.
2. On a refusal (HTTP or SIP 401, SIP 407), :meth:`DigestAuth.read_refusal` with the
   refused answer (None if the request carried none), the refusal's challenge header
   values and a name for the server (HTTP: its origin). From then on the answers take
   the new nonce.
3. If :attr:`DigestRefusal.for_good`, the password is wrong. Otherwise the refusal is
   explained by a newer nonce, a stale one or a server that counts ``nc`` strictly:
   send the request again with a new answer.

The settings page (CDRTool's ``sip_settings_digest.phtml``, docs/settings-api.md §2.5)
offers MD5 only and lets a nonce live 5 minutes. After that it answers 401 with
``stale=true`` and a new nonce, which the client answers once more without asking for a
password.

What a server sends is read in bounded time: at most :data:`MAX_CHALLENGE_VALUES`
header values, :data:`MAX_CHALLENGE_CHARACTERS` characters and :data:`MAX_CHALLENGE_ITEMS`
parameters, each in one pass. A value the answer must repeat (realm, nonce, opaque) that
holds bytes outside UTF-8 or control characters cannot be sent back as it came, so such a
challenge is refused with :class:`DigestChallengeError` rather than answered wrongly.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
import hashlib
import itertools
import re
import secrets
from typing import Final
from urllib.parse import quote

# Hash functions by the names of RFC 7616 §3.3, weakest first. Without an ``algorithm``
# parameter a challenge means MD5.
_ALGORITHMS: Final = {"MD5": "md5", "SHA-256": "sha256"}
_STRENGTH: Final = {name: rank for rank, name in enumerate(_ALGORITHMS)}
# What is read of one refusal. A real challenge is a few hundred characters, and a
# server offers two or three (one per algorithm, RFC 7616 §3.7); a value longer than
# the limit is skipped whole, so that no cut-off parameter is ever read as complete.
MAX_CHALLENGE_VALUES: Final = 8
MAX_CHALLENGE_VALUE_LENGTH: Final = 4096
MAX_CHALLENGE_CHARACTERS: Final = 16 * 1024
MAX_CHALLENGE_ITEMS: Final = 128
# RFC 9110 §5.6.2: a token, as in scheme and parameter names and bare values; possessive,
# like every repeat here, so that no match backtracks over what it has read.
_TCHARS: Final = r"[!#$%&'*+.^_`|~0-9A-Za-z-]++"
# One item of a header value, with the separators before it: a parameter (a name, "="
# and a token or quoted string, then a comma or the end), a word (an authentication
# scheme, or a token68 after one), or anything else up to the next comma. Each match
# consumes at least one character.
_ITEM: Final = re.compile(
    rf"(?P<separator>[\s,]*+)(?:(?P<name>{_TCHARS})[ \t]*+=[ \t]*+"
    rf'(?P<value>"(?:[^"\\]++|\\.)*+"|{_TCHARS})(?=[ \t]*+(?:,|$))'
    rf"|(?P<word>{_TCHARS})|[^,]++)",
    re.DOTALL,
)
_ESCAPED: Final = re.compile(r"\\(.)", re.DOTALL)
# What cannot be sent back in a header as received: control characters (a tab may
# stay) and the surrogates by which aiohttp (and Python's own parsers) keep bytes that
# are not UTF-8.
_NOT_SENDABLE: Final = re.compile(r"[\x00-\x08\x0a-\x1f\x7f\ud800-\udfff]")
# How much of a server's text an error message repeats.
_SHOWN_LENGTH: Final = 40


class DigestChallengeError(ValueError):
    """No challenge the client can answer: none at all, or none with MD5 or SHA-256 and auth."""


class DigestDowngradeError(DigestChallengeError):
    """The server offers a weaker algorithm than it offered before: refused.

    A server that once offered SHA-256 and now offers MD5 only has changed its setup,
    or someone between client and server strips its stronger challenges.
    """

    def __init__(self, server: str, offered: str, strongest: str) -> None:
        """Name the algorithm offered now and the strongest one offered before."""
        super().__init__(
            f"{server or 'The server'} offered {strongest} before and now only {offered}"
        )
        self.server = server
        self.offered = offered
        self.strongest = strongest


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
    def sendable(self) -> bool:
        """Whether its realm, nonce and opaque can be sent back as they came."""
        return not any(
            _NOT_SENDABLE.search(value) for value in (self.realm, self.nonce, self.opaque or "")
        )

    @property
    def answerable(self) -> bool:
        """Whether this client can answer it.

        It needs a known algorithm, ``qop=auth``, and a realm, nonce and opaque it can
        send back as they came.
        """
        return self.answerable_without_qop and "auth" in self.qop

    @property
    def answerable_without_qop(self) -> bool:
        """Whether it could be answered as RFC 2069 answers, if it offers no ``qop``."""
        return self.algorithm in _ALGORITHMS and bool(self.nonce) and self.sendable


@dataclass(frozen=True, slots=True)
class DigestAnswer:
    """One ``Authorization`` value, and the nonce and count it used."""

    value: str
    nonce: str
    nonce_count: int


@dataclass(frozen=True, slots=True)
class DigestRefusal:
    """A refusal read: the challenge answered from now on, and what the refusal means.

    ``for_good`` is the verdict on the password. Only an answer with the newest nonce,
    used for the first time (``nc=1``), that no other answer could have overtaken
    (nothing else was in flight) and that the server did not call stale, is refused for
    the password. Any other refusal may be an older nonce, a stale one, or a server
    that counts ``nc`` strictly (Apache's ``AuthDigestNcCheck`` refuses a count that
    arrives out of order): answer it again with the new challenge.
    """

    challenge: DigestChallenge
    for_good: bool


def parse_challenges(values: Iterable[str]) -> list[DigestChallenge]:
    """The Digest challenges in ``WWW-Authenticate`` header values, in their order.

    A value may hold several challenges of any scheme (RFC 9110 §11.6.1); other schemes
    and parameters that cannot be read are skipped, not fatal. Reads a bounded amount
    (see the module's notes) in one pass.
    """
    challenges: list[DigestChallenge] = []
    for scheme, params in _read_challenges(values):
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


def _bounded(values: Iterable[str]) -> Iterator[str]:
    """The header values that are read: the first few, none too long, within a budget."""
    budget = MAX_CHALLENGE_CHARACTERS
    for value in itertools.islice(values, MAX_CHALLENGE_VALUES):
        if len(value) > min(MAX_CHALLENGE_VALUE_LENGTH, budget):
            continue
        budget -= len(value)
        yield value


def _read_challenges(values: Iterable[str]) -> list[tuple[str, dict[str, str]]]:
    """``[(scheme, {name: value})]`` of the values; names in lower case, the first wins."""
    challenges: list[tuple[str, dict[str, str]]] = []
    items = 0
    for value in _bounded(values):
        params: dict[str, str] | None = None
        after_scheme = False
        position = 0
        while position < len(value) and items < MAX_CHALLENGE_ITEMS:
            item = _ITEM.match(value, position)
            if item is None:  # only separators are left
                break
            position = item.end()
            items += 1
            if item["name"] is not None:
                if params is not None:
                    raw = item["value"]
                    if raw.startswith('"'):
                        raw = _ESCAPED.sub(r"\1", raw[1:-1])
                    params.setdefault(item["name"].lower(), raw)
            elif item["word"] is not None:
                if after_scheme and "," not in item["separator"]:
                    params = None  # a token68 (Basic's, Negotiate's): no parameters follow
                else:
                    params = {}
                    challenges.append((item["word"], params))
                    after_scheme = True
                    continue
            # Anything else (a stray quote, a cut-off value) is skipped.
            after_scheme = False
    return challenges


def _new_cnonce() -> str:
    return secrets.token_hex(16)


def shown(text: str) -> str:
    """A server's text as an error message may show it: short, printable, ASCII."""
    cut = text[:_SHOWN_LENGTH] + ("…" if len(text) > _SHOWN_LENGTH else "")
    return cut.encode("ascii", "backslashreplace").decode("ascii")


class DigestAuth:
    """The ``Authorization`` values of one user, answering the latest challenge.

    ``username`` is a SIP user name in ``domain``. It is sent bare when the challenge's
    realm is that domain, which is what the page expects when asked with the ``realm``
    parameter (a stored HA1 or web password hashes the bare name with the domain), and
    as ``username@domain`` to a page whose realm is something else (docs/settings-api.md
    §2.5). Without a domain it is always sent as given. The user name and password are
    hashed as UTF-8 (RFC 7616 §4, ``charset=UTF-8``); a name beyond ASCII is sent as
    ``username*``.

    It remembers, per server, the strongest algorithm that server offered, and refuses
    a weaker one later (:class:`DigestDowngradeError`).
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
        self._strongest: dict[str, str] = {}

    def __repr__(self) -> str:
        """Name the user and the realm, never the password."""
        realm = shown(self._challenge.realm) if self._challenge else None
        return f"DigestAuth(username={self._username!r}, domain={self._domain!r}, realm={realm!r})"

    @property
    def challenge(self) -> DigestChallenge | None:
        """The challenge answered now; None before the first."""
        return self._challenge

    def strongest_offered(self, server: str = "") -> str | None:
        """The strongest algorithm ``server`` has offered, once it has offered one."""
        return self._strongest.get(server)

    def read_challenge(self, values: Iterable[str], *, server: str = "") -> DigestChallenge:
        """Answer the strongest usable challenge in ``values`` from now on.

        ``values`` are the challenge header values of one refusal; ``server`` names who
        sent them (HTTP: the origin; SIP: the proxy or registrar), for the memory of the
        strongest algorithm. RFC 7616 §3.7 lets local policy pick among several
        challenges; preferring the strongest keeps a server's MD5 offer from being
        chosen over its SHA-256 one. Raises :class:`DigestChallengeError` when none can
        be answered, :class:`DigestDowngradeError` when the strongest is weaker than
        what ``server`` offered before; either leaves the answers as they were.
        """
        challenges = parse_challenges(values)
        usable = [
            challenge
            for challenge in challenges
            if challenge.answerable
            or (self._allow_without_qop and not challenge.qop and challenge.answerable_without_qop)
        ]
        if not usable:
            offered = ", ".join(_describe(challenge) for challenge in challenges[:4])
            msg = f"No Digest challenge with MD5 or SHA-256 and qop=auth ({offered or 'none'})"
            raise DigestChallengeError(msg)
        # The strongest algorithm; of two with the same one, the challenge with qop.
        chosen = max(
            usable,
            key=lambda challenge: (_STRENGTH[challenge.algorithm], bool(challenge.qop)),
        )
        strongest = self._strongest.get(server, chosen.algorithm)
        if _STRENGTH[chosen.algorithm] < _STRENGTH[strongest]:
            raise DigestDowngradeError(server, chosen.algorithm, strongest)
        self._strongest[server] = chosen.algorithm
        if self._challenge is None or chosen.nonce != self._challenge.nonce:
            self._nonce_count = 0
        self._challenge = chosen
        return chosen

    def read_refusal(
        self,
        refused: DigestAnswer | None,
        values: Iterable[str],
        *,
        server: str = "",
        alone: bool = True,
    ) -> DigestRefusal:
        """Read the challenge of a refusal of ``refused`` (None: nothing was sent).

        ``alone``: no other answer of this user was in flight while this one was; a
        caller that sends one request at a time leaves it True. Raises as
        :meth:`read_challenge` does.
        """
        newest = self._challenge.nonce if self._challenge else None
        challenge = self.read_challenge(values, server=server)
        for_good = (
            refused is not None
            and alone
            and not challenge.stale
            and refused.nonce_count == 1
            and refused.nonce == newest
        )
        return DigestRefusal(challenge, for_good)

    def answer(self, method: str, uri: str) -> DigestAnswer | None:
        """The ``Authorization`` value for the next request, or None before a challenge.

        ``uri`` is the request target exactly as sent (HTTP: path and query; SIP: the
        request-URI). Each call counts one more use of the nonce.
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
        return DigestAnswer("Digest " + ", ".join(fields), challenge.nonce, self._nonce_count)

    def authorization(self, method: str, uri: str) -> str | None:
        """The value of :meth:`answer` alone."""
        answer = self.answer(method, uri)
        return None if answer is None else answer.value


def _describe(challenge: DigestChallenge) -> str:
    """What a challenge offered, for an error message."""
    qop = "/".join(shown(option) for option in challenge.qop[:4]) or "none"
    unsendable = (
        "" if challenge.sendable else " (a realm, nonce or opaque that cannot be sent back)"
    )
    return f"{shown(challenge.algorithm)} qop={qop}{unsendable}"


def _username_field(username: str) -> str:
    """``username="…"``, or RFC 7616 §3.4.4's ``username*`` for a name beyond ASCII."""
    if username.isascii() and username.isprintable():
        return f"username={_quoted(username)}"
    return f"username*=UTF-8''{quote(username, safe='')}"


def _quoted(value: str) -> str:
    escaped = value.replace("\\", "\\\\").replace('"', '\\"')
    return f'"{escaped}"'
