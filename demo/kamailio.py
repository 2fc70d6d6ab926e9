"""A real SIP server for the tests and the demo: Debian's Kamailio (5.6 to 6.x) on loopback.

:class:`KamailioBed` writes a configuration into a private temporary directory, starts
``kamailio`` in the foreground on free loopback ports (TCP, TLS, and a UDP port of its
own for the PUBLISHes it loops back to itself), waits until it answers an OPTIONS over
both TCP and TLS, and can stop it, kill it with SIGKILL, restart it on the same ports
and show its log (stderr). It is an async context manager, for tests (the ``kamailio``
fixture in tests/conftest.py), for ``scripts/bench`` and for the demo (``scripts/develop``).
It needs no pytest.

What the configuration does (docs/sip-events.md describes what Kamailio then does):

- ``auth_db`` over ``db_text``: the users (alice and bob) with their passwords. REGISTER
  is challenged with 401, INVITE with 407, SUBSCRIBE and PUBLISH with 401 or 407 as
  :attr:`BedOptions.challenge` says. A user may only register, subscribe to and publish
  her own address (403 otherwise).
- ``registrar``/``usrloc`` in memory; calls to a local user go to her registered phones,
  record-routed, with ``dlg_manage()``, so that ``pua_dialoginfo`` publishes each call's
  state to ``presence_dialoginfo`` (through ``pua``'s outbound proxy: the bed's UDP port,
  where a PUBLISH is trusted without a challenge).
- ``presence`` with subscriptions in memory only (a restart forgets them), and
  ``presence_mwi`` for message-summary: at the users' own addresses, and at any address
  of theirs in another domain (a mailbox such as ``alice@vm.example.com``). With
  :attr:`BedOptions.mwi_at_account` off, only the latter.
- ``tls`` with a certificate for the domain (and ``sip.<domain>``), issued by the CA the
  caller gives: the simulator's server CA. The loopback address is not in it, so a
  client must check the certificate against the domain.

A bed killed together with its owner (SIGKILL, ``os._exit``) cannot remove its
directory; the next bed made on the machine does (:func:`remove_dead_beds`).
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass, field
import fcntl
import functools
import hashlib
import json
import os
from pathlib import Path
import re
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import time
from typing import Final, Literal, Protocol, Self

from demo.stack import die_with_parent
from simulator.certs import Authority, IssuedCertificate, issue_server_certificate

HOST: Final = "127.0.0.1"
DEFAULT_DOMAIN: Final = "example.com"
# Names the kamailio binary to run instead of the installed one (a path, or a name on the
# PATH): another version, or a build of one's own.
KAMAILIO_VARIABLE: Final = "KAMAILIO"
# Where Debian installs Kamailio; a binary KAMAILIO names is looked up beside first.
DEBIAN_PREFIX: Final = Path("/usr")
# The modules below an install prefix: Debian's multiarch directory
# (lib/x86_64-linux-gnu/kamailio/modules on amd64), or a source build's lib64 or lib.
MODULE_DIRECTORIES: Final = (
    "lib/*/kamailio/modules",
    "lib64/kamailio/modules",
    "lib/kamailio/modules",
)
# The db_text table templates below an install prefix.
DBTEXT_TEMPLATES: Final = "share/kamailio/dbtext/kamailio"
# What the configuration loads; a missing one means a package is missing.
MODULES: Final = (
    "tls",
    "db_text",
    "sl",
    "tm",
    "tmx",
    "rr",
    "pv",
    "maxfwd",
    "textops",
    "textopsx",
    "siputils",
    "xlog",
    "usrloc",
    "registrar",
    "auth",
    "auth_db",
    "dialog",
    "presence",
    "presence_dialoginfo",
    "presence_mwi",
    "pua",
    "pua_dialoginfo",
    "nathelper",
)
# The db_text tables the modules open: "version" must be the full table, or startup
# fails ("invalid version 0 for table ...").
TABLES: Final = ("version", "subscriber", "presentity", "active_watchers", "watchers", "pua")
PACKAGES: Final = "kamailio kamailio-presence-modules kamailio-tls-modules"
# A bed's directory in the temporary directory: the prefix and mkdtemp's random part.
DIRECTORY_PREFIX: Final = "sipthor-kamailio-"
# The bed's process holds an exclusive lock on this file inside its directory while it
# lives; the kernel lets go of it when the process ends, however it ends.
OWNER_LOCK: Final = "owner.lock"
STARTUP_TIMEOUT: Final = 60.0
STOP_TIMEOUT: Final = 15.0
PORT_ATTEMPTS: Final = 3
STREAM: Final = socket.SOCK_STREAM
DATAGRAM: Final = socket.SOCK_DGRAM

type Transport = Literal["tcp", "tls"]


class KamailioError(RuntimeError):
    """Kamailio did not start or answer; the message ends with its log."""


@dataclass(frozen=True, slots=True)
class SipUser:
    """A subscriber of the bed's ``auth_db``."""

    name: str
    password: str
    display_name: str


