"""A worker SIGKILLed mid-job: the job is retried once on another worker and posted once; a job that kills two
workers is reported failed to the user within a bound, even with no worker left; none stays "started"; a live
worker's job outlives its short lease (renewed) without being taken for abandoned."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator

import pytest
from rq.registry import StartedJobRegistry

from bot.poster import REAP_S
from tests.fakes import driver
from tests.reliability.harness import LEASE_S, REAL, Fleet, compose, until
from worker.contract.tracks import compose_queue, fetch_job

pytestmark = pytest.mark.slow

# Lease + the bot's reaper period + its poll interval + slack for a loaded CI machine (production: 30 + 5 + 0.75 s).
BOUND_S = LEASE_S + REAP_S + 0.25 + 3.0


@pytest.fixture(scope="module")
def fleet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Fleet]:
    fleet = Fleet(tmp_path_factory.mktemp("crash"), REAL, workers=2, TUNESMITH_TORCH_THREADS="1")
    try:
        yield fleet.start()
    finally:
        fleet.stop()


def _kill_mid_job(fleet: Fleet, track: str) -> tuple[float, str]:
    """Wait until ``track`` runs, freeze its worker so it cannot finish, SIGKILL it; returns (when, its name)."""
    victim = fleet.worker_running(track)
    os.kill(victim.pid, signal.SIGSTOP)
    assert fleet.job_status(track) == "started", "the job finished before the worker could be stopped"
    name = fetch_job(fleet.redis, track).worker_name
    return fleet.kill_worker(victim), name


def _statuses(fleet: Fleet, track: str, until: set[str], timeout: float) -> list[tuple[float, str]]:
    """(time, status) at every change of the job's status, until it reaches one of ``until``."""
    seen: list[tuple[float, str]] = []
    deadline = time.monotonic() + timeout
    while not seen or seen[-1][1] not in until:
        status = fleet.job_status(track) or "missing"
        if not seen or seen[-1][1] != status:
            seen.append((time.monotonic(), status))
        assert time.monotonic() < deadline, seen
        time.sleep(0.01)
    return seen


def test_killed_mid_job_is_retried_on_another_worker_and_posted_once(fleet: Fleet) -> None:
    inter, track = compose(fleet, "kim", {"style": "irish", "length": "290s", "seed": 3})
    killed, first = _kill_mid_job(fleet, track)
    seen = _statuses(fleet, track, {"finished", "failed"}, 120)
    assert [s for _, s in seen] == ["started", "queued", "started", "finished"], seen
    requeued, rerun, done = (t for t, _ in seen[1:])
    assert requeued - killed < BOUND_S, f"the dead worker's job was found after {requeued - killed:.1f}s"
    job = fetch_job(fleet.redis, track)
    assert job.worker_name != first and job.retries_left == 0
    # The rerun (a 290 s piece: about 8 s of work here) outlived its lease twice over on a live worker without
    # being taken for abandoned.
    assert done - rerun > 2 * LEASE_S, f"the rerun took {done - rerun:.1f}s: too short to show lease renewal"

    post = fleet.outcome(inter, 60)
    assert driver.embed_fields(post)["Track"] == f"`{track}`" and len(post.files) == 3
    time.sleep(1.0)
    assert len(fleet.fake.find(lambda r: driver.is_followup(inter)(r) and r.files)) == 1
    until(lambda: fleet.db_rows("SELECT status FROM tracks WHERE id = ?", (track,)) == [("done",)], 10, "done")
    print(f"\nkill → requeued {requeued - killed:.1f}s, kill → posted {post.time - killed:.1f}s")


def test_a_job_that_kills_two_workers_is_reported_failed_with_none_left(fleet: Fleet) -> None:
    while len(fleet.workers) < 2:
        fleet.add_worker()
    driver.wait_styles(fleet.fake, fleet.procs, "irish")
    inter, track = compose(fleet, "lou", {"style": "irish", "length": "120s", "seed": 4})
    _, first = _kill_mid_job(fleet, track)
    killed, second = _kill_mid_job(fleet, track)  # the retry, on the other worker
    assert first != second and not fleet.workers

    failed = fleet.outcome(inter, 30)
    text = failed.json["content"]
    assert failed.method == "PATCH" and track in text and "the worker stopped unexpectedly" in text, text
    assert failed.time - killed < BOUND_S, f"reported {failed.time - killed:.1f}s after the second crash"
    assert fleet.job_status(track) == "failed"
    assert StartedJobRegistry(queue=compose_queue(fleet.redis)).get_job_ids(cleanup=False) == []
    until(
        lambda: (
            fleet.db_rows("SELECT status, reason FROM tracks WHERE id = ?", (track,))
            == [("failed", "the worker stopped unexpectedly")]
        ),
        10,
        "the failure recorded",
    )  # just after the message
    print(f"\nsecond crash → failure reported {failed.time - killed:.1f}s")
