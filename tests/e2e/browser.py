"""Headless Chromium (Debian's ``chromium``) driven by Playwright: what a person sees.

Playwright's own browser download does not work here; it drives the system's
Chromium instead. Home Assistant's frontend is made of web components: Playwright's
CSS and text locators look inside their shadow roots.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
import contextlib
from dataclasses import dataclass
import os
from pathlib import Path
import re
import shutil
from typing import Any

from demo.stack import Owner

CHROMIUM_ARGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
)
INSTALL_HINT = (
    "Install Debian's Chromium (apt-get install -y chromium), or point CHROMIUM at a "
    "Chromium binary"
)
VIEWPORT = {"width": 1280, "height": 1000}


def chromium_path() -> str | None:
    """The Chromium binary: $CHROMIUM, or Debian's on the PATH."""
    candidate = os.environ.get("CHROMIUM")
    if candidate:
        return candidate if Path(candidate).is_file() else None
    for name in ("chromium", "chromium-browser", "google-chrome"):
        found = shutil.which(name)
        if found:
            return found
    return None


@dataclass
class Page:
    """A screenshot and the text it showed."""

    name: str
    url: str
    screenshot: Path
    text: str
    # Visible on/off toggles (switch rows of entities cards and device pages).
    toggles: int
    # The text of each row of the logbook cards, in order.
    logbook_rows: list[str]


async def log_in(page: Any, base_url: str, owner: Owner, timeout_ms: float) -> None:
    """Log in through Home Assistant's login form."""
    await page.goto(f"{base_url}/", wait_until="domcontentloaded", timeout=timeout_ms)
    await page.locator("input[name=username]").fill(owner.username, timeout=timeout_ms)
    await page.locator("input[name=password]").fill(owner.password, timeout=timeout_ms)
    await page.locator("input[name=password]").press("Enter")
    # The frontend's shell, once logged in.
    await page.locator("home-assistant-main").wait_for(state="attached", timeout=timeout_ms)


async def visit(
    page: Any,
    *,
    url: str,
    name: str,
    out_dir: Path,
    expect: tuple[str, ...],
    timeout_ms: float,
) -> Page:
    """Open ``url``, wait until every text of ``expect`` is visible, take a screenshot."""
    await page.goto(url, wait_until="domcontentloaded", timeout=timeout_ms)
    return await capture(page, name=name, out_dir=out_dir, expect=expect, timeout_ms=timeout_ms)


async def capture(
    page: Any,
    *,
    name: str,
    out_dir: Path,
    expect: tuple[str, ...],
    timeout_ms: float,
) -> Page:
    """Wait until every text of ``expect`` is visible on the page as it is; screenshot it."""
    url = page.url
    missing = await _wait_for_texts(page, expect, timeout_ms)
    if not await _translations_arrived(page, timeout_ms / 3):
        # Twice on a fresh machine the tile card's dropdown kept raw option keys for good:
        # the frontend drew it before the integration's state translations came and never
        # drew it again. Home Assistant's frontend, not this integration (a reload shows
        # them translated); a key that is really untranslated stays after the reload and
        # is still in the text the test checks.
        await page.reload(wait_until="domcontentloaded", timeout=timeout_ms)
        missing = await _wait_for_texts(page, expect, timeout_ms)
        await _translations_arrived(page, timeout_ms / 3)
    screenshot = out_dir / f"{name}.png"
    # A loaded machine renders slowly: the picture may take longer than finding a text.
    try:
        await page.screenshot(path=str(screenshot), full_page=True, timeout=3 * timeout_ms)
    except Exception:  # noqa: BLE001 - Playwright's TimeoutError; one more try below
        # Once on a fresh machine a full-page picture of the first dashboard never came
        # (Chromium waiting for a stable frame): the visible part, animations stopped.
        await page.screenshot(path=str(screenshot), animations="disabled", timeout=timeout_ms)
    text = await page.evaluate(_VISIBLE_TEXT)
    toggles = page.locator("ha-entity-toggle ha-switch")
    visible = [await toggles.nth(i).is_visible() for i in range(await toggles.count())]
    logbook_rows: list[str] = await page.evaluate(_LOGBOOK_ROWS)
    if missing:
        msg = f"{url}: not visible: {missing} (screenshot {screenshot})"
        raise AssertionError(msg)
    return Page(name, url, screenshot, text, sum(visible), logbook_rows)


async def frontend_string(page: Any, key: str) -> str:
    """What the frontend shows for its translation ``key``, in the page's language.

    Its wording changes between releases ("No logbook events found." in 2025.4, "No
    activity found." in 2026); the key stays.
    """
    text: str = await page.evaluate(
        "(key) => document.querySelector('home-assistant').hass.localize(key)", key
    )
    if not text:
        msg = f"the frontend has no string {key!r}"
        raise AssertionError(msg)
    return text


