"""Fair enqueueing on a real Redis: round-robin across users, several jobs at once, order kept by RQ workers."""

from __future__ import annotations

from rq import SimpleWorker

from worker.contract.fairqueue import OWNER_FIELD, queue_owners
from worker.contract.tracks import SERIALIZER, ComposeRequest, compose_queue, enqueue_tracks, fetch_job


def _add(redis_conn, *names: str) -> None:
    for name in names:
        enqueue_tracks(redis_conn, [ComposeRequest("irish", 30.0, user_id=name[0], track_id=name)])


def test_one_users_many_jobs_do_not_starve_the_others(redis_conn) -> None:
    _add(redis_conn, "a1", "a2", "a3", "a4", "b1", "c1", "b2")
    queue = compose_queue(redis_conn)
    assert [job for job, _ in queue_owners(queue)] == ["a1", "b1", "c1", "a2", "b2", "a3", "a4"]
    assert fetch_job(redis_conn, "c1").get_position() == 2
    assert redis_conn.hget("rq:job:a3", OWNER_FIELD) == b"a"


def test_two_takes_at_once_join_consecutive_rounds(redis_conn) -> None:
    _add(redis_conn, "a1", "a2", "b1")
    takes = [ComposeRequest("irish", 30.0, user_id="d", track_id=f"d{i}") for i in (1, 2)]
    jobs = enqueue_tracks(redis_conn, takes)
    assert [j.id for j in jobs] == ["d1", "d2"]
    assert [job for job, _ in queue_owners(compose_queue(redis_conn))] == ["a1", "b1", "d1", "a2", "d2"]


def test_unknown_jobs_keep_their_place_and_workers_take_the_fair_order(redis_conn) -> None:
    queue = compose_queue(redis_conn)
    queue.enqueue("tests.fakes.stand_in_worker.compose", ComposeRequest("irish", 5.0).to_dict(), job_id="x")
    _add(redis_conn, "a1", "a2", "b1")
    assert [job for job, _ in queue_owners(queue)] == ["x", "a1", "b1", "a2"]
    order: list[str] = []

    class Recording(SimpleWorker):
        def execute_job(self, job, queue):  # record the order instead of running the stand-in
            order.append(job.id)
            job.delete()

    Recording([queue], connection=redis_conn, serializer=SERIALIZER).work(burst=True, logging_level="WARNING")
    assert order == ["x", "a1", "b1", "a2"]
