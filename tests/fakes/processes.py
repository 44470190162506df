"""Helpers to run the bot and workers as real child processes in tests, and to stop them cleanly."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path

from tests.fakes import discord_payloads as P
from tests.fakes.discord_server import FakeDiscord

REPO = Path(__file__).resolve().parents[2]
VENV_BIN = Path(sys.executable).parent


def bot_env(fake: FakeDiscord, redis_url: str, data_dir: Path, **extra: str) -> dict[str, str]:
    """The environment for a bot process pointed at ``fake``, with short test timings."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DISCORD_", "TUNESMITH_"))}
    env.update(
        DISCORD_TOKEN=P.BOT_TOKEN,
        DISCORD_API_BASE=fake.api_base,
        DISCORD_GATEWAY_URL=fake.gateway_url,
        DISCORD_GUILD_ID=P.GUILD_ID,
        REDIS_URL=redis_url,
        TUNESMITH_DATA_DIR=str(data_dir),
        TUNESMITH_GUILD_READY_TIMEOUT="0.2",
        TUNESMITH_STYLES_REFRESH_S="0.5",
        TUNESMITH_POLL_INTERVAL_S="0.25",
        TUNESMITH_EDIT_INTERVAL_S="1.0",
        PYTHONUNBUFFERED="1",
    )
    env.update(extra)
    return env


def spawn(args: list[str], env: Mapping[str, str], log_path: Path) -> subprocess.Popen:
    """Start ``args`` in the repo root in its own process group, output to ``log_path``."""
    log = open(log_path, "wb")  # noqa: SIM115 - closed in stop()
    proc = subprocess.Popen(args, cwd=REPO, env=dict(env), stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    proc.log_file = log  # type: ignore[attr-defined]
    proc.log_path = log_path  # type: ignore[attr-defined]
    return proc


def stop(proc: subprocess.Popen, timeout: float = 10.0) -> None:
    """SIGTERM the process group, then SIGKILL it if it lingers."""
    if proc.poll() is None:
        try:
            os.killpg(proc.pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            proc.wait(5)
    try:  # leftovers in the group, e.g. a work-horse whose parent already exited
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    log = getattr(proc, "log_file", None)
    if log is not None:
        log.close()


def tail(proc: subprocess.Popen, lines: int = 40) -> str:
    """The last lines a process wrote, for assertion messages."""
    path = getattr(proc, "log_path", None)
    if path is None or not Path(path).exists():
        return ""
    return "\n".join(Path(path).read_text(errors="replace").splitlines()[-lines:])
