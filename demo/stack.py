"""The simulator and a real Home Assistant, wired together over its public interfaces.

The demo (``python -m demo``, which ``scripts/develop`` runs) and the end-to-end tests
(``tests/e2e/``) both use this module:

1. the simulator runs in the calling process, on its own TLS port (so the tests can
   look at and change its state directly);
2. Home Assistant runs as a real subprocess (``python -m homeassistant -c DIR
   --skip-pip``) with ``custom_components/sipthor`` linked into its configuration
   directory, and with ``SSL_CERT_FILE`` and ``REQUESTS_CA_BUNDLE`` pointing at the
   system CAs plus the simulator's server CA, so that the integration verifies the
   server as it would a public provider;
3. the owner is created through the onboarding API (or logged in, when it exists);
4. the accounts are added through the integration's real config flow over the REST
   API: one with its SIP password, one with its certificate, uploaded through Home
   Assistant's file-upload endpoint.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
import contextlib
import ctypes
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
import hashlib
import importlib.metadata
import importlib.util
import json
import os
from pathlib import Path
import shutil
import signal
import socket
import ssl
import sys
import time
from typing import Any, Self

import aiohttp

from demo.defaults import REPO
from simulator import Platform, SettingsSimulator

DOMAIN = "sipthor"
ACCOUNT = "alice@example.com"  # signs in with her SIP password
CERTIFICATE_ACCOUNT = "bob@example.com"  # signs in with his client certificate
# Where the demo writes the HTTP settings (configuration.yaml includes the directory).
HTTP_PACKAGE = Path("packages") / "sipthor_demo_http.yaml"
DASHBOARD_PATH = "sipthor-demo/account"
# What scripts/develop copies from the tracked configuration: the rest of config/ is
# Home Assistant's own state.
TRACKED_CONFIG = ("configuration.yaml", "dashboards", "blueprints")
INTEGRATION_LINK = Path("custom_components") / DOMAIN
# Where those packages go when the environment has other versions or none.
PINNED_CACHE = (
    Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "sipthor" / "pinned"
)

# The demo's accounts: how each signs in (the config flow's menu option), said how.
DEMO_ACCOUNTS = (
    (ACCOUNT, "password", "her SIP password"),
    (CERTIFICATE_ACCOUNT, "certificate", f"uploading {CERTIFICATE_ACCOUNT}.crt"),
)

CALL_EVENT = "event.alice_example_com_call"
# Entities the demo shows first; every entity of the account is listed after them.
KEY_ENTITIES = (
    "sensor.alice_example_com_balance",
    "binary_sensor.alice_example_com_registered",
    "sensor.alice_example_com_registered_devices",
    "switch.alice_example_com_do_not_disturb",
    "switch.alice_example_com_hide_caller_id",
    "sensor.alice_example_com_last_missed_caller",
    CALL_EVENT,
    "select.alice_example_com_forward_when_busy",
)


@dataclass(frozen=True, slots=True)
class Owner:
    """The Home Assistant owner the demo and the tests create."""

    name: str = "Demo Owner"
    username: str = "demo"
    password: str = "sipthor-demo"  # a local demo's login, printed on start


OWNER = Owner()


class StackError(RuntimeError):
    """Something in the chain did not come up; the message says what and where."""


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def port_in_use(port: int) -> bool:
    """Whether something already listens on 127.0.0.1:``port``."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(1)
        return sock.connect_ex(("127.0.0.1", port)) == 0


# -- the configuration directory -------------------------------------------------------


def prepare_config(config_dir: Path, *, copy_from: Path | None = None) -> None:
    """Make ``config_dir`` ready for ``hass -c``; copy the tracked files if asked.

    A copy resolves symbolic links (the blueprints are links into blueprints/), so a
    temporary directory holds files of its own. The integration is linked, never
    copied: Home Assistant runs the repository's code.
    """
    config_dir.mkdir(parents=True, exist_ok=True)
    if copy_from is not None:
        for name in TRACKED_CONFIG:
            source = copy_from / name
            target = config_dir / name
            if source.is_dir():
                shutil.copytree(source, target, dirs_exist_ok=True)
            elif source.is_file():
                shutil.copyfile(source, target)
    _skip_onboarding_extras(config_dir)
    automations = config_dir / "automations.yaml"
    if not automations.exists():
        automations.write_text("[]\n")
    link = config_dir / INTEGRATION_LINK
    link.parent.mkdir(exist_ok=True)
    target = REPO / INTEGRATION_LINK
    relative = Path(os.path.relpath(target, link.parent))
    if link.is_symlink() and link.resolve() == target.resolve():
        return
    if link.is_symlink() or link.exists():
        msg = f"{link} exists and is not a link to {target}: move it away"
        raise StackError(msg)
    link.symlink_to(relative, target_is_directory=True)


