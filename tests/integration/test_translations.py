"""Every text the integration names exists, in every language it ships."""

from __future__ import annotations

import json
from pathlib import Path
import re
from typing import Any

import pytest

from custom_components.sipthor.select import FIXED_OPTIONS, SELECTS
from custom_components.sipthor.services import FORWARDING_FIELDS

PACKAGE = Path(__file__).parents[2] / "custom_components" / "sipthor"
TRANSLATIONS = PACKAGE / "translations"
LANGUAGES = sorted(path.stem for path in TRANSLATIONS.glob("*.json"))


def _load(language: str) -> dict[str, Any]:
    return json.loads((TRANSLATIONS / f"{language}.json").read_text(encoding="utf-8"))


def _tree(value: Any, prefix: str = "") -> dict[str, str]:
    if isinstance(value, dict):
        leaves: dict[str, str] = {}
        for key, inner in value.items():
            leaves |= _tree(inner, f"{prefix}.{key}" if prefix else key)
        return leaves
    return {prefix: value}


def test_languages() -> None:
    assert LANGUAGES == ["de", "en", "nl"]


@pytest.mark.parametrize("language", ["de", "nl"])
def test_same_keys_and_placeholders_as_english(language: str) -> None:
    english, other = _tree(_load("en")), _tree(_load(language))
    assert other.keys() == english.keys()
    for key, text in english.items():
        assert set(re.findall(r"\{\w+\}", other[key])) == set(re.findall(r"\{\w+\}", text)), key


def test_every_key_the_code_uses_exists() -> None:
    english = _load("en")
    source = "\n".join(path.read_text() for path in PACKAGE.glob("*.py"))
    used = set(re.findall(r'translation_key="(\w+)"', source))
    # Entity names, exceptions, repair issues and selectors share the keyword.
    known = (
        {key for platform in english["entity"].values() for key in platform}
        | set(english["exceptions"])
        | set(english["issues"])
        | set(english["selector"])
    )
    assert used - known == set()
    # Forwarding selects are named from their condition, and every fixed option of each
    # is translated (the custom target is shown as it is).
    selects = english["entity"]["select"]
    assert {description.translation_key for description in SELECTS} <= set(selects)
    for description in SELECTS:
        assert set(selects[description.translation_key]["state"]) == set(FIXED_OPTIONS)


def test_every_form_error_exists() -> None:
    english = _load("en")
    source = "".join((PACKAGE / name).read_text() for name in ("config_flow.py", "flow_helpers.py"))
    errors = set(re.findall(r'FormError\(\s*[\w"]+,\s*"(\w+)"\)', source))
    assert {"invalid_url", "url_has_user_info", "server_error", "unknown"} <= errors
    problems = {
        "invalid_certificate",
        "missing_key",
        "wrong_password",
        "key_mismatch",
        "expired_certificate",
        "certificate_required",
    }
    # The options form's errors (the live events) are the options' own.
    assert errors | problems <= set(english["config"]["error"]) | set(english["options"]["error"])


def test_every_action_is_described() -> None:
    english = _load("en")
    services = (PACKAGE / "services.yaml").read_text()
    names = re.findall(r"^(\w+):$", services, flags=re.MULTILINE)
    assert set(names) == set(english["services"])


@pytest.mark.parametrize("language", LANGUAGES)
def test_form_errors_are_plain_text(language: str) -> None:
    """A form shows its errors as they are: Markdown would show its backticks and stars."""
    errors = {
        f"{flow}.{key}": text
        for flow in ("config", "options")
        for key, text in _load(language).get(flow, {}).get("error", {}).items()
    }
    assert errors
    marked = {key: text for key, text in errors.items() if re.search(r"[`*_]{1,2}\S", text)}
    assert marked == {}


@pytest.mark.parametrize("language", LANGUAGES)
def test_each_forwarding_field_has_its_own_messages(language: str) -> None:
    """A refused target names its field as the action's form does, in every language."""
    texts = _load(language)
    source = (PACKAGE / "validation.py").read_text()
    problems = set(re.findall(r'(?<!_)refuse\("(\w+)"', source))
    assert "invalid_forwarding_target" in problems
    fields = texts["services"]["set_call_forwarding"]["fields"]
    for problem in problems:
        for field in FORWARDING_FIELDS:
            message = texts["exceptions"][f"{problem}_{field}"]["message"]
            assert fields[field]["name"] in message, (problem, field)
