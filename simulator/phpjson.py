"""JSON as PHP's ``json_encode`` with default flags writes it (docs/settings-api.md §1)."""

from __future__ import annotations

import json
from typing import Any


def php_json(value: Any) -> str:
    r"""Compact, ASCII-only, ``/`` escaped as ``\\/``; floats keep their decimal point."""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=True).replace("/", "\\/")
