"""A crash at every boundary of a request's lifecycle, in the bot and in a worker, ends in exactly one posted
track or one clear failure message: real processes (the real bot, real or stand-in workers, redis-server, the
loopback Discord), each killed by the fault-injection hook (``TUNESMITH_FAULT=point:kill``, worker.contract.faults) at
the boundary, or stopped there with SIGTERM.

The default run (``pytest -q``) is the light profile: the two windows that used to lose a track (the bot
stopped just after acknowledging, a worker killed just after taking the job), a second loss failing the job
clearly, a lost enqueue, and idle workers stopping on SIGTERM. ``TUNESMITH_FAULT_MATRIX=full`` runs every point
(``-m faults`` selects the matrix alone).
"""

from __future__ import annotations

import json
import os
import signal
import time
from collections.abc import Iterator
from typing import Any

import pytest
from rq.registry import StartedJobRegistry

from tests.fakes import discord_payloads as P
from tests.fakes import driver, processes
from tests.fakes.stack import user
from tests.reliability.harness import LEASE_S, REAL, STAND_IN, Fleet, until
from worker.contract import claims
from worker.contract.tracks import compose_queue, fetch_job

pytestmark = [pytest.mark.slow, pytest.mark.faults]

FULL = os.environ.get("TUNESMITH_FAULT_MATRIX", "").strip().lower() == "full"
LIGHT_BOT = {"after_acknowledge"}
LIGHT_WORKER = {("after_dequeue", "kill")}
BOUND_S = LEASE_S + 5.0 + 0.25 + 4.0  # lease + the bot's reaper period + a poll + slack on a loaded machine


def _profile(light: bool) -> Any:
    return pytest.mark.skipif(not (light or FULL), reason="full fault matrix: TUNESMITH_FAULT_MATRIX=full")


@pytest.fixture(scope="module")
def fleet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Fleet]:
    fleet = Fleet(tmp_path_factory.mktemp("faults"), STAND_IN, workers=1, STAND_IN_STEP_S="0.25")
    try:
        yield fleet.start()
    finally:
        fleet.stop()


def _ask(fleet: Fleet, who: str, length: str = "10s") -> tuple[Any, str]:
    """/compose as ``who``; the interaction once deferred and its track id once queued (a worker may already
    have died on it: nothing here requires the workers to be alive)."""
    inter = fleet.fake.inject_slash("compose", {"style": "irish", "length": length}, user=user(who))
    assert fleet.fake.wait_for(driver.is_callback(inter), 10).json == {"type": 5}
    return inter, fleet.queued_track(user(who))


def _posted_once(fleet: Fleet, inter: Any, track: str, timeout: float = 60.0) -> Any:
    """The one follow-up with the track's files; none more a second later; the database says done."""
    post = fleet.outcome(inter, timeout)
    assert post.method == "POST" and post.status == 200, post.json
    assert driver.embed_fields(post)["Track"] == f"`{track}`" and len(post.files) == 3
    time.sleep(1.0)
    assert len(fleet.fake.find(lambda r: driver.is_followup(inter)(r) and r.files)) == 1, "posted twice"
    until(lambda: fleet.db_rows("SELECT status FROM tracks WHERE id = ?", (track,)) == [("done",)], 10, "done")
    return post


def _nothing_left(fleet: Fleet) -> None:
    """No job is waiting, claimed or started: nothing was left behind by the crash."""
    until(lambda: not claims.claimed(fleet.redis), 15, "the claims to be released")
    assert fleet.redis.llen("rq:queue:compose") == 0
    assert StartedJobRegistry(queue=compose_queue(fleet.redis)).get_job_ids(cleanup=False) == []


def _same_seed(fleet: Fleet, track: str) -> None:
    """The track was made with the seed recorded when it was accepted (a rerun makes the same notes)."""
    asked = json.loads(fleet.db_rows("SELECT request_json FROM tracks WHERE id = ?", (track,))[0][0])["seed"]
    assert isinstance(asked, int)
    assert fetch_job(fleet.redis, track).return_value(refresh=True)["seed"] == asked


def _healthy(fleet: Fleet) -> None:
    """Exactly one worker without faults (for the next test)."""
    for proc in list(fleet.workers):
        if proc.poll() is not None:
            fleet.reap_dead(proc)
    if not fleet.workers:
        fleet.await_registered(fleet.add_worker())


