"""The config, reauthentication, reconfiguration and options flows of SIP Thor.

Everything goes through Home Assistant's real ``/api/file_upload`` endpoint and the
simulated settings page over mutual TLS; the only mock is the one unexpected error.
What both ways of signing in share runs once per way (``sign_in``: a PEM certificate,
a .p12, the SIP password); test_config_flow_password.py holds what only the password does.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
import json
import logging
from pathlib import Path
import random
import ssl
import subprocess
import sys
from typing import Any
from unittest.mock import patch

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from homeassistant.config_entries import ConfigEntryState
from homeassistant.const import (
    ATTR_UNIT_OF_MEASUREMENT,
    CONF_CURRENCY,
    CONF_PASSWORD,
    CONF_SCAN_INTERVAL,
    CONF_URL,
    CONF_VERIFY_SSL,
    STATE_UNAVAILABLE,
)
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType, InvalidData
from homeassistant.helpers import entity_registry as er, issue_registry as ir
from homeassistant.util import dt as dt_util, ssl as ssl_util
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry
from pytest_homeassistant_custom_component.typing import ClientSessionGenerator

from custom_components.sipthor.api import (
    DEFAULT_URL,
    DIGEST_URL,
    CredentialsProblem,
    SipThorCredentialsError,
    load_credentials,
)
from custom_components.sipthor.certificate import certificate_file_name, write_certificate
from custom_components.sipthor.const import (
    CONF_ACCOUNT,
    CONF_CERTIFICATE_FILE,
    CONF_CERTIFICATE_UPLOAD,
    CONF_HISTORY_TIMEZONE,
    CONF_KEEP_PASSWORD,
    CONF_LIVE_EVENTS,
    CONF_SIP_PASSWORD,
    CONF_SIP_SERVER,
    CONF_SLOW_SCAN_INTERVAL,
    CONF_VOICEMAIL_URI,
    DOMAIN,
)
from simulator import Faults, SettingsSimulator
from simulator.certs import IssuedCertificate, issue_client_certificate
from tests.conftest import ACCOUNT, ACCOUNT_PASSWORD
from tests.integration.common import (
    ADVANCED,
    Upload,
    closed_port_url,
    setup_entry,
    shown,
    start_certificate_flow,
    start_password_flow,
    start_reconfigure_flow,
)

OTHER_ACCOUNT = "bob@example.com"
KEY_PASSWORD = "key-file-password"
STORED_FILE = certificate_file_name(ACCOUNT)

type Mint = Callable[..., IssuedCertificate]

# What the server does (a simulator fault), and the form error it gives in every flow.
SERVER_FAULTS = [
    ("credentials_error", True, "invalid_auth"),
    ("tls_reject", True, "invalid_auth"),
    ("drop_connection", True, "cannot_connect"),
    ("status", 404, "not_settings_page"),
    ("status", 500, "server_error"),
    ("status", 503, "server_error"),
    # The page ran and printed nothing (docs/settings-api.md §4.5): the URL was right.
    ("empty_body", True, "server_error"),
    ("malformed_json", True, "not_settings_page"),
]


@dataclass(frozen=True, slots=True)
class Credential:
    """A file as a user would pick it, and the password typed next to it."""

    name: str
    content: bytes
    password: str | None = None


@pytest.fixture
async def forget_upload(
    hass: HomeAssistant, hass_client: ClientSessionGenerator
) -> Callable[[str], Awaitable[None]]:
    """Delete an upload through the endpoint, as when it expired before the form was sent."""
    client = await hass_client()

    async def _forget(file_id: str) -> None:
        response = await client.delete("/api/file_upload", json={"file_id": file_id})
        assert response.status == 200, await response.text()

    return _forget


@pytest.fixture
def mint(simulator: SettingsSimulator) -> Mint:
    """Issue a client certificate from the platform's enrollment CA."""

    def _mint(common_name: str = ACCOUNT, **kwargs: Any) -> IssuedCertificate:
        return issue_client_certificate(simulator.certs.enrollment_authority, common_name, **kwargs)

    return _mint


@pytest.fixture
def credential(
    simulator: SettingsSimulator, alice_pem: bytes, mint: Mint
) -> Callable[[str], Credential]:
    """The files a user may upload, by name; built on demand."""

    def pem_blocks(pem: bytes) -> tuple[bytes, bytes]:
        start = pem.index(b"-----BEGIN PRIVATE KEY-----")
        return pem[:start], pem[start:]

    def build(kind: str) -> Credential:
        alice_certificate, alice_key = pem_blocks(alice_pem)
        p12 = simulator.client_certificate(f"{ACCOUNT}.p12").read_bytes()
        match kind:
            case "pem":
                return Credential(f"{ACCOUNT}.crt", alice_pem)
            case "p12":
                return Credential(f"{ACCOUNT}.p12", p12, ACCOUNT_PASSWORD)
            case "p12_wrong_password":
                return Credential(f"{ACCOUNT}.p12", p12, "not-the-sip-password")
            case "p12_no_password":
                return Credential(f"{ACCOUNT}.p12", p12)
            case "encrypted_key" | "encrypted_key_no_password":
                key = serialization.load_pem_private_key(alice_key, None)
                encrypted = key.private_bytes(
                    serialization.Encoding.PEM,
                    serialization.PrivateFormat.PKCS8,
                    serialization.BestAvailableEncryption(KEY_PASSWORD.encode()),
                )
                password = KEY_PASSWORD if kind == "encrypted_key" else None
                return Credential("alice.pem", alice_certificate + encrypted, password)
            case "text":
                return Credential("notes.txt", b"My SIP account is alice@example.com.\n")
            case "random":
                noise = random.Random(7).randbytes(4096)  # noqa: S311 - any bytes will do
                return Credential("alice.crt", noise)
            case "empty":
                return Credential("alice.crt", b"")
            case "oversized":
                # A good certificate, padded beyond 64 KiB: the size alone refuses it.
                return Credential("alice.crt", alice_pem + b"\n" * (64 * 1024))
            case "certificate_only":
                return Credential("alice.crt", alice_certificate)
            case "key_mismatch":
                bob_pem = simulator.client_certificate(f"{OTHER_ACCOUNT}.crt").read_bytes()
                return Credential("alice.crt", alice_certificate + pem_blocks(bob_pem)[1])
            case "damaged":
                return Credential("alice.crt", _damaged_public_key(mint(platform_like=False)))
            case "expired":
                now = datetime.now(UTC)
                # Modern, so that openssl need not re-sign an expired certificate.
                expired = mint(
                    not_before=now - timedelta(days=3650),
                    not_after=now - timedelta(days=1),
                    platform_like=False,
                )
                return Credential("alice.crt", expired.combined_pem)
            case "owner":
                return Credential(
                    "owner-1001.crt", simulator.client_certificate("owner-1001.crt").read_bytes()
                )
            case "other_account":
                # Bob's enrollment certificate: its CN names bob@example.com.
                return Credential(
                    f"{OTHER_ACCOUNT}.crt",
                    simulator.client_certificate(f"{OTHER_ACCOUNT}.crt").read_bytes(),
                )
            case "other_owner":
                # Carol's owner: opens carol@example.net, not Alice's account.
                return Credential(
                    "owner-2002.crt", simulator.client_certificate("owner-2002.crt").read_bytes()
                )
        raise AssertionError(kind)

    return build


