"""The rules the published repository must keep, checked without the network.

What Home Assistant's validator, hassfest, checks for a custom integration (its sources:
script/hassfest/ in home-assistant/core: manifest.py, translations.py, services.py,
icons.py, quality_scale.py and quality_scale_validation/runtime_data.py), what HACS's
validation action checks in the repository itself (custom_components/hacs/validate/ and
utils/validate.py in hacs/integration), the brand icon sizes of Home Assistant's brands
repository, and this repository's own: pinned workflows, a changelog that matches the
manifest, no reference outside the repository. The checks that need GitHub (description,
topics, issues) run in the HACS workflow only. Translation keys shared by every language
and named by the code: tests/integration/test_translations.py.
"""

from __future__ import annotations

import ast
from collections.abc import Callable
import json
from pathlib import Path
import re
import string
from typing import Any

from awesomeversion import AwesomeVersion, AwesomeVersionStrategy
from homeassistant.const import Platform
from homeassistant.core import HomeAssistant
from homeassistant.helpers import config_validation as cv, selector
from homeassistant.util.yaml import load_yaml_dict
from PIL import Image
import pytest
import voluptuous as vol
import yaml

from custom_components.sipthor.const import DOMAIN
from custom_components.sipthor.services import async_setup_services

ROOT = Path(__file__).parents[1]
PACKAGE = ROOT / "custom_components" / DOMAIN
TRANSLATIONS = PACKAGE / "translations"
LANGUAGES = sorted(path.stem for path in TRANSLATIONS.glob("*.json"))
WORKFLOWS = ROOT / ".github" / "workflows"


