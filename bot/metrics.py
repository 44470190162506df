"""The bot's Prometheus metrics: commands by name and outcome, votes, fine-tunes asked for, the time from a
command to its files being posted, and the queue depth read from Redis at each scrape.

Served on ``TUNESMITH_METRICS_PORT`` like the workers' (worker/metrics.py; the bot may import only the job
contract, so this is its own registry). ``tunesmith_queue_depth`` has the workers' name and labels: aggregate
the processes with ``max by (queue)``.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator, Sequence
from typing import TYPE_CHECKING, Any

from prometheus_client import CollectorRegistry, Counter, Histogram, ProcessCollector
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from worker.contract.tracks import QUEUE_COMPOSE, QUEUE_TRAIN, compose_queue

if TYPE_CHECKING:  # pragma: no cover
    from wsgiref.simple_server import WSGIServer

    from redis import Redis

log = logging.getLogger(__name__)

OUTCOME_KEY = "tunesmith_outcome"  # where a handler notes its outcome, in ``interaction.extras``
OUTCOMES = ("ok", "queued", "refused", "error")
# Command to files: a 30 s track takes 2-5 s on an idle CPU worker; a busy queue, minutes.
DELIVERY_BUCKETS = (1, 2, 3, 5, 7.5, 10, 15, 20, 30, 45, 60, 120, 300, 600, 1800, 3600)

REGISTRY = CollectorRegistry()
ProcessCollector(registry=REGISTRY)

COMMANDS = Counter(
    "tunesmith_bot_commands",
    "Slash commands and button clicks handled, by name and outcome (ok, queued, refused, error)",
    ["command", "outcome"],
    registry=REGISTRY,
)
VOTES = Counter("tunesmith_votes", "Votes cast on tracks, by value (up or down)", ["value"], registry=REGISTRY)
FINE_TUNES = Counter(
    "tunesmith_bot_fine_tunes_requested",
    "Fine-tunes asked for with /finetune, by outcome",
    ["outcome"],
    registry=REGISTRY,
)
DELIVERY_SECONDS = Histogram(
    "tunesmith_bot_command_to_files_seconds",
    "From the command (or button) to its track's files being posted, by kind of track",
    ["kind"],
    buckets=DELIVERY_BUCKETS,
    registry=REGISTRY,
)


def note(interaction: Any, outcome: str) -> None:
    """Record how handling ``interaction`` ended (``queued``, ``refused``, ``error``); the default is ``ok``."""
    extras = getattr(interaction, "extras", None)
    if isinstance(extras, dict):
        extras[OUTCOME_KEY] = outcome


def count_command(name: str, interaction: Any, outcome: str | None = None) -> None:
    """Count one handled command or click, with ``outcome`` or the one noted on the interaction."""
    extras = getattr(interaction, "extras", None)
    chosen = outcome or (extras.get(OUTCOME_KEY) if isinstance(extras, dict) else None) or "ok"
    COMMANDS.labels(command=name, outcome=chosen if chosen in OUTCOMES else "ok").inc()
    if name.startswith("finetune"):
        FINE_TUNES.labels(outcome=chosen).inc()


def count_vote(value: int) -> None:
    """Count one vote (+1 up, -1 down, 0 taken back)."""
    VOTES.labels(value="up" if value > 0 else "down" if value < 0 else "withdrawn").inc()


def observe_delivery(kind: str, seconds: float) -> None:
    """Record the time from a command to its files being posted."""
    DELIVERY_SECONDS.labels(kind=kind or "compose").observe(max(0.0, float(seconds)))


class QueueDepth(Collector):
    """Waiting jobs per RQ queue, read from Redis at scrape time (nothing when Redis does not answer)."""

    def __init__(self, redis: Redis, queues: Sequence[str]) -> None:
        self.redis, self.queues = redis, list(queues)

    def describe(self) -> Iterable[GaugeMetricFamily]:
        return [GaugeMetricFamily("tunesmith_queue_depth", "Jobs waiting in the RQ queue", labels=["queue"])]

    def collect(self) -> Iterator[GaugeMetricFamily]:
        from redis.exceptions import RedisError

        depth = GaugeMetricFamily("tunesmith_queue_depth", "Jobs waiting in the RQ queue", labels=["queue"])
        try:
            for name in self.queues:
                depth.add_metric([name], compose_queue(self.redis, name).count)
        except (RedisError, OSError) as exc:
            log.warning("metrics: Redis did not answer (%s)", type(exc).__name__)
            return
        yield depth


def serve(
    port: int, redis: Redis, addr: str = "0.0.0.0", queues: Sequence[str] = (QUEUE_COMPOSE, QUEUE_TRAIN)
) -> WSGIServer | None:
    """Serve the bot's metrics at ``http://addr:port/metrics`` from a daemon thread (port 0: a free one);
    None, with an error logged, when the port cannot be bound (the bot runs on without metrics)."""
    from prometheus_client import start_http_server

    REGISTRY.register(QueueDepth(redis, queues))
    try:
        server, _thread = start_http_server(port, addr=addr, registry=REGISTRY)
    except OSError as exc:
        log.error("metrics: cannot serve on port %d (%s); running without metrics", port, exc)
        return None
    log.info("metrics on http://%s:%d/metrics", addr, server.server_port)
    return server
