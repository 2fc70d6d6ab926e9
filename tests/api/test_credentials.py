"""Client certificates in every form a user may hold, and the SSL context built from them."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
import hashlib
from pathlib import Path
import ssl
import stat
import tempfile

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import NameOID
import pytest

from custom_components.sipthor.api import (
    ClientCredentials,
    CredentialsProblem,
    SipThorAuthenticationError,
    SipThorCredentialsError,
    create_ssl_context,
    load_credentials,
)
from simulator import Behaviour, SettingsSimulator
from simulator.certs import (
    Authority,
    IssuedCertificate,
    issue_client_certificate,
    trusting_directory,
)
from tests.api.conftest import BOB, CAROL, ClientFactory
from tests.conftest import ACCOUNT, ACCOUNT_PASSWORD

PASSWORD = "s3cret pass"
# Bytes that look random, the same on every run.
NOISE = hashlib.sha512(b"noise").digest() * 8


def encrypted_key(issued: IssuedCertificate, *, traditional: bool = False) -> bytes:
    key = serialization.load_pem_private_key(issued.key_pem, None)
    key_format = (
        serialization.PrivateFormat.TraditionalOpenSSL
        if traditional
        else serialization.PrivateFormat.PKCS8
    )
    return key.private_bytes(
        serialization.Encoding.PEM,
        key_format,
        serialization.BestAvailableEncryption(PASSWORD.encode()),
    )


def problem_of(data: bytes, password: str | None = None, **kwargs: bytes) -> CredentialsProblem:
    with pytest.raises(SipThorCredentialsError) as caught:
        load_credentials(data, password, **kwargs)
    return caught.value.problem


# -- the forms that work ------------------------------------------------------------------


def test_platform_pem_bundle(alice_pem: bytes) -> None:
    """``user@domain.crt`` as Blink saves it: certificate then key, RSA-1024/MD5."""
    credentials = load_credentials(alice_pem)
    info = credentials.info

    assert info.common_name == ACCOUNT
    assert info.account == ACCOUNT
    assert info.email == "alice@example.org"
    assert "SIP Thor Simulator Enrollment CA" in info.issuer
    assert info.serial_number == 0
    assert info.key_type == "RSA"
    assert info.key_size == 1024
    assert info.signature_hash == "md5"
    assert info.not_valid_after - info.not_valid_before == timedelta(days=3650)
    assert len(info.fingerprint_sha256.split(":")) == 32
    assert info.needs_legacy_security_level
    assert not info.is_expired()
    assert credentials.certificate_pem.startswith("-----BEGIN CERTIFICATE-----")
    assert "BEGIN PRIVATE KEY" in credentials.private_key_pem
    assert load_credentials(credentials.combined_pem.encode()) == credentials


def test_weak_certificate_lowers_the_level_of_its_own_context_only(
    alice_pem: bytes, modern_alice: IssuedCertificate, tmp_path: Path
) -> None:
    """OpenSSL refuses RSA-1024/MD5 at its default level; only that context is lowered."""
    weak_file = tmp_path / "alice.crt"
    weak_file.write_bytes(alice_pem)
    weak = load_credentials(alice_pem)
    modern = load_credentials(modern_alice.combined_pem)

    weak_context = create_ssl_context(weak)
    modern_context = create_ssl_context(modern)

    assert not modern.info.needs_legacy_security_level
    weak_context.load_cert_chain(weak_file)  # accepted: the level was lowered
    with pytest.raises(ssl.SSLError, match=r"EE_KEY_TOO_SMALL|CA_MD_TOO_WEAK"):
        modern_context.load_cert_chain(weak_file)
    with pytest.raises(ssl.SSLError, match=r"EE_KEY_TOO_SMALL|CA_MD_TOO_WEAK"):
        ssl.create_default_context().load_cert_chain(weak_file)


async def test_system_cas_are_read_when_a_server_needs_one(
    simulator: SettingsSimulator,
    make_client: ClientFactory,
    alice_credentials: ClientCredentials,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The system's CA directory: nothing loaded per account until a chain is checked."""
    monkeypatch.delenv("SSL_CERT_FILE", raising=False)
    monkeypatch.setenv(
        "SSL_CERT_DIR", str(trusting_directory(simulator.certs.server_ca, tmp_path / "cas"))
    )
    context = create_ssl_context(alice_credentials)
    assert context.cert_store_stats()["x509_ca"] == 0

    assert (await make_client(context=context).get_identity()).sip_address == ACCOUNT
    # The one CA the server's chain names, read when it was needed.
    assert context.cert_store_stats()["x509_ca"] == 1


