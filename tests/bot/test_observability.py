"""The real bot process against the fake Discord: its Prometheus endpoint counts commands, clicks, votes and
deliveries; its JSON log lines carry the track id; sharded, it asks Discord for the shard count and serves
commands from the shard that has the guild."""

from __future__ import annotations

import json
import sys
import urllib.request
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.bot.conftest import Spawn
from tests.fakes import discord_payloads as P
from tests.fakes import driver
from tests.fakes.discord_server import FakeDiscord
from tests.fakes.processes import bot_env
from tests.fakes.stack import TUNESMITH, Stack, user
from worker.cli.redis_server import free_port

pytestmark = pytest.mark.slow


def scrape(port: int) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample at http://127.0.0.1:port/metrics: (name, sorted labels) → value."""
    text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def test_metrics_and_json_logs_of_a_real_bot(tmp_path: Path) -> None:
    port = free_port()
    stack = Stack(
        tmp_path,
        [sys.executable, "-m", "tests.fakes.stand_in_worker"],
        STAND_IN_STEP_S="0.05",
        TUNESMITH_METRICS_PORT=str(port),
        TUNESMITH_LOG_FORMAT="json",
    )
    try:
        stack.start()
        help_ = stack.fake.inject_slash("help", {}, user=user("reader"))
        stack.wait(driver.is_callback(help_), 5)
        bad = stack.fake.inject_slash("compose", {"style": "irish", "length": "30h"}, user=user("reader"))
        stack.wait(driver.is_callback(bad), 5)
        inter, post = stack.compose({"style": "irish", "length": "10s"}, user("composer"))
        track = driver.embed_fields(post)["Track"].strip("`")
        _, click = stack.click(driver.message_of(stack.fake, post), driver.button(post.json, "👍"), user("fan"))
        assert click.json["type"] == 7, click.json

        samples = scrape(port)
        assert samples[("tunesmith_bot_commands_total", (("command", "help"), ("outcome", "ok")))] == 1
        assert samples[("tunesmith_bot_commands_total", (("command", "compose"), ("outcome", "refused")))] == 1
        assert samples[("tunesmith_bot_commands_total", (("command", "compose"), ("outcome", "queued")))] == 1
        assert samples[("tunesmith_bot_commands_total", (("command", "button:up"), ("outcome", "ok")))] == 1
        assert samples[("tunesmith_votes_total", (("value", "up"),))] == 1
        latency = samples[("tunesmith_bot_command_to_files_seconds_sum", (("kind", "compose"),))]
        assert samples[("tunesmith_bot_command_to_files_seconds_count", (("kind", "compose"),))] == 1
        assert 0 < latency < post.time - inter.time + 1.0
        assert samples[("tunesmith_queue_depth", (("queue", "compose"),))] == 0
        assert ("tunesmith_bot_fine_tunes_requested_total", (("outcome", "ok"),)) not in samples

        stack.restart_bot()  # SIGTERM: flushes the first bot's log
        lines = [json.loads(x) for x in (tmp_path / "bot0.log").read_text().splitlines() if x.startswith("{")]
        mine = [x for x in lines if track in x.get("track_id", "")]
        assert any(x["msg"].startswith("queued") for x in mine) and any(x["msg"].startswith("posted") for x in mine)
        assert all(x.get("kind", "compose") == "compose" and len(x["user"]) == 12 for x in mine)  # a hash
        assert any(x.get("command") == "button:up" and "vote" in x["msg"] for x in mine)
        assert any(x.get("command") == "compose" and x.get("interaction") == inter.id for x in mine)
        assert P.BOT_TOKEN not in (tmp_path / "bot0.log").read_text()
    finally:
        stack.stop()


def test_the_bot_runs_sharded(fake_discord: FakeDiscord, redis_server, tmp_path: Path, spawn: Spawn) -> None:
    fake_discord.shards = 2
    env = bot_env(fake_discord, redis_server.url, tmp_path, TUNESMITH_SHARDS="auto")
    bot = spawn("bot", [TUNESMITH, "bot"], env)
    driver.wait_ready(fake_discord, bot, timeout=45)
    assert fake_discord.find(lambda r: r.method == "GET" and r.path == "/gateway/bot")
    identified = sorted(tuple(r.json["shard"]) for r in fake_discord.find(lambda r: r.path == "op:2"))
    assert identified == [(0, 2), (1, 2)]
    inter = fake_discord.inject_slash("help", {})  # reaches the bot on the shard that has the guild
    rec = driver.wait_alive(fake_discord, driver.is_callback(inter), 5, [bot])
    assert rec.status == 200 and rec.json["type"] == 4 and "/compose" in rec.json["data"]["content"]