async def visible_text(page: Any) -> str:
    """The page's visible text as it is now, shadow roots included, a line per node."""
    text: str = await page.evaluate(_VISIBLE_TEXT)
    return text


async def _wait_for_texts(page: Any, expect: tuple[str, ...], timeout_ms: float) -> list[str]:
    """Wait until every text of ``expect`` is visible; the ones that never came."""
    missing = []
    for text in expect:
        try:
            # The first visible match: a hidden one (an option list, a tooltip) may come
            # earlier in the page and never show.
            await (
                page.get_by_text(text, exact=False)
                .filter(visible=True)
                .first.wait_for(state="visible", timeout=timeout_ms)
            )
        except Exception:  # noqa: BLE001 - reported by the caller, with the screenshot
            missing.append(text)
    # Let charts and relative times settle before the picture.
    await page.wait_for_timeout(1000)
    return missing


async def _translations_arrived(page: Any, timeout_ms: float) -> bool:
    """Whether the page's text is readable within ``timeout_ms``.

    The frontend loads an integration's state translations after it draws the cards:
    on a loaded machine a dropdown shows raw option keys for a moment.
    """
    waited = 0.0
    while unreadable(await page.evaluate(_VISIBLE_TEXT)):
        if waited >= timeout_ms:
            return False
        await page.wait_for_timeout(250)
        waited += 250
    return True


@contextlib.asynccontextmanager
async def logged_in_page(
    base_url: str, owner: Owner, *, timeout_ms: float = 30_000
) -> AsyncIterator[Any]:
    """A Chromium page logged in to Home Assistant as ``owner``; closed on the way out."""
    from playwright.async_api import async_playwright  # noqa: PLC0415 - optional

    executable = chromium_path()
    if executable is None:
        raise FileNotFoundError(INSTALL_HINT)
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=executable, args=list(CHROMIUM_ARGS), headless=True
        )
        try:
            page = await browser.new_page(viewport=VIEWPORT)
            await log_in(page, base_url, owner, timeout_ms)
            yield page
        finally:
            await browser.close()


async def start_config_flow(page: Any, base_url: str, domain: str, option: str) -> None:
    """Open *Add integration* for ``domain`` as its "My" link does; pick ``option``."""
    await page.goto(
        f"{base_url}/config/integrations/dashboard/add?domain={domain}",
        wait_until="domcontentloaded",
    )
    # "Do you want to set up …?", then the flow's menu.
    await page.get_by_role("button", name="OK").click()
    await page.get_by_text(option, exact=True).first.click()


# What only a mistake shows a person: Markdown left as it is, and translation keys.
_UNREADABLE = (
    ("a Markdown backtick", re.compile(r"`")),
    ("a translation key", re.compile(r"\b(?:component|config|exceptions)\.[a-z_]+\.[a-z_]+")),
    ("a raw key", re.compile(r"^[a-z0-9]+(?:_[a-z0-9]+)+$", re.MULTILINE)),
)


def unreadable(text: str) -> list[str]:
    """What in ``text`` (a page's visible text) no person should have to read."""
    return [
        f"{what}: {match.group(0)!r}"
        for what, pattern in _UNREADABLE
        for match in pattern.finditer(text)
    ]


# The text the page shows, shadow roots included (innerText stops at them).
_VISIBLE_TEXT = """() => {
  const out = [];
  const walk = (node) => {
    if (node.nodeName === "STYLE" || node.nodeName === "SCRIPT") return;
    if (node.nodeType === Node.TEXT_NODE) {
      const text = node.textContent.trim();
      if (text) out.push(text);
      return;
    }
    if (node.shadowRoot) walk(node.shadowRoot);
    for (const child of node.childNodes) walk(child);
  };
  walk(document.body);
  return out.join("\\n");
}"""

# The rows of every logbook renderer (one per logbook card), each as its visible text.
# The frontend words a row differently by release: 2025.4 "detected an event" and the
# time, 2026 the event type and the time; one row element each in both, without the
# day header that heads a day's first row.
_LOGBOOK_ROWS = """() => {
  const text = (node, out) => {
    if (node.nodeName === "STYLE" || node.nodeName === "SCRIPT") return out;
    if (node.classList && node.classList.contains("date")) return out;
    if (node.nodeType === Node.TEXT_NODE) {
      const value = node.textContent.trim();
      if (value) out.push(value);
      return out;
    }
    if (node.shadowRoot) text(node.shadowRoot, out);
    for (const child of node.childNodes) text(child, out);
    return out;
  };
  const rows = [];
  const find = (root) => {
    for (const element of root.querySelectorAll("*")) {
      if (element.localName === "ha-logbook-renderer" && element.shadowRoot) {
        for (const row of element.shadowRoot.querySelectorAll(".entry-container")) {
          rows.push(text(row, []).join(" "));
        }
      }
      if (element.shadowRoot) find(element.shadowRoot);
    }
  };
  find(document);
  return rows;
}"""
