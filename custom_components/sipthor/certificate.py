"""The client certificate on disk: one private PEM file per account.

Why a file and not the config entry: Home Assistant writes ``.storage/core.config_entries``
with mode 0644 (its ConfigEntryStore is not private), so a key kept in the entry's data
would be readable by every local user of a Home Assistant Core install. The file here is
created 0600 in a 0700 directory, travels with backups like the rest of ``.storage``, and
is removed with the entry. Everything here blocks: run it in the executor.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
import re
import shutil
import tempfile

from homeassistant.core import HomeAssistant
from homeassistant.helpers.storage import STORAGE_DIR

from .api import ClientCredentials, load_credentials
from .const import DOMAIN

_UNSAFE = re.compile(r"[^A-Za-z0-9@._+-]")


def certificate_file_name(account: str) -> str:
    """The file name that holds ``account``'s credential: ``<account>-<hash>.pem``.

    The readable part replaces what a file name cannot hold, so ``a/b@x`` and ``a_b@x``
    read alike; the first 8 hex digits of the SHA-256 of the exact account keep them
    apart, so one account never overwrites (or, when removed, deletes) another's key.
    """
    digest = hashlib.sha256(account.encode()).hexdigest()[:8]
    return f"{_UNSAFE.sub('_', account)}-{digest}.pem"


def certificate_path(hass: HomeAssistant, file_name: str) -> Path:
    """Where a credential file lives: ``.storage/sipthor/<file_name>``."""
    return Path(hass.config.path(STORAGE_DIR, DOMAIN, file_name))


def write_certificate(path: Path, credentials: ClientCredentials) -> None:
    """Replace ``path`` atomically with the certificate and its key, mode 0600."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    path.parent.chmod(0o700)
    descriptor, temporary = tempfile.mkstemp(dir=path.parent, prefix=".", suffix=".tmp")
    try:
        with os.fdopen(descriptor, "w", encoding="ascii") as file:
            file.write(credentials.combined_pem)
        Path(temporary).replace(path)
    finally:
        Path(temporary).unlink(missing_ok=True)


def read_certificate(path: Path) -> ClientCredentials:
    """Load the stored credential; raises ``SipThorCredentialsError`` when unusable.

    The arithmetic of its key was checked when it was stored, not again at each start.
    """
    return load_credentials(path.read_bytes(), check_key=False)


def move_certificate(source: Path, target: Path, *, keep_source: bool) -> None:
    """Give a credential file its new name; ``keep_source`` when another entry uses it.

    Either way ``target`` appears whole or not at all: a rename within the directory, or
    a private temporary copy renamed into place. Mode 0600 goes with the file. A missing
    ``source`` is left to setup, which asks for a new certificate; an existing ``target``
    (only this account's entry writes that name) is kept.
    """
    if target.exists() or not source.exists():
        return
    if not keep_source:
        source.replace(target)
        return
    descriptor, temporary = tempfile.mkstemp(dir=source.parent, prefix=".", suffix=".tmp")
    try:
        with os.fdopen(descriptor, "wb") as copy, source.open("rb") as original:
            shutil.copyfileobj(original, copy)
        Path(temporary).replace(target)
    finally:
        Path(temporary).unlink(missing_ok=True)


def remove_certificate(path: Path) -> None:
    """Delete the credential file, if it is there."""
    path.unlink(missing_ok=True)
