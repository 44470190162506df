"""worker.cli.health: the containers' health checks against a real Redis."""

from __future__ import annotations

import socket
import subprocess
import sys

from redis import Redis
from rq import SimpleWorker

from worker.cli.health import check, main
from worker.cli.redis_server import RedisServer, free_port
from worker.contract.tracks import SERIALIZER, compose_queue


def test_bot_is_healthy_when_redis_answers(redis_server: RedisServer) -> None:
    assert check("bot", {"REDIS_URL": redis_server.url}) is None
    down = f"redis://:secret@127.0.0.1:{free_port()}/0"
    problem = check("bot", {"REDIS_URL": down})
    assert problem and "unreachable" in problem and "secret" not in problem


def test_worker_needs_a_registered_worker_on_this_host(redis_server: RedisServer, redis_conn: Redis) -> None:
    env = {"REDIS_URL": redis_server.url}
    assert "no worker named" in (check("worker", env) or "")
    worker = SimpleWorker(
        [compose_queue(redis_conn)],
        connection=redis_conn,
        serializer=SERIALIZER,
        name=f"tunesmith-{socket.gethostname()}-4242",
    )
    worker.register_birth()
    try:
        assert check("worker", env) is None
        assert check("worker", env, hostname="elsewhere") is not None
    finally:
        worker.register_death()


def test_command_line(redis_server: RedisServer) -> None:
    assert main(["nonsense"]) == 2
    run = subprocess.run(
        [sys.executable, "-m", "worker.cli.health", "bot"],
        capture_output=True,
        text=True,
        env={"REDIS_URL": redis_server.url, "PATH": ""},
        timeout=60,
    )
    assert run.returncode == 0, run.stderr
