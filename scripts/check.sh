#!/usr/bin/env bash
# Static checks: ruff lint, ruff formatting, mypy on bot/ worker/ models/ (settings in pyproject.toml).
# The test-suite runs the same three (tests/test_tooling.py), so CI (.ci/run) covers them.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN="${VENV_BIN:-.venv/bin}"
"$BIN/ruff" check .
"$BIN/ruff" format --check .
"$BIN/mypy" bot worker models