async def test_a_bundle_named_by_ssl_cert_file_is_trusted(
    simulator: SettingsSimulator,
    make_client: ClientFactory,
    alice_credentials: ClientCredentials,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """``SSL_CERT_FILE`` says which CAs to trust: its bundle is read whole, as before."""
    (tmp_path / "empty").mkdir()
    monkeypatch.setenv("SSL_CERT_DIR", str(tmp_path / "empty"))
    monkeypatch.setenv("SSL_CERT_FILE", str(simulator.certs.server_ca))
    context = create_ssl_context(alice_credentials)
    assert context.cert_store_stats()["x509_ca"] == 1

    assert (await make_client(context=context).get_identity()).sip_address == ACCOUNT


def test_context_settings(alice_credentials: ClientCredentials) -> None:
    verifying = create_ssl_context(alice_credentials)
    trusting = create_ssl_context(alice_credentials, verify_server=False)

    assert verifying.post_handshake_auth
    assert verifying.verify_mode == ssl.CERT_REQUIRED
    assert verifying.check_hostname
    assert trusting.post_handshake_auth
    assert trusting.verify_mode == ssl.CERT_NONE
    assert not trusting.check_hostname


@pytest.mark.parametrize("legacy", [True, False], ids=["legacy-3des", "modern-aes"])
def test_pkcs12(modern_alice: IssuedCertificate, legacy: bool) -> None:
    credentials = load_credentials(modern_alice.pkcs12(PASSWORD, legacy=legacy), PASSWORD)

    assert credentials.info.account == ACCOUNT
    assert credentials.certificate_pem.encode() == modern_alice.certificate_pem


def test_platform_pkcs12_with_the_sip_password(simulator: SettingsSimulator) -> None:
    """The ``.p12`` the platform hands out, unlocked with the SIP account password."""
    data = simulator.client_certificate(f"{ACCOUNT}.p12").read_bytes()

    credentials = load_credentials(data, ACCOUNT_PASSWORD)

    assert credentials.info.account == ACCOUNT
    assert credentials.info.needs_legacy_security_level


def test_pkcs12_with_the_ca_picks_the_client_certificate(
    modern_alice: IssuedCertificate, enrollment: Authority
) -> None:
    key = serialization.load_pem_private_key(modern_alice.key_pem, None)
    assert isinstance(key, pkcs12.PKCS12PrivateKeyTypes)
    data = pkcs12.serialize_key_and_certificates(
        b"alice",
        key,
        None,
        [enrollment.certificate, modern_alice.certificate],
        serialization.BestAvailableEncryption(PASSWORD.encode()),
    )

    credentials = load_credentials(data, PASSWORD)

    assert credentials.info.common_name == ACCOUNT


def test_pem_bundle_with_the_ca_first(
    modern_alice: IssuedCertificate, enrollment: Authority
) -> None:
    bundle = enrollment.certificate_pem + modern_alice.combined_pem

    assert load_credentials(bundle).info.common_name == ACCOUNT


def test_separate_certificate_and_key(modern_alice: IssuedCertificate) -> None:
    credentials = load_credentials(modern_alice.certificate_pem, key_data=modern_alice.key_pem)

    assert credentials.info.account == ACCOUNT


def test_der_certificate_and_key(modern_alice: IssuedCertificate) -> None:
    der = modern_alice.certificate.public_bytes(serialization.Encoding.DER)

    credentials = load_credentials(der, key_data=modern_alice.key_pem)

    assert credentials.certificate_pem.encode() == modern_alice.certificate_pem


@pytest.mark.parametrize("traditional", [False, True], ids=["pkcs8", "traditional"])
def test_encrypted_key(modern_alice: IssuedCertificate, traditional: bool) -> None:
    key = encrypted_key(modern_alice, traditional=traditional)

    credentials = load_credentials(modern_alice.certificate_pem, PASSWORD, key_data=key)

    # The key is kept unencrypted: the context is built from it later without a prompt.
    assert "ENCRYPTED" not in credentials.private_key_pem
    assert credentials.info.account == ACCOUNT
    assert problem_of(modern_alice.certificate_pem, key_data=key) is (
        CredentialsProblem.WRONG_PASSWORD
    )
    assert problem_of(modern_alice.certificate_pem, "wrong", key_data=key) is (
        CredentialsProblem.WRONG_PASSWORD
    )


def test_password_for_a_key_that_has_none(alice_pem: bytes) -> None:
    """A password typed for a plain PEM (it was meant for another file) does no harm."""
    assert load_credentials(alice_pem, "not needed").info.account == ACCOUNT


def test_elliptic_curve_certificate(enrollment: Authority) -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, ACCOUNT)])
    now = datetime.now(UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(enrollment.certificate.subject)
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(now - timedelta(hours=1))
        .not_valid_after(now + timedelta(days=30))
        .sign(enrollment.key, hashes.SHA256())
    )
    pem = certificate.public_bytes(serialization.Encoding.PEM) + key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )

    info = load_credentials(pem).info

    assert info.key_type == "EC"
    assert info.key_size == 256
    assert info.signature_hash == "sha256"
    assert not info.needs_legacy_security_level


