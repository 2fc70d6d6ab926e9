"""Caller-ID privacy, read from the settings page's HTML (docs/settings-api.md §6.2).

No JSON action tells whether the account is in the NGNPro group ``anonymous``. The
HTML settings tab does: a checkbox ``<input name="anonymous">`` that carries ``checked``
when it is. The page is rendered only where PSTN access is enabled, and its markup is
old and loose (upper-case tags, unquoted or minimised attributes, unclosed elements),
so the standard library's tolerant tokenizer reads it rather than a pattern.
"""

from __future__ import annotations

from html.parser import HTMLParser
from typing import Final

CHECKBOX_NAME: Final = "anonymous"


class _PrivacyCheckbox(HTMLParser):
    """Finds the first ``anonymous`` checkbox and whether it is checked."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.checked: bool | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if self.checked is not None or tag != "input":
            return
        attributes = {name.lower(): (value or "") for name, value in attrs}
        if attributes.get("name", "").strip().lower() != CHECKBOX_NAME:
            return
        if attributes.get("type", "checkbox").strip().lower() != "checkbox":
            return
        # "checked", checked="checked", CHECKED=true: present means checked.
        self.checked = "checked" in attributes

    handle_startendtag = handle_starttag


def privacy_from_settings_page(page: str) -> bool | None:
    """Whether the page shows caller-ID privacy on; None when it has no such checkbox.

    Linear in the page's length; never raises on malformed markup.
    """
    parser = _PrivacyCheckbox()
    try:
        parser.feed(page)
        parser.close()
    except (AssertionError, ValueError):  # pragma: no cover - html.parser is lenient
        return None
    return parser.checked
