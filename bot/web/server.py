"""``tunesmith web`` / ``python -m bot.web``: serve the playground. With REDIS_URL it joins that deployment's
queue, workers, database and data directory; without it (the embedded default, as ``tunesmith compose``)
it starts a private redis-server and a worker of its own, and stops both when it stops."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import ipaddress
import logging
import os
import signal
import subprocess
import sys
from collections.abc import Iterator, Mapping
from pathlib import Path

from aiohttp import web

from bot.config import ConfigError, limits_from_env
from bot.db import Database, DatabaseError
from bot.store import Store
from bot.web.app import LOOPBACK_NAMES, make_app
from bot.web.playground import Playground
from worker.logfmt import setup_logging

log = logging.getLogger("bot.web")

HOSTS_ENV = "TUNESMITH_WEB_HOSTS"  # extra Host names a non-loopback server answers to (comma-separated)


def data_path(env: Mapping[str, str]) -> Path:
    """The data directory the workers write tracks to (TUNESMITH_DATA_DIR, as the bot and worker read it)."""
    raw = env.get("TUNESMITH_DATA_DIR", "").strip()
    return Path(raw).expanduser() if raw else Path.home() / ".local" / "share" / "tunesmith"


def allowed_hosts(host: str, env: Mapping[str, str]) -> frozenset[str]:
    """Host names to answer (ports aside): the loopback names when bound to loopback (so a page elsewhere
    cannot rebind a DNS name onto it), plus TUNESMITH_WEB_HOSTS; empty (any) when bound elsewhere without it."""
    extra = [h.strip().lower() for h in env.get(HOSTS_ENV, "").split(",") if h.strip()]
    try:
        loopback = ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = host == "localhost"
    if extra:
        return frozenset([*extra, *(LOOPBACK_NAMES if loopback else ())])
    return LOOPBACK_NAMES if loopback else frozenset()


def _die_with_parent() -> None:  # pragma: no cover - runs in the child between fork and exec
    """Linux: the embedded worker gets SIGTERM if ``tunesmith web`` dies without stopping it."""
    with contextlib.suppress(Exception):
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


@contextlib.contextmanager
def embedded(data_dir: Path, workers: int, log_level: str) -> Iterator[str]:
    """A private redis-server and ``workers`` compose workers; yields the Redis URL."""
    from worker.redis_server import RedisServer

    with RedisServer() as server:
        env = {k: v for k, v in os.environ.items() if k != "DISCORD_TOKEN"}
        env.update(REDIS_URL=server.url, TUNESMITH_DATA_DIR=str(data_dir))
        procs = [
            subprocess.Popen(
                [sys.executable, "-m", "worker", "--queues", "compose", "--log-level", log_level],
                env=env,
                stdin=subprocess.DEVNULL,
                preexec_fn=_die_with_parent,
            )
            for _ in range(workers)
        ]
        try:
            yield server.url
        finally:
            for proc in procs:
                if proc.poll() is None:
                    proc.terminate()  # a warm shutdown: the job under way finishes first
            for proc in procs:
                try:
                    proc.wait(20)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait(5)


async def serve(playground: Playground, host: str, port: int, hosts: frozenset[str]) -> None:
    """Run the site until SIGTERM or SIGINT."""
    runner = web.AppRunner(make_app(playground, allowed_hosts=hosts), access_log=None, shutdown_timeout=5)
    await runner.setup()
    try:
        site = web.TCPSite(runner, host, port)
        await site.start()
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        shown = f"[{host}]" if ":" in host else host
        bound = site._server.sockets[0].getsockname()[1] if site._server and site._server.sockets else port  # noqa: SLF001
        shown = "127.0.0.1" if host in ("0.0.0.0", "::") else shown
        print(f"tunesmith web: open http://{shown}:{bound}/ (Ctrl-C stops it)", file=sys.stderr, flush=True)
        await stop.wait()
    finally:
        await runner.cleanup()


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="tunesmith web", description="Serve the web playground.")
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default: 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8080, help="port (default: 8080; 0 picks a free one)")
    parser.add_argument(
        "--workers",
        type=int,
        default=1,
        help="embedded mode only (no REDIS_URL): how many workers to start (default: 1)",
    )
    parser.add_argument("--log-level", default="INFO")
    return parser


def main(argv: list[str] | None = None) -> int:
    """Serve until stopped; returns the exit code (2: bad settings, 1: could not start)."""
    args = build_parser().parse_args(argv)
    setup_logging(args.log_level.upper(), stream=sys.stderr)
    env = os.environ
    if not 0 <= args.port <= 65535 or args.workers < 0:
        log.error("--port must be 0 to 65535 and --workers at least 0")
        return 2
    try:
        limits = limits_from_env(env)
    except ConfigError as exc:
        log.error("%s", exc)
        return 2
    data_dir = data_path(env)
    redis_url = env.get("REDIS_URL", "").strip()
    try:
        db = Database(env.get("DATABASE_URL", "").strip() or None, data_dir)
        db.migrate()
    except (DatabaseError, OSError) as exc:
        log.error("could not open the database: %s", exc)
        return 2
    from redis import Redis

    try:
        with contextlib.ExitStack() as stack:
            if not redis_url:
                redis_url = stack.enter_context(embedded(data_dir, args.workers, "WARNING"))
                log.info("embedded mode: a private redis-server and %d worker(s); tracks in %s", args.workers, data_dir)
            redis = Redis.from_url(redis_url, socket_timeout=10, socket_connect_timeout=5)
            stack.callback(redis.close)
            playground = Playground(Store(db), redis, data_dir, limits)
            asyncio.run(serve(playground, args.host, args.port, allowed_hosts(args.host, env)))
    except OSError as exc:
        log.error("could not serve on %s:%s: %s", args.host, args.port, exc)
        return 1
    except RuntimeError as exc:  # e.g. redis-server missing
        log.error("%s", exc)
        return 1
    except KeyboardInterrupt:
        pass
    finally:
        db.close()
    return 0
