"""Certificates for the simulator: two CAs, a server certificate, client credentials.

The enrollment CA issues client certificates the way CDRTool does (docs/settings-api.md §2.3):
RSA-1024 keys, MD5 signatures, serial number 0, ten years of validity, the key
unencrypted after the certificate in one PEM. ``cryptography`` refuses to sign with
MD5, so those certificates are signed by the ``openssl ca`` command.

The server certificate comes from a separate CA, as on the platform, where the web
server's certificate has nothing to do with the enrollment CA.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
import ipaddress
import os
from pathlib import Path
import shutil
import subprocess
import tempfile

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

SERVER_CA = "server-ca.crt"
ENROLLMENT_CA = "enrollment-ca.crt"
SERVER_CERT = "server.crt"
SERVER_KEY = "server.key"
# An OpenSSL configuration at security level 0, for command-line clients (curl) that
# would otherwise refuse the RSA-1024/MD5 certificates before any option applies.
LEGACY_OPENSSL_CONF = "openssl-legacy.cnf"
_LEGACY_OPENSSL_CONF_TEXT = """\
openssl_conf = openssl_init
[openssl_init]
ssl_conf = ssl_configuration
[ssl_configuration]
system_default = legacy_client
[legacy_client]
CipherString = DEFAULT:@SECLEVEL=0
"""
_ENROLLMENT_CA_KEY = "enrollment-ca.key"
_SERVER_CA_KEY = "server-ca.key"
_PLATFORM_VALIDITY = timedelta(days=3650)


@dataclass(frozen=True, slots=True)
class Authority:
    """A CA certificate with its key."""

    certificate: x509.Certificate
    key: rsa.RSAPrivateKey

    @property
    def certificate_pem(self) -> bytes:
        """The CA certificate as PEM."""
        return self.certificate.public_bytes(serialization.Encoding.PEM)

    @property
    def key_pem(self) -> bytes:
        """The CA key as unencrypted PEM."""
        return _key_pem(self.key)


@dataclass(frozen=True, slots=True)
class IssuedCertificate:
    """A certificate with its key, as PEM."""

    certificate_pem: bytes
    key_pem: bytes

    @property
    def combined_pem(self) -> bytes:
        """Certificate then key: the layout of the platform's ``user@domain.crt``."""
        return self.certificate_pem + self.key_pem

    @property
    def certificate(self) -> x509.Certificate:
        """The parsed certificate."""
        return x509.load_pem_x509_certificate(self.certificate_pem)

    def pkcs12(self, password: str, *, legacy: bool = True) -> bytes:
        """The pair as PKCS#12; ``legacy`` uses the SHA1/3DES algorithms of old PHP."""
        key = serialization.load_pem_private_key(self.key_pem, None)
        assert isinstance(key, rsa.RSAPrivateKey)
        builder = serialization.PrivateFormat.PKCS12.encryption_builder().kdf_rounds(2048)
        if legacy:
            builder = builder.key_cert_algorithm(
                pkcs12.PBES.PBESv1SHA1And3KeyTripleDESCBC
            ).hmac_hash(hashes.SHA1())  # noqa: S303 - what PHP/OpenSSL 1.x wrote
        return pkcs12.serialize_key_and_certificates(
            None, key, self.certificate, None, builder.build(password.encode())
        )


def new_authority(common_name: str, *, days: int = 3650) -> Authority:
    """A self-signed CA with the extensions strict verifiers ask for."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    now = datetime.now(UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    return Authority(certificate, key)


def issue_server_certificate(authority: Authority, hosts: list[str]) -> IssuedCertificate:
    """A TLS server certificate for ``hosts`` (IP addresses or names)."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    names: list[x509.GeneralName] = []
    for host in hosts:
        try:
            names.append(x509.IPAddress(ipaddress.ip_address(host)))
        except ValueError:
            names.append(x509.DNSName(host))
    now = datetime.now(UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, hosts[0])]))
        .issuer_name(authority.certificate.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=825))
        .add_extension(x509.SubjectAlternativeName(names), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(authority.key.public_key()),
            critical=False,
        )
        .sign(authority.key, hashes.SHA256())
    )
    return IssuedCertificate(certificate.public_bytes(serialization.Encoding.PEM), _key_pem(key))