def _json(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


def _valid_version(value: str) -> str:
    """A version hassfest accepts (manifest.py: verify_version)."""
    version = AwesomeVersion(
        value,
        ensure_strategy=[
            AwesomeVersionStrategy.CALVER,
            AwesomeVersionStrategy.SEMVER,
            AwesomeVersionStrategy.SIMPLEVER,
            AwesomeVersionStrategy.BUILDVER,
            AwesomeVersionStrategy.PEP440,
        ],
    )
    return str(version)


# hacs.json, as HACS reads it (utils/validate.py: HACS_MANIFEST_JSON_SCHEMA).
HACS_JSON_SCHEMA = vol.Schema(
    {
        vol.Optional("content_in_root"): bool,
        vol.Optional("country"): vol.Any(str, [str]),
        vol.Optional("filename"): str,
        vol.Optional("hacs"): str,
        vol.Optional("hide_default_branch"): bool,
        vol.Optional("homeassistant"): vol.All(str, _valid_version),
        vol.Optional("persistent_directory"): str,
        vol.Optional("render_readme"): bool,
        vol.Optional("zip_release"): bool,
        vol.Required("name"): str,
    },
    extra=vol.PREVENT_EXTRA,
)


def test_hacs_json() -> None:
    hacs = HACS_JSON_SCHEMA(_json(ROOT / "hacs.json"))
    # HACS (validate/hacsjson.py): a zip release needs the name of the zip.
    if hacs.get("zip_release"):
        assert hacs.get("filename"), "zip_release is true, but filename is not set"
        assert hacs["filename"] in (WORKFLOWS / "release.yml").read_text(), (
            "the release workflow does not build the zip hacs.json names"
        )


# manifest.json of a custom integration (hassfest manifest.py:
# CUSTOM_INTEGRATION_MANIFEST_SCHEMA, the keys an integration without discovery uses).
MANIFEST_SCHEMA = vol.Schema(
    {
        vol.Required("domain"): str,
        vol.Required("name"): str,
        vol.Optional("integration_type"): vol.In(
            ["device", "entity", "hardware", "helper", "hub", "service", "system"]
        ),
        vol.Optional("config_flow"): bool,
        vol.Required("documentation"): vol.All(vol.Url(), vol.Match(r"^https://")),
        vol.Optional("issue_tracker"): vol.Url(),
        vol.Optional("requirements"): [str],
        vol.Optional("dependencies"): [str],
        vol.Optional("after_dependencies"): [str],
        vol.Required("codeowners"): [vol.Match(r"^@")],
        vol.Optional("loggers"): [str],
        vol.Required("iot_class"): vol.In(
            [
                "assumed_state",
                "calculated",
                "cloud_polling",
                "cloud_push",
                "local_polling",
                "local_push",
            ]
        ),
        vol.Optional("single_config_entry"): bool,
        vol.Required("version"): vol.All(str, _valid_version),
        vol.Optional("import_executor"): bool,
    }
)


def test_manifest() -> None:
    manifest = _json(PACKAGE / "manifest.json")
    MANIFEST_SCHEMA(manifest)
    assert manifest["domain"] == PACKAGE.name
    # hassfest sorts the keys: domain, name, then alphabetical order.
    keys = list(manifest)
    assert keys == ["domain", "name", *sorted(keys[2:])]
    # HACS (utils/validate.py: INTEGRATION_MANIFEST_JSON_SCHEMA) wants the URLs and version.
    assert cv.url(manifest["documentation"])
    assert cv.url(manifest["issue_tracker"])


def test_changelog_matches_the_manifest() -> None:
    changelog = (ROOT / "CHANGELOG.md").read_text(encoding="utf-8")
    releases = re.findall(r"^## \[(\d[^\]]*)\] - \d{4}-\d{2}-\d{2}$", changelog, re.MULTILINE)
    assert releases, "CHANGELOG.md names no release"
    assert releases[0] == _json(PACKAGE / "manifest.json")["version"]
    assert re.search(r"^## \[Unreleased\]$", changelog, re.MULTILINE)


def test_unreleased_has_no_breaking_changes_under_a_released_version() -> None:
    # The manifest names the newest release (above): a breaking change written under
    # Unreleased would reach users who update to a copy still calling itself that
    # release. Bump the manifest and date the section before it lands.
    changelog = (ROOT / "CHANGELOG.md").read_text(encoding="utf-8")
    unreleased = changelog.split("## [Unreleased]", 1)[1].split("\n## [", 1)[0]
    assert "### Breaking changes" not in unreleased


# Translation strings (hassfest translations.py: validate_translation_value).
_URL = re.compile(
    r"(((ftp|ftps|scp|http|https|mqtt|mqtts|socket|socks5):\/\/|www\.)"
    r"[a-z0-9]+([\-\.]{1}[a-z0-9]+)*\.[a-z]{2,5}(:[0-9]{1,5})?(\/.*)?)",
    re.IGNORECASE,
)
_TRANSLATION_KEY = re.compile(r"^(?!.+[_-]{2})(?![_-])[a-z0-9-_]+(?<![_-])$")


def _text(*, placeholders: bool = True) -> Callable[[Any], str]:
    def validate(value: Any) -> str:
        text: str = cv.string_with_no_html(value)
        if re.search(r"'{\w+}'", text):
            raise vol.Invalid("the string should not contain placeholders inside single quotes")
        for _, field, _, _ in string.Formatter().parse(text):
            if field and not placeholders:
                raise vol.Invalid("placeholders are not supported in this value")
            if field and not field.isidentifier():
                raise vol.Invalid("placeholders must be valid identifiers")
        if text != text.strip():
            raise vol.Invalid("the string should not contain leading or trailing spaces")
        if _URL.search(text):
            raise vol.Invalid("the string should not contain URLs, use a placeholder")
        return text

    return validate


def _translation_key(value: Any) -> str:
    if not isinstance(value, str) or not _TRANSLATION_KEY.match(value):
        raise vol.Invalid(f"invalid translation key {value!r}")
    return value


def _keyed(schema: Any) -> Callable[[Any], Any]:
    return cv.schema_with_slug_keys(schema, slug_validator=_translation_key)


def _data_description_in_data(value: dict[str, Any]) -> dict[str, Any]:
    for step in value["step"].values():
        for part in (step, *step.get("sections", {}).values()):
            for key in part.get("data_description", {}):
                if key not in part.get("data", {}):
                    raise vol.Invalid(f"data_description key {key} is not in data")
    return value


_TEXT = _text()
_NO_PLACEHOLDERS = _text(placeholders=False)
_FLOW = vol.All(
    vol.Schema(
        {
            vol.Required("step"): {
                str: {
                    vol.Optional("title"): _TEXT,
                    vol.Optional("description"): _TEXT,
                    vol.Optional("data"): {str: _TEXT},
                    vol.Optional("data_description"): {str: _TEXT},
                    vol.Optional("menu_options"): {str: _TEXT},
                    vol.Optional("submit"): _TEXT,
                    vol.Optional("sections"): {
                        str: {
                            vol.Optional("name"): _TEXT,
                            vol.Optional("description"): _TEXT,
                            vol.Optional("data"): {str: _TEXT},
                            vol.Optional("data_description"): {str: _TEXT},
                        }
                    },
                }
            },
            vol.Optional("error"): {str: _TEXT},
            vol.Optional("abort"): {str: _TEXT},
            vol.Optional("progress"): {str: _TEXT},
            vol.Optional("create_entry"): {str: _TEXT},
        }
    ),
    _data_description_in_data,
)
_STATES = _keyed(_NO_PLACEHOLDERS)
TRANSLATIONS_SCHEMA = vol.Schema(
    {
        vol.Optional("title"): _TEXT,
        vol.Optional("config"): _FLOW,
        vol.Optional("options"): _FLOW,
        vol.Optional("selector"): cv.schema_with_slug_keys(
            {vol.Optional("options"): _keyed(_TEXT)}, slug_validator=cv.slug
        ),
        vol.Optional("device"): _keyed({vol.Optional("name"): _TEXT}),
        vol.Optional("entity"): cv.schema_with_slug_keys(
            _keyed(
                {
                    vol.Optional("name"): _TEXT,
                    vol.Optional("state"): _STATES,
                    vol.Optional("state_attributes"): _keyed(
                        {vol.Optional("name"): _NO_PLACEHOLDERS, vol.Optional("state"): _STATES}
                    ),
                    vol.Optional("unit_of_measurement"): _NO_PLACEHOLDERS,
                }
            ),
            slug_validator=cv.slug,
        ),
        vol.Optional("exceptions"): cv.schema_with_slug_keys(
            {vol.Optional("message"): _TEXT}, slug_validator=cv.slug
        ),
        # An issue has a title and either a description or, when fixable, a fix flow.
        vol.Optional("issues"): {
            str: vol.All(
                cv.has_at_least_one_key("description", "fix_flow"),
                vol.Schema(
                    {
                        vol.Required("title"): _TEXT,
                        vol.Exclusive("description", "fixable"): _TEXT,
                        vol.Exclusive("fix_flow", "fixable"): _FLOW,
                    }
                ),
            )
        },
        vol.Optional("services"): _keyed(
            {
                vol.Required("name"): _TEXT,
                vol.Required("description"): _TEXT,
                vol.Optional("fields"): _keyed(
                    {
                        vol.Required("name"): str,
                        vol.Required("description"): _TEXT,
                        vol.Optional("example"): _TEXT,
                    }
                ),
            }
        ),
    }
)


@pytest.mark.parametrize(
    "text",
    [
        # The two strings hassfest rejected before the first release.
        (
            "{target} is not a forwarding target. The keywords are <voice-mailbox> and "
            "<mobile-number>."
        ),
        (
            "Forward every call to this target (a number, user@domain, <voice-mailbox> or "
            "<mobile-number>)."
        ),
        "See https://example.com/help",
        "Choose '{account}'",
        " Leading space",
        "{not-an-identifier}",
    ],
)
def test_translation_text_rules_reject(text: str) -> None:
    with pytest.raises(vol.Invalid):
        _TEXT(text)


@pytest.mark.parametrize("language", LANGUAGES)
def test_translations(language: str) -> None:
    # hassfest checks en.json only; Home Assistant shows every language the same way.
    TRANSLATIONS_SCHEMA(_json(TRANSLATIONS / f"{language}.json"))


# services.yaml (hassfest services.py: CUSTOM_INTEGRATION_SERVICE_SCHEMA).
def _exists(value: Any) -> Any:
    if value is None:
        raise vol.Invalid("Value cannot be None")
    return value


SERVICES_SCHEMA = vol.Schema(
    {
        cv.slug: vol.Schema(
            {
                vol.Optional("target"): vol.Any(selector.TargetSelector.CONFIG_SCHEMA, None),
                vol.Optional("fields"): {
                    str: {
                        vol.Optional("example"): _exists,
                        vol.Optional("default"): _exists,
                        vol.Optional("required"): bool,
                        vol.Optional("advanced"): bool,
                        vol.Optional("selector"): selector.validate_selector,
                        vol.Optional("filter"): dict,
                    }
                },
            }
        )
    }
)


async def test_services_yaml_matches_the_registered_actions(hass: HomeAssistant) -> None:
    described = SERVICES_SCHEMA(load_yaml_dict(str(PACKAGE / "services.yaml")))
    async_setup_services(hass)
    registered = hass.services.async_services_for_domain(DOMAIN)
    assert set(described) == set(registered)
    english = _json(TRANSLATIONS / "en.json")["services"]
    assert set(english) == set(described)
    for name, service in registered.items():
        assert service.schema is not None
        fields = {str(key): key for key in service.schema.schema}
        yaml_fields = described[name].get("fields", {})
        assert set(fields) == set(yaml_fields), name
        for field, marker in fields.items():
            required = isinstance(marker, vol.Required)
            assert yaml_fields[field].get("required", False) == required, (name, field)
        # The name and description of a custom integration's action and its fields come
        # from the translations when services.yaml leaves them out.
        assert set(english[name]["fields"]) == set(yaml_fields), name


# icons.json (hassfest icons.py: icon_schema for an integration of type "service").
def _icon(value: Any) -> str:
    icon: str = cv.string_with_no_html(value)
    if not icon.startswith("mdi:"):
        raise vol.Invalid("the icon needs to start with mdi:")
    return icon


def _state_icon_differs(value: dict[str, Any]) -> dict[str, Any]:
    for key, section in value.items():
        for state, icon in section.get("state", {}).items():
            if icon == section.get("default"):
                raise vol.Invalid(f"the icon of {key}.{state} is the default icon")
    return value


_ENTITY_ICON = {
    vol.Optional("default"): _icon,
    vol.Optional("state"): _keyed(_icon),
    vol.Optional("state_attributes"): vol.All(
        _keyed({vol.Optional("default"): _icon, vol.Optional("state"): _keyed(_icon)}),
        _state_icon_differs,
    ),
}
ICONS_SCHEMA = vol.Schema(
    {
        vol.Optional("entity"): cv.schema_with_slug_keys(
            vol.All(_keyed(_ENTITY_ICON), _state_icon_differs), slug_validator=cv.slug
        ),
        vol.Optional("services"): _keyed(
            {vol.Optional("service"): _icon, vol.Optional("sections"): _keyed(_icon)}
        ),
    }
)


def test_icons_match_entities_and_actions() -> None:
    icons = ICONS_SCHEMA(_json(PACKAGE / "icons.json"))
    english = _json(TRANSLATIONS / "en.json")
    assert icons["services"].keys() == load_yaml_dict(str(PACKAGE / "services.yaml")).keys()
    assert icons["entity"].keys() == english["entity"].keys()
    for platform, entities in english["entity"].items():
        assert icons["entity"][platform].keys() == entities.keys(), platform


# quality_scale.yaml (hassfest quality_scale.py: ALL_RULES and SCHEMA).
QUALITY_SCALE_RULES = (
    # Bronze
    "action-setup",
    "appropriate-polling",
    "brands",
    "common-modules",
    "config-flow",
    "config-flow-test-coverage",
    "dependency-transparency",
    "docs-actions",
    "docs-conditions",
    "docs-high-level-description",
    "docs-installation-instructions",
    "docs-removal-instructions",
    "docs-triggers",
    "entity-event-setup",
    "entity-unique-id",
    "has-entity-name",
    "runtime-data",
    "test-before-configure",
    "test-before-setup",
    "unique-config-entry",
    # Silver
    "action-exceptions",
    "config-entry-unloading",
    "docs-configuration-parameters",
    "docs-installation-parameters",
    "entity-unavailable",
    "integration-owner",
    "log-when-unavailable",
    "parallel-updates",
    "reauthentication-flow",
    "test-coverage",
    # Gold
    "devices",
    "diagnostics",
    "discovery",
    "discovery-update-info",
    "docs-data-update",
    "docs-examples",
    "docs-known-limitations",
    "docs-supported-devices",
    "docs-supported-functions",
    "docs-troubleshooting",
    "docs-use-cases",
    "dynamic-devices",
    "entity-category",
    "entity-device-class",
    "entity-disabled-by-default",
    "entity-translations",
    "exception-translations",
    "icon-translations",
    "reconfiguration-flow",
    "repair-issues",
    "stale-devices",
    # Platinum
    "async-dependency",
    "inject-websession",
    "strict-typing",
)
QUALITY_SCALE_SCHEMA = vol.Schema(
    {
        vol.Required("rules"): {
            vol.Optional(rule): vol.Any(
                vol.In(["todo", "done"]),
                {vol.Required("status"): vol.In(["todo", "done"]), vol.Optional("comment"): str},
                {vol.Required("status"): "exempt", vol.Required("comment"): str},
            )
            for rule in QUALITY_SCALE_RULES
        }
    }
)


def _status(value: str | dict[str, str]) -> str:
    return value if isinstance(value, str) else value["status"]


def test_quality_scale() -> None:
    rules = QUALITY_SCALE_SCHEMA(load_yaml_dict(str(PACKAGE / "quality_scale.yaml")))["rules"]
    # Every rule has a recorded status, so that none is forgotten.
    assert set(rules) == set(QUALITY_SCALE_RULES)
    if _status(rules["strict-typing"]) == "done":
        assert _untyped_config_entries() == []


def _untyped_config_entries() -> list[str]:
    """hassfest's runtime-data rule with strict typing: entries typed as XyzConfigEntry."""
    positions = {
        "__init__": (
            "async_migrate_entry",
            "async_remove_config_entry_device",
            "async_remove_entry",
            "async_setup_entry",
            "async_unload_entry",
        ),
        "diagnostics": ("async_get_config_entry_diagnostics", "async_get_device_diagnostics"),
    }
    untyped: list[str] = []

    def check(function: ast.FunctionDef | ast.AsyncFunctionDef, position: int, name: str) -> None:
        arguments = function.args.args
        annotation = arguments[position - 1].annotation if len(arguments) >= position else None
        if not (
            isinstance(annotation, ast.Name) and re.match(r"^[A-Za-z]+ConfigEntry$", annotation.id)
        ):
            untyped.append(f"{name}.{function.name}")

    for path in PACKAGE.glob("*.py"):
        module = ast.parse(path.read_text(encoding="utf-8"))
        functions = positions.get(path.stem, ("async_setup_entry",))
        for node in module.body:
            if isinstance(node, ast.AsyncFunctionDef) and node.name in functions:
                check(node, 2, path.name)
            if path.stem == "config_flow" and isinstance(node, ast.ClassDef):
                for item in node.body:
                    if isinstance(item, ast.FunctionDef) and item.name == "async_get_options_flow":
                        check(item, 1, f"{path.name}:{node.name}")
    return untyped


@pytest.mark.parametrize(("name", "size"), [("icon.png", 256), ("icon@2x.png", 512)])
def test_brand_icon(name: str, size: int) -> None:
    # The brands repository's sizes, which Home Assistant 2026.3 reads from brand/.
    with Image.open(PACKAGE / "brand" / name) as image:
        assert image.format == "PNG"
        assert image.size == (size, size)


# The workflows of the published repository.
def _uses(value: Any) -> list[str]:
    if isinstance(value, dict):
        found = [value["uses"]] if isinstance(value.get("uses"), str) else []
        return found + [use for inner in value.values() for use in _uses(inner)]
    if isinstance(value, list):
        return [use for inner in value for use in _uses(inner)]
    return []


def _workflows() -> dict[str, Any]:
    return {
        path.name: yaml.safe_load(path.read_text(encoding="utf-8"))
        for path in sorted(WORKFLOWS.glob("*.yml"))
    }


def test_workflows_are_valid_and_pinned() -> None:
    workflows = _workflows()
    actions = set()
    for name, workflow in workflows.items():
        # YAML 1.1 reads the key "on" as True.
        assert workflow.get(True) or workflow.get("on"), name
        assert workflow["jobs"], name
        for use in _uses(workflow["jobs"]):
            action, _, version = use.partition("@")
            # A release tag (v4, v4.2.1) or a commit, never a branch.
            assert re.fullmatch(r"v\d+(\.\d+)*|[0-9a-f]{40}", version), f"{name}: {use}"
            actions.add(action)
    assert {"home-assistant/actions/hassfest", "hacs/action"} <= actions
    dependabot = yaml.safe_load((ROOT / ".github" / "dependabot.yml").read_text())
    assert "github-actions" in {update["package-ecosystem"] for update in dependabot["updates"]}


def test_readme_badges_point_at_the_workflows() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    badges = set(re.findall(r"/actions/workflows/([\w.-]+\.yml)/badge\.svg", readme))
    assert badges
    assert badges <= set(_workflows())


# The API notes: docs/settings-api.md, and every reference to them.
API_NOTES = ROOT / "docs" / "settings-api.md"
# How far before a "§N" the file it belongs to must be named.
REFERENCE_WINDOW = 100
_SKIPPED_DIRECTORIES = {
    ".git",
    ".venv",
    ".mypy_cache",
    ".ruff_cache",
    ".pytest_cache",
    ".sim-certs",
    "__pycache__",
    "artifacts",
    "config",
    "htmlcov",
}
_TEXT_SUFFIXES = {".py", ".md", ".toml", ".txt", ".yaml", ".yml", ".json", ".cfg", ".ini"}


def _repository_texts() -> dict[str, str]:
    texts = {}
    for path in sorted(ROOT.rglob("*")):
        relative = path.relative_to(ROOT)
        if _SKIPPED_DIRECTORIES & set(relative.parts) or not path.is_file():
            continue
        if path.suffix in _TEXT_SUFFIXES or relative.parts[0] in ("scripts", ".ci"):
            texts[relative.as_posix()] = path.read_text(encoding="utf-8")
    return texts


def _sections() -> set[str]:
    headings = re.findall(r"^#{2,3} (\d+(?:\.\d+)?)\. ?", API_NOTES.read_text(), re.MULTILINE)
    headings += re.findall(r"^### (\d+\.\d+) ", API_NOTES.read_text(), re.MULTILINE)
    return set(headings)


def test_no_reference_points_outside_the_repository() -> None:
    outside = re.compile(r"\.\./shared|/work/|\b[Ss]pec §|\b[Ss]pec open question")
    problems = []
    for name, text in _repository_texts().items():
        if name == "tests/test_repository_rules.py":
            continue
        problems += [f"{name}: {match.group()}" for match in outside.finditer(text)]
        if name in ("docs/settings-api.md", "CHANGELOG.md"):
            continue
        # A "§N" belongs to the API notes, which must be named just before it, unless an
        # RFC is named closer ("RFC 7616 §3.3").
        for match in re.finditer(r"§(\d+(?:\.\d+)*)", text):
            before = text[max(0, match.start() - REFERENCE_WINDOW) : match.start()]
            if before.rfind("RFC ") > before.rfind("settings-api.md"):
                continue
            if "docs/settings-api.md" not in before:
                problems.append(f"{name}: {match.group()} names no file")
            elif match.group(1) not in _sections():
                problems.append(f"{name}: {match.group()} is no section of the API notes")
    assert problems == []


def test_api_notes_name_tests_that_exist() -> None:
    named = set(re.findall(r"`([\w/]+\.py)::(\w+)`", API_NOTES.read_text()))
    assert named
    missing = [
        f"{module}::{function}"
        for module, function in sorted(named)
        if not re.search(
            rf"^(async )?def {function}\(",
            (ROOT / "tests" / module).read_text(encoding="utf-8"),
            re.MULTILINE,
        )
    ]
    assert missing == []


# A test named in prose: "api/test_limits.py", "tests/bench/test_hourly.py::test_x".
_NAMED_TEST = re.compile(r"(?<![\w/.-])((?:tests/)?(?:[\w-]+/)*test_\w+\.py)(?:::(\w+))?")


def _documents() -> list[Path]:
    return [ROOT / "README.md", ROOT / "BENCHMARKS.md", *sorted((ROOT / "docs").rglob("*.md"))]


def test_documents_name_tests_that_exist() -> None:
    """The manual and the notes point readers at tests: each file and function exists."""
    missing = []
    for document in _documents():
        for match in _NAMED_TEST.finditer(document.read_text(encoding="utf-8")):
            module, function = match.groups()
            path = ROOT / "tests" / module.removeprefix("tests/")
            if "/" not in module:
                # A bare file name, under a heading that names its directory.
                path = next((ROOT / "tests").rglob(module), path)
            if not path.is_file():
                missing.append(f"{document.name}: {module}")
            elif function and not re.search(
                rf"^(async )?def {function}\(", path.read_text(encoding="utf-8"), re.MULTILINE
            ):
                missing.append(f"{document.name}: {module}::{function}")
    assert missing == []


# -- the integration's structure -----------------------------------------------------------

# From the ground floor up: a module imports only from its own floor or the ones below.
# A module that is on no floor fails the test below: decide where it belongs.
FLOORS: tuple[frozenset[str], ...] = (
    # The client of the settings page, without Home Assistant (it imports nothing above).
    frozenset({"api"}),
    frozenset({"const"}),
    # Helpers of Home Assistant's side that know no account.
    frozenset(
        {
            "certificate",
            "client_factory",
            "errors",
            "flow_helpers",
            # The live channel as Home Assistant sees it (the account owns one).
            "live",
            "phones",
            "repairs",
            "store",
            "validation",
        }
    ),
    # The account, and whether its page answers.
    frozenset({"account", "reachability"}),
    # The coordinators: the base, and the sources with logic of their own.
    frozenset({"coordinator", "dnd"}),
    frozenset({"sources"}),
    frozenset({"call_list", "entity", "live_entities"}),
    # What Home Assistant loads by name: the platforms, the flows, the actions.
    frozenset(
        {
            *(platform.value for platform in Platform if (PACKAGE / f"{platform}.py").is_file()),
            "config_flow",
            "diagnostics",
            "history_statistics",
            "options_flow",
            "services",
        }
    ),
    frozenset({"__init__"}),
)
# Lines a file of the integration may have; the coordinators' code (the account that
# they poll through included) is held shorter.
MAX_LINES = 500
MAX_COORDINATOR_LINES = 350
COORDINATOR_CODE = ("account.py", "coordinator.py", "dnd.py", "reachability.py", "sources.py")


def _module(path: Path) -> str:
    """``api.client`` for api/client.py, ``api`` for api/__init__.py, ``__init__``."""
    parts = path.relative_to(PACKAGE).with_suffix("").parts
    if parts[-1] == "__init__" and len(parts) > 1:
        parts = parts[:-1]
    return ".".join(parts)


def _imports() -> dict[str, set[str]]:
    """Each module of the integration, and those of the integration it imports.

    Imports under ``if TYPE_CHECKING:`` count: a circle that only the type checker
    follows is still a circle in the design.
    """
    modules = {_module(path): path for path in PACKAGE.rglob("*.py")}
    graph: dict[str, set[str]] = {}
    for module, path in modules.items():
        package = module if path.name == "__init__.py" else module.rpartition(".")[0]
        if module == "__init__":
            package = ""
        imported: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names: list[str] = []
            if isinstance(node, ast.ImportFrom) and node.level:
                base = package.split(".") if package else []
                base = base[: len(base) - (node.level - 1)]
                target = ".".join([*base, *([node.module] if node.module else [])])
                names = [target, *(f"{target}.{alias.name}".strip(".") for alias in node.names)]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module.removeprefix(f"custom_components.{DOMAIN}.")]
                names = [name for name in names if name != node.module]
            elif isinstance(node, ast.Import):
                names = [
                    alias.name.removeprefix(f"custom_components.{DOMAIN}.")
                    for alias in node.names
                    if alias.name.startswith(f"custom_components.{DOMAIN}.")
                ]
            imported |= {name or "__init__" for name in names if (name or "__init__") in modules}
        graph[module] = imported - {module}
    return graph


