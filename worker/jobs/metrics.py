"""Prometheus metrics: queue depth read from Redis at scrape time, job latency, failures, votes and fine-tunes.

Torch-free, so the bot may import it too. Each process serves its own registry on ``TUNESMITH_METRICS_PORT``
(``start_metrics_server``); Prometheus adds the instances up. The queue gauges are read from Redis at each
scrape, so every process that calls ``watch_queues`` reports the same numbers: aggregate them with ``max``.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator, Sequence
from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry, Counter, Histogram, PlatformCollector, ProcessCollector
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from worker.contract.tracks import QUEUE_COMPOSE, QUEUE_TRAIN, compose_queue

if TYPE_CHECKING:  # pragma: no cover
    from wsgiref.simple_server import WSGIServer

    from redis import Redis
    from rq.job import Job

log = logging.getLogger(__name__)

# Compose jobs take ~1-10 s on a CPU; train jobs minutes to hours.
LATENCY_BUCKETS = (0.25, 0.5, 1, 2, 3, 5, 7.5, 10, 15, 20, 30, 45, 60, 120, 300, 600, 1800, 3600, 4 * 3600)

REGISTRY = CollectorRegistry()
ProcessCollector(registry=REGISTRY)
PlatformCollector(registry=REGISTRY)

JOB_SECONDS = Histogram(
    "tunesmith_job_seconds",
    "Time a job took, by model architecture and kind of job",
    ["arch", "kind"],
    buckets=LATENCY_BUCKETS,
    registry=REGISTRY,
)
JOB_FAILURES = Counter(
    "tunesmith_job_failures",
    "Jobs that raised, by architecture, kind and exception type",
    ["arch", "kind", "error"],
    registry=REGISTRY,
)
VOTES = Counter("tunesmith_votes", "Votes cast on tracks, by value (up or down)", ["value"], registry=REGISTRY)
BATCH_JOBS = Histogram(
    "tunesmith_batch_jobs",
    "Compose jobs sampled together in one batch (worker.jobs.batching)",
    ["arch"],
    buckets=(2, 4, 8, 16, 32, 64),
    registry=REGISTRY,
)
FINE_TUNES = Counter(
    "tunesmith_fine_tunes",
    "Fine-tunes run, by style, architecture and outcome",
    ["style", "arch", "outcome"],
    registry=REGISTRY,
)


class QueueCollector(Collector):
    """Reads each RQ queue's waiting, running and failed jobs and the worker count from Redis at scrape time."""

    def __init__(self, redis: Redis, queues: Sequence[str]) -> None:
        self.redis = redis
        self.queues = list(queues)

    def describe(self) -> Iterable[GaugeMetricFamily]:
        return list(self._families())

    def _families(self) -> tuple[GaugeMetricFamily, ...]:
        return (
            GaugeMetricFamily("tunesmith_queue_depth", "Jobs waiting in the RQ queue", labels=["queue"]),
            GaugeMetricFamily("tunesmith_queue_running", "Jobs running from the RQ queue", labels=["queue"]),
            GaugeMetricFamily("tunesmith_queue_failed", "Jobs in the queue's failed registry", labels=["queue"]),
            GaugeMetricFamily("tunesmith_workers", "Workers listening on the queue", labels=["queue"]),
            GaugeMetricFamily("tunesmith_redis_up", "1 when Redis answered this scrape, else 0"),
        )

    def collect(self) -> Iterator[GaugeMetricFamily]:
        from redis.exceptions import RedisError
        from rq import Worker

        depth, running, failed, workers, up = self._families()
        try:
            for name in self.queues:
                queue = compose_queue(self.redis, name)
                depth.add_metric([name], queue.count)
                running.add_metric([name], queue.started_job_registry.count)
                failed.add_metric([name], queue.failed_job_registry.count)
                workers.add_metric([name], Worker.count(connection=self.redis, queue=queue))
            up.add_metric([], 1)
        except (RedisError, OSError) as exc:
            log.warning("metrics: Redis did not answer (%s)", type(exc).__name__)
            up.add_metric([], 0)
            yield up
            return
        yield from (depth, running, failed, workers, up)


_collector: QueueCollector | None = None


def watch_queues(
    redis: Redis, queues: Sequence[str] = (QUEUE_COMPOSE, QUEUE_TRAIN), registry: CollectorRegistry = REGISTRY
) -> QueueCollector:
    """Report ``queues``' depth from ``redis`` on ``registry`` (replacing an earlier call's collector)."""
    global _collector
    if registry is REGISTRY:
        unwatch_queues()
    collector = QueueCollector(redis, queues)
    registry.register(collector)
    if registry is REGISTRY:
        _collector = collector
    return collector


def unwatch_queues() -> None:
    """Stop reporting the queues that ``watch_queues`` set up on the module's registry."""
    global _collector
    if _collector is not None:
        REGISTRY.unregister(_collector)
        _collector = None


def observe_job(arch: str, kind: str, seconds: float, *, error: str | None = None) -> None:
    """Record one finished job's wall time; with ``error`` (an exception type name) also count a failure."""
    arch, kind = arch or "unknown", kind or "compose"
    JOB_SECONDS.labels(arch=arch, kind=kind).observe(max(0.0, float(seconds)))
    if error:
        JOB_FAILURES.labels(arch=arch, kind=kind, error=error).inc()


def observe_rq_job(job: Job, seconds: float, ok: bool) -> None:
    """``observe_job`` for an RQ job that just ran: arch and kind from its request (or result), the error
    type from its stored traceback. Never raises: metrics must not fail a job."""
    try:
        request = job.args[0] if job.args and isinstance(job.args[0], dict) else {}
        arch, error = str(request.get("arch") or ""), None
        if ok and isinstance(value := job.return_value(), dict):
            arch = str(value.get("arch") or arch)
        elif not ok:
            result = job.latest_result()
            last = ((result.exc_string if result else "") or "").strip().splitlines()[-1:] or ["error"]
            error = last[0].split(":", 1)[0].rsplit(".", 1)[-1][:60] or "error"
        observe_job(arch or "default", str(request.get("kind") or "compose"), seconds, error=error)
    except Exception:  # noqa: BLE001
        log.debug("metrics: could not record job %s", getattr(job, "id", "?"), exc_info=True)


def count_vote(value: int | str) -> None:
    """Count one vote: ``+1``/``"up"`` or ``-1``/``"down"``."""
    up = value in ("up", "+1", "1") or (isinstance(value, int) and value > 0)
    VOTES.labels(value="up" if up else "down").inc()


def count_fine_tune(style: str, arch: str, outcome: str = "ok") -> None:
    """Count one fine-tune run and its outcome (``ok``, ``failed``, ``rejected``)."""
    FINE_TUNES.labels(style=style, arch=arch, outcome=outcome).inc()


def start_metrics_server(port: int, addr: str = "0.0.0.0", registry: CollectorRegistry = REGISTRY) -> WSGIServer:
    """Serve ``registry`` at ``http://addr:port/metrics`` from a daemon thread; returns the server
    (``server.shutdown()`` stops it). Port 0 picks a free port (``server.server_port``)."""
    from prometheus_client import start_http_server

    server, _thread = start_http_server(port, addr=addr, registry=registry)
    log.info("metrics on http://%s:%d/metrics", addr, server.server_port)
    return server
