"""A deployment for fault and load tests: the fake Discord, redis-server (optionally with an append-only file,
restartable on the same port), N workers (real or stand-in) that tests may kill, and the real bot.

``python -m tests.reliability.harness`` (REDIS_URL, TUNESMITH_DATA_DIR set) is the stand-in worker: the same
``run_worker`` as ``tunesmith worker`` (ComposeWorker with its lease, JSON serializer, reconnects) running the
stand-in job of tests.fakes.stand_in_worker (three tiny files, no model), for tests where the model is not
the point.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tests.fakes import discord_payloads as P
from tests.fakes import driver, processes
from tests.fakes.stack import TUNESMITH, Stack
from worker.cli.redis_server import RedisServer
from worker.contract.tracks import fetch_job

STAND_IN = [sys.executable, "-m", "tests.reliability.harness"]
REAL = [TUNESMITH, "worker", "--queues", "compose"]
LEASE_S = 3  # the tests' job lease (production: 30 s), so a dead worker's job is found within seconds


class Fleet(Stack):
    """A Stack with ``workers`` worker processes and, with ``password``, a Redis that requires one (set at run
    time, so lost on a restart); ``stop()`` checks that no log holds a secret."""

    def __init__(
        self,
        tmp: Path,
        worker_args: list[str],
        *,
        workers: int = 1,
        aof: bool = False,
        password: str | None = None,
        **env: str,
    ) -> None:
        super().__init__(tmp, worker_args, **{"TUNESMITH_JOB_LEASE_S": str(LEASE_S), **env})
        self.password = password
        if aof:
            self.redis_server = RedisServer(appendonly=True, data_dir=tmp / "redis")
            (tmp / "redis").mkdir(exist_ok=True)
        self.n_workers = workers
        self.workers: list[subprocess.Popen] = []
        self.spawned = 0

    def start(self, style: str = "irish", timeout: float = 90.0) -> Fleet:
        self.fake.start()
        self.redis_server.start()
        from redis import Redis

        url = self.redis_server.url
        if self.password:
            Redis.from_url(url).config_set("requirepass", self.password)
            url = url.replace("redis://", f"redis://:{self.password}@")
        self.redis = Redis.from_url(url)
        self.env = processes.bot_env(self.fake, url, self.data_dir, **self.extra_env)
        for _ in range(self.n_workers):
            self.add_worker()
        self.start_bot()
        driver.wait_styles(self.fake, self.procs, style, timeout=timeout)
        return self

    def add_worker(self, args: list[str] | None = None, **env: str) -> subprocess.Popen:
        """Start one more worker (``args`` default: the fleet's), logging to worker<N>.log."""
        proc = processes.spawn(args or self.worker_args, {**self.env, **env}, self.tmp / f"worker{self.spawned}.log")
        self.spawned += 1
        self.workers.append(proc)
        return proc

    def swap_worker(self, args: list[str] | None = None, timeout: float = 60.0, **env: str) -> subprocess.Popen:
        """Stop every worker (warm shutdown), start one (``args``, extra ``env``), return once it listens."""
        for proc in list(self.workers):
            processes.stop(proc)
            self.workers.remove(proc)
        proc = self.add_worker(args, **env)
        self.await_registered(proc, timeout)
        return proc

    def await_registered(self, proc: subprocess.Popen, timeout: float = 60.0) -> None:
        """Until worker ``proc`` has registered with RQ (it is about to listen)."""
        from rq import Worker

        until(
            lambda: (
                any(w.name.endswith(f"-{proc.pid}") for w in Worker.all(connection=self.redis))
                or proc.poll() is not None
            ),
            timeout,
            "the new worker to register",
        )
        assert proc.poll() is None, processes.tail(proc)

    def reap_dead(self, proc: subprocess.Popen, timeout: float = 30.0) -> int:
        """Wait for ``proc`` (a worker or the bot) to exit by itself, forget it; returns its exit status."""
        code = proc.wait(timeout)
        processes.stop(proc)
        if proc in self.workers:
            self.workers.remove(proc)
        if proc is self.bot:
            self.bot = None
        return code

    def start_bot_with(self, **env: str) -> subprocess.Popen:
        """Start a bot with extra environment (e.g. a fault to inject); later bots start without it."""
        plain = self.env
        self.env = {**plain, **env}
        try:
            return self.start_bot()
        finally:
            self.env = plain

    def kill_worker(self, proc: subprocess.Popen) -> float:
        """SIGKILL a worker's whole process group (no warm shutdown, nothing cleaned up); returns when."""
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(10)
        self.workers.remove(proc)
        processes.stop(proc)
        return time.monotonic()

    def restart_redis(self, *, kill: bool = True, down_s: float = 1.0) -> None:
        """Kill (or stop) redis-server, leave it down ``down_s``, start it again on the same port and files."""
        proc = self.redis_server.proc
        assert proc is not None
        if kill:
            proc.kill()
            proc.wait(10)
        self.redis_server.stop()
        time.sleep(down_s)
        self.redis_server.start()

    @property
    def procs(self) -> list[subprocess.Popen]:
        return [p for p in (self.bot, *self.workers) if p is not None]

    def stop(self) -> None:
        for proc in self.workers:
            processes.stop(proc)
        if self.bot is not None:
            processes.stop(self.bot)
        self.redis.close()
        self.redis_server.stop()
        self.fake.stop()
        self.check_logs()

    def check_logs(self) -> None:
        """No log holds the bot token or the Redis password; at INFO, none holds an interaction token either
        (at DEBUG discord.py's own request traces carry those: DEBUG is for development only)."""
        secrets = {"the bot token": P.BOT_TOKEN, "the Redis password": self.password or ""}
        if self.env.get("TUNESMITH_LOG_LEVEL", "INFO").upper() != "DEBUG":
            secrets.update({f"interaction token {i.token}": i.token for i in self.fake.interactions.values()})
        logs = {p.name: p.read_text(errors="replace") for p in self.tmp.glob("*.log")}
        leaked = [
            f"{what} in {name}"
            for what, secret in secrets.items()
            if secret
            for name, text in logs.items()
            if secret in text
        ]
        assert not leaked, f"secrets in the logs: {leaked[:5]}"

    # --- looking at jobs ----------------------------------------------------------------------------------
    def job_status(self, track_id: str) -> str | None:
        raw = self.redis.hget(f"rq:job:{track_id}", "status")
        return raw.decode() if raw else None

    def wait_status(self, track_id: str, wanted: set[str], timeout: float = 30.0) -> str:
        deadline = time.monotonic() + timeout
        while (status := self.job_status(track_id)) not in wanted:
            for proc in self.procs:
                assert proc.poll() is None, f"{proc.args} exited:\n{processes.tail(proc)}"
            if time.monotonic() > deadline:
                raise TimeoutError(f"job {track_id} is {status}, not {wanted}, after {timeout:g}s")
            time.sleep(0.01)
        return status

    def worker_running(self, track_id: str, timeout: float = 60.0) -> subprocess.Popen:
        """The live worker process running ``track_id`` (worker names end in the pid), once one is."""

        def live() -> subprocess.Popen | None:
            if self.job_status(track_id) != "started":
                return None
            name = fetch_job(self.redis, track_id).worker_name or ""
            return next((p for p in self.workers if name.endswith(f"-{p.pid}")), None)

        return until(live, timeout, f"a live worker running {track_id}")

    def outcome(self, inter: Any, timeout: float = 60.0) -> Any:
        """The bot's last word on a /compose: the follow-up with the files, or the edit saying it failed."""

        def final(rec: Any) -> bool:
            if driver.is_followup(inter)(rec) and rec.status == 200:
                return True
            return driver.is_edit(inter)(rec) and "❌" in str((rec.json or {}).get("content"))

        return self.wait(final, timeout)


def compose(fleet: Fleet, who: str, options: dict[str, Any]) -> tuple[Any, str]:
    """Run /compose as ``who``; returns the interaction once deferred, and the queued track's id."""
    from tests.fakes.stack import user

    inter = fleet.fake.inject_slash("compose", options, user=user(who))
    defer = fleet.wait(driver.is_callback(inter), 5)
    assert defer.json == {"type": 5}, defer.json
    return inter, fleet.queued_track(user(who))


def until(predicate: Callable[[], Any], timeout: float, what: str) -> Any:
    """Poll ``predicate`` every 20 ms until it returns something truthy."""
    deadline = time.monotonic() + timeout
    while not (value := predicate()):
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what}: not within {timeout:g}s")
        time.sleep(0.02)
    return value


def stand_in_worker() -> int:
    """Run the real worker loop on the stand-in job (see the module docstring); returns its exit code."""
    import worker.jobs
    import worker.jobs.runner as runner
    from tests.fakes import stand_in_worker as stand_in
    from worker.contract.tracks import publish_styles

    worker.jobs.compose = stand_in.compose  # type: ignore[attr-defined]  # what RQ's "worker.jobs.compose" finds
    runner.preload = lambda: None  # nothing to import ahead: no model

    def announce(conn: Any) -> list[str]:
        publish_styles(conn, stand_in.STYLES)
        return sorted(stand_in.STYLES)

    runner.announce_styles = announce
    queues = os.environ.get("STAND_IN_QUEUES", "compose,train").split(",")  # as `tunesmith worker` by default
    return runner.run_worker(os.environ["REDIS_URL"], queues, log_level=os.environ.get("STAND_IN_LOG_LEVEL", "WARNING"))


if __name__ == "__main__":
    sys.exit(stand_in_worker())
