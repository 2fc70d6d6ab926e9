"""Reading the JSON answers of the Settings API tolerantly.

The server is PHP talking to a SOAP back end whose types are not published (docs/settings-api.md §5,
§9 question 3), so every field is read tolerantly: a number may come as a string, a
list may come as null, a key may be missing or new. A value that cannot be read is
kept in ``extra`` and reported in the log once per client (see :class:`ValueReporter`);
reading never raises, whatever JSON value it is given.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from datetime import datetime
import logging
import re
import threading
import time
from typing import Any, Final

from .parse import on_event_loop

_LOGGER = logging.getLogger(__package__)

# PHP's "Y-m-d H:i:s". Read by a pattern rather than strptime, which is ten times
# slower: an answer may hold thousands of times (docs/settings-api.md §5.4, §5.7).
_TIMESTAMP = re.compile(r"(\d{4})-(\d{1,2})-(\d{1,2}) (\d{1,2}):(\d{1,2}):(\d{1,2})", re.ASCII)


_ITEMS_PER_YIELD = 32
# Distinct unforeseen values logged per reporter: a hostile answer with thousands of
# unknown members must not write thousands of log lines.
MAX_REPORTS: Final = 20


class ValueReporter:
    """Logs each value the models did not foresee once: per model, key and problem.

    A client keeps one, so a new member is reported once for its account and not at
    every poll. Models read without one report per answer. Answers may be read in an
    executor thread, hence the lock.
    """

    def __init__(self, max_reports: int = MAX_REPORTS) -> None:
        """Report at most ``max_reports`` distinct values, then say that more were left."""
        self._max_reports = max_reports
        self._reported: set[tuple[str, str, str]] = set()
        self._lock = threading.Lock()
        self._silenced = False

    def __call__(self, model: str, key: str, problem: str, value: Any) -> None:
        """Log that ``model`` had ``problem`` with ``key``; never the value (it may be personal)."""
        marker = (model, key, problem)
        with self._lock:
            if marker in self._reported or self._silenced:
                return
            if len(self._reported) >= self._max_reports:
                self._silenced = True
                _LOGGER.warning(
                    "SIP Thor: more unforeseen values than %d; no longer reported",
                    self._max_reports,
                )
                return
            self._reported.add(marker)
        _LOGGER.warning(
            "SIP Thor %s: %s %r (%s); kept as is, please report it",
            model,
            problem,
            key[:100],
            type(value).__name__,
        )


class ObjectReader:
    """Reads the members of one JSON object, remembering which ones it used."""

    def __init__(self, model: str, data: Any, report: ValueReporter) -> None:
        """Read ``data`` as the object of ``model``; anything else reads as empty."""
        self.model = model
        self.report = report
        if not isinstance(data, Mapping):
            if data is not None:
                report(model, "<answer>", "expected an object, got", data)
            data = {}
        self.data: Mapping[str, Any] = data
        self.used: set[str] = set()
        self.unreadable: dict[str, Any] = {}

    def _get(self, key: str) -> Any:
        self.used.add(key)
        return self.data.get(key)

    def _bad(self, key: str, value: Any) -> None:
        self.unreadable[key] = value
        self.report(self.model, key, "unexpected value for", value)

    def text(self, key: str, default: str | None = None) -> str | None:
        """A string; a number reads as its text."""
        value = self._get(key)
        if value is None:
            return default
        if isinstance(value, str):
            return value
        if isinstance(value, int | float) and not isinstance(value, bool):
            return str(value)
        self._bad(key, value)
        return default

    def integer(self, key: str) -> int | None:
        """An integer, also from text or a whole float."""
        return to_int(self._get(key), lambda value: self._bad(key, value))

    def number(self, key: str) -> float | None:
        """A number, also from text."""
        value = self._get(key)
        if value is None or value == "":
            return None
        if isinstance(value, bool):
            self._bad(key, value)
            return None
        if isinstance(value, int | float):
            return float(value)
        if isinstance(value, str):
            try:
                return float(value.strip())
            except ValueError:
                pass
        self._bad(key, value)
        return None

    def flag(self, key: str) -> bool | None:
        """A boolean, also from a number or text such as "yes"."""
        value = self._get(key)
        if value is None or isinstance(value, bool):
            return value
        if isinstance(value, int | float):
            return bool(value)
        if isinstance(value, str) and value.strip().lower() in _BOOL_TEXT:
            return _BOOL_TEXT[value.strip().lower()]
        self._bad(key, value)
        return None

    def texts(self, key: str) -> list[str]:
        """A list of strings (see :func:`str_list`)."""
        return str_list(self._get(key), lambda value: self._bad(key, value))

    def timestamp(self, key: str) -> datetime | None:
        """A naive time printed as PHP's ``Y-m-d H:i:s``."""
        value = self._get(key)
        if value is None or value == "":
            return None
        if isinstance(value, str) and (match := _TIMESTAMP.fullmatch(value.strip())):
            try:
                # Naive on purpose: the zone is the caller's call (docs/settings-api.md §9
                # question 8).
                year, month, day, hour, minute, second = map(int, match.groups())
                return datetime(year, month, day, hour, minute, second)  # noqa: DTZ001
            except ValueError:  # a day or an hour out of range
                pass
        self._bad(key, value)
        return None

    def raw(self, key: str) -> Any:
        """The value as it came."""
        return self._get(key)

    def ignore(self, *keys: str) -> None:
        """Members the server sends that nothing here uses: neither kept nor reported."""
        self.used.update(keys)

    def extra(self) -> dict[str, Any]:
        """Members not read (new keys) plus members whose value could not be read."""
        extra = {key: value for key, value in self.data.items() if key not in self.used}
        for key, value in extra.items():
            self.report(self.model, key, "unknown member", value)
        return extra | self.unreadable


