"""A whole deployment for end-to-end tests: the fake Discord, a redis-server, a data directory, one worker
(the real ``tunesmith worker`` or the stand-in) and the real bot process, which tests may kill and restart."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import time
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

from redis import Redis

from tests.fakes import discord_payloads as P
from tests.fakes import driver, processes
from tests.fakes.discord_server import FakeDiscord, Interaction, Recorded
from worker.cli.redis_server import RedisServer

TUNESMITH = str(processes.VENV_BIN / "tunesmith")


class Stack:
    """Start with ``start()``, stop with ``stop()``; ``bot`` is always the current bot process."""

    def __init__(self, tmp: Path, worker_args: list[str], **env: str) -> None:
        self.tmp = tmp
        self.data_dir = tmp / "data"
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.fake = FakeDiscord()
        self.redis_server = RedisServer()
        self.worker_args = worker_args
        self.extra_env = env
        self.bot: subprocess.Popen | None = None
        self.worker: subprocess.Popen | None = None
        self.restarts = 0

    def start(self, style: str = "irish", timeout: float = 90.0) -> Stack:
        self.fake.start()
        self.redis_server.start()
        self.redis = Redis.from_url(self.redis_server.url)
        self.env = processes.bot_env(self.fake, self.redis_server.url, self.data_dir, **self.extra_env)
        self.worker = processes.spawn(self.worker_args, self.env, self.tmp / "worker.log")
        self.start_bot()
        driver.wait_styles(self.fake, [self.bot, self.worker], style, timeout=timeout)
        return self

    def start_bot(self) -> subprocess.Popen:
        since = time.monotonic()
        self.bot = processes.spawn([TUNESMITH, "bot"], self.env, self.tmp / f"bot{self.restarts}.log")
        self.restarts += 1
        driver.wait_ready(self.fake, self.bot, since=since)
        return self.bot

    def restart_bot(self, *, kill: bool = False, before_start: Callable[[], Any] | None = None) -> None:
        """Stop the bot (SIGTERM, or SIGKILL with ``kill``), run ``before_start``, start a new one."""
        assert self.bot is not None
        if kill:
            os.killpg(self.bot.pid, signal.SIGKILL)
            self.bot.wait(10)
        processes.stop(self.bot)
        if before_start is not None:
            before_start()
        self.start_bot()

    @property
    def procs(self) -> list[subprocess.Popen]:
        return [p for p in (self.bot, self.worker) if p is not None]

    def stop(self) -> None:
        for proc in self.procs:
            processes.stop(proc)
        self.redis.close()
        self.redis_server.stop()
        self.fake.stop()

    # --- driving it ---------------------------------------------------------------------------------------
    def wait(self, predicate: Callable[[Recorded], bool], timeout: float = 30.0, since: float = 0.0) -> Recorded:
        return driver.wait_alive(self.fake, predicate, timeout, self.procs, since=since)

    def compose(
        self, options: dict[str, Any], user: dict[str, Any], timeout: float = 60.0
    ) -> tuple[Interaction, Recorded]:
        """Run /compose as ``user``; returns the interaction and the follow-up that posted the track(s)."""
        inter = self.fake.inject_slash("compose", options, user=user)
        defer = self.wait(driver.is_callback(inter), 5)
        assert defer.json == {"type": 5}, defer.json
        return inter, self.wait(lambda r: driver.is_followup(inter)(r) and r.status == 200, timeout)

    def click(self, message: dict[str, Any], custom_id: str, user: dict[str, Any]) -> tuple[Interaction, Recorded]:
        """Click a button; returns the interaction and the bot's callback for it."""
        inter = self.fake.inject_click(message, custom_id, user=user)
        return inter, self.wait(driver.is_callback(inter), 5)

    def queued_track(self, who: dict[str, Any], timeout: float = 10.0) -> str:
        """The id of ``who``'s newest track once its job is in Redis and its reply's message id is recorded."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            rows = self.db_rows(
                "SELECT t.id FROM tracks t JOIN deliveries d ON d.id = t.delivery_id WHERE"
                " t.user_id = ? AND d.message_id IS NOT NULL ORDER BY t.created_at DESC",
                (who["id"],),
            )
            if rows and self.redis.exists(f"rq:job:{rows[0][0]}"):
                return rows[0][0]
            time.sleep(0.02)
        raise TimeoutError(f"no queued track for {who['username']}")

    def db_rows(self, sql: str, params: tuple = ()) -> list[tuple]:
        """Read the bot's SQLite database directly (the test's view of what survives)."""
        with sqlite3.connect(self.data_dir / "tunesmith.db", timeout=10) as conn:
            return conn.execute(sql, params).fetchall()

    def db_execute(self, sql: str, params: tuple = ()) -> None:
        with sqlite3.connect(self.data_dir / "tunesmith.db", timeout=10) as conn:
            conn.execute(sql, params)


def user(name: str) -> dict[str, Any]:
    """A Discord user with a fixed id per name, so the same person can come back after a restart."""
    return P.user(str(zlib.crc32(name.encode()) + 10**17), username=name)
