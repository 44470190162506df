"""The bot process's start-up paths: a clear exit without a token, and a useful answer without Redis."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.bot.conftest import Spawn
from tests.fakes import driver
from tests.fakes.discord_server import FakeDiscord
from tests.fakes.processes import REPO, bot_env
from worker.cli.redis_server import free_port


def test_missing_token_exits_with_a_clear_message() -> None:
    env = {k: v for k, v in os.environ.items() if k != "DISCORD_TOKEN"}
    proc = subprocess.run([sys.executable, "-m", "bot"], cwd=REPO, env=env, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2
    assert "DISCORD_TOKEN is not set" in proc.stderr and "Traceback" not in proc.stderr


@pytest.mark.slow
def test_without_redis_the_bot_still_answers(fake_discord: FakeDiscord, tmp_path: Path, spawn: Spawn) -> None:
    env = bot_env(fake_discord, f"redis://127.0.0.1:{free_port()}/0", tmp_path)
    bot = spawn("bot", [sys.executable, "-m", "bot"], env)
    driver.wait_ready(fake_discord, bot)
    inter = fake_discord.inject_slash("compose", {"style": "irish", "length": "30s"})
    rec = driver.wait_alive(fake_discord, driver.is_callback(inter), 3, [bot])
    assert rec.json["type"] == 4 and rec.json["data"]["flags"] == 64
    assert "No worker is online" in rec.json["data"]["content"]
    assert "sekrit" not in Path(bot.log_path).read_text()
