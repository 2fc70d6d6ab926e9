"""Client certificates: read what the settings page hands out, build an SSLContext.

Everything here blocks (file I/O, key parsing, loading CA stores), so an asyncio
caller runs it in an executor.

The platform issues RSA-1024 keys with MD5 signatures (docs/settings-api.md §2.3), which OpenSSL
refuses at its default security level. The level is lowered only on the context built
for such a certificate, never globally.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
import functools
import os
from pathlib import Path
import re
import ssl
import tempfile
import warnings

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import dsa, ec, rsa
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import NameOID

from .errors import CredentialsProblem, SipThorCredentialsError

_PEM_KEY_BLOCK = re.compile(
    rb"-----BEGIN ((?:RSA |EC |DSA |ENCRYPTED )?PRIVATE KEY)-----"
    rb".+?-----END \1-----",
    re.DOTALL,
)
# Below these the OpenSSL default security level (2 on Debian, 1 upstream) rejects a
# certificate when it is loaded: EE_KEY_TOO_SMALL and CA_MD_TOO_WEAK.
# A CA in OpenSSL's hashed directory: the subject's hash, a dot, a counter.
_HASH_LINK = re.compile(r"[0-9a-f]{8}\.[0-9]+")
_MIN_RSA_DSA_BITS = 2048
_MIN_EC_BITS = 224
_WEAK_HASHES = frozenset({"md5", "sha1"})

# CDRTool issues every certificate with serial number 0 (docs/settings-api.md §2.3), which RFC 5280
# disallows; recent cryptography releases warn on each load. The warning says nothing a
# user can act on, so it is silenced for exactly this case. (cryptography announces
# that it will refuse such certificates one day: then this client needs another parser.)
warnings.filterwarnings(
    "ignore", message="Parsed a serial number which wasn't positive", category=Warning
)


@dataclass(frozen=True, slots=True)
class CertificateInfo:
    """What a client certificate says about itself; nothing secret."""

    subject: str
    common_name: str | None
    email: str | None
    issuer: str
    serial_number: int
    not_valid_before: datetime
    not_valid_after: datetime
    fingerprint_sha256: str
    key_type: str
    key_size: int | None
    signature_hash: str | None

    @property
    def account(self) -> str | None:
        """The SIP account the certificate names, if its CN is ``user@domain``.

        Enrollment certificates carry the SIP address as CN; owner certificates
        (``get_crt``) carry the numeric owner id, which names no single account.
        """
        cn = self.common_name
        if cn is None:
            return None
        user, at, domain = cn.partition("@")
        return cn if at and user and domain else None

    @property
    def needs_legacy_security_level(self) -> bool:
        """Whether OpenSSL's default security level would refuse this certificate."""
        if self.signature_hash in _WEAK_HASHES:
            return True
        if self.key_size is None:
            return False
        minimum = _MIN_EC_BITS if self.key_type == "EC" else _MIN_RSA_DSA_BITS
        return self.key_size < minimum

    def is_expired(self, now: datetime | None = None) -> bool:
        """Whether the certificate's validity has ended."""
        return (now or datetime.now(UTC)) >= self.not_valid_after


@dataclass(frozen=True, slots=True)
class ClientCredentials:
    """A client certificate with its unencrypted private key, both as PEM text."""

    certificate_pem: str
    private_key_pem: str = field(repr=False)
    info: CertificateInfo

    @property
    def combined_pem(self) -> str:
        """Certificate followed by key: the layout of the platform's ``user@domain.crt``."""
        return self.certificate_pem + self.private_key_pem


def load_credentials(
    data: bytes,
    password: str | None = None,
    *,
    key_data: bytes | None = None,
    now: datetime | None = None,
    check_key: bool = True,
) -> ClientCredentials:
    """Read a client credential in any form the platform or a user may have.

    ``data`` is one of: a PEM bundle holding the certificate and its key (the
    platform's ``user@domain.crt``), a PKCS#12 file (``.p12``/``.pfx``, unlocked with
    ``password``), or a certificate alone (PEM or DER) with the key in ``key_data``.
    ``password`` also unlocks an encrypted PEM key.

    The key must match the certificate and the certificate must not have expired;
    every failure is a :class:`SipThorCredentialsError` naming the problem.
    ``check_key=False`` skips OpenSSL's check of an RSA key's arithmetic (about 10 ms),
    for a key that passed it before: one this integration stored itself.
    """
    if not data.strip():
        raise SipThorCredentialsError(CredentialsProblem.INVALID_CERTIFICATE, "The file is empty")
    secret = password.encode() if password else None
    if b"-----BEGIN" in data:
        certificates = _pem_certificates(data)
        key = _pem_private_key(key_data if key_data is not None else data, secret, check_key)
    elif key_data is not None:
        certificates = [_der_certificate(data)]
        key = _pem_private_key(key_data, secret, check_key)
    else:
        key, certificates = _pkcs12(data, secret)

    try:
        certificate = _certificate_for_key(certificates, key)
        info = _certificate_info(certificate)
    except ValueError as err:
        # cryptography parses parts of a certificate lazily: a damaged public key or
        # extension surfaces only here, as a plain ValueError.
        raise SipThorCredentialsError(
            CredentialsProblem.INVALID_CERTIFICATE, f"The certificate is damaged: {err}"
        ) from err
    if info.is_expired(now):
        raise SipThorCredentialsError(
            CredentialsProblem.EXPIRED_CERTIFICATE,
            f"The certificate expired on {info.not_valid_after:%Y-%m-%d}",
        )
    return ClientCredentials(
        certificate_pem=certificate.public_bytes(serialization.Encoding.PEM).decode(),
        private_key_pem=key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ).decode(),
        info=info,
    )


