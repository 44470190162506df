"""worker.jobs.metrics: the HTTP exporter on a loopback port shows a real Redis queue's depth and job histograms."""

from __future__ import annotations

import re
import urllib.request
from collections.abc import Iterator

import pytest
from prometheus_client import CollectorRegistry, generate_latest
from redis import Redis
from rq import SimpleWorker

from worker.cli.redis_server import free_port
from worker.contract.tracks import SERIALIZER, ComposeRequest, compose_queue, enqueue_compose, fetch_job
from worker.jobs import metrics
from worker.jobs.settings import SettingsError, WorkerSettings


@pytest.fixture
def server() -> Iterator[str]:
    srv = metrics.start_metrics_server(0, addr="127.0.0.1")
    yield f"http://127.0.0.1:{srv.server_port}/metrics"
    srv.shutdown()
    srv.server_close()
    metrics.unwatch_queues()


def scrape(url: str) -> str:
    with urllib.request.urlopen(url, timeout=5) as response:
        assert response.status == 200
        return response.read().decode()


def sample(text: str, name: str, **labels: str) -> float | None:
    """The value of the sample ``name{labels}`` in an exposition ``text`` (labels matched as a subset)."""
    for line in text.splitlines():
        match = re.match(r"^([a-zA-Z_:][\w:]*)(?:\{(.*)\})? (\S+)$", line)
        if not match or match[1] != name:
            continue
        found = dict(re.findall(r'(\w+)="([^"]*)"', match[2] or ""))
        if all(found.get(k) == v for k, v in labels.items()):
            return float(match[3])
    return None


def test_queue_depth_and_histogram_over_http(server: str, redis_conn: Redis) -> None:
    metrics.watch_queues(redis_conn)
    assert sample(scrape(server), "tunesmith_queue_depth", queue="compose") == 0
    for user in ("a", "b", "a"):
        enqueue_compose(redis_conn, ComposeRequest(style="irish", seconds=30, user_id=user))
    text = scrape(server)
    assert sample(text, "tunesmith_queue_depth", queue="compose") == 3
    assert sample(text, "tunesmith_queue_depth", queue="train") == 0
    assert sample(text, "tunesmith_workers", queue="compose") == 0
    assert sample(text, "tunesmith_redis_up") == 1

    labels = {"arch": "lstm", "kind": "compose"}
    count0 = sample(text, "tunesmith_job_seconds_count", **labels) or 0
    below0 = sample(text, "tunesmith_job_seconds_bucket", le="1.0", **labels) or 0
    metrics.observe_job("lstm", "compose", 1.5)
    text = scrape(server)
    assert sample(text, "tunesmith_job_seconds_count", **labels) == count0 + 1
    assert sample(text, "tunesmith_job_seconds_bucket", le="2.0", **labels) >= 1
    assert sample(text, "tunesmith_job_seconds_bucket", le="1.0", **labels) == below0
    assert "process_cpu_seconds_total" in text or "python_info" in text


def test_observe_rq_job_reads_arch_kind_and_error(redis_conn: Redis) -> None:
    queue = compose_queue(redis_conn)
    good = queue.enqueue("json.dumps", {"arch": "wavenet", "kind": "extend"})
    bad = queue.enqueue("os.path.basename", {"arch": "gan", "kind": "compose"})
    SimpleWorker([queue], connection=redis_conn, serializer=SERIALIZER).work(burst=True)
    good, bad = fetch_job(redis_conn, good.id), fetch_job(redis_conn, bad.id)
    ok_before = metrics.JOB_SECONDS.labels(arch="wavenet", kind="extend")._sum.get()
    fail = metrics.JOB_FAILURES.labels(arch="gan", kind="compose", error="TypeError")
    fail_before = fail._value.get()
    metrics.observe_rq_job(good, 2.0, good.is_finished)
    metrics.observe_rq_job(bad, 0.5, bad.is_finished)
    assert metrics.JOB_SECONDS.labels(arch="wavenet", kind="extend")._sum.get() == ok_before + 2.0
    assert fail._value.get() == fail_before + 1


def test_redis_down_reports_zero_instead_of_failing() -> None:
    registry = CollectorRegistry()
    conn = Redis.from_url(f"redis://127.0.0.1:{free_port()}/0", socket_connect_timeout=0.5)
    metrics.watch_queues(conn, registry=registry)
    text = generate_latest(registry).decode()
    assert sample(text, "tunesmith_redis_up") == 0 and "tunesmith_queue_depth" not in text


def test_votes_fine_tunes_and_port_setting() -> None:
    up = metrics.VOTES.labels(value="up")
    down = metrics.VOTES.labels(value="down")
    u0, d0 = up._value.get(), down._value.get()
    metrics.count_vote(1)
    metrics.count_vote(-1)
    metrics.count_vote("up")
    assert (up._value.get() - u0, down._value.get() - d0) == (2, 1)
    metrics.count_fine_tune("irish", "lstm")
    assert metrics.FINE_TUNES.labels(style="irish", arch="lstm", outcome="ok")._value.get() >= 1
    port = WorkerSettings.from_env({"TUNESMITH_METRICS_PORT": "9100"}).metrics_port
    assert WorkerSettings.from_env({}).metrics_port is None and port == 9100
    with pytest.raises(SettingsError, match="TUNESMITH_METRICS_PORT"):
        WorkerSettings.from_env({"TUNESMITH_METRICS_PORT": "http"})
