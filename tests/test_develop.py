"""``scripts/develop`` before the demo starts: what it answers without Home Assistant."""

from __future__ import annotations

from pathlib import Path
import shutil
import subprocess
import sys

import pytest

ROOT = Path(__file__).parents[1]


@pytest.mark.parametrize("option", ["--help", "-h"])
def test_help_answers_before_the_virtualenv_is_built(tmp_path: Path, option: str) -> None:
    # A fresh clone: no .venv yet, and a scripts/setup that says so if it runs (the real
    # one would spend a minute and a half installing Home Assistant first).
    clone = tmp_path / "clone"
    shutil.copytree(ROOT / "scripts", clone / "scripts")
    shutil.copytree(ROOT / "demo", clone / "demo", ignore=shutil.ignore_patterns("__pycache__"))
    (clone / "scripts" / "setup").write_text("#!/usr/bin/env bash\necho 'setup ran' >&2\nexit 1\n")
    # The python3 on the PATH has the standard library only (-S: no site-packages).
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    python3 = bin_dir / "python3"
    python3.write_text(f'#!/bin/sh\nexec "{sys.executable}" -S "$@"\n')
    python3.chmod(0o755)

    result = subprocess.run(  # noqa: S603 - the repository's own script
        [clone / "scripts" / "develop", option],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env={"PATH": f"{bin_dir}:/usr/bin:/bin"},
    )

    assert "setup ran" not in result.stderr
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("usage: scripts/develop"), result.stdout
    for documented in ("--port", "--sim-port", "--reset", "reuses config/"):
        assert documented in result.stdout, result.stdout