# -- the forms that do not ----------------------------------------------------------------


def test_wrong_pkcs12_password(modern_alice: IssuedCertificate) -> None:
    data = modern_alice.pkcs12(PASSWORD)

    assert problem_of(data, "wrong") is CredentialsProblem.WRONG_PASSWORD
    assert problem_of(data) is CredentialsProblem.WRONG_PASSWORD


def test_pkcs12_without_a_key(modern_alice: IssuedCertificate) -> None:
    data = pkcs12.serialize_key_and_certificates(
        None,
        None,
        modern_alice.certificate,
        None,
        serialization.BestAvailableEncryption(PASSWORD.encode()),
    )

    assert problem_of(data, PASSWORD) is CredentialsProblem.MISSING_KEY


def test_key_of_another_certificate(
    modern_alice: IssuedCertificate, platform_bob: IssuedCertificate
) -> None:
    assert problem_of(modern_alice.certificate_pem + platform_bob.key_pem) is (
        CredentialsProblem.KEY_MISMATCH
    )
    assert problem_of(modern_alice.certificate_pem, key_data=platform_bob.key_pem) is (
        CredentialsProblem.KEY_MISMATCH
    )


def test_expired_certificate(expired_alice: IssuedCertificate) -> None:
    with pytest.raises(SipThorCredentialsError, match="expired on") as caught:
        load_credentials(expired_alice.combined_pem)

    assert caught.value.problem is CredentialsProblem.EXPIRED_CERTIFICATE
    info = load_credentials(
        expired_alice.combined_pem,
        now=expired_alice.certificate.not_valid_after_utc - timedelta(days=1),
    ).info
    assert info.is_expired()
    assert not info.is_expired(info.not_valid_before)


@pytest.mark.parametrize(
    "data",
    [
        pytest.param(b"", id="empty"),
        pytest.param(b" \n\t\n", id="blank"),
        pytest.param(b"This is my SIP Thor certificate, I think.\n", id="text"),
        pytest.param(bytes([0xF5]) + NOISE, id="random"),
        pytest.param(b"\x30" + NOISE, id="random-der-like"),
        pytest.param(
            b"-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydGlmaWNhdGU=\n-----END CERTIFICATE-----\n",
            id="broken-pem",
        ),
    ],
)
def test_not_a_certificate(data: bytes) -> None:
    assert problem_of(data, PASSWORD) is CredentialsProblem.INVALID_CERTIFICATE


def test_pem_without_a_key(modern_alice: IssuedCertificate) -> None:
    with pytest.raises(SipThorCredentialsError, match="No private key") as caught:
        load_credentials(modern_alice.certificate_pem)

    assert caught.value.problem is CredentialsProblem.MISSING_KEY


def test_key_without_a_certificate(modern_alice: IssuedCertificate) -> None:
    assert problem_of(modern_alice.key_pem) is CredentialsProblem.INVALID_CERTIFICATE


def test_unreadable_key(modern_alice: IssuedCertificate) -> None:
    broken = b"-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"

    with pytest.raises(SipThorCredentialsError, match="cannot be read") as caught:
        load_credentials(modern_alice.certificate_pem + broken)

    assert caught.value.problem is CredentialsProblem.INVALID_CERTIFICATE


def test_der_that_is_no_certificate(modern_alice: IssuedCertificate) -> None:
    assert problem_of(b"\x30\x03\x02\x01\x00", key_data=modern_alice.key_pem) is (
        CredentialsProblem.INVALID_CERTIFICATE
    )


