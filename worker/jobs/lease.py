"""Crash recovery for track jobs: every job a worker holds is leased, from the moment it leaves its queue
(an atomic claim, worker.contract.claims) until it ends (RQ's StartedJobRegistry), and the lease is renewed while the
worker lives, so a job whose worker died is retried once on another worker, or failed, within seconds instead
of looking "queued" or "started" for ever."""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from typing import TYPE_CHECKING, Any

from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError
from redis.exceptions import TimeoutError as RedisTimeoutError
from rq import SimpleWorker
from rq.exceptions import NoSuchJobError, StopRequested
from rq.utils import now

from worker.contract import claims, faults
from worker.jobs.settings import settings

if TYPE_CHECKING:  # pragma: no cover
    from rq.job import Job

log = logging.getLogger(__name__)

LOST_REDIS = ("redis.exceptions.ConnectionError", "redis.exceptions.TimeoutError")
WAIT_S = 0.5  # an idle worker blocks this long at a time: it notices a stop request within half a second
HEARTBEAT_S = 5.0  # how often an idle worker renews its own registration (RQ: every dequeue timeout)


def lease_s() -> int:
    """How long a running job stays "started" without a heartbeat: the settings' ``TUNESMITH_JOB_LEASE_S``
    (default 30, at least 2)."""
    return settings().lease_s


