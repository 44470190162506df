"""Crash recovery for track jobs: a short lease on every running job, renewed while it runs, so a job whose
worker died is retried once on another worker, or failed, within seconds instead of looking "started" for ever."""

from __future__ import annotations

import logging
import os
import threading
from typing import TYPE_CHECKING, Any

from rq import SimpleWorker

if TYPE_CHECKING:  # pragma: no cover
    from rq.job import Job

log = logging.getLogger(__name__)

LEASE_ENV = "TUNESMITH_JOB_LEASE_S"
DEFAULT_LEASE_S = 30


def lease_s() -> int:
    """How long a running job stays "started" without a heartbeat: ``$TUNESMITH_JOB_LEASE_S`` (at least 2)."""
    raw = os.environ.get(LEASE_ENV, "").strip()
    return max(2, int(raw)) if raw.isdigit() else DEFAULT_LEASE_S


class LeasedWorker(SimpleWorker):
    """A SimpleWorker whose jobs hold a short lease, renewed while they run; idle, it looks for abandoned jobs
    every lease (its blocking dequeue wakes up that often).

    RQ records a running job in its StartedJobRegistry with an expiry; whoever cleans that registry after the
    expiry (every worker's maintenance, and the bot's poster via ``bot.tracking.reap_abandoned``) retries the
    job if it has retries left, else fails it with ``AbandonedJobError``. Plain ``SimpleWorker`` sets the
    expiry to the job timeout + 60 s and never renews it, and maintenance ran every 10 minutes, so a killed
    worker's job looked "started" for up to 20 minutes. Here the lease is ``TUNESMITH_JOB_LEASE_S`` (30 s),
    renewed every third of it.

    Track jobs are enqueued with ``Retry(max=1)`` (``worker.contract.enqueue_tracks``) and that retry is kept
    for crashes: a job that raised or timed out fails at once, since it would fail the same way again.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.lease_s = lease_s()
        kwargs.setdefault("maintenance_interval", self.lease_s)
        kwargs.setdefault("worker_ttl", self.lease_s + 15)  # RQ blocks in dequeue for worker_ttl - 15 s
        super().__init__(*args, **kwargs)

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
        """A job that raised or timed out is not retried: the retry is kept for crashes."""
        from worker.contract import JOB_FUNCS

        if job.func_name in JOB_FUNCS.values():
            job.retries_left = 0
        super().handle_job_failure(job, queue, *args, **kwargs)