def _skip_onboarding_extras(config_dir: Path) -> None:
    """Before the first start: mark every onboarding step but the owner's as done.

    configuration.yaml sets the location and units. The frontend's "core config" step
    would also start what a new installation suggests (weather, text-to-speech, radio,
    shopping list), whose packages the demo does not install, so they would only fail
    in the log. The owner is still created through the onboarding API.
    """
    store = config_dir / ".storage" / "onboarding"
    if store.exists() or (config_dir / ".storage" / "auth").exists():
        return
    store.parent.mkdir(parents=True, exist_ok=True)
    store.write_text(
        json.dumps(
            {
                "version": 4,
                "minor_version": 1,
                "key": "onboarding",
                "data": {"done": ["core_config", "analytics", "integration"]},
            }
        )
    )


def write_http_settings(config_dir: Path, port: int) -> None:
    """Before every start: Home Assistant listens on 127.0.0.1:``port``, the port asked for.

    Releases up to 2025.x read ``http:`` from YAML only. Newer ones keep the HTTP
    settings in their own storage: they move an ``http:`` block from YAML into it once,
    as an unconfirmed trial that goes back to port 8123 after five minutes unless
    someone confirms it in the frontend, then ignore the YAML (and raise a repair
    issue about it) on every later start, so a second run on another port would not
    get it. So the YAML package is written only where YAML is read, and the storage
    file on every release, in the first version of its format: what 2025.x writes
    itself after a successful start, and what newer releases migrate from (the path
    every upgraded installation takes), with no trial. The demo owns this
    configuration directory; settings changed in its frontend last until the next start.
    """
    server = {"server_host": ["127.0.0.1"], "server_port": port}
    package = config_dir / HTTP_PACKAGE
    if _http_yaml_is_read():
        package.parent.mkdir(exist_ok=True)
        package.write_text(
            "# Written by the demo before each start: the port it was asked for.\n"
            f"http:\n  server_host: 127.0.0.1\n  server_port: {port}\n"
        )
    else:
        package.unlink(missing_ok=True)
    store = config_dir / ".storage" / "http"
    store.parent.mkdir(parents=True, exist_ok=True)
    store.write_text(json.dumps({"version": 1, "minor_version": 1, "key": "http", "data": server}))


def _http_yaml_is_read() -> bool:
    """Whether this Home Assistant reads ``http:`` from YAML on every start.

    The releases that moved the HTTP settings into storage say so in a repair issue,
    ``deprecated_yaml``, declared in the http integration's strings.
    """
    spec = importlib.util.find_spec("homeassistant.components.http")
    if spec is None or spec.origin is None:
        return True
    strings = json.loads((Path(spec.origin).parent / "strings.json").read_text())
    return "deprecated_yaml" not in strings.get("issues", {})


def write_trust_bundle(server_ca: Path, bundle: Path) -> Path:
    """The system's CAs plus the simulator's server CA, for ``SSL_CERT_FILE``.

    The simulator's server certificate comes from a CA of its own; trusting that CA
    the way a system trusts public CAs keeps server verification on, as users have it.
    """
    paths = ssl.get_default_verify_paths()
    system = Path(os.environ.get("SSL_CERT_FILE") or paths.cafile or paths.openssl_cafile)
    if system == bundle:  # started from a shell that exported an earlier bundle
        system = Path(paths.openssl_cafile)
    system_pem = system.read_bytes() if system.is_file() else b""
    bundle.write_bytes(system_pem.rstrip(b"\n") + b"\n" + server_ca.read_bytes())
    return bundle


# -- the Home Assistant process --------------------------------------------------------


