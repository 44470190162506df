"""The real bot process against the fake Discord and a stand-in worker (no model): progress edits,
failures, oversized files and timeouts, each answered with a clear message naming the track."""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from subprocess import Popen

import pytest
from redis import Redis
from rq.registry import StartedJobRegistry

from tests.fakes import driver, processes
from tests.fakes.discord_server import FakeDiscord
from tests.fakes.processes import bot_env
from worker.cli.redis_server import RedisServer
from worker.contract.tracks import compose_queue

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[FakeDiscord, Popen, Popen, str]]:
    """One fake Discord, Redis, stand-in worker and bot shared by this module's tests (in file order)."""
    tmp = tmp_path_factory.mktemp("flow")
    with FakeDiscord() as fake, RedisServer() as redis:
        env = bot_env(fake, redis.url, tmp, TUNESMITH_JOB_WAIT_S="4", STAND_IN_STEP_S="0.4")
        worker = processes.spawn([sys.executable, "-m", "tests.fakes.stand_in_worker"], env, tmp / "worker.log")
        bot = processes.spawn([sys.executable, "-m", "bot"], env, tmp / "bot.log")
        try:
            driver.wait_ready(fake, bot)
            driver.wait_styles(fake, [bot, worker], "slow", timeout=20)
            yield fake, bot, worker, redis.url
        finally:
            processes.stop(bot)
            processes.stop(worker)


def test_progress_then_files(stack) -> None:
    fake, bot, worker, _ = stack
    inter = fake.inject_slash("compose", {"style": "irish", "length": "1m"})
    defer = driver.wait_alive(fake, driver.is_callback(inter), 5, [bot])
    assert defer.json == {"type": 5} and defer.time - inter.time < 3.0
    post = driver.wait_alive(fake, driver.is_followup(inter), 20, [bot, worker])
    assert post.status == 200 and [f.filename.rsplit(".")[-1] for f in post.files] == ["ogg", "mid", "png"]
    embed = post.json["embeds"][0]
    track = next(f["value"] for f in embed["fields"] if f["name"] == "Track").strip("`")
    assert embed["image"]["url"] == f"attachment://{track}.png"
    time.sleep(0.5)
    edits = [r.json["content"] for r in fake.find(driver.is_edit(inter))]
    assert any("Composing notes" in e or "Rendering" in e or "Loading" in e for e in edits), edits
    assert edits[-1] == f"✅ Track `{track}` is ready."
    times = [r.time for r in fake.find(driver.is_edit(inter))]
    gaps = [b - a for a, b in zip(times, times[1:], strict=False)]
    assert all(gap >= 0.9 for gap in gaps[:-1]), gaps  # TUNESMITH_EDIT_INTERVAL_S=1 (the final edit is exempt)


def test_failed_job_is_explained_without_traceback(stack) -> None:
    fake, bot, worker, _ = stack
    inter = fake.inject_slash("compose", {"style": "broken", "length": "30s"})
    edit = driver.wait_alive(
        fake, lambda r: driver.is_edit(inter)(r) and "failed" in r.json["content"], 20, [bot, worker]
    )
    text = edit.json["content"]
    assert "❌" in text and "worker error: RuntimeError" in text
    assert "Traceback" not in text and "/secret" not in text
    assert not fake.find(driver.is_followup(inter))


def test_files_over_the_size_limit_are_left_out(stack) -> None:
    fake, bot, worker, _ = stack
    inter = fake.inject_slash("compose", {"style": "irish", "length": "30s"}, size_limit=1000)
    post = driver.wait_alive(fake, driver.is_followup(inter), 20, [bot, worker])
    assert post.status == 200 and sorted(f.filename.rsplit(".")[-1] for f in post.files) == ["mid", "png"]
    assert "Left out" in post.json["content"] and "limit" in post.json["content"]


def test_slow_job_times_out_and_is_cancelled(stack) -> None:
    fake, bot, worker, redis_url = stack
    blocker = fake.inject_slash("compose", {"style": "slow", "length": "30s"})
    driver.wait_alive(fake, driver.is_callback(blocker), 5, [bot])
    started = StartedJobRegistry(queue=compose_queue(Redis.from_url(redis_url)))
    deadline = time.monotonic() + 5
    while started.count == 0:  # the worker is busy with the blocker before the next request comes
        assert time.monotonic() < deadline, "the stand-in worker never started the blocker"
        time.sleep(0.02)
    asked = time.monotonic()
    assert "irish" in driver.style_choices(fake, bot)  # the event loop stays free while jobs are polled
    assert time.monotonic() - asked < 1.0
    queued = fake.inject_slash("compose", {"style": "irish", "length": "30s"})
    edit = driver.wait_alive(fake, lambda r: driver.is_edit(queued)(r) and "Queued" in r.json["content"], 10, [bot])
    assert "position 1 in the queue" in edit.json["content"]
    for inter in (blocker, queued):
        edit = driver.wait_alive(
            fake, lambda r, i=inter: driver.is_edit(i)(r) and "⌛" in r.json["content"], 15, [bot, worker]
        )
        assert "stopped waiting" in edit.json["content"]
    track = edit.json["content"].split("`")[1]
    status = Redis.from_url(redis_url).hget(f"rq:job:{track}", "status")
    assert status in (None, b"canceled")  # the queued job was cancelled, never run
