"""The static checks, run from the suite so that CI enforces them: ``ruff check``, ``ruff format --check`` and
mypy on bot/ worker/ models/ (settings in pyproject.toml; ``scripts/check.sh`` runs the same three by hand).

The tools are the ones installed next to the interpreter running the tests (the venv's ``bin``).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent  # not resolved: a venv's python is a symlink to the base interpreter


def run_tool(name: str, *args: str) -> subprocess.CompletedProcess[str]:
    exe = BIN / name
    assert exe.exists(), f"{exe} is missing: install the dev extra (pip install -e '.[dev]')"
    return subprocess.run([str(exe), *args], cwd=ROOT, capture_output=True, text=True, timeout=540)


def test_ruff_check_passes() -> None:
    proc = run_tool("ruff", "check", ".")
    assert proc.returncode == 0, proc.stdout + proc.stderr


@pytest.mark.skipif(
    bool(os.environ.get("TUNESMITH_SKIP_FORMAT_CHECK")),
    reason="TUNESMITH_SKIP_FORMAT_CHECK is set: formatting is not checked",
)
def test_ruff_format_check_passes() -> None:
    proc = run_tool("ruff", "format", "--check", ".")
    assert proc.returncode == 0, "run `.venv/bin/ruff format .`\n" + proc.stdout + proc.stderr


def test_mypy_passes() -> None:
    proc = run_tool("mypy", "bot", "worker", "models")
    assert proc.returncode == 0, proc.stdout + proc.stderr