@dataclass(frozen=True, slots=True)
class SignIn:
    """One way to add Alice's account: the form it fills in, and the entry it makes.

    ``credential`` is the file uploaded (with the password typed next to it); ``None``
    signs in with the SIP password on the Digest page. ``keep_password`` ticks the box
    that keeps a .p12's password (the SIP password) for the live events.
    """

    simulator: SettingsSimulator
    upload: Upload
    credential: Credential | None
    account: str | None = None
    keep_password: bool = False

    @property
    def with_password(self) -> bool:
        return self.credential is None

    @property
    def step_id(self) -> str:
        return "password" if self.with_password else "certificate"

    @property
    def default_url(self) -> str:
        return DIGEST_URL if self.with_password else DEFAULT_URL

    @property
    def url(self) -> str:
        return self.simulator.digest_url if self.with_password else self.simulator.url

    @property
    def url_field(self) -> str:
        """Where the form puts a URL's error: the password form keeps it under advanced."""
        return ADVANCED if self.with_password else CONF_URL

    @property
    def entry_data(self) -> dict[str, Any]:
        data = {CONF_URL: self.url, CONF_ACCOUNT: ACCOUNT, CONF_VERIFY_SSL: True}
        if self.with_password:
            return data | {CONF_PASSWORD: ACCOUNT_PASSWORD}
        data |= {CONF_CERTIFICATE_FILE: STORED_FILE}
        return data | {CONF_SIP_PASSWORD: ACCOUNT_PASSWORD} if self.keep_password else data

    async def start(self, hass: HomeAssistant) -> Any:
        if self.with_password:
            return await start_password_flow(hass)
        return await start_certificate_flow(hass)

    async def form(self, *, url: str | None = None, **typed: Any) -> dict[str, Any]:
        """Everything the user fills in, with a new upload of the file."""
        if self.credential is None:
            return self.again(url=url, **typed)
        return self.again(url=url, **typed) | await _upload_credential(self.upload, self.credential)

    def again(
        self, *, url: str | None = None, verify_ssl: bool = True, account: str | None = None
    ) -> dict[str, Any]:
        """The form sent again after an error: the certificate form kept the file."""
        account = account or self.account
        if self.with_password:
            return {
                CONF_ACCOUNT: account or ACCOUNT,
                CONF_PASSWORD: ACCOUNT_PASSWORD,
                ADVANCED: {CONF_URL: url or self.url, CONF_VERIFY_SSL: verify_ssl},
            }
        data: dict[str, Any] = {CONF_URL: url or self.url, CONF_VERIFY_SSL: verify_ssl}
        if self.keep_password:
            data[CONF_KEEP_PASSWORD] = True
        return data if account is None else data | {CONF_ACCOUNT: account}

    def assert_stored(self, hass: HomeAssistant) -> None:
        """The certificate is stored, its key unlocked, without the password; or no file."""
        if self.credential is None:
            assert not _stored_path(hass).parent.exists()
            return
        certificate = self.credential.content
        if self.credential.name.endswith(".p12"):
            certificate = self.simulator.client_certificate(f"{ACCOUNT}.crt").read_bytes()
        assert ACCOUNT_PASSWORD.encode() not in _assert_stored(hass, certificate)


@pytest.fixture
def sign_in(
    request: pytest.FixtureRequest,
    simulator: SettingsSimulator,
    upload: Upload,
    credential: Callable[[str], Credential],
) -> SignIn:
    """A way to sign in, by indirect parameter: pem, p12, p12_kept (its password kept),
    owner (its account typed), password.
    """
    method: str = request.param
    if method == "password":
        return SignIn(simulator, upload, None)
    if method == "p12_kept":
        return SignIn(simulator, upload, credential("p12"), keep_password=True)
    return SignIn(simulator, upload, credential(method), ACCOUNT if method == "owner" else None)


def _user_input(simulator: SettingsSimulator, certificate: str | None = None) -> dict[str, Any]:
    """The user form as sent: the simulator's URL, verification on, and maybe an upload."""
    data: dict[str, Any] = {CONF_URL: simulator.url, CONF_VERIFY_SSL: True}
    if certificate is not None:
        data[CONF_CERTIFICATE_UPLOAD] = certificate
    return data


def _reconfigure_input(url: str, certificate: str | None = None) -> dict[str, Any]:
    """The reconfigure form as sent: verification on, and maybe an upload."""
    data: dict[str, Any] = {CONF_URL: url, CONF_VERIFY_SSL: True}
    if certificate is not None:
        data[CONF_CERTIFICATE_UPLOAD] = certificate
    return data


async def _upload_credential(upload: Upload, cred: Credential) -> dict[str, str]:
    """The form fields of an upload: the file id, and the password if one is typed."""
    fields = {CONF_CERTIFICATE_UPLOAD: await upload(cred.content, cred.name)}
    if cred.password is not None:
        fields[CONF_PASSWORD] = cred.password
    return fields


def _suggested(result: Any, field: str) -> Any:
    """What a form shows in ``field`` before the user types anything."""
    return shown(result["data_schema"], field)


def _url(template: str, simulator: SettingsSimulator, page: str | None = None) -> str:
    """A URL of a parameter: ``{closed_port}``, a path on the simulator's ``{server}``, or
    the settings ``{page}`` a way of signing in uses (the certificate page by default).
    """
    if template == "{closed_port}":
        return closed_port_url()
    server = simulator.url.removesuffix(simulator.path)
    return template.format(server=server, page=page or simulator.url)


def _damaged_public_key(issued: IssuedCertificate) -> bytes:
    """The certificate with its key, where the certificate's public key no longer parses.

    What a download damaged in transit can look like: still PEM, still a certificate.
    """
    der = issued.certificate.public_bytes(serialization.Encoding.DER)
    # The RSA-2048 key in the BIT STRING of SubjectPublicKeyInfo: make its SEQUENCE a SET.
    spki = bytes.fromhex("0382010f003082010a")
    assert der.count(spki) == 1
    damaged = x509.load_der_x509_certificate(der.replace(spki, bytes.fromhex("0382010f003182010a")))
    return damaged.public_bytes(serialization.Encoding.PEM) + issued.key_pem


def _trust_only_the_system(monkeypatch: pytest.MonkeyPatch) -> None:
    """Trust the system's CAs only: not the simulator's server CA.

    A client certificate's context loads them itself; the password's is Home Assistant's.
    """
    paths = ssl.get_default_verify_paths()
    monkeypatch.setenv("SSL_CERT_FILE", paths.openssl_cafile)
    monkeypatch.setenv("SSL_CERT_DIR", paths.openssl_capath)
    monkeypatch.setattr(ssl_util, "client_context", lambda *_args: ssl_util.get_default_context())


def _fingerprint(pem: bytes) -> bytes:
    return x509.load_pem_x509_certificates(pem)[0].fingerprint(hashes.SHA256())


def _stored_path(hass: HomeAssistant, file_name: str = STORED_FILE) -> Path:
    return Path(hass.config.config_dir) / ".storage" / DOMAIN / file_name


def _assert_stored(
    hass: HomeAssistant, certificate_pem: bytes, file_name: str = STORED_FILE
) -> bytes:
    """The certificate and its unencrypted key, alone in a private file and directory."""
    path = _stored_path(hass, file_name)
    assert path.stat().st_mode & 0o777 == 0o600
    assert path.parent.stat().st_mode & 0o777 == 0o700
    assert [entry.name for entry in path.parent.iterdir()] == [file_name]  # no temporary copy
    stored = path.read_bytes()
    assert _fingerprint(stored) == _fingerprint(certificate_pem)
    key = serialization.load_pem_private_key(stored, None)
    certificate = x509.load_pem_x509_certificate(stored)
    assert key.public_key() == certificate.public_key()
    return stored


def _stored(hass: HomeAssistant) -> bytes | None:
    """Alice's stored certificate file, if any."""
    path = _stored_path(hass)
    return path.read_bytes() if path.exists() else None


async def _add_configured(hass: HomeAssistant, entry: MockConfigEntry, alice_pem: bytes) -> None:
    """Add ``entry``, with Alice's certificate stored where it signs in with one."""
    if CONF_CERTIFICATE_FILE in entry.data:
        await hass.async_add_executor_job(
            write_certificate, _stored_path(hass), load_credentials(alice_pem)
        )
    entry.add_to_hass(hass)


def _entity_id(hass: HomeAssistant, key: str) -> str:
    entity_id = er.async_get(hass).async_get_entity_id("sensor", DOMAIN, f"{ACCOUNT}_{key}")
    assert entity_id is not None
    return entity_id


def test_integration_loads_without_its_flow() -> None:
    """Setting up an entry does not import the config flow (file upload, selectors).

    Home Assistant imports config_flow only when a flow starts. In a fresh interpreter,
    so that no other test has imported it already.
    """
    module = "custom_components.sipthor.config_flow"
    code = f"import sys, custom_components.sipthor; print({module!r} in sys.modules)"
    result = subprocess.run(  # noqa: S603 - this interpreter, fixed code
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        cwd=Path(__file__).parents[2],
    )
    assert result.stdout.strip() == "False"


# -- adding an account, either way --------------------------------------------------------

SIGN_IN_METHODS = ["pem", "p12", "password"]