def issue_client_certificate(
    authority: Authority,
    common_name: str,
    *,
    email: str | None = None,
    platform_like: bool = True,
    not_before: datetime | None = None,
    not_after: datetime | None = None,
) -> IssuedCertificate:
    """A client certificate, by default exactly as CDRTool issues them (RSA-1024/MD5).

    ``platform_like=False`` gives a modern RSA-2048/SHA-256 certificate instead.
    """
    key = rsa.generate_private_key(public_exponent=65537, key_size=1024 if platform_like else 2048)
    attributes = [x509.NameAttribute(NameOID.COMMON_NAME, common_name)]
    if email:
        attributes.append(x509.NameAttribute(NameOID.EMAIL_ADDRESS, email))
    subject = x509.Name(attributes)
    start = not_before or datetime.now(UTC) - timedelta(minutes=5)
    end = not_after or start + _PLATFORM_VALIDITY
    if platform_like:
        return IssuedCertificate(
            _openssl_md5_sign(authority, key, subject, start, end), _key_pem(key)
        )
    certificate = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(authority.certificate.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(end)
        .sign(authority.key, hashes.SHA256())
    )
    return IssuedCertificate(certificate.public_bytes(serialization.Encoding.PEM), _key_pem(key))


_OPENSSL_CA_CONFIG = """\
[ca]
default_ca = simulator
[simulator]
database = index.txt
new_certs_dir = .
serial = serial
default_md = md5
policy = any_subject
unique_subject = no
email_in_dn = yes
[any_subject]
commonName = supplied
emailAddress = optional
"""


def _openssl_md5_sign(
    authority: Authority,
    key: rsa.RSAPrivateKey,
    subject: x509.Name,
    start: datetime,
    end: datetime,
) -> bytes:
    """Sign with MD5 and serial number 0 through ``openssl ca``, as CDRTool's PHP does.

    ``openssl ca`` takes the validity dates as given, whatever the machine's clock
    says, so tests that freeze time (or want an expired certificate) get them too.
    """
    openssl = shutil.which("openssl")
    if openssl is None:  # pragma: no cover - the machines here have it
        msg = "The openssl command is needed to sign platform-like (MD5) certificates"
        raise RuntimeError(msg)
    request = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(subject)
        .sign(key, hashes.SHA256())
        .public_bytes(serialization.Encoding.PEM)
    )
    with tempfile.TemporaryDirectory(prefix="sipthor-sim-") as workdir:
        folder = Path(workdir)
        (folder / "ca.cnf").write_text(_OPENSSL_CA_CONFIG)
        (folder / "index.txt").write_text("")
        (folder / "serial").write_text("00\n")
        (folder / "request.pem").write_bytes(request)
        (folder / "ca.pem").write_bytes(authority.certificate_pem)
        _write_private(folder / "ca.key", authority.key_pem)
        subprocess.run(  # noqa: S603 - fixed arguments, files of our own
            [
                openssl,
                "ca",
                "-batch",
                "-notext",
                "-preserveDN",
                "-config",
                "ca.cnf",
                "-cert",
                "ca.pem",
                "-keyfile",
                "ca.key",
                "-md",
                "md5",
                "-startdate",
                start.astimezone(UTC).strftime("%Y%m%d%H%M%SZ"),
                "-enddate",
                end.astimezone(UTC).strftime("%Y%m%d%H%M%SZ"),
                "-in",
                "request.pem",
                "-out",
                "certificate.pem",
            ],
            check=True,
            capture_output=True,
            cwd=folder,
        )
        return (folder / "certificate.pem").read_bytes()


