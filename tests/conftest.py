"""Shared fixtures: a real redis-server per test on a free loopback port, a temporary data directory."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from worker.cli.redis_server import RedisServer
from worker.jobs.settings import use_settings


@pytest.fixture(autouse=True)
def fresh_worker_settings() -> Iterator[None]:
    """The worker's settings are read once per process: each test reads them again from its own environment
    (set by monkeypatch before the first use), and leaves none behind."""
    use_settings(None)
    yield
    use_settings(None)


@pytest.fixture
def redis_server() -> Iterator[RedisServer]:
    with RedisServer() as server:
        yield server


@pytest.fixture
def redis_conn(redis_server: RedisServer):
    from redis import Redis

    conn = Redis.from_url(redis_server.url)
    yield conn
    conn.close()


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "data"
    path.mkdir()
    monkeypatch.setenv("TUNESMITH_DATA_DIR", str(path))
    return path


@pytest.fixture(autouse=True)
def _rq_workers_stop_promptly(monkeypatch: pytest.MonkeyPatch) -> None:
    """RQ's pub/sub listener polls every 60 s and redis-py 8 joins it with no timeout, so a plain in-process
    burst worker could take a minute to return (the production worker fixes this in worker.jobs.lease: reuse it)."""
    from rq.worker.base import BaseWorker

    from worker.jobs.lease import LeasedWorker

    monkeypatch.setattr(BaseWorker, "subscribe", LeasedWorker.subscribe)
    monkeypatch.setattr(BaseWorker, "unsubscribe", LeasedWorker.unsubscribe)