@pytest.mark.parametrize("sign_in", [*SIGN_IN_METHODS, "p12_kept"], indirect=True)
async def test_user_flow(
    hass: HomeAssistant,
    simulator: SettingsSimulator,
    sign_in: SignIn,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The form of each way adds a working entry with what that way needs, and no more.

    The platform's user@domain.crt alone is enough (the account comes from its CN); a
    .p12 opens with the SIP password, stored nowhere unless the user ticks the box that
    keeps it for the live events; the SIP address and its password sign in on the Digest
    page, with the realm Blink sends.
    """
    caplog.set_level(logging.DEBUG)
    hass.config.currency = "CHF"
    result = await sign_in.start(hass)
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == sign_in.step_id
    assert result["errors"] == {}
    assert _suggested(result, CONF_URL) == sign_in.default_url
    assert _suggested(result, CONF_VERIFY_SSL) is True
    if not sign_in.with_password:
        assert _suggested(result, CONF_KEEP_PASSWORD) is False  # off unless ticked
    # Neither way of adding an account asks for the currency: Home Assistant's own.
    assert CONF_CURRENCY not in result["data_schema"].schema

    result = await hass.config_entries.flow.async_configure(result["flow_id"], await sign_in.form())
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["title"] == ACCOUNT
    assert result["data"] == sign_in.entry_data
    assert result["options"] == {CONF_CURRENCY: "CHF"}
    entry = result["result"]
    assert entry.unique_id == ACCOUNT
    identity = simulator.counters.last("get_identity")
    assert identity.authorization.startswith("Digest ") is sign_in.with_password
    assert identity.params.get("realm") == ("example.com" if sign_in.with_password else None)
    sign_in.assert_stored(hass)

    # The new entry works with what was stored.
    await hass.async_block_till_done(wait_background_tasks=True)
    assert entry.state is ConfigEntryState.LOADED
    balance = hass.states.get(_entity_id(hass, "balance"))
    assert balance is not None
    assert balance.attributes[ATTR_UNIT_OF_MEASUREMENT] == "CHF"
    # The HTML settings tab, too, answers the way the entry signs in.
    assert hass.states.get("switch.alice_example_com_hide_caller_id").state != STATE_UNAVAILABLE
    assert simulator.counters.last("").authorization.startswith("Digest ") is sign_in.with_password
    # A certificate's expiry has a sensor; no repair issue either way.
    expiry = er.async_get(hass).async_get_entity_id(
        "sensor", DOMAIN, f"{ACCOUNT}_certificate_expiry"
    )
    assert (expiry is None) is sign_in.with_password
    assert not ir.async_get(hass).issues
    assert ACCOUNT_PASSWORD not in caplog.text
    # The live events need the SIP password: with the Digest page's, or a kept one.
    keeps_password = sign_in.with_password or sign_in.keep_password
    assert (entry.runtime_data.account.live is not None) is keeps_password
    if not keeps_password:
        assert ACCOUNT_PASSWORD not in json.dumps(entry.as_dict(), default=str)


@pytest.mark.parametrize(
    ("sign_in", "typed"),
    [
        ("pem", f"sip:{ACCOUNT}"),
        ("p12", f"<sip:{ACCOUNT}>"),
        ("password", f" SIP:{ACCOUNT}"),
        ("password", f" sips:{ACCOUNT} "),
    ],
    indirect=["sign_in"],
)
async def test_user_flow_takes_the_account_as_a_phone_shows_it(
    hass: HomeAssistant, sign_in: SignIn, typed: str
) -> None:
    """Copied from a phone or Blink, the address comes with sip:; the page wants none.

    Not "issued to another account" for a certificate; sent as typed, the Digest page
    refused "sip:alice" as a wrong password.
    """
    result = await sign_in.start(hass)
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], await sign_in.form(account=typed)
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["data"][CONF_ACCOUNT] == ACCOUNT
    await hass.async_block_till_done(wait_background_tasks=True)


@pytest.mark.parametrize(
    ("sign_in", "fault", "value", "error"),
    [
        (method, *fault)
        for method in ("pem", "password")
        for fault in SERVER_FAULTS
        # The Digest page has no client certificate to refuse.
        if method == "pem" or fault[2] != "invalid_auth"
    ],
    indirect=["sign_in"],
)
async def test_user_flow_server_errors(
    hass: HomeAssistant,
    *,
    simulator: SettingsSimulator,
    sign_in: SignIn,
    fault: str,
    value: Any,
    error: str,
) -> None:
    """What the server answers is a form error; once it works, nothing is uploaded again."""
    setattr(simulator.faults, fault, value)
    result = await sign_in.start(hass)
    result = await hass.config_entries.flow.async_configure(result["flow_id"], await sign_in.form())
    assert result["type"] is FlowResultType.FORM
    assert result["errors"] == {"base": error}
    # The form comes back with the account (the certificate names it); nothing is stored.
    assert _suggested(result, CONF_ACCOUNT) == ACCOUNT
    if not sign_in.with_password:
        assert _suggested(result, CONF_CERTIFICATE_UPLOAD) is None
    assert not _stored_path(hass).exists()

    simulator.faults = Faults()
    result = await hass.config_entries.flow.async_configure(result["flow_id"], sign_in.again())
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["result"].unique_id == ACCOUNT
    sign_in.assert_stored(hass)
    await hass.async_block_till_done(wait_background_tasks=True)


@pytest.mark.parametrize("sign_in", ["pem", "password"], indirect=True)
@pytest.mark.parametrize(
    ("url", "error"),
    [
        ("{closed_port}", "cannot_connect"),
        ("not a URL", "invalid_url"),
        ("http://127.0.0.1/settings.phtml", "invalid_url"),
        ("https:///settings.phtml", "invalid_url"),
        ("https://127.0.0.1:99999/settings.phtml", "invalid_url"),
        ("https://[::1/settings.phtml", "invalid_url"),
        ("{server}/index.html", "not_settings_page"),
        ("{page}?action=set_dnd_on", "url_has_query"),
        ("{page}#account", "url_has_fragment"),
    ],
)
async def test_user_flow_wrong_url(
    hass: HomeAssistant,
    *,
    simulator: SettingsSimulator,
    sign_in: SignIn,
    caplog: pytest.LogCaptureFixture,
    url: str,
    error: str,
) -> None:
    """A mistyped URL is corrected in the same form, which keeps the certificate or password."""
    url = _url(url, simulator, sign_in.url)
    result = await sign_in.start(hass)
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], await sign_in.form(url=url)
    )
    assert result["type"] is FlowResultType.FORM
    about_the_url = error in ("invalid_url", "url_has_query", "url_has_fragment")
    assert result["errors"] == {sign_in.url_field if about_the_url else "base": error}
    assert _suggested(result, CONF_URL) == url
    # Only the URL was wrong: the SIP password stays in its field (a .p12's does not).
    assert _suggested(result, CONF_PASSWORD) == (
        ACCOUNT_PASSWORD if sign_in.with_password else None
    )
    if about_the_url:
        assert simulator.counters.log == []  # refused before anything is sent
    assert not [record for record in caplog.records if record.exc_info]

    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], sign_in.again(url=f"  {sign_in.url} ")
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["data"][CONF_URL] == sign_in.url
    await hass.async_block_till_done(wait_background_tasks=True)


@pytest.mark.parametrize(
    ("sign_in", "user_info"),
    [
        ("pem", "alice:url-secret"),
        ("pem", "alice"),
        ("pem", ":url-secret"),
        ("pem", "alice%40example.com:url-secret"),
        ("password", "alice:url-secret"),
    ],
    indirect=["sign_in"],
)
async def test_user_flow_url_with_user_info(
    hass: HomeAssistant,
    *,
    simulator: SettingsSimulator,
    sign_in: SignIn,
    caplog: pytest.LogCaptureFixture,
    user_info: str,
) -> None:
    """A user name or password in the URL is refused, and never stored, sent or shown."""
    url = sign_in.url.replace("https://", f"https://{user_info}@")
    result = await sign_in.start(hass)
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], await sign_in.form(url=url)
    )
    assert result["type"] is FlowResultType.FORM
    assert result["errors"] == {sign_in.url_field: "url_has_user_info"}
    # The form comes back without what was typed before the @.
    assert _suggested(result, CONF_URL) == sign_in.url
    assert simulator.counters.log == []

    result = await hass.config_entries.flow.async_configure(result["flow_id"], sign_in.again())
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["data"][CONF_URL] == sign_in.url
    await hass.async_block_till_done(wait_background_tasks=True)
    assert "url-secret" not in caplog.text
    assert "url-secret" not in json.dumps(result["result"].as_dict(), default=str)


@pytest.mark.usefixtures("quiet_refused_handshakes")
@pytest.mark.parametrize("sign_in", SIGN_IN_METHODS, indirect=True)
async def test_user_flow_server_certificate(
    hass: HomeAssistant,
    simulator: SettingsSimulator,
    sign_in: SignIn,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A server certificate the system does not trust: verification can be turned off."""
    _trust_only_the_system(monkeypatch)
    result = await sign_in.start(hass)
    result = await hass.config_entries.flow.async_configure(result["flow_id"], await sign_in.form())
    assert result["type"] is FlowResultType.FORM
    assert result["errors"] == {"base": "server_certificate"}
    assert not simulator.counters.requests  # nothing sent to that server

    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], sign_in.again(verify_ssl=False)
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["data"][CONF_VERIFY_SSL] is False
    await hass.async_block_till_done(wait_background_tasks=True)
    # The entry, too, connects without verifying the server.
    assert result["result"].state is ConfigEntryState.LOADED


