"""The worker process: an RQ SimpleWorker that publishes its styles and runs compose (and train) jobs."""

from __future__ import annotations

import logging
import os
import socket
import sys
import time
from collections.abc import Sequence

from redis import Redis
from redis.exceptions import RedisError

from worker.contract.logfmt import job_fields, log_context, setup_logging
from worker.contract.redact import redact_url
from worker.contract.tracks import (
    HARMONIZER_ARCH,
    QUEUE_COMPOSE,
    SERIALIZER,
    compose_queue,
    publish_features,
    publish_styles,
)
from worker.jobs import batching, metrics
from worker.jobs.lease import LeasedWorker
from worker.jobs.settings import SettingsError, settings

log = logging.getLogger(__name__)


class ComposeWorker(LeasedWorker):
    """Runs every job in the worker process itself, with no fork per job.

    RQ's default ``Worker`` forks a work-horse per job, so a model loaded in the horse dies with it and is
    reloaded for every job, and a model (or CUDA) set up in the parent before the fork breaks CUDA in the
    horse ("Cannot re-initialize CUDA in forked subprocess"). With ``SimpleWorker`` the models in
    ``worker.jobs``' cache stay loaded across jobs, the device is chosen lazily inside the first job, and
    no fork ever follows. SimpleWorker sends no heartbeat while a job runs; ``LeasedWorker`` adds one (a
    short lease renewed from a thread), so a killed worker's job is retried or failed within seconds (see
    worker.jobs.lease). Job timeouts use SIGALRM, which works here because jobs run in the main thread.
    SIGTERM/SIGINT ask for a warm shutdown: the running job
    finishes, then the worker exits; a second signal stops it at once.
    """

    def perform_job(self, job, queue, *args, **kwargs):
        """Run the job and record its time (by arch and kind) and failures in the Prometheus metrics."""
        t0 = time.perf_counter()
        with log_context(**job_fields(job)):  # every line logged while the job runs carries its track id
            ok = super().perform_job(job, queue, *args, **kwargs)
        metrics.observe_rq_job(job, time.perf_counter() - t0, ok)
        return ok

    def execute_job(self, job, queue):
        """Run the job, batched with waiting compose jobs of its style and arch when it can be (jobs.batching)."""
        batching.execute(self, job, queue, super().execute_job)


class WorkerError(RuntimeError):
    """The worker cannot start; the message says why."""


def connect(redis_url: str) -> Redis:
    """A Redis connection that has answered PING.

    Raises:
        WorkerError: the URL is empty or Redis does not answer.
    """
    if not redis_url:
        raise WorkerError("REDIS_URL is not set: point it at the bot's Redis, e.g. redis://127.0.0.1:6379/0")
    try:
        conn = Redis.from_url(redis_url, socket_connect_timeout=5)
        conn.ping()
    except (RedisError, ValueError) as exc:
        raise WorkerError(f"Redis at {redact_url(redis_url)} is unreachable: {redact_url(str(exc))}") from exc
    return conn


def announce_styles(conn: Redis) -> list[str]:
    """Publish the styles this worker has checkpoints for; returns their names."""
    from models.core.versions import summary
    from worker.contract.training import publish_models
    from worker.jobs.context import local_styles
    from worker.jobs.track_jobs import HARMONIZER_STYLE, harmonizer_available

    styles = local_styles()
    publish_styles(conn, styles)
    publish_models(conn, summary(settings().data_dir))
    if harmonizer_available():
        publish_features(conn, {"harmonize": f"{HARMONIZER_STYLE}/{HARMONIZER_ARCH}"})
    return sorted(styles)


def preload() -> None:
    """Import what jobs need (pretty_midi, matplotlib, the models package) before the first job, so that
    job's timings are the work itself; models and the device still load lazily, inside the first job."""
    import models.compose.factory  # noqa: F401
    import worker.jobs.compose_job  # noqa: F401
    import worker.jobs.track_jobs  # noqa: F401
    import worker.output.midi  # noqa: F401
    import worker.output.pianoroll  # noqa: F401
    import worker.output.render  # noqa: F401


def run_worker(
    redis_url: str,
    queues: Sequence[str] = (QUEUE_COMPOSE,),
    *,
    burst: bool = False,
    name: str | None = None,
    log_level: str = "INFO",
) -> int:
    """Run the worker until stopped (or, with ``burst``, until the queues are empty); returns an exit code."""
    try:
        config = settings()  # read once, here: a malformed value stops the start, not a job
    except SettingsError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    setup_logging(log_level, config.log_format, secrets=config.log_secrets)  # text or JSON lines
    try:
        conn = connect(redis_url)
    except WorkerError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    if (port := config.metrics_port) is not None:
        metrics.watch_queues(conn, list(queues))
        metrics.start_metrics_server(port)
    preload()
    styles = announce_styles(conn)
    if styles:
        log.info("serving styles: %s", ", ".join(styles))
    else:
        log.warning("no checkpoints found: compose jobs will fail until one is trained (tunesmith train)")
    worker = ComposeWorker(
        [compose_queue(conn, q) for q in queues],
        connection=conn,
        name=name or f"tunesmith-{socket.gethostname()}-{os.getpid()}",
        serializer=SERIALIZER,
    )
    worker.work(burst=burst, logging_level=log_level)
    return 0