# The same passwords as the simulator's accounts alice@ and bob@example.com.
ALICE: Final = SipUser("alice", "alice-sip-password", "Alice")
BOB: Final = SipUser("bob", "bob-sip-password", "Bob")


@dataclass(frozen=True, slots=True)
class BedOptions:
    """The knobs of the configuration; the defaults are a plain, working server."""

    domain: str = DEFAULT_DOMAIN
    # How SUBSCRIBE and PUBLISH are challenged: 401 WWW-Authenticate or 407
    # Proxy-Authenticate (both occur in the wild; Kamailio's own sample uses 407).
    challenge: Literal[401, 407] = 407
    # The per-connection TCP/TLS read buffer: the largest message Kamailio reads. With
    # Kamailio's default (4096) a bigger message is never answered: Kamailio closes the
    # connection. Set 4096 to see the default. From Kamailio 5.8 a message is also capped
    # by msg_recv_max_size (default 32767; at most 65535 from 6.1.5): the bed sets it to
    # this buffer, or to the highest cap, so on those versions no message above 64 KiB
    # passes (see :func:`message_limit`).
    tcp_rd_buf_size: int = 2 * 1024 * 1024
    # Kamailio closes a connection idle for this many seconds: tcp_connection_lifetime
    # for TCP (its default: 120), the tls module's connection_timeout for TLS (600).
    connection_lifetime: int = 120
    # The longest subscription the presence server grants (it lowers a longer Expires).
    max_expires: int = 3600
    # How long a nonce lives: after it, a request with it gets a challenge with stale=true.
    nonce_expire: int = 300
    # Whether the server sends a NOTIFY to the connection a SUBSCRIBE came on even when
    # its Contact names another address (nathelper's alias): a NAT-aware server. When
    # off, NOTIFYs go to the Contact as written.
    nat_aware: bool = False
    # presence_dialoginfo's force_dummy_dialog: when no call is known, a document with
    # one made-up dialog (terminated, no call-id) instead of an empty NOTIFY body.
    dummy_dialog: bool = False
    # Whether the presence server serves dialog at all. Without presence_dialoginfo,
    # Kamailio answers a dialog SUBSCRIBE with 489 Bad Event, as a platform without the
    # package does.
    offer_dialog: bool = True
    # Whether message-summary is served at the users' own addresses. Off, a SUBSCRIBE for
    # it at <user>@<domain> gets 489 Bad Event, and only a mailbox's address in another
    # domain (alice@vm.example.com: her name, the voicemail server's domain) serves it,
    # as on a platform whose voicemail server notifies at the mailbox's address only.
    mwi_at_account: bool = True
    # Kamailio's log level: 2 informs (one line per request the bed routes), 3 debugs.
    log_level: int = 2
    users: tuple[SipUser, ...] = (ALICE, BOB)


def kamailio_binary() -> str | None:
    """The ``kamailio`` executable: the one KAMAILIO names, else the installed one.

    The installed one may be in /usr/sbin, which a user's PATH may lack.
    """
    if named := os.environ.get(KAMAILIO_VARIABLE):
        return shutil.which(named)
    return shutil.which("kamailio") or shutil.which("kamailio", path="/usr/sbin:/usr/local/sbin")


def _install_prefixes() -> list[Path]:
    """Where to look for the modules and templates: beside the binary, then Debian's."""
    binary = kamailio_binary()
    # <prefix>/sbin/kamailio (or bin/)
    prefixes = [Path(binary).resolve().parents[1]] if binary is not None else []
    return [*prefixes, DEBIAN_PREFIX] if DEBIAN_PREFIX not in prefixes else prefixes


def module_directory() -> Path | None:
    """Where Kamailio's modules are, if anywhere."""
    for prefix in _install_prefixes():
        for pattern in MODULE_DIRECTORIES:
            for path in sorted(prefix.glob(pattern)):
                if (path / "tls.so").is_file():
                    return path
    return None


def dbtext_templates() -> Path | None:
    """Where Kamailio's db_text table templates are, if anywhere."""
    for prefix in _install_prefixes():
        if (prefix / DBTEXT_TEMPLATES / "version").is_file():
            return prefix / DBTEXT_TEMPLATES
    return None


@functools.cache
def kamailio_version() -> tuple[int, int]:
    """The installed Kamailio's major and minor version, as ``kamailio -v`` prints it."""
    binary = kamailio_binary()
    assert binary is not None
    printed = subprocess.run(  # noqa: S603 - the installed binary, a fixed argument
        [binary, "-v"], capture_output=True, text=True, check=True, timeout=STARTUP_TIMEOUT
    ).stdout
    found = re.search(r"version: kamailio (\d+)\.(\d+)", printed)
    if found is None:
        msg = f"cannot read Kamailio's version from {printed!r}"
        raise KamailioError(msg)
    return int(found[1]), int(found[2])