@pytest.mark.parametrize("configured", ["mock_config_entry", "password_entry"])
@pytest.mark.parametrize("sign_in", [*SIGN_IN_METHODS, "owner"], indirect=True)
async def test_user_flow_already_configured(
    hass: HomeAssistant,
    *,
    sign_in: SignIn,
    alice_pem: bytes,
    request: pytest.FixtureRequest,
    configured: str,
) -> None:
    """An account is added once, either way; the configured entry keeps how it signs in."""
    entry: MockConfigEntry = request.getfixturevalue(configured)
    await _add_configured(hass, entry, alice_pem)
    stored_before = _stored(hass)
    data_before = dict(entry.data)

    result = await sign_in.start(hass)
    result = await hass.config_entries.flow.async_configure(result["flow_id"], await sign_in.form())
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "already_configured"
    assert dict(entry.data) == data_before
    assert _stored(hass) == stored_before
    assert len(hass.config_entries.async_entries(DOMAIN)) == 1


# -- adding an account with a certificate ---------------------------------------------------


async def test_user_flow_owner_certificate(
    hass: HomeAssistant,
    simulator: SettingsSimulator,
    upload: Upload,
    credential: Callable[[str], Credential],
) -> None:
    """An owner certificate opens every account of its owner: the typed one is added."""
    result = await start_certificate_flow(hass)
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"],
        _user_input(simulator)
        | {CONF_ACCOUNT: f"  {OTHER_ACCOUNT} "}
        | await _upload_credential(upload, credential("owner")),
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["title"] == OTHER_ACCOUNT
    assert result["result"].unique_id == OTHER_ACCOUNT
    assert result["data"][CONF_ACCOUNT] == OTHER_ACCOUNT
    assert result["data"][CONF_CERTIFICATE_FILE] == certificate_file_name(OTHER_ACCOUNT)
    _assert_stored(hass, credential("owner").content, certificate_file_name(OTHER_ACCOUNT))
    assert simulator.counters.last("get_identity").params["account"] == OTHER_ACCOUNT
    await hass.async_block_till_done()
    assert result["result"].state is ConfigEntryState.LOADED


@pytest.mark.parametrize("account", ["", "alice", "alice @example.com", "@example.com"])
async def test_user_flow_invalid_account(
    hass: HomeAssistant,
    simulator: SettingsSimulator,
    upload: Upload,
    credential: Callable[[str], Credential],
    account: str,
) -> None:
    """The owner certificate names no account: it must be typed, as user@domain."""
    result = await start_certificate_flow(hass)
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"],
        _user_input(simulator)
        | {CONF_ACCOUNT: account}
        | await _upload_credential(upload, credential("owner")),
    )
    assert result["type"] is FlowResultType.FORM
    assert result["errors"] == {CONF_ACCOUNT: "invalid_account"}
    assert simulator.counters.requests["get_identity"] == 0

    # Typing the account is enough: the certificate was kept.
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], _user_input(simulator) | {CONF_ACCOUNT: ACCOUNT}
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["result"].unique_id == ACCOUNT
    _assert_stored(hass, credential("owner").content)
    await hass.async_block_till_done()


@pytest.mark.parametrize(
    ("kind", "field", "error", "fix"),
    [
        ("text", CONF_CERTIFICATE_UPLOAD, "invalid_certificate", "pem"),
        ("random", CONF_CERTIFICATE_UPLOAD, "invalid_certificate", "pem"),
        ("empty", CONF_CERTIFICATE_UPLOAD, "invalid_certificate", "pem"),
        ("oversized", CONF_CERTIFICATE_UPLOAD, "invalid_certificate", "pem"),
        ("certificate_only", CONF_CERTIFICATE_UPLOAD, "missing_key", "pem"),
        ("key_mismatch", CONF_CERTIFICATE_UPLOAD, "key_mismatch", "pem"),
        ("expired", CONF_CERTIFICATE_UPLOAD, "expired_certificate", "pem"),
        ("damaged", CONF_CERTIFICATE_UPLOAD, "invalid_certificate", "pem"),
        ("p12_wrong_password", CONF_PASSWORD, "wrong_password", "p12"),
        ("p12_no_password", CONF_PASSWORD, "wrong_password", "p12"),
        ("encrypted_key_no_password", CONF_PASSWORD, "wrong_password", "encrypted_key"),
    ],
)
async def test_user_flow_credential_errors(
    hass: HomeAssistant,
    *,
    simulator: SettingsSimulator,
    upload: Upload,
    credential: Callable[[str], Credential],
    kind: str,
    field: str,
    error: str,
    fix: str,
) -> None:
    """A file that cannot be used is named on its field, before the server is asked."""
    result = await start_certificate_flow(hass)
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"],
        _user_input(simulator) | await _upload_credential(upload, credential(kind)),
    )
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "certificate"
    assert result["errors"] == {field: error}
    assert simulator.counters.requests["get_identity"] == 0
    assert not _stored_path(hass).exists()

    result = await hass.config_entries.flow.async_configure(
        result["flow_id"],
        _user_input(simulator) | await _upload_credential(upload, credential(fix)),
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["result"].unique_id == ACCOUNT
    _assert_stored(hass, credential("pem").content)
    await hass.async_block_till_done()


@pytest.mark.parametrize("wrong", ["p12_wrong_password", "p12_no_password"])
async def test_user_flow_keeps_the_file_the_password_did_not_open(
    hass: HomeAssistant,
    simulator: SettingsSimulator,
    upload: Upload,
    credential: Callable[[str], Credential],
    wrong: str,
) -> None:
    """After a wrong password the .p12 is kept: the next password opens it, no upload.

    The form's help promises it ("After an error you need not upload it again"); Home
    Assistant deletes an upload once it is read.
    """
    result = await start_certificate_flow(hass)
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"],
        _user_input(simulator) | await _upload_credential(upload, credential(wrong)),
    )
    assert result["errors"] == {CONF_PASSWORD: "wrong_password"}
    # Again wrong, still kept.
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], _user_input(simulator) | {CONF_PASSWORD: "another-guess"}
    )
    assert result["errors"] == {CONF_PASSWORD: "wrong_password"}
    assert simulator.counters.requests["get_identity"] == 0

    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], _user_input(simulator) | {CONF_PASSWORD: ACCOUNT_PASSWORD}
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    _assert_stored(hass, credential("pem").content)
    await hass.async_block_till_done()


async def test_reauth_keeps_the_file_the_password_did_not_open(
    hass: HomeAssistant,
    mock_config_entry: MockConfigEntry,
    simulator: SettingsSimulator,
    upload: Upload,
    credential: Callable[[str], Credential],
) -> None:
    mock_config_entry.add_to_hass(hass)
    result = await mock_config_entry.start_reauth_flow(hass)
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], await _upload_credential(upload, credential("p12_wrong_password"))
    )
    assert result["errors"] == {CONF_PASSWORD: "wrong_password"}
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_PASSWORD: ACCOUNT_PASSWORD}
    )
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "reauth_successful"
    await hass.async_block_till_done()


async def test_user_flow_certificate_required(
    hass: HomeAssistant,
    simulator: SettingsSimulator,
    upload: Upload,
    forget_upload: Callable[[str], Awaitable[None]],
    alice_pem: bytes,
) -> None:
    """No upload, or one that is gone, asks for the certificate."""
    result = await start_certificate_flow(hass)
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], _user_input(simulator)
    )
    assert result["type"] is FlowResultType.FORM
    assert result["errors"] == {CONF_CERTIFICATE_UPLOAD: "certificate_required"}

    gone = await upload(alice_pem, f"{ACCOUNT}.crt")
    await forget_upload(gone)
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], _user_input(simulator, gone)
    )
    assert result["type"] is FlowResultType.FORM
    assert result["errors"] == {CONF_CERTIFICATE_UPLOAD: "certificate_required"}
    assert simulator.counters.requests["get_identity"] == 0

    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], _user_input(simulator, await upload(alice_pem, f"{ACCOUNT}.crt"))
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    await hass.async_block_till_done()