def missing_pins() -> list[str]:
    """What Home Assistant pins and the environment lacks or has in another version.

    For what it needs beside its own package: the frontend it serves, and the entity
    components (integration type "entity", with their dependencies), which it imports
    to describe services, and from 2026 sets up, even when nothing uses them (2026.10
    added infrared and radio_frequency: "Setup failed", with a traceback, for each).

    ``name==version`` each, from the integrations' manifests and their dependencies'.
    """
    components = Path(str(importlib.metadata.distribution("homeassistant").locate_file(""))) / Path(
        "homeassistant", "components"
    )
    seen: set[str] = set()
    missing: set[str] = set()
    domains = ["frontend", *_entity_components(components)]
    while domains:
        domain = domains.pop()
        manifest = components / domain / "manifest.json"
        if domain in seen or not manifest.is_file():  # not in this release
            continue
        seen.add(domain)
        content: dict[str, list[str]] = json.loads(manifest.read_text())
        domains += content.get("dependencies", [])
        for requirement in content.get("requirements", []):
            name, _, version = requirement.partition("==")
            try:
                installed: str | None = importlib.metadata.version(name)
            except importlib.metadata.PackageNotFoundError:
                installed = None
            if installed != version:
                missing.add(requirement)
    return sorted(missing)


def _entity_components(components: Path) -> list[str]:
    """The domains of this release's entity components (sensor, camera, infrared …)."""
    return sorted(
        manifest.parent.name
        for manifest in components.glob("*/manifest.json")
        if json.loads(manifest.read_text()).get("integration_type") == "entity"
    )