def _key_pem(key: rsa.RSAPrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


@dataclass(frozen=True, slots=True)
class CertificateFiles:
    """Where the simulator's certificates are on disk."""

    directory: Path
    server_ca: Path
    enrollment_ca: Path
    server_certificate: Path
    server_key: Path
    legacy_openssl_conf: Path
    enrollment_authority: Authority
    # The CA of the server certificate: it also issues the test SIP server's certificate.
    server_authority: Authority

    def client_certificate(self, name: str) -> Path:
        """The path of a client credential written by :func:`ensure_certificates`."""
        return self.directory / name


def ensure_certificates(
    directory: Path,
    accounts: dict[str, tuple[int, str]],
    hosts: list[str] | None = None,
) -> CertificateFiles:
    """Write what is missing in ``directory``; reuse what is there.

    ``accounts`` maps each SIP address to its owner id and SIP password. For each,
    the directory gets ``<address>.crt`` (enrollment passport: CN = the address) and
    ``<address>.p12`` (unlocked with the SIP password); each owner gets
    ``owner-<id>.crt`` (CN = the owner id, what ``get_crt`` issues).
    """
    directory.mkdir(parents=True, exist_ok=True)
    directory.chmod(0o700)
    enrollment = _load_or_create_authority(
        directory / ENROLLMENT_CA,
        directory / _ENROLLMENT_CA_KEY,
        "SIP Thor Simulator Enrollment CA",
    )
    server_authority = _load_or_create_authority(
        directory / SERVER_CA, directory / _SERVER_CA_KEY, "SIP Thor Simulator Server CA"
    )
    server_cert = directory / SERVER_CERT
    server_key = directory / SERVER_KEY
    if not server_cert.exists() or not server_key.exists():
        issued = issue_server_certificate(server_authority, hosts or ["127.0.0.1", "localhost"])
        server_cert.write_bytes(issued.certificate_pem)
        _write_private(server_key, issued.key_pem)

    for address, (owner, password) in accounts.items():
        pem = directory / f"{address}.crt"
        p12 = directory / f"{address}.p12"
        if not pem.exists() or not p12.exists():
            issued = issue_client_certificate(
                enrollment, address, email=f"{address.split('@', 1)[0]}@example.org"
            )
            _write_private(pem, issued.combined_pem)
            _write_private(p12, issued.pkcs12(password))
        owner_pem = directory / f"owner-{owner}.crt"
        if not owner_pem.exists():
            issued = issue_client_certificate(enrollment, str(owner))
            _write_private(owner_pem, issued.combined_pem)

    legacy_conf = directory / LEGACY_OPENSSL_CONF
    if not legacy_conf.exists():
        legacy_conf.write_text(_LEGACY_OPENSSL_CONF_TEXT)

    return CertificateFiles(
        directory=directory,
        legacy_openssl_conf=legacy_conf,
        server_ca=directory / SERVER_CA,
        enrollment_ca=directory / ENROLLMENT_CA,
        server_certificate=server_cert,
        server_key=server_key,
        enrollment_authority=enrollment,
        server_authority=server_authority,
    )


def trusting_directory(ca: Path, directory: Path) -> Path:
    """``directory`` holding ``ca`` under its OpenSSL hash name: a CA directory to trust.

    What ``SSL_CERT_DIR`` names: a client reads from it the CA a server's chain needs.
    """
    openssl = shutil.which("openssl")
    if openssl is None:  # pragma: no cover - the machines here have it
        msg = "The openssl command is needed to name a CA by its hash"
        raise RuntimeError(msg)
    directory.mkdir(parents=True, exist_ok=True)
    subject_hash = subprocess.run(  # noqa: S603 - fixed arguments, a file of our own
        [openssl, "x509", "-hash", "-noout", "-in", str(ca)],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    shutil.copyfile(ca, directory / f"{subject_hash}.0")
    return directory


def _load_or_create_authority(certificate_path: Path, key_path: Path, name: str) -> Authority:
    if certificate_path.exists() and key_path.exists():
        # The key is one this module wrote; skipping OpenSSL's RSA consistency check
        # saves ~30 ms per key, paid by every simulator start.
        key = serialization.load_pem_private_key(
            key_path.read_bytes(), None, unsafe_skip_rsa_key_validation=True
        )
        assert isinstance(key, rsa.RSAPrivateKey)
        return Authority(x509.load_pem_x509_certificate(certificate_path.read_bytes()), key)
    authority = new_authority(name)
    certificate_path.write_bytes(authority.certificate_pem)
    _write_private(key_path, authority.key_pem)
    return authority


def _write_private(path: Path, data: bytes) -> None:
    """Write key material readable by its owner only, from the first byte on."""
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "wb") as file:
        file.write(data)
    path.chmod(0o600)
