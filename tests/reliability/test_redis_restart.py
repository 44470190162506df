"""redis-server killed and restarted (append-only file on) while one job runs and others wait: every job still
runs and is posted once; the worker and the bot reconnect by themselves; a request made while Redis is down
gets a clear answer."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from tests.fakes import driver
from tests.fakes.stack import user
from tests.reliability.harness import STAND_IN, Fleet, compose

pytestmark = pytest.mark.slow


@pytest.fixture
def fleet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Fleet]:
    fleet = Fleet(tmp_path_factory.mktemp("redis"), STAND_IN, workers=1, aof=True, STAND_IN_STEP_S="0.3")
    try:
        yield fleet.start()
    finally:
        fleet.stop()


def test_waiting_jobs_survive_a_redis_restart_and_everyone_reconnects(fleet: Fleet) -> None:
    worker, bot = fleet.workers[0], fleet.bot
    running, slow = compose(fleet, "ann", {"style": "slow", "length": "10s"})
    fleet.wait_status(slow, {"started"}, 10)
    waiting = [compose(fleet, who, {"style": "irish", "length": "10s"}) for who in ("bea", "cid", "dot")]
    assert all(fleet.job_status(track) == "queued" for _, track in waiting)

    fleet.redis_server.proc.kill()  # type: ignore[union-attr] - crash, no shutdown save
    fleet.redis_server.proc.wait(10)  # type: ignore[union-attr]
    fleet.redis_server.stop()
    down = fleet.fake.inject_slash("compose", {"style": "irish", "length": "10s"}, user=user("eve"))
    refused = fleet.wait(lambda r: driver.is_edit(down)(r) and "unreachable" in str((r.json or {}).get("content")), 15)
    time.sleep(2.5)  # longer than a progress step of the running job
    fleet.redis_server.start()
    restarted = time.monotonic()

    for inter, track in [(running, slow), *waiting]:
        post = fleet.outcome(inter, 60)
        assert post.method == "POST" and driver.embed_fields(post)["Track"] == f"`{track}`", post.json
    after = [fleet.job_status(track) for _, track in [(running, slow), *waiting]]
    assert after == ["finished"] * 4, after
    assert worker.poll() is None and bot.poll() is None, "worker and bot reconnect instead of exiting"
    assert worker in fleet.workers and fleet.workers == [worker]
    assert refused.json["content"].startswith("❌")
    assert fleet.db_rows("SELECT status FROM tracks WHERE user_id = ?", (user("eve")["id"],)) == [("failed",)]

    _, again = fleet.compose({"style": "irish", "length": "10s"}, user("fay"))  # and new requests work
    assert again.files
    time.sleep(1.0)
    for inter, _ in [(running, slow), *waiting]:
        assert len(fleet.fake.find(lambda r, i=inter: driver.is_followup(i)(r) and r.files)) == 1
    print(f"\nrestart → last waiting job posted {fleet.fake.records[-1].time - restarted:.1f}s")