def ed25519_pem() -> tuple[bytes, bytes]:
    """A self-signed Ed25519 certificate and its key."""
    key = ed25519.Ed25519PrivateKey.generate()
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Ed25519 CA")])
    now = datetime.now(UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(now - timedelta(hours=1))
        .not_valid_after(now + timedelta(days=30))
        .sign(key, None)
    )
    return certificate.public_bytes(serialization.Encoding.PEM), key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def test_unsupported_key_type() -> None:
    """Ed25519 is not what the platform issues nor what its Apache accepts."""
    certificate, key = ed25519_pem()

    with pytest.raises(SipThorCredentialsError, match="unsupported") as caught:
        load_credentials(certificate + key)

    assert caught.value.problem is CredentialsProblem.INVALID_CERTIFICATE


def test_bundle_with_a_certificate_of_another_key_type(modern_alice: IssuedCertificate) -> None:
    certificate, _key = ed25519_pem()

    credentials = load_credentials(certificate + modern_alice.combined_pem)

    assert credentials.info.account == ACCOUNT


def test_pkcs12_without_a_certificate(modern_alice: IssuedCertificate) -> None:
    key = serialization.load_pem_private_key(modern_alice.key_pem, None)
    assert isinstance(key, pkcs12.PKCS12PrivateKeyTypes)
    data = pkcs12.serialize_key_and_certificates(
        b"key only", key, None, None, serialization.BestAvailableEncryption(PASSWORD.encode())
    )

    with pytest.raises(SipThorCredentialsError, match="no certificate") as caught:
        load_credentials(data, PASSWORD)

    assert caught.value.problem is CredentialsProblem.INVALID_CERTIFICATE


# -- what the credentials reveal and leave behind --------------------------------------------


def test_repr_keeps_the_key_out(alice_credentials: ClientCredentials) -> None:
    key_body = alice_credentials.private_key_pem.splitlines()[1]

    assert key_body not in repr(alice_credentials)
    assert "PRIVATE KEY" not in repr(alice_credentials)
    assert ACCOUNT in repr(alice_credentials)


def test_owner_certificate_names_no_account(simulator: SettingsSimulator) -> None:
    info = load_credentials(simulator.client_certificate("owner-1001.crt").read_bytes()).info

    assert info.common_name == "1001"
    assert info.account is None
    assert info.email is None


@pytest.mark.parametrize(
    ("common_name", "account"),
    [
        ("alice@example.com", "alice@example.com"),
        ("1001", None),
        ("alice@", None),
        ("@example.com", None),
        (None, None),
    ],
)
def test_account_from_the_common_name(
    alice_credentials: ClientCredentials, common_name: str | None, account: str | None
) -> None:
    assert replace(alice_credentials.info, common_name=common_name).account == account


@pytest.mark.parametrize(
    ("key_type", "key_size", "signature_hash", "legacy"),
    [
        ("RSA", 1024, "sha256", True),
        ("RSA", 2048, "md5", True),
        ("RSA", 2048, "sha1", True),
        ("RSA", 2048, "sha256", False),
        ("DSA", 1024, "sha256", True),
        ("EC", 192, "sha256", True),
        ("EC", 256, "sha256", False),
        ("other", None, "sha256", False),
        ("other", None, None, False),
    ],
)
def test_when_the_security_level_must_be_lowered(
    alice_credentials: ClientCredentials,
    key_type: str,
    key_size: int | None,
    signature_hash: str | None,
    legacy: bool,
) -> None:
    info = replace(
        alice_credentials.info,
        key_type=key_type,
        key_size=key_size,
        signature_hash=signature_hash,
    )

    assert info.needs_legacy_security_level is legacy


type Recorder = Callable[..., tuple[int, str]]


@pytest.fixture
def temporary_files(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, int]]:
    """Each temporary file made, with its mode right after it was created."""
    made: list[tuple[str, int]] = []
    real_mkstemp: Recorder = tempfile.mkstemp

    def recording_mkstemp(*args: object, **kwargs: object) -> tuple[int, str]:
        descriptor, path = real_mkstemp(*args, **kwargs)
        made.append((path, stat.S_IMODE(Path(path).stat().st_mode)))
        return descriptor, path

    monkeypatch.setattr(tempfile, "mkstemp", recording_mkstemp)
    return made


def test_key_file_is_private_and_removed(
    alice_credentials: ClientCredentials, temporary_files: list[tuple[str, int]]
) -> None:
    create_ssl_context(alice_credentials)

    ((path, mode),) = temporary_files
    assert mode == 0o600
    assert not Path(path).exists()