def create_ssl_context(
    credentials: ClientCredentials,
    *,
    verify_server: bool = True,
    cafile: str | None = None,
) -> ssl.SSLContext:
    """Build a dedicated SSLContext that presents ``credentials``.

    The server is verified against ``cafile``, or the system's trust store when it is
    None, unless ``verify_server`` is False. Post-handshake authentication is on:
    Apache asks for the certificate only after reading the request, and a TLS 1.3
    client that does not offer it gets HTTP 403 (docs/settings-api.md §2.1).
    """
    context = ssl.create_default_context(
        cafile=cafile, capath=None if cafile else system_ca_directory()
    )
    if not verify_server:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    if credentials.info.needs_legacy_security_level:
        context.set_ciphers("DEFAULT:@SECLEVEL=0")
    context.post_handshake_auth = True
    _load_cert_chain(context, credentials)
    return context


def system_ca_directory() -> str | None:
    """The system's CAs as a hashed directory, read one CA at a time; None: read the bundle.

    Each account has a context of its own (its certificate is in it), and a context
    cannot share another's trust store. Loading the system's bundle (about 140 CAs) into
    each costs 30 to 130 ms of CPU at every setup and about 850 KiB that stay with it.
    OpenSSL's hashed directory (``SSL_CERT_DIR``, or the system's: /etc/ssl/certs on Debian
    and Alpine, where update-ca-certificates links the same CAs as the bundle it writes
    there) is read only when a server's chain is checked, and only the file of the CA that
    chain names. Where the system has no such directory, or ``SSL_CERT_FILE`` names a
    bundle elsewhere (CAs chosen on purpose), the bundle is loaded.
    """
    paths = ssl.get_default_verify_paths()
    directory = paths.capath
    if directory is None or not _holds_hash_links(directory):
        return None
    bundle = os.environ.get(paths.openssl_cafile_env)
    if bundle and Path(bundle).resolve().parent != Path(directory).resolve():
        return None
    return directory


@functools.cache
def _holds_hash_links(directory: str) -> bool:
    """Whether ``directory`` holds CAs under OpenSSL's hash names (``5a7722fb.0``)."""
    try:
        with os.scandir(directory) as entries:
            return any(_HASH_LINK.fullmatch(entry.name) for entry in entries)
    except OSError:
        return False


def _load_cert_chain(context: ssl.SSLContext, credentials: ClientCredentials) -> None:
    """Load the key into ``context`` through a private file that lives for one call.

    ``load_cert_chain`` reads only from a path. ``mkstemp`` creates the file with
    mode 0600, and it is removed before this function returns, whatever happens.
    """
    descriptor, path = tempfile.mkstemp(prefix="sipthor-", suffix=".pem")
    try:
        with os.fdopen(descriptor, "w", encoding="ascii") as file:
            file.write(credentials.combined_pem)
        context.load_cert_chain(path)
    except ssl.SSLError as err:
        # load_credentials checked the pair; this is for credentials built by hand.
        raise SipThorCredentialsError(
            CredentialsProblem.INVALID_CERTIFICATE,
            f"OpenSSL refused the certificate: {err.reason or err}",
        ) from err
    finally:
        Path(path).unlink(missing_ok=True)


type _PrivateKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey | dsa.DSAPrivateKey


def _pem_certificates(data: bytes) -> list[x509.Certificate]:
    try:
        return x509.load_pem_x509_certificates(data)
    except ValueError as err:
        raise SipThorCredentialsError(
            CredentialsProblem.INVALID_CERTIFICATE,
            "The file holds no readable X.509 certificate",
        ) from err


def _der_certificate(data: bytes) -> x509.Certificate:
    try:
        return x509.load_der_x509_certificate(data)
    except ValueError as err:
        raise SipThorCredentialsError(
            CredentialsProblem.INVALID_CERTIFICATE,
            "The file holds no readable X.509 certificate",
        ) from err