def unavailable_reason() -> str | None:
    """Why the bed cannot run here, or None when it can."""
    if kamailio_binary() is None:
        if named := os.environ.get(KAMAILIO_VARIABLE):
            return (
                f"{KAMAILIO_VARIABLE}={named} names no executable (unset it for the installed one)"
            )
        return f"kamailio is not installed (apt-get install {PACKAGES})"
    modules = module_directory()
    if modules is None:
        return f"Kamailio's modules are missing (apt-get install {PACKAGES})"
    missing = [name for name in MODULES if not (modules / f"{name}.so").is_file()]
    if missing:
        return f"Kamailio modules missing: {', '.join(missing)} (apt-get install {PACKAGES})"
    if dbtext_templates() is None:
        templates = f"no {DBTEXT_TEMPLATES}"
        return f"Kamailio's db_text templates are missing ({templates}; apt-get install {PACKAGES})"
    return None


def remove_dead_beds() -> list[Path]:
    """Remove the directories of beds whose owner died (SIGKILL, ``os._exit``).

    A directory whose lock this process can take has no living owner. One without the
    lock file (another user's, a bed from before the lock, or one being made) is left.
    Returns the directories removed.
    """
    removed: list[Path] = []
    for directory in Path(tempfile.gettempdir()).glob(f"{DIRECTORY_PREFIX}*"):
        try:
            if directory.is_symlink() or directory.lstat().st_uid != os.getuid():
                continue
            lock = os.open(directory / OWNER_LOCK, os.O_RDONLY | os.O_NOFOLLOW)
        except OSError:
            continue
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            continue  # its owner lives
        else:
            shutil.rmtree(directory, ignore_errors=True)
            removed.append(directory)
        finally:
            os.close(lock)
    return removed


def _lock_as_owner(directory: Path) -> int:
    """Take the owner's lock of a new bed directory; returns the descriptor that holds it.

    The file is locked under another name and then renamed, so that
    :func:`remove_dead_beds` never finds it unlocked while this process lives.
    """
    pending = directory / f".{OWNER_LOCK}"
    lock = os.open(pending, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o600)
    fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    pending.rename(directory / OWNER_LOCK)
    return lock


_CERTIFICATES: dict[tuple[bytes, tuple[str, ...]], IssuedCertificate] = {}


def server_certificate(authority: Authority, hosts: tuple[str, ...]) -> IssuedCertificate:
    """The server certificate for ``hosts``, made once per CA and run (RSA keys are slow)."""
    key = (authority.certificate_pem, hosts)
    if key not in _CERTIFICATES:
        _CERTIFICATES[key] = issue_server_certificate(authority, list(hosts))
    return _CERTIFICATES[key]


def _free_ports() -> _Ports:
    """Ports free now on loopback: two TCP ports (distinct) and a UDP port."""
    sockets = [socket.socket(socket.AF_INET, kind) for kind in (STREAM, STREAM, DATAGRAM)]
    try:
        for probe in sockets:  # all bound at once, so the two TCP ports differ
            probe.bind((HOST, 0))
        return _Ports(*(probe.getsockname()[1] for probe in sockets))
    finally:
        for probe in sockets:
            probe.close()


def _md5(text: str) -> str:
    return hashlib.md5(text.encode(), usedforsecurity=False).hexdigest()


def _dbtext_field(value: str) -> str:
    r"""A db_text string field: ``:`` separates fields, ``\`` escapes."""
    return value.replace("\\", "\\\\").replace(":", "\\:").replace("\n", "\\n")


class SipServer(Protocol):
    """Where a SIP user agent connects: a running bed, or its address (another process)."""

    @property
    def host(self) -> str:
        """The address the server listens on."""

    @property
    def domain(self) -> str:
        """The SIP domain, which the server's certificate names."""

    def port(self, transport: Transport) -> int:
        """The port of ``transport``."""

    def uri(self, user: SipUser | str) -> str:
        """``sip:user@domain``."""

    def client_ssl_context(self) -> ssl.SSLContext:
        """A client context that verifies the server."""


@dataclass(frozen=True, slots=True)
class BedAddress:
    """A running bed's address, written to a file for another process (``scripts/ring``)."""

    host: str
    domain: str
    tcp_port: int
    tls_port: int
    ca_file: Path

    def port(self, transport: Transport) -> int:
        """The port of ``transport``."""
        return self.tls_port if transport == "tls" else self.tcp_port

    def uri(self, user: SipUser | str) -> str:
        """``sip:user@domain``."""
        name = user.name if isinstance(user, SipUser) else user
        return f"sip:{name}@{self.domain}"

    def client_ssl_context(self) -> ssl.SSLContext:
        """A client context that verifies the server (pass ``server_hostname=domain``)."""
        return ssl.create_default_context(cafile=str(self.ca_file))

    def write(self, path: Path) -> None:
        """Save as JSON (no secret in it: the users' passwords are the demo's own)."""
        fields = {
            "host": self.host,
            "domain": self.domain,
            "tcp_port": self.tcp_port,
            "tls_port": self.tls_port,
            "ca_file": str(self.ca_file),
        }
        path.write_text(json.dumps(fields, indent=2) + "\n", encoding="utf-8")

    @classmethod
    def read(cls, path: Path) -> BedAddress:
        """What :meth:`write` saved; OSError or ValueError when it is not there or not one."""
        fields = json.loads(path.read_text(encoding="utf-8"))
        try:
            return cls(
                host=str(fields["host"]),
                domain=str(fields["domain"]),
                tcp_port=int(fields["tcp_port"]),
                tls_port=int(fields["tls_port"]),
                ca_file=Path(fields["ca_file"]),
            )
        except (KeyError, TypeError) as err:
            msg = f"{path} is not a bed's address: {err!r}"
            raise ValueError(msg) from err