async def test_user_flow_unusable_upload_replaces_the_kept_one(
    hass: HomeAssistant,
    simulator: SettingsSimulator,
    upload: Upload,
    credential: Callable[[str], Credential],
) -> None:
    """After a file that cannot be used, the one kept from before is not used behind it."""
    simulator.faults.status = 404
    result = await start_certificate_flow(hass)
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"],
        _user_input(simulator) | await _upload_credential(upload, credential("pem")),
    )
    assert result["errors"] == {"base": "not_settings_page"}
    simulator.faults = Faults()

    result = await hass.config_entries.flow.async_configure(
        result["flow_id"],
        _user_input(simulator) | await _upload_credential(upload, credential("certificate_only")),
    )
    assert result["errors"] == {CONF_CERTIFICATE_UPLOAD: "missing_key"}

    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], _user_input(simulator)
    )
    assert result["type"] is FlowResultType.FORM
    assert result["errors"] == {CONF_CERTIFICATE_UPLOAD: "certificate_required"}
    assert simulator.counters.requests["get_identity"] == 1

    result = await hass.config_entries.flow.async_configure(
        result["flow_id"],
        _user_input(simulator) | await _upload_credential(upload, credential("p12")),
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    await hass.async_block_till_done()


async def test_user_flow_certificate_for_other_account(
    hass: HomeAssistant,
    *,
    simulator: SettingsSimulator,
    upload: Upload,
    alice_pem: bytes,
) -> None:
    """Alice's certificate does not set up Bob's account, even where the server allows it.

    The simulated platform matches owner 0 (the CN of an enrollment certificate) with
    any account, as docs/settings-api.md §2.2 says a platform may.
    """
    assert simulator.platform.behaviour.owner_zero_matches_any
    result = await start_certificate_flow(hass)
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"],
        _user_input(simulator, await upload(alice_pem, f"{ACCOUNT}.crt"))
        | {CONF_ACCOUNT: OTHER_ACCOUNT},
    )
    assert result["type"] is FlowResultType.FORM
    assert result["errors"] == {CONF_CERTIFICATE_UPLOAD: "certificate_for_other_account"}
    assert simulator.counters.log == []
    assert not _stored_path(hass, certificate_file_name(OTHER_ACCOUNT)).exists()

    # The certificate is kept: correcting the account is enough.
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], _user_input(simulator) | {CONF_ACCOUNT: ACCOUNT}
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["result"].unique_id == ACCOUNT
    _assert_stored(hass, alice_pem)
    await hass.async_block_till_done()


@pytest.mark.parametrize("enrollment_certificates_work", [True, False])
async def test_user_flow_certificate_refused(
    hass: HomeAssistant,
    simulator: SettingsSimulator,
    upload: Upload,
    credential: Callable[[str], Credential],
    enrollment_certificates_work: bool,
) -> None:
    """A certificate the server refuses for this account is invalid_auth; a right one works.

    First Carol's owner certificate for Alice's account; then, on a platform where
    user@domain certificates open nothing (docs/settings-api.md §9 question 2), Alice's own.
    """
    simulator.platform.behaviour.owner_zero_matches_any = enrollment_certificates_work
    refused = credential("other_owner") if enrollment_certificates_work else credential("pem")
    result = await start_certificate_flow(hass)
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"],
        _user_input(simulator)
        | {CONF_ACCOUNT: ACCOUNT}
        | await _upload_credential(upload, refused),
    )
    assert result["type"] is FlowResultType.FORM
    assert result["errors"] == {"base": "invalid_auth"}

    result = await hass.config_entries.flow.async_configure(
        result["flow_id"],
        _user_input(simulator)
        | {CONF_ACCOUNT: ACCOUNT}
        | await _upload_credential(upload, credential("owner")),
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["result"].unique_id == ACCOUNT
    _assert_stored(hass, credential("owner").content)
    await hass.async_block_till_done()


async def test_user_flow_unknown_error(
    hass: HomeAssistant, simulator: SettingsSimulator, upload: Upload, alice_pem: bytes
) -> None:
    """A bug of our own is "unknown", and the next attempt can still succeed."""
    result = await start_certificate_flow(hass)
    with patch(
        "custom_components.sipthor.api.SipThorClient.get_identity",
        side_effect=RuntimeError("boom"),
    ):
        result = await hass.config_entries.flow.async_configure(
            result["flow_id"], _user_input(simulator, await upload(alice_pem, f"{ACCOUNT}.crt"))
        )
    assert result["type"] is FlowResultType.FORM
    assert result["errors"] == {"base": "unknown"}

    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], _user_input(simulator)
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    await hass.async_block_till_done()


# -- reauthentication ------------------------------------------------------------------


async def test_reauth_flow(
    hass: HomeAssistant,
    simulator: SettingsSimulator,
    upload: Upload,
    mint: Mint,
    init_integration: MockConfigEntry,
) -> None:
    """A new certificate replaces the stored one and the entry reloads with it."""
    entry = init_integration
    expires = (datetime.now(UTC) + timedelta(days=400)).replace(microsecond=0)
    new = mint(not_after=expires)
    data_before = dict(entry.data)

    result = await entry.start_reauth_flow(hass)
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "reauth_confirm"
    assert result["description_placeholders"]["account"] == ACCOUNT

    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_CERTIFICATE_UPLOAD: await upload(new.combined_pem, "new.crt")}
    )
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "reauth_successful"
    await hass.async_block_till_done()

    assert entry.state is ConfigEntryState.LOADED
    assert dict(entry.data) == data_before
    _assert_stored(hass, new.certificate_pem)
    expiry = hass.states.get(_entity_id(hass, "certificate_expiry"))
    assert expiry is not None
    assert dt_util.parse_datetime(expiry.state) == expires


@pytest.mark.parametrize("verify_ssl", [True, False])
async def test_reauth_after_the_certificate_expired(
    hass: HomeAssistant,
    *,
    simulator: SettingsSimulator,
    upload: Upload,
    mint: Mint,
    mock_config_entry: MockConfigEntry,
    monkeypatch: pytest.MonkeyPatch,
    verify_ssl: bool,
) -> None:
    """The stored certificate expired: setup asks for a new one, and the entry comes back.

    Without verification (a provider with a certificate of its own), the new certificate
    is checked the way the entry connects: still without verifying the server.
    """
    if not verify_ssl:
        _trust_only_the_system(monkeypatch)
    now = datetime.now(UTC)
    old = mint(
        not_before=now - timedelta(days=3650),
        not_after=now - timedelta(hours=1),
        platform_like=False,
    )
    await hass.async_add_executor_job(
        write_certificate,
        _stored_path(hass),
        load_credentials(old.combined_pem, now=now - timedelta(days=1)),
    )
    mock_config_entry.add_to_hass(hass)
    hass.config_entries.async_update_entry(
        mock_config_entry, data=mock_config_entry.data | {CONF_VERIFY_SSL: verify_ssl}
    )
    assert not await hass.config_entries.async_setup(mock_config_entry.entry_id)
    await hass.async_block_till_done()
    assert mock_config_entry.state is ConfigEntryState.SETUP_ERROR

    flows = hass.config_entries.flow.async_progress_by_handler(DOMAIN)
    assert len(flows) == 1
    assert flows[0]["context"]["source"] == "reauth"
    new = mint()
    result = await hass.config_entries.flow.async_configure(
        flows[0]["flow_id"], {CONF_CERTIFICATE_UPLOAD: await upload(new.combined_pem, "new.crt")}
    )
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "reauth_successful"
    await hass.async_block_till_done()
    assert mock_config_entry.state is ConfigEntryState.LOADED
    assert mock_config_entry.data[CONF_VERIFY_SSL] is verify_ssl
    _assert_stored(hass, new.certificate_pem)


@pytest.mark.parametrize(
    ("kind", "field", "error"),
    [
        (None, CONF_CERTIFICATE_UPLOAD, "certificate_required"),
        ("text", CONF_CERTIFICATE_UPLOAD, "invalid_certificate"),
        ("certificate_only", CONF_CERTIFICATE_UPLOAD, "missing_key"),
        ("key_mismatch", CONF_CERTIFICATE_UPLOAD, "key_mismatch"),
        ("expired", CONF_CERTIFICATE_UPLOAD, "expired_certificate"),
        ("p12_wrong_password", CONF_PASSWORD, "wrong_password"),
        ("other_owner", "base", "invalid_auth"),
        ("other_account", CONF_CERTIFICATE_UPLOAD, "certificate_for_other_account"),
    ],
)
async def test_reauth_flow_errors(
    hass: HomeAssistant,
    *,
    simulator: SettingsSimulator,
    upload: Upload,
    credential: Callable[[str], Credential],
    mint: Mint,
    init_integration: MockConfigEntry,
    kind: str | None,
    field: str,
    error: str,
) -> None:
    """A certificate that does not do is named; the entry keeps its own until one does."""
    entry = init_integration
    before = _stored_path(hass).read_bytes()
    result = await entry.start_reauth_flow(hass)
    fields = {} if kind is None else await _upload_credential(upload, credential(kind))
    result = await hass.config_entries.flow.async_configure(result["flow_id"], fields)
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "reauth_confirm"
    assert result["errors"] == {field: error}
    assert _stored_path(hass).read_bytes() == before

    new = mint()
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_CERTIFICATE_UPLOAD: await upload(new.combined_pem, "new.crt")}
    )
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "reauth_successful"
    await hass.async_block_till_done()
    _assert_stored(hass, new.certificate_pem)
    assert entry.state is ConfigEntryState.LOADED