def _pem_private_key(data: bytes, password: bytes | None, check_key: bool = True) -> _PrivateKey:
    match = _PEM_KEY_BLOCK.search(data)
    if match is None:
        raise SipThorCredentialsError(
            CredentialsProblem.MISSING_KEY,
            "No private key was found next to the certificate",
        )
    try:
        key = serialization.load_pem_private_key(
            match.group(0), password, unsafe_skip_rsa_key_validation=not check_key
        )
    except TypeError as err:
        # Raised both for an encrypted key without a password and for a password
        # given to a key that has none; only the first can be fixed by the user.
        if password is None:
            raise SipThorCredentialsError(
                CredentialsProblem.WRONG_PASSWORD,
                "The private key is encrypted and needs its password",
            ) from err
        return _pem_private_key(data, None, check_key)
    except ValueError as err:
        # PKCS#8 says so in its label; OpenSSL's traditional format (``BEGIN RSA
        # PRIVATE KEY``, what ``openssl genrsa -aes256`` writes) in a header line.
        if match.group(1) == b"ENCRYPTED PRIVATE KEY" or b"Proc-Type: 4,ENCRYPTED" in (
            match.group(0)
        ):
            raise SipThorCredentialsError(
                CredentialsProblem.WRONG_PASSWORD,
                "The password does not unlock the private key",
            ) from err
        raise SipThorCredentialsError(
            CredentialsProblem.INVALID_CERTIFICATE, "The private key cannot be read"
        ) from err
    except UnsupportedAlgorithm as err:  # pragma: no cover - exotic key types
        raise SipThorCredentialsError(
            CredentialsProblem.INVALID_CERTIFICATE, "The private key type is unsupported"
        ) from err
    return _supported_key(key)


def _pkcs12(data: bytes, password: bytes | None) -> tuple[_PrivateKey, list[x509.Certificate]]:
    try:
        key, certificate, extra = pkcs12.load_key_and_certificates(data, password)
    except ValueError as err:
        # cryptography reports a wrong password and corrupt data with the same
        # exception; a DER SEQUENCE that does not open is taken as a wrong password.
        if data[:1] == b"\x30" and "deserialize" not in str(err):
            raise SipThorCredentialsError(
                CredentialsProblem.WRONG_PASSWORD,
                "The password does not unlock the PKCS#12 file",
            ) from err
        raise SipThorCredentialsError(
            CredentialsProblem.INVALID_CERTIFICATE,
            "The file is neither a PEM certificate nor a PKCS#12 bundle",
        ) from err
    if key is None:
        raise SipThorCredentialsError(
            CredentialsProblem.MISSING_KEY, "The PKCS#12 file holds no private key"
        )
    certificates = ([certificate] if certificate else []) + list(extra)
    return _supported_key(key), certificates


def _supported_key(key: object) -> _PrivateKey:
    if isinstance(key, rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey | dsa.DSAPrivateKey):
        return key
    raise SipThorCredentialsError(  # Ed25519 and the like
        CredentialsProblem.INVALID_CERTIFICATE, "The private key type is unsupported"
    )


def _certificate_for_key(
    certificates: list[x509.Certificate], key: _PrivateKey
) -> x509.Certificate:
    """Pick the certificate of ``key``; a bundle may also carry the CA."""
    if not certificates:
        raise SipThorCredentialsError(
            CredentialsProblem.INVALID_CERTIFICATE, "The file holds no certificate"
        )
    wanted = _public_key_der(key.public_key())
    for certificate in certificates:
        if _public_key_der(certificate.public_key()) == wanted:
            return certificate
    raise SipThorCredentialsError(
        CredentialsProblem.KEY_MISMATCH,
        "The private key does not belong to the certificate",
    )


def _public_key_der(public_key: object) -> bytes:
    if not isinstance(public_key, rsa.RSAPublicKey | ec.EllipticCurvePublicKey | dsa.DSAPublicKey):
        return b""
    return public_key.public_bytes(
        serialization.Encoding.DER,
        serialization.PublicFormat.SubjectPublicKeyInfo,
    )


def _certificate_info(certificate: x509.Certificate) -> CertificateInfo:
    public_key = certificate.public_key()
    key_type = {
        rsa.RSAPublicKey: "RSA",
        ec.EllipticCurvePublicKey: "EC",
        dsa.DSAPublicKey: "DSA",
    }
    kind = next((name for cls, name in key_type.items() if isinstance(public_key, cls)), "other")
    key_size = getattr(public_key, "key_size", None)
    try:
        algorithm = certificate.signature_hash_algorithm
    except UnsupportedAlgorithm:  # pragma: no cover - exotic signatures
        algorithm = None
    return CertificateInfo(
        subject=certificate.subject.rfc4514_string(),
        common_name=_name_attribute(certificate.subject, NameOID.COMMON_NAME),
        email=_name_attribute(certificate.subject, NameOID.EMAIL_ADDRESS),
        issuer=certificate.issuer.rfc4514_string(),
        serial_number=certificate.serial_number,
        not_valid_before=certificate.not_valid_before_utc,
        not_valid_after=certificate.not_valid_after_utc,
        fingerprint_sha256=certificate.fingerprint(hashes.SHA256()).hex(":"),
        key_type=kind,
        key_size=key_size if isinstance(key_size, int) else None,
        signature_hash=algorithm.name if algorithm else None,
    )


def _name_attribute(name: x509.Name, oid: x509.ObjectIdentifier) -> str | None:
    values = name.get_attributes_for_oid(oid)
    if not values:
        return None
    value = values[0].value
    return value if isinstance(value, str) else value.decode(errors="replace")
