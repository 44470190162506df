"""Atomic claims, the reaper, idempotent enqueueing and the fault hook, against a real redis-server."""

from __future__ import annotations

import time

import pytest

from bot.tracking import snapshot
from worker.contract import claims, faults
from worker.contract.tracks import ComposeRequest, enqueue_tracks, fetch_job

QUEUE, TRAIN = "rq:queue:compose", "rq:queue:train"


def _queued(redis_conn) -> list[str]:
    return [i.decode() for i in redis_conn.lrange(QUEUE, 0, -1)]


def test_pop_takes_and_claims_in_one_step_in_queue_order(redis_conn) -> None:
    first, second = enqueue_tracks(
        redis_conn,
        [ComposeRequest("irish", 30.0, seed=1, user_id="a"), ComposeRequest("irish", 30.0, seed=2, user_id="b")],
    )
    redis_conn.rpush(TRAIN, "gone")  # a job whose data expired is skipped, as RQ does
    redis_conn.lpush(QUEUE, "gone")
    assert claims.wait(redis_conn, QUEUE, 0.1) and _queued(redis_conn)[0] == "gone"  # waiting takes nothing
    assert claims.pop(redis_conn, [QUEUE, TRAIN], 5) == (QUEUE, first.id)
    assert set(claims.claimed(redis_conn)) == {first.id} and _queued(redis_conn) == [second.id]
    assert claims.take(redis_conn, QUEUE, [second.id, "nope"], 5) == [second.id]
    assert _queued(redis_conn) == [] and claims.pop(redis_conn, [QUEUE, TRAIN], 5) is None
    assert not claims.wait(redis_conn, QUEUE, 0.1)
    claims.release(redis_conn, [first.id, second.id])
    assert claims.claimed(redis_conn) == {}


def test_an_expired_claim_is_requeued_at_the_front_once_then_failed_clearly(redis_conn) -> None:
    lost, other = enqueue_tracks(
        redis_conn,
        [ComposeRequest("irish", 30.0, seed=7, user_id="a"), ComposeRequest("irish", 30.0, seed=8, user_id="b")],
    )
    assert claims.pop(redis_conn, [QUEUE], 1.0)[1] == lost.id
    assert claims.reap(redis_conn) == {}  # not expired yet
    time.sleep(1.1)
    assert claims.reap(redis_conn) == {lost.id: "requeued"}
    assert _queued(redis_conn) == [lost.id, other.id] and claims.claimed(redis_conn) == {}
    job = fetch_job(redis_conn, lost.id)
    assert job.retries_left == 0 and job.get_status() == "queued" and job.args[0]["seed"] == 7  # same request

    assert claims.pop(redis_conn, [QUEUE], 0.05)[1] == lost.id
    time.sleep(0.1)
    assert claims.reap(redis_conn) == {lost.id: "fail"}
    assert claims.reap(redis_conn) == {}, "one reaper fails it, the others leave it"
    snap = snapshot(fetch_job(redis_conn, lost.id))
    assert (snap.status, snap.reason) == ("failed", "the worker stopped unexpectedly")
    assert claims.claimed(redis_conn) == {} and _queued(redis_conn) == [other.id]


def test_a_claim_on_a_started_or_finished_job_is_just_dropped(redis_conn) -> None:
    (job,) = enqueue_tracks(redis_conn, [ComposeRequest("irish", 30.0, seed=3, user_id="a")])
    claims.pop(redis_conn, [QUEUE], 0.01)
    redis_conn.hset(f"rq:job:{job.id}", "status", "started")  # its worker recorded the start, then died
    time.sleep(0.05)
    assert claims.reap(redis_conn) == {job.id: "dropped"}  # RQ's StartedJobRegistry handles it from here
    assert _queued(redis_conn) == [] and fetch_job(redis_conn, job.id).retries_left == 1


def test_enqueueing_again_never_duplicates_nor_resets_a_job(redis_conn) -> None:
    request = ComposeRequest("irish", 30.0, seed=5, user_id="a")
    (job,) = enqueue_tracks(redis_conn, [request])
    redis_conn.hset(f"rq:job:{job.id}", "status", "started")
    redis_conn.lrem(QUEUE, 0, job.id)
    other = ComposeRequest("irish", 30.0, seed=6, user_id="b")
    again = enqueue_tracks(redis_conn, [request, other])
    assert [j.id for j in again] == [request.track_id, other.track_id]
    assert _queued(redis_conn) == [other.track_id], "the running job is not queued a second time"
    assert fetch_job(redis_conn, job.id).get_status() == "started"
    enqueue_tracks(redis_conn, [other])
    assert _queued(redis_conn) == [other.track_id]


def test_fault_points_are_checked_by_name() -> None:
    assert faults.planned({}) == {}
    assert faults.planned({faults.FAULT_ENV: "after_dequeue:kill, mid_post:term,after_start"}) == {
        "after_dequeue": "kill",
        "mid_post": "term",
        "after_start": "kill",
    }
    with pytest.raises(ValueError, match="unknown fault"):
        faults.planned({faults.FAULT_ENV: "after_dequeu:kill"})
    with pytest.raises(ValueError, match="unknown fault"):
        faults.planned({faults.FAULT_ENV: "after_dequeue:explode"})
    faults.point("after_dequeue")  # unset: nothing happens