@pytest.mark.parametrize("source", ["reauth", "reconfigure"])
@pytest.mark.parametrize(("fault", "value", "error"), SERVER_FAULTS)
async def test_update_flow_server_errors(
    hass: HomeAssistant,
    *,
    simulator: SettingsSimulator,
    upload: Upload,
    mint: Mint,
    init_integration: MockConfigEntry,
    alice_pem: bytes,
    source: str,
    fault: str,
    value: Any,
    error: str,
) -> None:
    """When the server fails, the uploaded certificate is kept for the next attempt.

    Except one the server refused in reconfiguration: an empty field then means the
    certificate in use, as that form says.
    """
    new = mint()
    if source == "reauth":
        result = await init_integration.start_reauth_flow(hass)
        form: dict[str, Any] = {}
    else:
        result = await start_reconfigure_flow(hass, init_integration, "certificate")
        form = _reconfigure_input(simulator.url)
    setattr(simulator.faults, fault, value)
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"],
        form | {CONF_CERTIFICATE_UPLOAD: await upload(new.combined_pem, "new.crt")},
    )
    assert result["type"] is FlowResultType.FORM
    assert result["errors"] == {"base": error}
    assert _suggested(result, CONF_CERTIFICATE_UPLOAD) is None
    _assert_stored(hass, alice_pem)

    simulator.faults = Faults()
    result = await hass.config_entries.flow.async_configure(result["flow_id"], form)
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == f"{source}_successful"
    await hass.async_block_till_done()
    refused = source == "reconfigure" and error == "invalid_auth"
    _assert_stored(hass, alice_pem if refused else new.certificate_pem)
    assert init_integration.state is ConfigEntryState.LOADED


# -- wrong account (reauth and reconfigure) --------------------------------------------


@pytest.mark.parametrize("configured", ["mock_config_entry", "password_entry"])
@pytest.mark.parametrize("source", ["reauth", "reconfigure"])
async def test_wrong_account(
    hass: HomeAssistant,
    *,
    simulator: SettingsSimulator,
    upload: Upload,
    credential: Callable[[str], Credential],
    alice_pem: bytes,
    monkeypatch: pytest.MonkeyPatch,
    request: pytest.FixtureRequest,
    configured: str,
    source: str,
) -> None:
    """The server answers for another address than the entry's: nothing is changed.

    As when the platform renamed the account, or the certificate opens a different one.
    """
    entry: MockConfigEntry = request.getfixturevalue(configured)
    await _add_configured(hass, entry, alice_pem)
    await setup_entry(hass, entry)
    stored_before = _stored(hass)
    data_before = dict(entry.data)
    identity = simulator.platform.identity
    monkeypatch.setattr(
        simulator.platform,
        "identity",
        lambda account: identity(account) | {"sip_address": "alice.jansen@example.com"},
    )

    with_password = CONF_PASSWORD in entry.data
    if with_password:
        typed: dict[str, Any] = {CONF_PASSWORD: ACCOUNT_PASSWORD}
    else:
        typed = await _upload_credential(upload, credential("owner"))
    if source == "reauth":
        result = await entry.start_reauth_flow(hass)
    elif with_password:
        result = await start_reconfigure_flow(hass, entry, "password")
        typed[ADVANCED] = {CONF_URL: simulator.digest_url, CONF_VERIFY_SSL: True}
    else:
        result = await start_reconfigure_flow(hass, entry, "certificate")
        typed |= _reconfigure_input(simulator.url)
    result = await hass.config_entries.flow.async_configure(result["flow_id"], typed)
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "wrong_account"
    await hass.async_block_till_done()
    assert _stored(hass) == stored_before
    assert dict(entry.data) == data_before
    assert entry.unique_id == ACCOUNT
    assert entry.state is ConfigEntryState.LOADED


# -- reconfiguration -------------------------------------------------------------------


async def test_reconfigure_reloads_the_entry_once(
    hass: HomeAssistant,
    simulator: SettingsSimulator,
    init_integration: MockConfigEntry,
) -> None:
    """One check and one reload, not two reloads (an update listener hears every change)."""
    simulator.counters.reset()
    result = await start_reconfigure_flow(hass, init_integration, "certificate")
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], _reconfigure_input(simulator.url)
    )
    assert result["reason"] == "reconfigure_successful"
    await hass.async_block_till_done(wait_background_tasks=True)
    assert simulator.counters.requests["get_identity"] == 2
    assert simulator.counters.requests["get_prepaid"] == 1


@pytest.mark.parametrize("configured", ["mock_config_entry", "password_entry"])
async def test_reconfigure_url(
    hass: HomeAssistant,
    alice_pem: bytes,
    request: pytest.FixtureRequest,
    configured: str,
) -> None:
    """The settings page moved: a new URL, the same certificate or password, and it loads.

    An empty certificate or password field keeps the one stored; verification may change.
    """
    entry: MockConfigEntry = request.getfixturevalue(configured)
    await _add_configured(hass, entry, alice_pem)
    stored_before = _stored(hass)
    data_before = dict(entry.data)
    url = entry.data[CONF_URL]
    server, _, page = url.rpartition("/")
    old_url = f"{server}/old/{page}"
    hass.config_entries.async_update_entry(
        entry, data=entry.data | {CONF_URL: old_url, CONF_VERIFY_SSL: False}
    )
    await setup_entry(hass, entry)
    assert entry.state is ConfigEntryState.SETUP_RETRY

    with_password = CONF_PASSWORD in entry.data
    method = "password" if with_password else "certificate"
    result = await start_reconfigure_flow(hass, entry, method)
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == f"reconfigure_{method}"
    assert result["description_placeholders"]["account"] == ACCOUNT
    assert _suggested(result, CONF_URL) == old_url
    assert _suggested(result, CONF_VERIFY_SSL) is False
    assert _suggested(result, CONF_PASSWORD) is None
    if not with_password:
        assert _suggested(result, CONF_CERTIFICATE_UPLOAD) is None

    typed = {CONF_URL: f" {url}  ", CONF_VERIFY_SSL: True}
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {ADVANCED: typed} if with_password else typed
    )
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "reconfigure_successful"
    await hass.async_block_till_done(wait_background_tasks=True)
    assert entry.data == data_before
    assert entry.state is ConfigEntryState.LOADED
    assert _stored(hass) == stored_before


async def test_reconfigure_certificate(
    hass: HomeAssistant,
    simulator: SettingsSimulator,
    upload: Upload,
    mint: Mint,
    mock_config_entry: MockConfigEntry,
) -> None:
    """A certificate about to expire is replaced, as the repair issue tells the user."""
    expiring = mint(not_after=datetime.now(UTC) + timedelta(days=10))
    await hass.async_add_executor_job(
        write_certificate, _stored_path(hass), load_credentials(expiring.combined_pem)
    )
    mock_config_entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(mock_config_entry.entry_id)
    await hass.async_block_till_done()
    issues = ir.async_get(hass)
    issue_id = f"certificate_expiring_{mock_config_entry.entry_id}"
    assert issues.async_get_issue(DOMAIN, issue_id) is not None

    new = mint()
    p12 = Credential("new.p12", new.pkcs12("p12-password"), "p12-password")
    result = await start_reconfigure_flow(hass, mock_config_entry, "certificate")
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"],
        _reconfigure_input(simulator.url) | await _upload_credential(upload, p12),
    )
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "reconfigure_successful"
    await hass.async_block_till_done()

    assert mock_config_entry.state is ConfigEntryState.LOADED
    _assert_stored(hass, new.certificate_pem)
    assert (
        mock_config_entry.runtime_data.account.certificate.not_valid_after
        == new.certificate.not_valid_after_utc
    )
    assert issues.async_get_issue(DOMAIN, issue_id) is None
    assert "p12-password" not in json.dumps(mock_config_entry.as_dict(), default=str)


@pytest.mark.usefixtures("quiet_refused_handshakes")
async def test_reconfigure_verification_off(
    hass: HomeAssistant,
    simulator: SettingsSimulator,
    init_integration: MockConfigEntry,
    alice_pem: bytes,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The provider's certificate is no longer trusted: verification is turned off."""
    _trust_only_the_system(monkeypatch)
    result = await start_reconfigure_flow(hass, init_integration, "certificate")
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], _reconfigure_input(simulator.url)
    )
    assert result["type"] is FlowResultType.FORM
    assert result["errors"] == {"base": "server_certificate"}
    assert init_integration.data[CONF_VERIFY_SSL] is True

    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], _reconfigure_input(simulator.url) | {CONF_VERIFY_SSL: False}
    )
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "reconfigure_successful"
    await hass.async_block_till_done()
    assert init_integration.data[CONF_VERIFY_SSL] is False
    assert init_integration.state is ConfigEntryState.LOADED
    _assert_stored(hass, alice_pem)