async def pinned_packages() -> Path | None:
    """A directory with what :func:`missing_pins` names; None when nothing is missing.

    Home Assistant runs with ``--skip-pip``, so it serves the frontend and imports the
    packages it finds. Installing the newest release of each unpinned (as for the
    newest Home Assistant) finds a frontend whose login request the core refuses
    ("Message format incorrect": the login page shows no form) and no hassil, which
    Home Assistant 2026 imports to describe any service (the frontend then never
    leaves its loading screen). They are fetched once, with Home Assistant's own
    constraints, into a cache of their own (never into the virtualenv) and put first
    on Home Assistant's path.
    """
    # Some thousand manifests: off the loop, which serves the simulator.
    missing = await asyncio.to_thread(missing_pins)
    if not missing:
        return None
    key = hashlib.sha256("\n".join(missing).encode()).hexdigest()[:16]
    target = PINNED_CACHE / key
    if target.is_dir():
        return target
    # Renamed into place when complete: an interrupted fetch is never taken for one.
    partial = target.with_name(f"{key}.partial")
    shutil.rmtree(partial, ignore_errors=True)
    constraints = Path(
        str(importlib.metadata.distribution("homeassistant").locate_file(""))
    ) / Path("homeassistant", "package_constraints.txt")
    pip = await asyncio.create_subprocess_exec(
        sys.executable,
        *("-m", "pip", "install", "--quiet", "--target", str(partial)),
        *("--constraint", str(constraints), *missing),
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    output, _ = await pip.communicate()
    if pip.returncode:
        msg = (
            f"Home Assistant needs {', '.join(missing)}, and pip could not fetch them "
            f"into {partial}:\n{output.decode(errors='replace')[-2000:]}"
        )
        raise StackError(msg)
    partial.rename(target)
    return target


def die_with_parent() -> None:  # pragma: no cover - runs in the child, before exec
    """Linux: end the child (Home Assistant, Kamailio) with SIGTERM if its parent dies."""
    with contextlib.suppress(Exception):
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        pr_set_pdeathsig = 1
        libc.prctl(pr_set_pdeathsig, signal.SIGTERM)


class HomeAssistantProcess:
    """``python -m homeassistant`` on a configuration directory, started and stopped."""

    def __init__(
        self,
        config_dir: Path,
        port: int,
        *,
        env: dict[str, str] | None = None,
        output: Path | None = None,
        python: str = sys.executable,
    ) -> None:
        """Run Home Assistant on 127.0.0.1:``port``; its output goes to ``output``."""
        self.config_dir = config_dir
        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        self.output = output or config_dir / "hass.out"
        self.env = env or {}
        self.python = python
        self.process: asyncio.subprocess.Process | None = None
        self.started_at = 0.0

    @property
    def log_file(self) -> Path:
        """Home Assistant's own log file."""
        return self.config_dir / "home-assistant.log"

    async def start(self) -> None:
        """Start the process (returns at once; see :meth:`wait_until_serving`)."""
        if port_in_use(self.port):
            msg = f"Port {self.port} is taken: another Home Assistant runs there"
            raise StackError(msg)
        # A temporary directory of its own: file_upload keeps uploads in
        # $TMPDIR/home-assistant-file_upload and deletes that whole directory when it
        # starts or stops, which would break another Home Assistant's (or a test's)
        # uploads on the same machine.
        tmp = self.config_dir / "tmp"
        tmp.mkdir(exist_ok=True)
        write_http_settings(self.config_dir, self.port)
        env = os.environ | self.env | {"TMPDIR": str(tmp)}
        pinned = await pinned_packages()
        if pinned is not None:
            env["PYTHONPATH"] = os.pathsep.join(filter(None, (str(pinned), env.get("PYTHONPATH"))))
        # pytest-cov would trace Home Assistant too (slower, and the integration runs
        # from the configuration's link, outside the measured paths).
        for name in [name for name in env if name.startswith("COV_CORE_")]:
            del env[name]
        # Logs go to home-assistant.log; the output file keeps what the process prints
        # before logging is set up, and tracebacks of a crash.
        with self.output.open("ab") as out:
            self.started_at = time.monotonic()
            self.process = await asyncio.create_subprocess_exec(
                self.python,
                "-m",
                "homeassistant",
                "--config",
                str(self.config_dir),
                # Never install packages at run time: what is missing is a bug of the
                # requirements files, and shows as an error in the log.
                "--skip-pip",
                cwd=self.config_dir,
                env=env,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=out,
                stderr=asyncio.subprocess.STDOUT,
                # Its own process group: Ctrl-C reaches the demo, which stops it in order.
                process_group=0,
                preexec_fn=die_with_parent if sys.platform == "linux" else None,
            )

    @property
    def running(self) -> bool:
        """Whether the process is alive."""
        return self.process is not None and self.process.returncode is None

    def check_alive(self) -> None:
        """Raise with the end of the output if Home Assistant has exited."""
        if self.process is not None and self.process.returncode is not None:
            msg = f"Home Assistant exited with code {self.process.returncode}:\n{self.tail(60)}"
            raise StackError(msg)

    async def wait(self) -> int:
        """Wait until the process ends; its exit code."""
        assert self.process is not None
        return await self.process.wait()

    async def stop(self, timeout: float = 60) -> int | None:
        """SIGTERM (Home Assistant stops cleanly), then SIGKILL after ``timeout``."""
        process = self.process
        if process is None or process.returncode is not None:
            return None if process is None else process.returncode
        with contextlib.suppress(ProcessLookupError):
            process.send_signal(signal.SIGTERM)
        try:
            async with asyncio.timeout(timeout):
                return await process.wait()
        except TimeoutError:
            with contextlib.suppress(ProcessLookupError):
                process.kill()
            return await process.wait()

    def tail(self, lines: int = 200) -> str:
        """The end of Home Assistant's log, for failure reports.

        The output repeats the log; only its end is added, for what Home Assistant
        printed before logging was set up or as it crashed.
        """
        parts = []
        for path, count in ((self.log_file, lines), (self.output, 20)):
            if path.is_file():
                text = path.read_text(errors="replace").splitlines()[-count:]
                parts.append(f"--- {path} (last {len(text)} lines)\n" + "\n".join(text))
        return "\n".join(parts) or "(no output)"

    def errors(self) -> list[str]:
        """The ERROR and CRITICAL lines of the log (with the first line of a traceback)."""
        if not self.log_file.is_file():
            return []
        return [
            line
            for line in self.log_file.read_text(errors="replace").splitlines()
            if " ERROR " in line or " CRITICAL " in line
        ]


# -- Home Assistant's REST API ---------------------------------------------------------


class ApiError(StackError):
    """A request to Home Assistant answered with an unexpected status."""


class HomeAssistantApi:
    """The REST endpoints the frontend uses, as an owner does."""

    def __init__(self, url: str, *, timeout: float = 30) -> None:
        """Talk to the Home Assistant at ``url``."""
        self.url = url.rstrip("/")
        self.client_id = f"{self.url}/"
        self.token: str | None = None
        self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=timeout))

    async def close(self) -> None:
        """Close the HTTP session."""
        await self._session.close()

    async def __aenter__(self) -> Self:
        """Use as ``async with``."""
        return self

    async def __aexit__(self, *exc: object) -> None:
        """Close the session."""
        await self.close()

    def _headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"} if self.token else {}

    async def request(
        self,
        method: str,
        path: str,
        *,
        expect: tuple[int, ...] = (200, 201),
        **kwargs: Any,
    ) -> Any:
        """A request; the JSON answer (or text), or :class:`ApiError`."""
        async with self._session.request(
            method, f"{self.url}{path}", headers=self._headers(), **kwargs
        ) as response:
            text = await response.text()
            if response.status not in expect:
                msg = f"{method} {path}: HTTP {response.status}: {text[:500]}"
                raise ApiError(msg)
            if response.content_type == "application/json":
                return json.loads(text) if text else None
            return text

    async def get(self, path: str, **kwargs: Any) -> Any:
        """GET ``path``."""
        return await self.request("GET", path, **kwargs)

    async def post(self, path: str, data: Any = None, **kwargs: Any) -> Any:
        """POST ``data`` as JSON to ``path``."""
        return await self.request("POST", path, json=data, **kwargs)

    # -- start-up and authentication ----------------------------------------------------

    async def wait_until_serving(
        self, process: HomeAssistantProcess | None = None, timeout: float = 180
    ) -> None:
        """Wait until the HTTP server answers (it listens once the frontend is set up)."""
        await wait_for(
            lambda: self._answers("/auth/providers"),
            timeout=timeout,
            what=f"Home Assistant's HTTP server at {self.url}",
            process=process,
        )

    async def _answers(self, path: str) -> bool:
        """Whether the server answers at all (before onboarding this one says 400)."""
        try:
            await self.get(path, expect=(200, 400))
        except (aiohttp.ClientError, ApiError, TimeoutError):
            return False
        return True

    async def authenticate(self, owner: Owner) -> bool:
        """Onboard with ``owner`` (True), or log in as ``owner`` if onboarded (False)."""
        steps = await self._onboarding_steps()
        created = not steps.get("user", True)
        if created:
            answer = await self.post(
                "/api/onboarding/users",
                {
                    "client_id": self.client_id,
                    "name": owner.name,
                    "username": owner.username,
                    "password": owner.password,
                    "language": "en",
                },
            )
            await self._exchange(answer["auth_code"])
        else:
            await self._login(owner)
        # The remaining steps, so that the browser goes straight to the dashboard.
        steps = await self._onboarding_steps()
        for step, data in (
            ("core_config", {}),
            ("analytics", {}),
            ("integration", {"client_id": self.client_id, "redirect_uri": self.client_id}),
        ):
            if not steps.get(step, True):
                await self.post(f"/api/onboarding/{step}", data)
        return created

    async def _onboarding_steps(self) -> dict[str, bool]:
        """Which onboarding steps are done; none are left once onboarded (HTTP 404)."""
        answer = await self.get("/api/onboarding", expect=(200, 404))
        if not isinstance(answer, list):
            return {}
        return {step["step"]: step["done"] for step in answer}

    async def _login(self, owner: Owner) -> None:
        flow = await self.post(
            "/auth/login_flow",
            {
                "client_id": self.client_id,
                "handler": ["homeassistant", None],
                "redirect_uri": self.client_id,
            },
        )
        result = await self.post(
            f"/auth/login_flow/{flow['flow_id']}",
            {"client_id": self.client_id, "username": owner.username, "password": owner.password},
        )
        if result.get("type") != "create_entry":
            msg = (
                f"Cannot log in as {owner.username!r}: {result.get('errors')}. This "
                "configuration has another owner; start afresh with scripts/develop --reset"
            )
            raise StackError(msg)
        await self._exchange(result["result"])

    async def _exchange(self, code: str) -> None:
        answer = await self.request(
            "POST",
            "/auth/token",
            data={"grant_type": "authorization_code", "code": code, "client_id": self.client_id},
        )
        self.token = answer["access_token"]

    async def wait_until_running(
        self, process: HomeAssistantProcess | None = None, timeout: float = 180
    ) -> None:
        """Wait until Home Assistant has finished starting."""

        async def running() -> bool:
            config = await self.get("/api/config")
            return bool(config.get("state") == "RUNNING")

        await wait_for(running, timeout=timeout, what="Home Assistant to start", process=process)

    # -- what the tests and the demo ask -----------------------------------------------

    async def components(self) -> set[str]:
        """The integrations Home Assistant has loaded."""
        return set((await self.get("/api/config"))["components"])

    async def upload(self, name: str, content: bytes) -> str:
        """Upload a file as the frontend's file selector does; its file id."""
        form = aiohttp.FormData()
        form.add_field("file", content, filename=name, content_type="application/octet-stream")
        answer = await self.request("POST", "/api/file_upload", data=form)
        return str(answer["file_id"])

    async def start_flow(self, handler: str) -> dict[str, Any]:
        """Start a config flow, as "Add integration" does."""
        result: dict[str, Any] = await self.post(
            "/api/config/config_entries/flow",
            {"handler": handler, "show_advanced_options": False},
        )
        return result

    async def configure_flow(self, flow_id: str, data: dict[str, Any]) -> dict[str, Any]:
        """Submit a step of a config flow."""
        result: dict[str, Any] = await self.post(f"/api/config/config_entries/flow/{flow_id}", data)
        return result

    async def flows_in_progress(self) -> list[dict[str, Any]]:
        """The config flows in progress (a reauthentication is one).

        Home Assistant 2025.4 lists them over the WebSocket API only.
        """
        answer = await self.ws_command({"type": "config_entries/flow/progress"})
        if not answer.get("success"):
            msg = f"config_entries/flow/progress: {answer}"
            raise ApiError(msg)
        result: list[dict[str, Any]] = answer["result"]
        return result

    async def entries(self, domain: str = DOMAIN) -> list[dict[str, Any]]:
        """The config entries of ``domain``."""
        result: list[dict[str, Any]] = await self.get(
            "/api/config/config_entries/entry", params={"domain": domain}
        )
        return result

    async def states(self) -> dict[str, dict[str, Any]]:
        """Every state, by entity id."""
        return {state["entity_id"]: state for state in await self.get("/api/states")}

    async def state(self, entity_id: str) -> dict[str, Any] | None:
        """One state, or None if the entity does not exist."""
        try:
            result: dict[str, Any] = await self.get(f"/api/states/{entity_id}")
        except ApiError as err:
            if "HTTP 404" in str(err):
                return None
            raise
        return result

    async def call(self, domain: str, service: str, data: dict[str, Any] | None = None) -> Any:
        """Call an action through the service API (and wait for it to finish)."""
        return await self.post(f"/api/services/{domain}/{service}", data or {})

    async def ws_command(self, command: dict[str, Any]) -> dict[str, Any]:
        """One command over the WebSocket API, as the frontend sends it; the raw result."""
        async with self._session.ws_connect(f"{self.url}/api/websocket") as ws:
            await ws.receive_json()  # auth_required
            await ws.send_json({"type": "auth", "access_token": self.token})
            answer = await ws.receive_json()
            if answer.get("type") != "auth_ok":
                msg = f"WebSocket authentication failed: {answer}"
                raise ApiError(msg)
            await ws.send_json({"id": 1, **command})
            result: dict[str, Any] = await ws.receive_json()
            return result

    async def ws_call(self, domain: str, service: str, data: dict[str, Any]) -> dict[str, Any]:
        """Call an action as the frontend does; the raw result.

        Unlike the REST API of Home Assistant 2025.4, which answers HTTP 500 to a
        ServiceValidationError, this returns the translated message a user sees.
        """
        return await self.ws_command(
            {"type": "call_service", "domain": domain, "service": service, "service_data": data}
        )

    async def statistics(
        self, statistic_ids: list[str], *, days: int = 15, period: str = "hour"
    ) -> dict[str, list[dict[str, Any]]]:
        """Long-term statistics of the last ``days`` (their states and sums), by id."""
        start = datetime.now(UTC) - timedelta(days=days)
        answer = await self.ws_command(
            {
                "type": "recorder/statistics_during_period",
                "start_time": start.isoformat(),
                "statistic_ids": statistic_ids,
                "period": period,
                "types": ["state", "sum"],
            }
        )
        if not answer.get("success"):
            msg = f"recorder/statistics_during_period: {answer}"
            raise ApiError(msg)
        result: dict[str, list[dict[str, Any]]] = answer["result"]
        return result

    async def render(self, template: str) -> str:
        """Render a template on the server."""
        return str(await self.post("/api/template", {"template": template}))

    async def entity_ids(self, domain: str = DOMAIN) -> list[str]:
        """The entity ids of an integration."""
        result: list[str] = json.loads(
            await self.render(f"{{{{ integration_entities('{domain}') | sort | list | tojson }}}}")
        )
        return result

    async def device_id(self, entity_id: str) -> str:
        """The device of an entity."""
        return (await self.render(f"{{{{ device_id('{entity_id}') }}}}")).strip()