def _floor(module: str) -> int | None:
    top = module.split(".", maxsplit=1)[0]
    return next((number for number, floor in enumerate(FLOORS) if top in floor), None)


def test_imports_have_no_circles() -> None:
    graph = _imports()
    assert {"account", "coordinator", "api.client"} <= set(graph), "the parser lost its way"
    circles: list[list[str]] = []
    done: set[str] = set()

    def visit(module: str, path: list[str]) -> None:
        if module in path:
            circles.append([*path[path.index(module) :], module])
            return
        if module in done:
            return
        for imported in sorted(graph[module]):
            visit(imported, [*path, module])
        done.add(module)

    for module in sorted(graph):
        visit(module, [])
    assert circles == []


def test_imports_go_down_the_floors() -> None:
    """``api/`` imports nothing of the integration; nothing below imports the platforms."""
    graph = _imports()
    unplaced = sorted(module for module in graph if _floor(module) is None)
    assert unplaced == [], "add these modules to FLOORS"
    upward = [
        f"{module} → {imported}"
        for module, imports in sorted(graph.items())
        for imported in sorted(imports)
        if (_floor(imported) or 0) > (_floor(module) or 0)
    ]
    assert upward == []


def test_files_stay_short() -> None:
    """Every file of the integration, api/ and api/sip/ included, is short enough to review."""
    assert all((PACKAGE / name).is_file() for name in COORDINATOR_CODE), "a file was renamed"
    too_long = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        name = path.relative_to(PACKAGE).as_posix()
        limit = MAX_COORDINATOR_LINES if name in COORDINATOR_CODE else MAX_LINES
        lines = len(path.read_text(encoding="utf-8").splitlines())
        if lines > limit:
            too_long[name] = lines
    assert too_long == {}