# --- the bot ----------------------------------------------------------------------------------------------
BOT_POINTS = ["before_acknowledge", "after_acknowledge", "after_enqueue", "mid_post", "after_post"]


@pytest.mark.parametrize("point", [pytest.param(p, marks=_profile(p in LIGHT_BOT)) for p in BOT_POINTS])
def test_the_bot_killed_at_a_boundary_posts_once_after_a_restart(fleet: Fleet, point: str) -> None:
    _healthy(fleet)
    assert fleet.bot is not None
    processes.stop(fleet.bot)
    fleet.start_bot_with(TUNESMITH_FAULT=f"{point}:kill")
    who = f"bot-{point}"
    inter = fleet.fake.inject_slash("compose", {"style": "irish", "length": "10s"}, user=user(who))
    if point != "before_acknowledge":
        fleet.fake.wait_for(driver.is_callback(inter), 10)
    assert fleet.reap_dead(fleet.bot, 60) == -signal.SIGKILL  # type: ignore[arg-type]
    assert bool(fleet.fake.find(driver.is_callback(inter))) == (point != "before_acknowledge")
    track = fleet.db_rows("SELECT id FROM tracks WHERE user_id = ?", (user(who)["id"],))[0][0]
    posts_before = len(fleet.fake.find(lambda r: driver.is_followup(inter)(r) and r.files))
    assert posts_before == (1 if point == "after_post" else 0)
    restarted = time.monotonic()
    fleet.start_bot()

    if point == "before_acknowledge":  # Discord told the user it did not respond; the track still comes, once
        post = fleet.wait(
            lambda r: driver.is_channel_post(P.CHANNEL_ID)(r) and r.status == 200 and r.files and track in str(r.json),
            60,
            since=restarted,
        )
        assert post.json["content"].startswith(f"<@{user(who)['id']}>") and len(post.files) == 3
        time.sleep(1.0)
        assert len(fleet.fake.find(lambda r: driver.is_channel_post(P.CHANNEL_ID)(r) and track in str(r.json))) == 1
        assert not fleet.fake.find(lambda r: driver.is_followup(inter)(r) and r.status == 200)
    elif point == "after_post":  # sent, not recorded: never sent again; the response says it is ready
        ready = fleet.wait(
            lambda r: driver.is_edit(inter)(r) and "Ready" in str((r.json or {}).get("content")), 30, since=restarted
        )
        assert track in ready.json["content"]
        time.sleep(1.0)
        assert len(fleet.fake.find(lambda r: driver.is_followup(inter)(r) and r.files)) == 1
    else:
        post = _posted_once(fleet, inter, track)
        print(f"\n{point}: restart → posted {post.time - restarted:.1f}s")
    assert fleet.db_rows("SELECT state FROM deliveries WHERE user_id = ?", (user(who)["id"],)) == [("posted",)]
    _same_seed(fleet, track)
    _nothing_left(fleet)


# --- a worker ---------------------------------------------------------------------------------------------
WORKER_POINTS = [
    ("after_dequeue", "kill"),
    ("after_dequeue", "term"),
    ("after_start", "kill"),
    ("mid_sample", "kill"),
    ("mid_render", "kill"),
    ("after_files", "kill"),
]


@pytest.mark.parametrize(
    ("point", "action"), [pytest.param(p, a, marks=_profile((p, a) in LIGHT_WORKER)) for p, a in WORKER_POINTS]
)
def test_a_worker_stopped_at_a_boundary_loses_nothing(fleet: Fleet, point: str, action: str) -> None:
    faulty = fleet.swap_worker(TUNESMITH_FAULT=f"{point}:{action}")
    inter, track = _ask(fleet, f"w-{point}-{action}")
    code = fleet.reap_dead(faulty, 60)
    stopped = time.monotonic()
    if action == "term":  # a warm shutdown: the job it took is finished first, by the same worker
        assert code == 0, processes.tail(faulty)
        post = _posted_once(fleet, inter, track)
        assert fetch_job(fleet.redis, track).retries_left == 1
    else:
        assert code == -signal.SIGKILL, processes.tail(faulty)
        assert fleet.job_status(track) in {"queued", "started"}
        fleet.add_worker()  # a healthy one takes the job again
        post = _posted_once(fleet, inter, track)
        assert fetch_job(fleet.redis, track).retries_left == 0, "the crash spent the job's one retry"
        assert post.time - stopped < BOUND_S + 5.0, f"posted {post.time - stopped:.1f}s after the kill"
    if action == "kill":
        print(f"\n{point}:{action}: kill → posted {post.time - stopped:.1f}s")
    _same_seed(fleet, track)
    _nothing_left(fleet)