class LeasedWorker(SimpleWorker):
    """A SimpleWorker whose jobs hold a short lease from the moment they leave their queue, renewed while they
    run; it looks for abandoned jobs every lease, and stops within about a second of SIGTERM when idle.

    Dequeue: RQ's pops a job and records it as started only several Redis calls later; a worker killed in
    between lost the job (with one queue RQ's shared "intermediate" list kept it, but failed it a minute later;
    with two, as ``tunesmith worker`` listens by default, nothing kept it). Here a job leaves its queue only by
    ``worker.contract.claims.pop``, which records a claim with a lease in the same Lua script; the claim is dropped in
    the pipeline that records the job as started, and renewed meanwhile; ``worker.contract.claims.reap``, run by every
    worker's maintenance and by the bot, gives the job of an expired claim back to the front of its queue (once;
    a second loss fails it). While idle the worker waits with ``worker.contract.claims.wait``, which takes nothing.

    Stopping: RQ raised StopRequested from the signal handler when idle, wherever the main thread was: inside
    a Redis reply (losing a job just popped), or inside code that catches Exception (the batch claim), where
    it was swallowed and the worker went on; and its pub/sub thread, joined without a timeout, could keep an
    idle worker alive for a minute after "warm shut down requested". Here the handler only sets a flag: the
    loop checks it between jobs and every ``WAIT_S``, and the pub/sub thread is stopped within
    ``WAIT_S`` too.

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
        kwargs.setdefault("worker_ttl", self.lease_s + 15)
        super().__init__(*args, **kwargs)
        self._held: set[str] = set()  # claimed jobs not yet started: their claims are renewed
        self._held_lock = threading.Lock()
        self._keeper: threading.Thread | None = None

    # --- claims ---------------------------------------------------------------------------------------------
    def hold(self, job_ids: list[str]) -> None:
        """Renew these jobs' claims until ``unhold`` (from a thread started on first use)."""
        with self._held_lock:
            self._held.update(job_ids)
            if self._keeper is None or not self._keeper.is_alive():
                self._keeper = threading.Thread(target=self._keep_claims, name="claim-leases", daemon=True)
                self._keeper.start()

    def unhold(self, job_ids: list[str]) -> None:
        with self._held_lock:
            self._held.difference_update(job_ids)

    def _keep_claims(self) -> None:
        while True:
            time.sleep(self.lease_s / 3)
            with self._held_lock:
                held = sorted(self._held)
            if held:
                try:
                    claims.renew(self.connection, held, self.lease_s)
                except Exception as exc:  # noqa: BLE001 - retried next round; the claim runs out only if this lasts
                    log.warning("could not renew the claims of %s: %s", ", ".join(held), exc)

    def dequeue_job_and_maintain_ttl(self, timeout: int | None, max_idle_time: int | None = None) -> Any:
        """The next job, claimed (``worker.contract.claims.pop``); None in burst mode when the queues are empty, after
        ``max_idle_time`` idle, or once a stop was asked for."""
        self.set_state("idle")
        qnames = ",".join(self.queue_names())
        self.procline("Listening on " + qnames)
        idle_since, beat_at, backoff = time.monotonic(), float("-inf"), 1.0
        while not self._stop_requested:
            try:
                if time.monotonic() - beat_at >= HEARTBEAT_S:
                    self.heartbeat()
                    beat_at = time.monotonic()
                if self.should_run_maintenance_tasks:
                    self.run_maintenance_tasks()
                found = claims.pop(self.connection, [q.key for q in self._ordered_queues], self.lease_s)
                if found is not None:
                    job, queue = self._claimed(*found)
                    if job is None:
                        continue
                    faults.point("after_dequeue")
                    self.reorder_queues(reference_queue=queue)
                    self.log.info("Worker %s: %s: %s", self.name, queue.name, job.id)
                    self.heartbeat()
                    return job, queue
                if timeout is None:
                    return None
                if max_idle_time is not None and time.monotonic() - idle_since >= max_idle_time:
                    return None
                claims.wait(self.connection, self._ordered_queues[0].key, WAIT_S)
                backoff = 1.0
            except (RedisConnectionError, RedisTimeoutError) as exc:
                self.log.error("Worker %s: could not reach Redis: %s; retrying in %.0f s", self.name, exc, backoff)
                time.sleep(backoff)
                backoff = min(backoff * 2, 30.0)
        return None

    def _claimed(self, queue_key: str, job_id: str) -> tuple[Any, Any]:
        """The claimed job and its queue, its claim held; (None, None) if its data is gone (claim dropped).
        Any other failure leaves the claim to run out, so the reaper gives the job back to its queue."""
        self.hold([job_id])
        queue = next(q for q in self.queues if q.key == queue_key)
        try:
            job = self.job_class.fetch(job_id, connection=self.connection, serializer=self.serializer)
        except NoSuchJobError:
            self.unhold([job_id])
            claims.release(self.connection, [job_id])
            return None, None
        except Exception as exc:
            self.unhold([job_id])
            exc.job_id, exc.queue = job_id, queue  # type: ignore[attr-defined]
            raise
        return job, queue

    def prepare_job_execution(self, job: Job, remove_from_intermediate_queue: bool = False) -> None:
        """RQ's bookkeeping before a job runs, with the job's claim dropped in the same MULTI that records it
        as started (so it is never in neither)."""
        with self.connection.pipeline() as pipeline:
            heartbeat_ttl = self.get_heartbeat_ttl(job)
            self.heartbeat(heartbeat_ttl, pipeline=pipeline)
            job.heartbeat(now(), heartbeat_ttl, pipeline=pipeline)
            job.prepare_for_execution(self.name, pipeline=pipeline)
            pipeline.persist(job.key)
            claims.release_in(pipeline, [job.id])
            pipeline.execute()
        self.unhold([job.id])
        self.procline(f"Processing {job.func_name} from {job.origin} since {time.time()}")
        faults.point("after_start")

    def run_maintenance_tasks(self) -> None:
        """RQ's (abandoned started jobs retried or failed), then expired claims given back or failed."""
        super().run_maintenance_tasks()
        try:
            claims.reap(self.connection, lease_s=self.lease_s)
        except RedisError as exc:
            log.warning("looking for lost claims failed: %s", exc)

    # --- stopping -------------------------------------------------------------------------------------------
    def _shutdown(self) -> None:
        """Warm shutdown, idle or busy: finish what was taken, then stop (never raise from the handler)."""
        self._stop_requested = True
        with contextlib.suppress(Exception):
            self.set_shutdown_requested_date()
        if self.scheduler:
            self.stop_scheduler()

    def subscribe(self) -> None:
        """RQ's command channel, with a listener that notices a stop within ``WAIT_S`` (RQ's waits 60 s)."""
        self.log.info("Worker %s: subscribing to channel %s", self.name, self.pubsub_channel_name)
        self.pubsub = self.connection.pubsub()
        self.pubsub.subscribe(**{self.pubsub_channel_name: self.handle_payload})
        self.pubsub_thread = self.pubsub.run_in_thread(  # type: ignore[assignment]  # RQ declares it None only
            sleep_time=WAIT_S, daemon=True, exception_handler=self._pubsub_exception_handler
        )

    def unsubscribe(self) -> None:
        """Stop the listener without waiting on it for long (it is a daemon thread)."""
        thread, pubsub = self.pubsub_thread, self.pubsub
        if not thread:
            return
        self.pubsub_thread = None
        thread._running.clear()  # what stop() does, without its unbounded join (redis-py 8)
        thread.join(timeout=2 * WAIT_S)
        with contextlib.suppress(Exception):
            pubsub.close()  # closing the connection unsubscribes it

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
            except (RedisError, StopRequested):
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
