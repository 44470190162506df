"""Crash recovery for track jobs: a short lease on every running job, renewed while it runs, so a job whose
worker died is retried once on another worker, or failed, within seconds instead of looking "started" for ever."""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from typing import TYPE_CHECKING, Any

from redis.exceptions import RedisError
from rq import SimpleWorker
from rq.exceptions import StopRequested

from worker.jobs.settings import settings

if TYPE_CHECKING:  # pragma: no cover
    from rq.job import Job

log = logging.getLogger(__name__)

LOST_REDIS = ("redis.exceptions.ConnectionError", "redis.exceptions.TimeoutError")


def lease_s() -> int:
    """How long a running job stays "started" without a heartbeat: the settings' ``TUNESMITH_JOB_LEASE_S``
    (default 30, at least 2)."""
    return settings().lease_s


class LeasedWorker(SimpleWorker):
    """A SimpleWorker whose jobs hold a short lease, renewed while they run; idle, it looks for abandoned jobs
    every lease (its blocking dequeue wakes up that often).

    RQ records a running job in its StartedJobRegistry with an expiry; whoever cleans that registry after the
    expiry (every worker's maintenance, and the bot's poster via ``bot.tracking.reap_abandoned``) retries the
    job if it has retries left, else fails it with ``AbandonedJobError``. Plain ``SimpleWorker`` sets the
    expiry to the job timeout + 60 s and never renews it, and maintenance ran every 10 minutes, so a killed
    worker's job looked "started" for up to 20 minutes. Here the lease is ``TUNESMITH_JOB_LEASE_S`` (30 s),
    renewed every third of it.

    Track jobs are enqueued with ``Retry(max=1)`` (``worker.contract.tracks.enqueue_tracks``) and that retry is kept
    for crashes and lost Redis connections: a job that raised otherwise, or timed out, fails at once, since it
    would fail the same way again.

    RQ's work loop quits when Redis goes away while a job runs (it cannot record the result); ``work`` waits
    for Redis to answer and starts the loop again, so a restarted redis-server needs no worker restart. The
    job whose result was lost is still "started" in Redis: its lease runs out and it runs again.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.lease_s = lease_s()
        kwargs.setdefault("maintenance_interval", self.lease_s)
        kwargs.setdefault("worker_ttl", self.lease_s + 15)  # RQ blocks in dequeue for worker_ttl - 15 s
        super().__init__(*args, **kwargs)

    def work(self, burst: bool = False, logging_level: str | None = None, *args: Any, **kwargs: Any) -> bool:
        """RQ's work loop, entered again whenever it quits without being asked to (Redis went away)."""
        pause = 1.0
        while True:
            began = time.monotonic()
            try:
                worked = super().work(burst, logging_level, *args, **kwargs)
            except RedisError as exc:  # from the loop's teardown, with Redis still away
                log.warning("worker %s lost Redis: %s", self.name, exc)
                worked = False
            if burst or self._asked_to_stop or kwargs.get("max_jobs") or kwargs.get("max_idle_time"):
                return worked
            pause = 1.0 if time.monotonic() - began > 60 else min(30.0, pause * 2)
            if not self._await_redis(pause):
                return worked
            log.warning("worker %s: working again (Redis answers)", self.name)

    @property
    def _asked_to_stop(self) -> bool:
        """SIGTERM/SIGINT arrived (RQ sets the date even when idle, where it raises instead of flagging)."""
        return bool(self._stop_requested or self._shutdown_requested_date is not None)

    def _await_redis(self, pause: float) -> bool:
        """Wait until Redis answers, then forget the broken session; False if asked to stop meanwhile."""
        while not self._asked_to_stop:
            try:
                time.sleep(pause)
                self.connection.ping()
            except (RedisError, StopRequested):  # the signal handler asks Redis for the worker's state
                continue
            with contextlib.suppress(Exception):
                self.unsubscribe()
            with contextlib.suppress(RedisError):
                self.register_death()  # so register_birth accepts the same name again
            self.last_cleaned_at = None  # look for abandoned jobs (perhaps our own) at once
            return True
        return False

    def get_heartbeat_ttl(self, job: Job, working_time: float = 0.0) -> int:
        return self.lease_s

    def perform_job(self, job: Job, queue: Any, *args: Any, **kwargs: Any) -> bool:
        stop = threading.Event()
        execution = args[0] if args else kwargs.get("execution")
        beat = threading.Thread(target=self._renew, args=(job, execution, stop), name=f"lease-{job.id}", daemon=True)
        beat.start()
        try:
            return super().perform_job(job, queue, *args, **kwargs)
        finally:
            stop.set()
            beat.join(5)

    def _renew(self, job: Job, execution: Any, stop: threading.Event) -> None:
        """Renew the lease every third of it until the job ends; Redis being away for a while is survivable."""
        while not stop.wait(self.lease_s / 3):
            try:
                self.maintain_heartbeats(job, execution)
            except Exception as exc:  # noqa: BLE001 - keep trying; the lease only runs out if this lasts
                log.warning("could not renew the lease of job %s: %s", job.id, exc)

    def handle_job_failure(self, job: Job, queue: Any, *args: Any, **kwargs: Any) -> None:
        """A track job that raised or timed out is not retried: the retry is kept for crashes, and for a job
        that failed because Redis went away."""
        from worker.contract.tracks import JOB_FUNCS

        exc_string = str(kwargs.get("exc_string") or (args[1] if len(args) > 1 else ""))
        try:
            func = job.func_name
        except Exception:  # noqa: BLE001 - data that is not JSON (a planted pickle): never retried, never read
            func = JOB_FUNCS["compose"]
        if func in JOB_FUNCS.values() and not any(name in exc_string for name in LOST_REDIS):
            job.retries_left = 0
        super().handle_job_failure(job, queue, *args, **kwargs)