@dataclass(slots=True)
class _Ports:
    tcp: int
    tls: int
    internal: int  # UDP: pua's PUBLISHes to itself


@dataclass(slots=True)
class KamailioBed:
    """One Kamailio on loopback; see the module's docstring.

    ``authority`` issues the server certificate (tests: the simulator's server CA,
    ``CertificateFiles.server_authority``); clients verify it with :attr:`ca_file`.
    """

    authority: Authority
    options: BedOptions = field(default_factory=BedOptions)
    directory: Path = field(init=False)
    _ports: _Ports | None = field(default=None, init=False)
    _process: subprocess.Popen[bytes] | None = field(default=None, init=False)
    _starts: int = field(default=0, init=False)
    _owner_lock: int | None = field(default=None, init=False)

    def __post_init__(self) -> None:
        """A private directory for the configuration, the keys, the tables and the log.

        First, the directories that beds killed with their owner left behind go.
        """
        remove_dead_beds()
        self.directory = Path(tempfile.mkdtemp(prefix=DIRECTORY_PREFIX))
        self.directory.chmod(0o700)
        self._owner_lock = _lock_as_owner(self.directory)

    # -- what clients need --------------------------------------------------------------

    @property
    def host(self) -> str:
        """The address Kamailio listens on."""
        return HOST

    @property
    def domain(self) -> str:
        """The SIP domain (realm, alias, certificate name)."""
        return self.options.domain

    @property
    def tcp_port(self) -> int:
        """The SIP-over-TCP port."""
        return self._assigned_ports().tcp

    @property
    def tls_port(self) -> int:
        """The SIP-over-TLS port."""
        return self._assigned_ports().tls

    def port(self, transport: Transport) -> int:
        """The port of ``transport``."""
        return self.tls_port if transport == "tls" else self.tcp_port

    @property
    def message_limit(self) -> int:
        """The size from which this Kamailio refuses a message over TCP or TLS."""
        return message_limit(self.options, kamailio_version())

    def server_setting(self, transport: Transport = "tls") -> str:
        """The server as the integration's option takes it: ``host:port;transport=…``."""
        return f"{HOST}:{self.port(transport)};transport={transport}"

    def uri(self, user: SipUser | str) -> str:
        """``sip:user@domain``."""
        name = user.name if isinstance(user, SipUser) else user
        return f"sip:{name}@{self.domain}"

    @property
    def address(self) -> BedAddress:
        """Where clients connect, for another process."""
        return BedAddress(self.host, self.domain, self.tcp_port, self.tls_port, self.ca_file)

    @property
    def ca_file(self) -> Path:
        """The CA that issued the server certificate, as PEM."""
        return self.directory / "tls" / "ca.crt"

    def client_ssl_context(self) -> ssl.SSLContext:
        """A client context that verifies the server (pass ``server_hostname=domain``)."""
        return ssl.create_default_context(cafile=str(self.ca_file))

    @property
    def running(self) -> bool:
        """Whether the main process is alive."""
        return self._process is not None and self._process.poll() is None

    @property
    def pid(self) -> int | None:
        """The main process's id (its process group holds every Kamailio process)."""
        return self._process.pid if self._process is not None else None

    @property
    def log_path(self) -> Path:
        """Kamailio's stderr, every start appended."""
        return self.directory / "kamailio.log"

    def log(self, since: int = 0) -> str:
        """What Kamailio wrote to stderr, over every start (from ``since``, a :meth:`log_size`)."""
        try:
            with self.log_path.open("rb") as log:
                log.seek(since)
                return log.read().decode("utf-8", errors="replace")
        except FileNotFoundError:
            return ""

    def log_size(self) -> int:
        """Where the log ends now: pass it as ``since`` to look at what comes after."""
        try:
            return self.log_path.stat().st_size
        except FileNotFoundError:
            return 0

    async def wait_for_log(self, text: str, *, since: int = 0, timeout: float = 30.0) -> str:
        """Until the log (from ``since``) holds ``text``; returns the line that does."""
        deadline = time.monotonic() + timeout
        while True:
            for line in self.log(since).splitlines():
                if text in line:
                    return line
            if time.monotonic() > deadline:
                msg = f"Kamailio logged no {text!r} within {timeout:.0f} s:\n{self._log_tail()}"
                raise KamailioError(msg)
            await asyncio.sleep(0.05)

    # -- life cycle ---------------------------------------------------------------------

    async def start(self) -> None:
        """Start Kamailio and wait until it answers; later starts keep the first's ports."""
        if self.running:
            msg = "Kamailio is already running"
            raise KamailioError(msg)
        if (reason := unavailable_reason()) is not None:
            raise KamailioError(reason)
        if self._ports is not None:
            await self._launch()
            return
        self._write_files()
        for attempt in range(1, PORT_ATTEMPTS + 1):
            self._ports = _free_ports()
            self._write_config()
            since = self.log_size()
            try:
                await self._launch()
            except KamailioError:
                # Another process took a port between our choice and Kamailio's bind.
                if attempt == PORT_ATTEMPTS or "Address already in use" not in self.log(since):
                    raise
            else:
                return

    async def stop(self) -> None:
        """Stop Kamailio as an operator would (SIGTERM), then make sure nothing is left."""
        process = self._process
        if process is None:
            return
        if process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                process.send_signal(signal.SIGTERM)
            await self._wait_exit(process, STOP_TIMEOUT)
        self._kill_group(process)
        await self._wait_exit(process, STOP_TIMEOUT)
        self._process = None

    async def kill(self) -> None:
        """Kill every Kamailio process at once with SIGKILL: a crash, nothing flushed."""
        process = self._process
        if process is None:
            return
        self._kill_group(process)
        await self._wait_exit(process, STOP_TIMEOUT)
        self._process = None

    async def restart(self, *, crash: bool = False) -> None:
        """Stop (or, with ``crash``, kill) Kamailio and start it again on the same ports."""
        await (self.kill() if crash else self.stop())
        await self.start()

    async def close(self) -> None:
        """Stop Kamailio and remove its directory (keys, tables, log)."""
        try:
            await self.stop()
        finally:
            shutil.rmtree(self.directory, ignore_errors=True)
            if self._owner_lock is not None:
                os.close(self._owner_lock)
                self._owner_lock = None

    async def __aenter__(self) -> Self:
        """Start; :meth:`close` on the way out."""
        try:
            await self.start()
        except BaseException:
            await self.close()
            raise
        return self

    async def __aexit__(self, *_exc_info: object) -> None:
        """Stop and clean up."""
        await self.close()

    # -- internals ----------------------------------------------------------------------

    def _assigned_ports(self) -> _Ports:
        if self._ports is None:
            msg = "the bed has no ports before its first start"
            raise KamailioError(msg)
        return self._ports

    @staticmethod
    def _kill_group(process: subprocess.Popen[bytes]) -> None:
        # The group outlives its leader while children remain; once it is empty the
        # id is unknown (ProcessLookupError), never another group's.
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(process.pid, signal.SIGKILL)

    @staticmethod
    async def _wait_exit(process: subprocess.Popen[bytes], timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while process.poll() is None:
            if time.monotonic() > deadline:
                return False
            await asyncio.sleep(0.02)
        return True

    async def _launch(self) -> None:
        binary, modules = kamailio_binary(), module_directory()
        assert binary is not None
        assert modules is not None
        self._starts += 1
        with self.log_path.open("ab") as log:
            log.write(f"--- start {self._starts} ---\n".encode())
            log.flush()
            # Popen returns at once; the bed then polls the process without blocking.
            self._process = subprocess.Popen(  # noqa: S603, ASYNC220 - fixed arguments, our own files
                [
                    binary,
                    "-f",
                    str(self.directory / "kamailio.cfg"),
                    "-DD",  # the main process stays in the foreground, our child
                    "-E",  # log to stderr
                    "-L",
                    str(modules),
                    "-Y",
                    str(self.directory / "run"),
                    "-w",
                    str(self.directory),
                    "-m",
                    "128",  # shared memory, MB: touched only as used
                    "-M",
                    "16",  # private memory per process, MB
                ],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=log,
                cwd=self.directory,
                # Its own process group, so that kill() reaches every child at once.
                start_new_session=True,
                # A demo or test run killed outright leaves no Kamailio behind (the
                # function only calls prctl: safe between fork and exec with threads).
                preexec_fn=die_with_parent if sys.platform == "linux" else None,  # noqa: PLW1509
            )
        try:
            await self._wait_until_ready()
        except BaseException:
            await self.kill()
            raise

    async def _wait_until_ready(self) -> None:
        """Until an OPTIONS gets 200 over TCP and over TLS (the workers are up)."""
        deadline = time.monotonic() + STARTUP_TIMEOUT
        pending: list[Transport] = ["tcp", "tls"]
        last_error: Exception | None = None
        while pending:
            if self._process is None or self._process.poll() is not None:
                msg = f"Kamailio exited while starting:\n{self._log_tail()}"
                raise KamailioError(msg)
            if time.monotonic() > deadline:
                msg = f"Kamailio did not answer within {STARTUP_TIMEOUT:.0f} s "
                msg += f"({last_error!r}):\n{self._log_tail()}"
                raise KamailioError(msg)
            try:
                async with asyncio.timeout(5):
                    await self._options(pending[0])
            except (OSError, TimeoutError, ValueError, asyncio.IncompleteReadError) as err:
                last_error = err
                await asyncio.sleep(0.05)
            else:
                pending.pop(0)

    async def _options(self, transport: Transport) -> None:
        context = self.client_ssl_context() if transport == "tls" else None
        reader, writer = await asyncio.open_connection(
            HOST,
            self.port(transport),
            ssl=context,
            server_hostname=self.domain if context else None,
        )
        try:
            local_host, local_port = writer.get_extra_info("sockname")[:2]
            branch = f"z9hG4bK-ready-{os.urandom(6).hex()}"
            request = (
                f"OPTIONS sip:{HOST}:{self.port(transport)};transport={transport} SIP/2.0\r\n"
                f"Via: SIP/2.0/{transport.upper()} {local_host}:{local_port};branch={branch}\r\n"
                "Max-Forwards: 70\r\n"
                f"From: <sip:ready@{self.domain}>;tag={os.urandom(4).hex()}\r\n"
                f"To: <sip:{HOST}:{self.port(transport)}>\r\n"
                f"Call-ID: ready-{os.urandom(8).hex()}\r\n"
                "CSeq: 1 OPTIONS\r\n"
                "Content-Length: 0\r\n\r\n"
            )
            writer.write(request.encode())
            await writer.drain()
            head = await reader.readuntil(b"\r\n\r\n")
            if not head.lstrip().startswith(b"SIP/2.0 200 "):
                msg = f"OPTIONS over {transport}: {head[:80]!r}"
                raise ValueError(msg)
        finally:
            writer.close()
            with contextlib.suppress(OSError, ssl.SSLError):
                await writer.wait_closed()

    def _log_tail(self, lines: int = 60) -> str:
        return "\n".join(self.log().splitlines()[-lines:])

    def _write_files(self) -> None:
        """The certificate, the key, the CA and the db_text tables (once per bed)."""
        tls = self.directory / "tls"
        tls.mkdir(mode=0o700)
        issued = server_certificate(self.authority, (self.domain, f"sip.{self.domain}"))
        (tls / "server.crt").write_bytes(issued.certificate_pem)
        descriptor = os.open(tls / "server.key", os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "wb") as key:
            key.write(issued.key_pem)
        (tls / "ca.crt").write_bytes(self.authority.certificate_pem)
        (self.directory / "run").mkdir(mode=0o700)
        database = self.directory / "db"
        database.mkdir(mode=0o700)
        templates = dbtext_templates()
        assert templates is not None  # start() checked
        for table in TABLES:
            shutil.copyfile(templates / table, database / table)
            (database / table).chmod(0o600)
        with (database / "subscriber").open("a", encoding="utf-8") as subscribers:
            for number, user in enumerate(self.options.users, start=1):
                # The password, and the hashes auth_db reads when calculate_ha1 is off.
                ha1 = _md5(f"{user.name}:{self.domain}:{user.password}")
                ha1b = _md5(f"{user.name}@{self.domain}:{self.domain}:{user.password}")
                fields = (user.name, self.domain, user.password, ha1, ha1b)
                subscribers.write(f"{number}:{':'.join(map(_dbtext_field, fields))}\n")

    def _write_config(self) -> None:
        ports = self._assigned_ports()
        (self.directory / "kamailio.cfg").write_text(
            render_config(
                self.options,
                ports.tcp,
                ports.tls,
                ports.internal,
                self.directory,
                version=kamailio_version(),
            ),
            encoding="utf-8",
        )


# The Kamailio that first caps a received message apart from the read buffer
# (msg_recv_max_size), and the highest cap it takes (its BUF_SIZE; 6.1.5 refuses a higher
# one at startup, older ones would take it).
MESSAGE_CAP_SINCE: Final = (5, 8)
HIGHEST_MESSAGE_CAP: Final = 65535


def message_limit(options: BedOptions, version: tuple[int, int]) -> int:
    """The size from which the bed's Kamailio refuses a message over TCP or TLS."""
    if version >= MESSAGE_CAP_SINCE:
        return min(options.tcp_rd_buf_size, HIGHEST_MESSAGE_CAP)
    return options.tcp_rd_buf_size


def render_config(
    options: BedOptions,
    tcp_port: int,
    tls_port: int,
    internal_port: int,
    directory: Path,
    *,
    version: tuple[int, int],
) -> str:
    """The configuration: the settings as defines, then the fixed routing script.

    ``version`` is the Kamailio's that reads it: a core parameter an older one does not
    know stops it at startup.
    """
    defines = {
        "BED_DOMAIN": options.domain,
        "BED_TCP_PORT": str(tcp_port),
        "BED_TLS_PORT": str(tls_port),
        "BED_INTERNAL_PORT": str(internal_port),
        "BED_DIR": str(directory),
        "BED_TCP_RD_BUF_SIZE": str(options.tcp_rd_buf_size),
        "BED_MESSAGE_CAP": str(message_limit(options, version)),
        "BED_LIFETIME": str(options.connection_lifetime),
        "BED_MAX_EXPIRES": str(options.max_expires),
        "BED_NONCE_EXPIRE": str(options.nonce_expire),
        "BED_LOG_LEVEL": str(options.log_level),
        "BED_DUMMY_DIALOG": "1" if options.dummy_dialog else "0",
    }
    for value in defines.values():
        if "!" in value or "\n" in value:
            msg = f"cannot write {value!r} into the configuration"
            raise ValueError(msg)
    lines = ["#!KAMAILIO", "# Written by demo/kamailio.py for one bed."]
    lines += [f'#!substdef "!{name}!{value}!"' for name, value in defines.items()]
    lines.append(f"#!define BED_CHALLENGE_{options.challenge}")
    if options.nat_aware:
        lines.append("#!define BED_NAT_AWARE")
    if version >= MESSAGE_CAP_SINCE:
        lines.append("#!define BED_CAPS_MESSAGES")
    if options.offer_dialog:
        lines.append("#!define BED_DIALOG")
    if options.mwi_at_account:
        lines.append("#!define BED_MWI_AT_ACCOUNT")
    return "\n".join(lines) + "\n" + _SCRIPT


_SCRIPT: Final = r"""
####### Global parameters
debug=BED_LOG_LEVEL
log_stderror=yes
memdbg=5
memlog=5
children=1
tcp_children=2
auto_aliases=no
alias="BED_DOMAIN"
listen=udp:127.0.0.1:BED_INTERNAL_PORT
listen=tcp:127.0.0.1:BED_TCP_PORT
listen=tls:127.0.0.1:BED_TLS_PORT
enable_tls=yes
tcp_rd_buf_size=BED_TCP_RD_BUF_SIZE
#!ifdef BED_CAPS_MESSAGES
msg_recv_max_size=BED_MESSAGE_CAP
#!endif
tcp_connection_lifetime=BED_LIFETIME
dns=no
rev_dns=no
server_header="Server: kamailio (sipthor test bed)"
user_agent_header="User-Agent: kamailio (sipthor test bed)"

####### Modules
loadmodule "tls.so"
loadmodule "db_text.so"
loadmodule "tm.so"
loadmodule "sl.so"
loadmodule "tmx.so"
loadmodule "rr.so"
loadmodule "pv.so"
loadmodule "maxfwd.so"
loadmodule "textops.so"
loadmodule "textopsx.so"
loadmodule "siputils.so"
loadmodule "xlog.so"
loadmodule "usrloc.so"
loadmodule "registrar.so"
loadmodule "auth.so"
loadmodule "auth_db.so"
loadmodule "dialog.so"
loadmodule "presence.so"
#!ifdef BED_DIALOG
loadmodule "presence_dialoginfo.so"
#!endif
loadmodule "presence_mwi.so"
loadmodule "pua.so"
loadmodule "pua_dialoginfo.so"
#!ifdef BED_NAT_AWARE
loadmodule "nathelper.so"
#!endif

modparam("tls", "certificate", "BED_DIR/tls/server.crt")
modparam("tls", "private_key", "BED_DIR/tls/server.key")
modparam("tls", "tls_method", "TLSv1.2+")
modparam("tls", "verify_certificate", 0)
modparam("tls", "require_certificate", 0)
modparam("tls", "connection_timeout", BED_LIFETIME)

# An empty string stays one (by default it reads back as NULL, and the presentity
# table written at shutdown would not load again).
modparam("db_text", "emptystring", 1)

modparam("auth", "nonce_expire", BED_NONCE_EXPIRE)
modparam("auth_db", "db_url", "text://BED_DIR/db")
modparam("auth_db", "calculate_ha1", yes)
modparam("auth_db", "password_column", "password")
modparam("auth_db", "load_credentials", "")

modparam("usrloc", "db_mode", 0)

modparam("presence", "db_url", "text://BED_DIR/db")
modparam("presence", "subs_db_mode", 0)
modparam("presence", "max_expires", BED_MAX_EXPIRES)
modparam("presence", "clean_period", 5)
#!ifdef BED_DIALOG
modparam("presence_dialoginfo", "force_dummy_dialog", BED_DUMMY_DIALOG)
#!endif

#!ifdef BED_NAT_AWARE
modparam("nathelper|registrar", "received_avp", "$avp(RECEIVED)")
#!endif

modparam("pua", "db_url", "text://BED_DIR/db")
modparam("pua", "db_mode", 0)
modparam("pua", "outbound_proxy", "sip:127.0.0.1:BED_INTERNAL_PORT")

####### Routing
request_route {
	xlog("L_INFO", "bed: $rm $ru from $si:$sp over $pr (Call-ID $ci)\n");
	if (!mf_process_maxfwd_header("10")) {
		sl_send_reply("483", "Too Many Hops");
		exit;
	}
	# pua_dialoginfo's own PUBLISHes, looped back through its outbound proxy: trusted.
	if ($Rp == BED_INTERNAL_PORT) {
		if (is_method("PUBLISH")) {
			route(PRESENCE);
		}
		sl_send_reply("403", "Internal port");
		exit;
	}
	if (is_method("OPTIONS") && uri == myself && $rU == $null) {
		sl_send_reply("200", "Keepalive");
		exit;
	}
	if (is_method("CANCEL")) {
		if (t_check_trans()) {
			t_relay();
		}
		exit;
	}
	if (!is_method("ACK")) {
		if (t_precheck_trans()) {
			t_check_trans();
			exit;
		}
		t_check_trans();
	}
	route(WITHINDLG);
	if (is_method("REGISTER")) {
		route(REGISTRAR);
	}
	if (is_method("SUBSCRIBE|PUBLISH")) {
		route(AUTH_OWN);
		route(PRESENCE);
	}
	if (is_method("INVITE")) {
		route(CALL);
	}
	sl_send_reply("405", "Method Not Allowed");
	exit;
}

route[WITHINDLG] {
	if (!has_totag()) {
		return;
	}
	if (loose_route()) {
#!ifdef BED_NAT_AWARE
		if ($du == "") {
			handle_ruri_alias();
		}
#!endif
		if (!t_relay()) {
			sl_reply_error();
		}
		exit;
	}
	# A subscription's refresh: to the presence server's own Contact.
	if (is_method("SUBSCRIBE") && uri == myself) {
		route(AUTH_OWN);
		route(PRESENCE);
	}
	if (is_method("ACK")) {
		if (t_check_trans()) {
			t_relay();
		}
		exit;
	}
	sl_send_reply("404", "Not here");
	exit;
}

route[REGISTRAR] {
	$var(www) = 1;
	route(AUTH);
#!ifdef BED_NAT_AWARE
	fix_nated_register();
#!endif
	if (!save("location")) {
		sl_reply_error();
	}
	exit;
}

# SUBSCRIBE and PUBLISH: a user's own address only.
route[AUTH_OWN] {
#!ifdef BED_CHALLENGE_401
	$var(www) = 1;
#!else
	$var(www) = 0;
#!endif
	route(AUTH);
	if (!has_totag() && $rU != $au) {
		sl_send_reply("403", "Not your address");
		exit;
	}
}

# The From user's credentials (the To user's for REGISTER), asked for with 401 when
# $var(www) is 1, with 407 otherwise.
route[AUTH] {
	if ($var(www) == 1) {
		www_authenticate("BED_DOMAIN", "subscriber");
	} else {
		proxy_authenticate("BED_DOMAIN", "subscriber");
	}
	$var(auth) = $rc;
	if ($var(auth) < 0) {
		# qop=auth; an expired nonce (-4) also gets stale=true (16), as OpenSIPS says it.
		$var(flags) = 1;
		if ($var(auth) == -4) {
			$var(flags) = 17;
		}
		if ($var(www) == 1) {
			www_challenge("BED_DOMAIN", "$var(flags)");
		} else {
			proxy_challenge("BED_DOMAIN", "$var(flags)");
		}
		exit;
	}
	if ((is_method("REGISTER") && $au != $tU) || (!is_method("REGISTER") && $au != $fU)) {
		sl_send_reply("403", "Not your address");
		exit;
	}
	consume_credentials();
}

route[PRESENCE] {
#!ifndef BED_MWI_AT_ACCOUNT
	if (is_method("SUBSCRIBE") && !has_totag() && $rd == "BED_DOMAIN"
			&& $hdr(Event) =~ "^message-summary") {
		sl_send_reply("489", "Bad Event");
		exit;
	}
#!endif
#!ifdef BED_NAT_AWARE
	if (is_method("SUBSCRIBE")) {
		set_contact_alias();
		msg_apply_changes();
	}
#!endif
	if (!t_newtran()) {
		sl_reply_error();
		exit;
	}
	if (is_method("PUBLISH")) {
		handle_publish();
	} else {
		handle_subscribe();
	}
	t_release();
	exit;
}

route[CALL] {
	$var(www) = 0;
	route(AUTH);
	if (uri != myself) {
		sl_send_reply("403", "Not relaying");
		exit;
	}
	record_route();
	# The dialog module tracks the call; pua_dialoginfo publishes its states.
	dlg_manage();
	if (!lookup("location")) {
		t_newtran();
		t_reply("480", "Temporarily Unavailable");
		exit;
	}
	if (!t_relay()) {
		sl_reply_error();
	}
	exit;
}

#!ifdef BED_NAT_AWARE
# The presence server's NOTIFYs: to the connection the alias names.
event_route[tm:local-request] {
	if (is_method("NOTIFY")) {
		handle_ruri_alias();
	}
}
#!endif
"""