async def wait_for(
    check: Callable[[], Awaitable[bool]],
    *,
    timeout: float,
    what: str,
    interval: float = 0.25,
    process: HomeAssistantProcess | None = None,
) -> None:
    """Poll ``check`` until it is true; a readable error after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        if process is not None:
            process.check_alive()
        if await check():
            return
        if time.monotonic() > deadline:
            tail = f"\n{process.tail(40)}" if process is not None else ""
            msg = f"Timed out after {timeout:.0f} s waiting for {what}{tail}"
            raise StackError(msg)
        await asyncio.sleep(interval)


# -- the account -------------------------------------------------------------------------


async def add_account(
    api: HomeAssistantApi,
    simulator: SettingsSimulator,
    *,
    account: str = ACCOUNT,
    method: str = "password",
) -> dict[str, Any]:
    """Add ``account`` through the real config flow; the flow's final result.

    ``method`` is the first step's menu option. ``password``: the SIP address and the
    simulated account's SIP password, on the simulator's Digest page (the form's
    advanced section). ``certificate``: the platform-issued ``user@domain.crt`` of the
    simulator, uploaded as the frontend's file selector uploads it, the account field
    left empty (the flow reads it from the certificate). Server verification stays on.
    """
    menu = await api.start_flow(DOMAIN)
    if menu.get("type") != "menu" or menu.get("step_id") != "user":
        msg = f"The config flow did not show its menu: {menu}"
        raise StackError(msg)
    form = await api.configure_flow(menu["flow_id"], {"next_step_id": method})
    if form.get("type") != "form" or form.get("step_id") != method:
        msg = f"The config flow did not show its {method} form: {form}"
        raise StackError(msg)
    if method == "password":
        data: dict[str, Any] = {
            "account": account,
            "password": simulator.platform.accounts[account].password,
            "advanced": {"url": simulator.digest_url, "verify_ssl": True},
        }
    else:
        certificate = simulator.client_certificate(f"{account}.crt")
        data = {
            "url": simulator.url,
            "certificate": await api.upload(certificate.name, certificate.read_bytes()),
            "verify_ssl": True,
        }
    result = await api.configure_flow(form["flow_id"], data)
    if result.get("type") == "abort" and result.get("reason") == "already_configured":
        msg = (
            f"{account} is configured already, in an entry with another name: rename it "
            f"back to {account}, or start afresh with scripts/develop --reset"
        )
        raise StackError(msg)
    if result.get("type") != "create_entry":
        msg = f"The config flow did not create the entry: {result}"
        raise StackError(msg)
    return result


async def ensure_demo_accounts(
    api: HomeAssistantApi,
    simulator: SettingsSimulator,
    *,
    say: Callable[[str], None] = lambda _text: None,
) -> dict[str, str]:
    """The demo accounts' entry ids: the entries there are, or added by the config flow.

    Alice signs in with her SIP password, Bob with his certificate: the two ways a user
    can choose. An entry is found by its title, which the config flow sets to the
    account: Home Assistant lists entries without their unique id (over REST and
    WebSocket alike, 2025.4 as 2026.x).
    """
    entries = {str(entry["title"]): entry for entry in await api.entries()}
    entry_ids = {}
    for account, method, how in DEMO_ACCOUNTS:
        if (entry := entries.get(account)) is not None:
            say(f"Reusing the configured account {account} (entry {entry['entry_id']}).")
            entry_ids[account] = str(entry["entry_id"])
            continue
        say(f"Adding {account} through the config flow ({how}) ...")
        result = await add_account(api, simulator, account=account, method=method)
        entry_ids[account] = str(result["result"]["entry_id"])
    return entry_ids


@dataclass(frozen=True, slots=True)
class DemoCall:
    """A call the demo makes come in, once the accounts are set up."""

    remote_party: str
    display_name: str
    # Answered for this long; 0: missed.
    duration: int
    # Started this long before it is placed; it has ended by then.
    seconds_ago: int


# An incoming call that was answered, then one that nobody answered.
DEMO_CALLS = (
    DemoCall("sip:emma@example.org", "Emma Bakker", duration=95, seconds_ago=180),
    DemoCall("sip:+31207654321@example.com", "Daan Visser", duration=0, seconds_ago=30),
)


async def place_demo_calls(
    api: HomeAssistantApi,
    simulator: SettingsSimulator,
    *,
    calls: tuple[DemoCall, ...] = DEMO_CALLS,
    process: HomeAssistantProcess | None = None,
) -> None:
    """Make ``calls`` come in on Alice's account, one after the other, and show each now.

    The platform lists a call once it has ended; the integration reads that list every
    10 minutes, so the demo asks for it at once (``homeassistant.update_entity``) and
    waits until the call event entity has announced the call before the next one comes:
    two calls announced in the same millisecond would be one state change, one row in
    the logbook.
    """
    for call in calls:
        simulator.platform.add_call(
            ACCOUNT,
            "received",
            call.remote_party,
            duration=call.duration,
            display_name=call.display_name,
            seconds_ago=call.seconds_ago,
        )
        await api.call("homeassistant", "update_entity", {"entity_id": CALL_EVENT})

        async def announced(call: DemoCall = call) -> bool:
            state = await api.state(CALL_EVENT)
            return (
                state is not None and state["attributes"].get("display_name") == call.display_name
            )

        await wait_for(
            announced, timeout=30, what=f"{CALL_EVENT} to announce a call", process=process
        )


async def wait_for_entities(
    api: HomeAssistantApi,
    entity_ids: tuple[str, ...] = KEY_ENTITIES,
    *,
    timeout: float = 60,
    process: HomeAssistantProcess | None = None,
) -> dict[str, dict[str, Any]]:
    """Wait until every one of ``entity_ids`` has a state that is not "unavailable"."""
    states: dict[str, dict[str, Any]] = {}

    async def ready() -> bool:
        nonlocal states
        states = await api.states()
        return all(
            entity_id in states and states[entity_id]["state"] != "unavailable"
            for entity_id in entity_ids
        )

    try:
        await wait_for(ready, timeout=timeout, what="the account's entities", process=process)
    except StackError as err:
        missing = {
            entity_id: states.get(entity_id, {}).get("state", "missing")
            for entity_id in entity_ids
            if states.get(entity_id, {}).get("state", "unavailable") == "unavailable"
        }
        msg = f"{err}\nNot there or unavailable: {missing}"
        raise StackError(msg) from err
    return states


# -- the whole stack ---------------------------------------------------------------------


@dataclass
class Stack:
    """A running simulator and Home Assistant, logged in as the owner."""

    simulator: SettingsSimulator
    hass: HomeAssistantProcess
    api: HomeAssistantApi
    owner: Owner
    onboarded_now: bool
    timings: dict[str, float] = field(default_factory=dict)


@contextlib.asynccontextmanager
async def running_stack(
    config_dir: Path,
    certs_dir: Path,
    *,
    ha_port: int,
    sim_port: int = 0,
    copy_config_from: Path | None = None,
    platform: Platform | None = None,
    owner: Owner = OWNER,
    start_timeout: float = 120,
) -> AsyncIterator[Stack]:
    """Start the simulator and Home Assistant, onboard; stop both on the way out.

    The account is not added here: see :func:`add_account`.
    """
    simulator = SettingsSimulator(certs_dir, port=sim_port, platform=platform)
    await simulator.start()
    try:
        prepare_config(config_dir, copy_from=copy_config_from)
        bundle = write_trust_bundle(simulator.certs.server_ca, certs_dir / "trust-bundle.pem")
        # SSL_CERT_FILE for the certificate path's own SSL context; REQUESTS_CA_BUNDLE
        # for Home Assistant's shared session, which the password path uses.
        trust = {"SSL_CERT_FILE": str(bundle), "REQUESTS_CA_BUNDLE": str(bundle)}
        hass = HomeAssistantProcess(config_dir, ha_port, env=trust)
        await hass.start()
        try:
            async with HomeAssistantApi(hass.url) as api:
                timings: dict[str, float] = {}
                await api.wait_until_serving(hass, timeout=start_timeout)
                timings["http"] = time.monotonic() - hass.started_at
                onboarded_now = await api.authenticate(owner)
                await api.wait_until_running(hass, timeout=start_timeout)
                timings["running"] = time.monotonic() - hass.started_at
                yield Stack(simulator, hass, api, owner, onboarded_now, timings)
        finally:
            await hass.stop()
    finally:
        await simulator.stop()