@pytest.mark.parametrize(
    ("kind", "url", "field", "error"),
    [
        ("expired", None, CONF_CERTIFICATE_UPLOAD, "expired_certificate"),
        ("random", None, CONF_CERTIFICATE_UPLOAD, "invalid_certificate"),
        ("p12_wrong_password", None, CONF_PASSWORD, "wrong_password"),
        ("other_account", None, CONF_CERTIFICATE_UPLOAD, "certificate_for_other_account"),
        ("other_owner", None, "base", "invalid_auth"),
        (None, "{closed_port}", "base", "cannot_connect"),
        (None, "{server}/index.html", "base", "not_settings_page"),
        (None, "http://127.0.0.1/settings.phtml", CONF_URL, "invalid_url"),
        (None, "https://alice:url-secret@127.0.0.1/settings.phtml", CONF_URL, "url_has_user_info"),
        (None, "{server}/settings.phtml?action=set_dnd_on", CONF_URL, "url_has_query"),
        (None, "{server}/settings.phtml#account", CONF_URL, "url_has_fragment"),
    ],
)
async def test_reconfigure_errors_keep_the_certificate(
    hass: HomeAssistant,
    *,
    simulator: SettingsSimulator,
    upload: Upload,
    credential: Callable[[str], Credential],
    init_integration: MockConfigEntry,
    alice_pem: bytes,
    kind: str | None,
    url: str | None,
    field: str,
    error: str,
) -> None:
    """Errors change nothing; leaving the certificate empty then keeps the current one."""
    url = _url(url or simulator.url, simulator)
    fields = {} if kind is None else await _upload_credential(upload, credential(kind))
    result = await start_reconfigure_flow(hass, init_integration, "certificate")
    simulator.counters.reset()
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], _reconfigure_input(url) | fields
    )
    assert result["type"] is FlowResultType.FORM
    assert result["errors"] == {field: error}
    assert "url-secret" not in str(_suggested(result, CONF_URL))
    if field != "base":
        assert simulator.counters.log == []  # refused before anything is sent
    assert init_integration.data[CONF_URL] == simulator.url

    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], _reconfigure_input(simulator.url)
    )
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "reconfigure_successful"
    await hass.async_block_till_done()
    _assert_stored(hass, alice_pem)
    assert init_integration.state is ConfigEntryState.LOADED


async def test_reconfigure_invalid_auth(
    hass: HomeAssistant,
    *,
    simulator: SettingsSimulator,
    upload: Upload,
    credential: Callable[[str], Credential],
    mint: Mint,
    init_integration: MockConfigEntry,
    alice_pem: bytes,
) -> None:
    """A certificate of another owner is refused; the stored one stays until a good one."""
    result = await start_reconfigure_flow(hass, init_integration, "certificate")
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"],
        _reconfigure_input(simulator.url)
        | await _upload_credential(upload, credential("other_owner")),
    )
    assert result["type"] is FlowResultType.FORM
    assert result["errors"] == {"base": "invalid_auth"}
    _assert_stored(hass, alice_pem)

    new = mint()
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"],
        _reconfigure_input(simulator.url, await upload(new.combined_pem, "new.crt")),
    )
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "reconfigure_successful"
    await hass.async_block_till_done()
    _assert_stored(hass, new.certificate_pem)


async def test_password_is_not_filled_in_again(
    hass: HomeAssistant,
    *,
    simulator: SettingsSimulator,
    upload: Upload,
) -> None:
    """A re-shown form never carries the password back to the browser."""
    p12 = simulator.client_certificate(f"{ACCOUNT}.p12").read_bytes()
    result = await start_certificate_flow(hass)
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"],
        _user_input(simulator, await upload(p12, f"{ACCOUNT}.p12"))
        | {CONF_PASSWORD: ACCOUNT_PASSWORD, CONF_URL: "http://127.0.0.1/settings.phtml"},
    )
    assert result["errors"] == {CONF_URL: "invalid_url"}
    assert _suggested(result, CONF_PASSWORD) is None


async def test_page_without_get_identity(
    hass: HomeAssistant,
    *,
    simulator: SettingsSimulator,
    upload: Upload,
    alice_pem: bytes,
) -> None:
    """A page that answers, but not get_identity (the invalid-action JSON)."""
    handler = simulator._handlers.pop("get_identity")
    result = await start_certificate_flow(hass)
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], _user_input(simulator, await upload(alice_pem, f"{ACCOUNT}.crt"))
    )
    assert result["errors"] == {"base": "not_settings_page"}

    simulator._handlers["get_identity"] = handler
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], _user_input(simulator)
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    await hass.async_block_till_done()


async def test_openssl_refuses_what_cryptography_read(
    hass: HomeAssistant,
    *,
    simulator: SettingsSimulator,
    upload: Upload,
    alice_pem: bytes,
) -> None:
    """OpenSSL's own refusal of the pair (load_cert_chain): cannot be produced on purpose."""
    refusal = SipThorCredentialsError(CredentialsProblem.INVALID_CERTIFICATE, "refused")
    result = await start_certificate_flow(hass)
    with patch("custom_components.sipthor.client_factory.create_ssl_context", side_effect=refusal):
        result = await hass.config_entries.flow.async_configure(
            result["flow_id"], _user_input(simulator, await upload(alice_pem, f"{ACCOUNT}.crt"))
        )
    assert result["errors"] == {CONF_CERTIFICATE_UPLOAD: "invalid_certificate"}


@pytest.mark.parametrize(
    ("stored", "error"),
    [
        ("missing", "certificate_required"),
        ("expired", "expired_certificate"),
        ("damaged", "invalid_certificate"),
    ],
)
async def test_reconfigure_stored_certificate_unusable(
    hass: HomeAssistant,
    *,
    simulator: SettingsSimulator,
    upload: Upload,
    mint: Mint,
    mock_config_entry: MockConfigEntry,
    alice_pem: bytes,
    stored: str,
    error: str,
) -> None:
    """Without a usable certificate file the entry cannot keep it: one must be uploaded."""
    path = _stored_path(hass)
    now = datetime.now(UTC)
    if stored == "expired":
        old = mint(
            not_before=now - timedelta(days=3650),
            not_after=now - timedelta(hours=1),
            platform_like=False,
        )
        credentials = load_credentials(old.combined_pem, now=now - timedelta(days=1))
        await hass.async_add_executor_job(write_certificate, path, credentials)
    elif stored == "damaged":
        damaged = _damaged_public_key(mint(platform_like=False))
        await hass.async_add_executor_job(path.parent.mkdir, 0o700, True)
        await hass.async_add_executor_job(path.write_bytes, damaged)
    mock_config_entry.add_to_hass(hass)
    result = await start_reconfigure_flow(hass, mock_config_entry, "certificate")
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], _reconfigure_input(simulator.url)
    )
    assert result["type"] is FlowResultType.FORM
    assert result["errors"] == {CONF_CERTIFICATE_UPLOAD: error}
    assert simulator.counters.requests["get_identity"] == 0

    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], _reconfigure_input(simulator.url, await upload(alice_pem, "alice.crt"))
    )
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "reconfigure_successful"
    await hass.async_block_till_done()
    _assert_stored(hass, alice_pem)
    assert mock_config_entry.state is ConfigEntryState.LOADED


# -- options ---------------------------------------------------------------------------


def _defaults(result: Any) -> dict[str, Any]:
    """The form's defaults (fields without one, such as the SIP server, left out)."""
    return {
        str(key): key.default() for key in result["data_schema"].schema if callable(key.default)
    }