_BOOL_TEXT = {"true": True, "1": True, "yes": True, "false": False, "0": False, "no": False}


def to_int(value: Any, bad: Callable[[Any], None]) -> int | None:
    """An integer, also from text or a whole float; ``bad`` hears of anything else."""
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        bad(value)
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str):
        try:
            return int(value.strip())
        except ValueError:
            try:
                number = float(value.strip())
            except ValueError:
                number = None
            if number is not None and number.is_integer():
                return int(number)
    bad(value)
    return None


def str_list(value: Any, bad: Callable[[Any], None]) -> list[str]:
    """A list of strings; PHP gives ``null`` or ``[]`` for none, sometimes ``{}``."""
    if value is None or value in ({}, ""):
        return []
    if isinstance(value, str):
        return [value]
    if isinstance(value, list):
        items = [item for item in value if isinstance(item, str)]
        if len(items) != len(value):
            bad(value)
        return items
    bad(value)
    return []


def object_list(model: str, value: Any, report: ValueReporter) -> Iterator[Any]:
    """A list of objects that PHP may send as null, [] or a map keyed by index."""
    if value is None or value == "":
        return iter(())
    if isinstance(value, list):
        return _yielding(value)
    if isinstance(value, Mapping):
        return _yielding(list(value.values()))
    report(model, "<answer>", "expected a list, got", value)
    return iter(())


def _yielding(items: list[Any]) -> Iterator[Any]:
    """The items; every few, let another thread take the interpreter lock.

    A large answer is read in an executor thread (the client's choice), and the event
    loop's thread would otherwise wait out the 5 ms switch interval each time it needs
    the lock back.
    """
    if on_event_loop():  # small answers are read there, and it must never sleep
        yield from items
        return
    for index, item in enumerate(items, 1):
        if index % _ITEMS_PER_YIELD == 0:
            time.sleep(0)
        yield item


def string_list(model: str, data: Any, report: ValueReporter | None = None) -> list[str]:
    """A top-level list of strings: aliases, ENUM numbers, rejected callers."""
    report = report or ValueReporter()
    return str_list(data, lambda value: report(model, "<answer>", "odd list", value))