def test_key_file_is_removed_when_openssl_refuses(
    alice_credentials: ClientCredentials,
    platform_bob: IssuedCertificate,
    temporary_files: list[tuple[str, int]],
) -> None:
    """Credentials put together by hand, with a key that does not fit."""
    mismatched = ClientCredentials(
        certificate_pem=alice_credentials.certificate_pem,
        private_key_pem=platform_bob.key_pem.decode(),
        info=alice_credentials.info,
    )

    with pytest.raises(SipThorCredentialsError, match="OpenSSL refused") as caught:
        create_ssl_context(mismatched)

    assert caught.value.problem is CredentialsProblem.INVALID_CERTIFICATE
    ((path, _mode),) = temporary_files
    assert not Path(path).exists()


# -- the credentials against the platform ------------------------------------------------------


@pytest.mark.parametrize(
    "form",
    ["platform-pem", "platform-p12", "modern-p12", "separate-pems", "der-and-key", "encrypted-key"],
)
async def test_each_form_opens_the_account(
    simulator: SettingsSimulator,
    make_client: ClientFactory,
    modern_alice: IssuedCertificate,
    alice_pem: bytes,
    form: str,
) -> None:
    match form:
        case "platform-pem":
            credentials = load_credentials(alice_pem)
        case "platform-p12":
            p12 = simulator.client_certificate(f"{ACCOUNT}.p12").read_bytes()
            credentials = load_credentials(p12, ACCOUNT_PASSWORD)
        case "modern-p12":
            credentials = load_credentials(modern_alice.pkcs12(PASSWORD, legacy=False), PASSWORD)
        case "separate-pems":
            credentials = load_credentials(
                modern_alice.certificate_pem, key_data=modern_alice.key_pem
            )
        case "der-and-key":
            der = modern_alice.certificate.public_bytes(serialization.Encoding.DER)
            credentials = load_credentials(der, key_data=modern_alice.key_pem)
        case _:
            credentials = load_credentials(
                modern_alice.certificate_pem, PASSWORD, key_data=encrypted_key(modern_alice)
            )

    identity = await make_client(credentials=credentials).get_identity()

    assert identity.sip_address == ACCOUNT


async def test_owner_certificate_opens_every_account_of_its_owner(
    simulator: SettingsSimulator, make_client: ClientFactory
) -> None:
    owner = load_credentials(simulator.client_certificate("owner-1001.crt").read_bytes())

    alice = await make_client(ACCOUNT, owner).get_identity()
    bob = await make_client(BOB, owner).get_identity()

    assert (alice.sip_address, bob.sip_address) == (ACCOUNT, BOB)
    with pytest.raises(SipThorAuthenticationError, match=r"^X\.509 Credentials error$"):
        await make_client(CAROL, owner).get_identity()


async def test_enrollment_certificate_opens_only_with_owner_zero_matching(
    simulator: SettingsSimulator, make_client: ClientFactory
) -> None:
    """Open question 2: a CN of user@domain is owner 0 to the platform."""
    assert (await make_client().get_identity()).sip_address == ACCOUNT

    simulator.platform.behaviour = Behaviour(owner_zero_matches_any=False)
    with pytest.raises(SipThorAuthenticationError, match=r"X\.509 Credentials error"):
        await make_client().get_identity()
    owner = load_credentials(simulator.client_certificate("owner-1001.crt").read_bytes())
    assert (await make_client(credentials=owner).get_identity()).sip_address == ACCOUNT


async def test_certificate_with_a_numeric_user_part(
    simulator: SettingsSimulator, make_client: ClientFactory, enrollment: Authority
) -> None:
    """``31208001234@example.com`` reads as owner 31208001234 to PHP's intval.

    See docs/settings-api.md §2.2.
    """
    issued = issue_client_certificate(enrollment, "31208001234@example.com", platform_like=False)
    credentials = load_credentials(issued.combined_pem)

    with pytest.raises(SipThorAuthenticationError):
        await make_client(credentials=credentials).get_identity()


def test_damaged_public_key(modern_alice: IssuedCertificate) -> None:
    """A certificate damaged in transit: still PEM, but its public key no longer parses."""
    der = modern_alice.certificate.public_bytes(serialization.Encoding.DER)
    # The RSA-2048 key's SEQUENCE inside the SubjectPublicKeyInfo BIT STRING made a SET.
    spki = bytes.fromhex("0382010f003082010a")
    assert der.count(spki) == 1
    damaged = x509.load_der_x509_certificate(der.replace(spki, bytes.fromhex("0382010f003182010a")))
    pem = damaged.public_bytes(serialization.Encoding.PEM) + modern_alice.key_pem
    assert problem_of(pem) is CredentialsProblem.INVALID_CERTIFICATE