@_profile(True)
def test_a_job_lost_twice_before_it_starts_is_reported_failed(fleet: Fleet) -> None:
    faulty = fleet.swap_worker(TUNESMITH_FAULT="after_dequeue:kill")
    inter, track = _ask(fleet, "twice")
    fleet.reap_dead(faulty, 60)
    again = fleet.add_worker(TUNESMITH_FAULT="after_dequeue:kill")  # the requeued job kills this one too
    fleet.reap_dead(again, 60)
    killed = time.monotonic()
    assert not fleet.workers
    failed = fleet.outcome(inter, 30)
    text = failed.json["content"]
    assert failed.method == "PATCH" and track in text and "the worker stopped unexpectedly" in text, text
    assert failed.time - killed < BOUND_S, f"reported {failed.time - killed:.1f}s after the second crash"
    assert fleet.job_status(track) == "failed"
    until(
        lambda: (
            fleet.db_rows("SELECT status, reason FROM tracks WHERE id = ?", (track,))
            == [("failed", "the worker stopped unexpectedly")]
        ),
        10,
        "the failure recorded",
    )
    time.sleep(1.0)
    assert not fleet.fake.find(lambda r: driver.is_followup(inter)(r) and r.files)
    _nothing_left(fleet)
    print(f"\nsecond loss → failure reported {failed.time - killed:.1f}s")


@_profile(True)
def test_an_enqueue_redis_lost_is_made_again_from_the_database(fleet: Fleet) -> None:
    """Redis forgot a queued job (its last second of writes lost): the bot enqueues it again from its row."""
    for proc in list(fleet.workers):
        processes.stop(proc)
        fleet.workers.remove(proc)
    inter, track = _ask(fleet, "lost")
    fleet.redis.lrem("rq:queue:compose", 0, track)
    fleet.redis.delete(f"rq:job:{track}")
    until(lambda: fleet.job_status(track) == "queued", 15, "the bot to enqueue it again")
    fleet.add_worker()
    _posted_once(fleet, inter, track)
    _same_seed(fleet, track)
    _nothing_left(fleet)


@_profile(True)
def test_idle_workers_stop_within_seconds_of_sigterm(fleet: Fleet) -> None:
    took = []
    for pause in (0.3, 1.1, 2.2):
        proc = fleet.add_worker()
        fleet.await_registered(proc)
        time.sleep(pause)
        start = time.monotonic()
        os.killpg(proc.pid, signal.SIGTERM)
        assert fleet.reap_dead(proc, 10) == 0, processes.tail(proc)
        took.append(time.monotonic() - start)
    assert max(took) < 4.0, took
    print(f"\nidle worker, SIGTERM → exit: {', '.join(f'{t:.2f}s' for t in took)}")


# --- inside the batch claim (real workers: only token models batch) ----------------------------------------
@pytest.mark.skipif(not FULL, reason="full fault matrix: TUNESMITH_FAULT_MATRIX=full")
def test_a_worker_killed_inside_its_batch_claim_loses_none_of_the_batch(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    fleet = Fleet(tmp_path_factory.mktemp("claim"), REAL, workers=1, TUNESMITH_TORCH_THREADS="1")
    try:
        fleet.start(timeout=120)
        for proc in list(fleet.workers):
            processes.stop(proc)
            fleet.workers.remove(proc)
        asked = [_ask(fleet, f"b{i}", "8s") for i in range(3)]
        faulty = fleet.add_worker(TUNESMITH_FAULT="inside_claim:kill")
        assert fleet.reap_dead(faulty, 120) == -signal.SIGKILL, processes.tail(faulty)
        assert fleet.redis.llen("rq:queue:compose") < 3, "the batch was taken off the queue"
        fleet.add_worker()
        for inter, track in asked:
            _posted_once(fleet, inter, track, timeout=120)
            _same_seed(fleet, track)
        _nothing_left(fleet)
    finally:
        fleet.stop()
