"""End to end: the real bot (`tunesmith bot`) and the real worker (`tunesmith worker`, the shipped model,
FluidSynth) against a real redis-server and the loopback fake of Discord's REST API and gateway."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from redis import Redis

from tests.bot.conftest import Spawn
from tests.fakes import driver
from tests.fakes.discord_server import FakeDiscord
from tests.fakes.processes import VENV_BIN, bot_env
from worker.contract import compose_queue
from worker.redis_server import RedisServer

pytestmark = pytest.mark.slow
TUNESMITH = str(VENV_BIN / "tunesmith")
MAGIC = {".ogg": b"OggS", ".mid": b"MThd", ".png": b"\x89PNG"}


def _assert_refused(fake: FakeDiscord, bot, options: dict[str, str], *needles: str) -> None:
    inter = fake.inject_slash("compose", options)
    rec = driver.wait_alive(fake, driver.is_callback(inter), 3.0, [bot])
    assert rec.status == 200 and rec.json["type"] == 4, rec.json
    assert rec.json["data"]["flags"] == 64, "refusals must be ephemeral"
    for needle in needles:
        assert needle in rec.json["data"]["content"], rec.json["data"]["content"]


def test_compose_irish_30s_end_to_end(fake_discord: FakeDiscord, redis_server: RedisServer, redis_conn: Redis,
                                      data_dir: Path, spawn: Spawn) -> None:
    started = time.monotonic()
    fake = fake_discord
    env = bot_env(fake, redis_server.url, data_dir)
    worker = spawn("worker", [TUNESMITH, "worker", "--queues", "compose"], env)
    bot = spawn("bot", [TUNESMITH, "bot"], env)
    driver.wait_ready(fake, bot)
    driver.wait_styles(fake, [bot, worker], "irish", timeout=90)

    # Bad requests: an ephemeral type-4 answer that says what is allowed, and nothing enqueued.
    _assert_refused(fake, bot, {"style": "irish", "length": "30h"}, "30h", "between 5s and 300s")
    _assert_refused(fake, bot, {"style": "nosuchstyle", "length": "30s"}, "Unknown style `nosuchstyle`", "irish")
    assert compose_queue(redis_conn).count == 0
    assert not redis_conn.keys("rq:job:*"), "a refused request must not create a job"

    # The real thing: defer within 3 s, then one follow-up with audio, MIDI and piano roll.
    inter = fake.inject_slash("compose", {"style": "irish", "length": "30s"})
    defer = driver.wait_alive(fake, driver.is_callback(inter), 3.0, [bot])
    latency = defer.time - inter.time
    assert defer.status == 200 and defer.json == {"type": 5} and latency < 3.0
    post = driver.wait_alive(fake, driver.is_followup(inter), 240, [bot, worker])
    assert post.status == 200, post
    by_suffix = {Path(f.filename).suffix: f for f in post.files}
    audio = by_suffix.get(".ogg") or by_suffix.get(".mp3")
    assert audio is not None and {".mid", ".png"} <= set(by_suffix), [f.filename for f in post.files]
    for upload in (audio, by_suffix[".mid"], by_suffix[".png"]):
        assert len(upload.data) > 0
        magic = MAGIC.get(Path(upload.filename).suffix)
        assert magic is None or upload.data.startswith(magic), upload.filename
    assert len(audio.data) > 10_000, "30 s of audio should not be tiny"

    embed = post.json["embeds"][0]
    fields = {f["name"]: f["value"] for f in embed["fields"]}
    assert "irish" in (embed["title"] + fields["Style"]).lower() and fields["Style"] == "irish"
    assert {"Architecture", "Length", "Seed", "Tempo", "Track"} <= set(fields)
    track = fields["Track"].strip("`")
    assert float(fields["Length"].split()[0]) == pytest.approx(30.0, abs=1.0)
    assert redis_conn.hget(f"rq:job:{track}", "status") == b"finished"
    assert embed["image"]["url"] == f"attachment://{track}.png"

    time.sleep(0.3)
    edits = [r.json["content"] for r in fake.find(driver.is_edit(inter))]
    assert edits and edits[-1] == f"✅ Track `{track}` is ready.", edits
    assert not fake.find(lambda r: r.status == 404 and r.method != "WS"), "the bot made an unmodelled call"
    print(f"\ndefer latency {latency * 1000:.1f} ms; follow-up {post.time - inter.time:.1f} s after the "
          f"command; whole test {time.monotonic() - started:.1f} s; edits: {len(edits)}")
