#!/usr/bin/env bash
# One-step set-up on Debian/Ubuntu: system packages, a .venv in the repo, and tunesmith installed into it.
set -euo pipefail
cd "$(dirname "$0")/.."

# chromium + chromium-driver (and an emoji font for its screenshots): the web playground's browser test;
# libcairo2: the engraved scores' PNG (cairosvg).
APT_PACKAGES=(fluidsynth fluid-soundfont-gm redis-server ffmpeg libcairo2 chromium chromium-driver fonts-noto-color-emoji)
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi

if ! dpkg -s "${APT_PACKAGES[@]}" >/dev/null 2>&1; then
    echo "==> installing system packages: ${APT_PACKAGES[*]}"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${APT_PACKAGES[@]}" >/dev/null
fi

PYTHON="${PYTHON:-$(command -v python3.11 || command -v python3)}"
if [ ! -x .venv/bin/python ]; then
    echo "==> creating .venv with $PYTHON"
    "$PYTHON" -m venv .venv
fi
# torch first and pinned: this CPU wheel is what CI and the docs assume (a bare `torch` pulls a multi-GB CUDA build).
.venv/bin/python -m pip install -q --disable-pip-version-check "torch==${TORCH_VERSION:-2.13.0}"
.venv/bin/python -m pip install -q --disable-pip-version-check -e ".[dev]"
echo "==> ready: $(.venv/bin/tunesmith --version 2>/dev/null || echo tunesmith)"