async def test_options_flow(
    hass: HomeAssistant, simulator: SettingsSimulator, init_integration: MockConfigEntry
) -> None:
    """New options are saved and the entry reloads with them."""
    entry = init_integration
    last_call_id = _entity_id(hass, "last_received_call")
    last_call = hass.states.get(last_call_id)
    assert last_call is not None
    account_zone_time = dt_util.parse_datetime(last_call.state)
    assert account_zone_time is not None

    result = await hass.config_entries.options.async_init(entry.entry_id)
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "init"
    assert _defaults(result) == {
        CONF_SCAN_INTERVAL: 60,
        CONF_SLOW_SCAN_INTERVAL: 10,
        CONF_CURRENCY: "EUR",
        CONF_HISTORY_TIMEZONE: "account",
        # A certificate account without a kept SIP password: no live events.
        CONF_LIVE_EVENTS: False,
    }

    result = await hass.config_entries.options.async_configure(
        result["flow_id"],
        {
            CONF_SCAN_INTERVAL: 120.0,
            CONF_SLOW_SCAN_INTERVAL: 30.0,
            CONF_CURRENCY: "USD",
            CONF_HISTORY_TIMEZONE: "utc",
        },
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    expected = {
        CONF_SCAN_INTERVAL: 120,
        CONF_SLOW_SCAN_INTERVAL: 30,
        CONF_CURRENCY: "USD",
        CONF_HISTORY_TIMEZONE: "utc",
        CONF_LIVE_EVENTS: False,
    }
    assert entry.options == expected
    assert all(
        type(entry.options[key]) is int for key in (CONF_SCAN_INTERVAL, CONF_SLOW_SCAN_INTERVAL)
    )
    await hass.async_block_till_done(wait_background_tasks=True)

    # Reloaded: the new intervals, the new currency, call times read as UTC.
    assert entry.state is ConfigEntryState.LOADED
    assert entry.runtime_data.registrations.update_interval == timedelta(seconds=120)
    assert entry.runtime_data.identity.update_interval == timedelta(minutes=30)
    balance = hass.states.get(_entity_id(hass, "balance"))
    assert balance is not None
    assert balance.attributes[ATTR_UNIT_OF_MEASUREMENT] == "USD"
    last_call = hass.states.get(last_call_id)
    assert last_call is not None
    utc_time = dt_util.parse_datetime(last_call.state)
    assert utc_time is not None
    amsterdam = await dt_util.async_get_time_zone("Europe/Amsterdam")
    assert utc_time - account_zone_time == account_zone_time.astimezone(amsterdam).utcoffset()

    # The form opens with what was saved.
    result = await hass.config_entries.options.async_init(entry.entry_id)
    assert _defaults(result) == expected
    hass.config_entries.options.async_abort(result["flow_id"])


@pytest.mark.parametrize(
    ("field", "value"),
    [
        (CONF_SCAN_INTERVAL, 10),
        (CONF_SCAN_INTERVAL, 7200),
        (CONF_SLOW_SCAN_INTERVAL, 1),
        (CONF_CURRENCY, "Euro"),
        (CONF_HISTORY_TIMEZONE, "Europe/Amsterdam"),
    ],
)
async def test_options_flow_out_of_range(
    hass: HomeAssistant, init_integration: MockConfigEntry, field: str, value: Any
) -> None:
    """Values outside what the form offers are refused; the same form then takes good ones."""
    result = await hass.config_entries.options.async_init(init_integration.entry_id)
    with pytest.raises(InvalidData):
        await hass.config_entries.options.async_configure(
            result["flow_id"], _defaults(result) | {field: value}
        )
    assert dict(init_integration.options) == {CONF_CURRENCY: "EUR"}

    result = await hass.config_entries.options.async_configure(
        result["flow_id"], _defaults(result) | {CONF_SCAN_INTERVAL: 30}
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert init_integration.options[CONF_SCAN_INTERVAL] == 30
    await hass.async_block_till_done()
    assert init_integration.runtime_data.registrations.update_interval == timedelta(seconds=30)


# -- live events: the SIP password and the options ---------------------------------------


async def test_keeping_a_password_needs_one(
    hass: HomeAssistant,
    simulator: SettingsSimulator,
    upload: Upload,
    credential: Callable[[str], Credential],
) -> None:
    """A .pem upload has no password: keeping one is refused before any request."""
    result = await start_certificate_flow(hass)
    simulator.counters.reset()
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"],
        _user_input(simulator)
        | await _upload_credential(upload, credential("pem"))
        | {CONF_KEEP_PASSWORD: True},
    )
    assert result["type"] is FlowResultType.FORM
    assert result["errors"] == {CONF_PASSWORD: "keep_password_without_password"}
    assert not simulator.counters.requests

    # The file is kept; untick the box and it goes through.
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], _user_input(simulator) | {CONF_KEEP_PASSWORD: False}
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert CONF_SIP_PASSWORD not in result["result"].data


async def test_reauthentication_keeps_or_forgets_the_password_as_ticked(
    hass: HomeAssistant,
    upload: Upload,
    credential: Callable[[str], Credential],
    init_integration: MockConfigEntry,
) -> None:
    entry = init_integration
    result = await entry.start_reauth_flow(hass)
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"],
        await _upload_credential(upload, credential("p12")) | {CONF_KEEP_PASSWORD: True},
    )
    assert result["reason"] == "reauth_successful"
    assert entry.data[CONF_SIP_PASSWORD] == ACCOUNT_PASSWORD
    await hass.async_block_till_done()

    # Reconfigured with the box unticked: the kept password goes.
    result = await start_reconfigure_flow(hass, entry, "certificate")
    assert _suggested(result, CONF_KEEP_PASSWORD) is True
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], _reconfigure_input(entry.data[CONF_URL]) | {CONF_KEEP_PASSWORD: False}
    )
    assert result["reason"] == "reconfigure_successful"
    assert CONF_SIP_PASSWORD not in entry.data


async def test_options_refuse_a_sip_server_that_is_not_one(
    hass: HomeAssistant, init_integration: MockConfigEntry
) -> None:
    """A translated error next to the field; nothing is stored; the input stays."""
    entry = init_integration
    result = await hass.config_entries.options.async_init(entry.entry_id)
    result = await hass.config_entries.options.async_configure(
        result["flow_id"],
        _defaults(result) | {CONF_SIP_SERVER: "sip.example.com:99999", CONF_LIVE_EVENTS: False},
    )
    assert result["type"] is FlowResultType.FORM
    assert result["errors"] == {CONF_SIP_SERVER: "invalid_sip_server"}
    assert _suggested(result, CONF_SIP_SERVER) == "sip.example.com:99999"
    assert dict(entry.options) == {CONF_CURRENCY: "EUR"}


@pytest.mark.parametrize(
    "typed", ["alice", "alice@", "<sip:alice@vm.example.com>", "alice@vm.example.com?x=y"]
)
async def test_options_refuse_a_voicemail_uri_that_is_not_one(
    hass: HomeAssistant,
    simulator: SettingsSimulator,
    init_integration: MockConfigEntry,
    typed: str,
) -> None:
    """A translated error next to the field, before any request; the input stays."""
    entry = init_integration
    result = await hass.config_entries.options.async_init(entry.entry_id)
    simulator.counters.reset()
    result = await hass.config_entries.options.async_configure(
        result["flow_id"],
        _defaults(result) | {CONF_VOICEMAIL_URI: typed, CONF_LIVE_EVENTS: False},
    )
    assert result["type"] is FlowResultType.FORM
    assert result["errors"] == {CONF_VOICEMAIL_URI: "invalid_voicemail_uri"}
    assert _suggested(result, CONF_VOICEMAIL_URI) == typed
    assert dict(entry.options) == {CONF_CURRENCY: "EUR"}
    assert not simulator.counters.requests

    # Typed as an address, kept as the SIP URI the channel subscribes at; empty: automatic.
    result = await hass.config_entries.options.async_configure(
        result["flow_id"],
        _defaults(result) | {CONF_VOICEMAIL_URI: " alice@VM.example.com ", CONF_LIVE_EVENTS: False},
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert entry.options[CONF_VOICEMAIL_URI] == "sip:alice@VM.example.com"
    await hass.async_block_till_done(wait_background_tasks=True)
    result = await hass.config_entries.options.async_init(entry.entry_id)
    assert _suggested(result, CONF_VOICEMAIL_URI) == "sip:alice@VM.example.com"
    result = await hass.config_entries.options.async_configure(
        result["flow_id"], _defaults(result) | {CONF_VOICEMAIL_URI: ""}
    )
    assert CONF_VOICEMAIL_URI not in entry.options


async def test_options_want_a_sip_password_for_live_events(
    hass: HomeAssistant, init_integration: MockConfigEntry
) -> None:
    """A certificate account turning live events on must give its SIP password."""
    entry = init_integration
    result = await hass.config_entries.options.async_init(entry.entry_id)
    result = await hass.config_entries.options.async_configure(
        result["flow_id"], _defaults(result) | {CONF_LIVE_EVENTS: True}
    )
    assert result["errors"] == {CONF_SIP_PASSWORD: "sip_password_required"}

    result = await hass.config_entries.options.async_configure(
        result["flow_id"],
        _defaults(result)
        | {
            CONF_LIVE_EVENTS: True,
            CONF_SIP_PASSWORD: ACCOUNT_PASSWORD,
            CONF_SIP_SERVER: " 127.0.0.1:5061;transport=TLS ",
        },
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    await hass.async_block_till_done(wait_background_tasks=True)
    # The password with the data (a secret), the server as the channel reads it.
    assert entry.data[CONF_SIP_PASSWORD] == ACCOUNT_PASSWORD
    assert ACCOUNT_PASSWORD not in json.dumps(dict(entry.options))
    assert entry.options[CONF_SIP_SERVER] == "127.0.0.1:5061;transport=tls"
    assert entry.options[CONF_LIVE_EVENTS] is True
    assert entry.state is ConfigEntryState.LOADED
    live = entry.runtime_data.account.live
    assert live is not None

    # A new password alone: the entry reloads with it.
    result = await hass.config_entries.options.async_init(entry.entry_id)
    assert _defaults(result)[CONF_LIVE_EVENTS] is True
    result = await hass.config_entries.options.async_configure(
        result["flow_id"],
        _defaults(result)
        | {CONF_SIP_SERVER: entry.options[CONF_SIP_SERVER], CONF_SIP_PASSWORD: "new-password"},
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    await hass.async_block_till_done(wait_background_tasks=True)
    assert entry.data[CONF_SIP_PASSWORD] == "new-password"
    assert entry.runtime_data.account.live is not live
    assert not live.channel.running
