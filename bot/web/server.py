"""``python -m bot.web`` (and ``tunesmith web``): serve the playground on the deployment at REDIS_URL: its
queue, workers, database and data directory. ``tunesmith web`` without REDIS_URL (the embedded default, as
``tunesmith compose``) first starts a private redis-server and a worker (worker.cli.main), then calls ``main``."""

from __future__ import annotations

import argparse
import asyncio
import ipaddress
import logging
import signal
import sys
from collections.abc import Iterable

from aiohttp import web

from bot.config import ConfigError, LogSettings, WebSettings
from bot.storage.db import Database, DatabaseError
from bot.storage.store import Store
from bot.web.app import LOOPBACK_NAMES, make_app
from bot.web.playground import Playground
from worker.contract.logfmt import setup_logging

log = logging.getLogger("bot.web")


def allowed_hosts(host: str, extra: Iterable[str] = ()) -> frozenset[str]:
    """Host names to answer (ports aside): the loopback names when bound to loopback (so a page elsewhere
    cannot rebind a DNS name onto it), plus ``extra`` (TUNESMITH_WEB_HOSTS); empty (any) when bound elsewhere
    without it."""
    extra = [h.strip().lower() for h in extra if h.strip()]
    try:
        loopback = ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = host == "localhost"
    if extra:
        return frozenset([*extra, *(LOOPBACK_NAMES if loopback else ())])
    return LOOPBACK_NAMES if loopback else frozenset()


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
        bound = runner.addresses[0][1] if runner.addresses else port
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
        help="`tunesmith web` without REDIS_URL: how many workers to start beside it (default: 1)",
    )
    parser.add_argument("--log-level", default="INFO")
    return parser


def bad_args(args: argparse.Namespace) -> str | None:
    """What is wrong with the options (None: nothing)."""
    if not 0 <= args.port <= 65535:
        return f"--port must be 0 to 65535, not {args.port}"
    if args.workers < 0:
        return "--workers must be 0 or more"
    return None


def main(argv: list[str] | None = None, *, redis_url: str | None = None) -> int:
    """Serve until stopped on the Redis at ``redis_url`` (default: REDIS_URL); returns the exit code (2: bad
    settings, 1: could not start)."""
    args = build_parser().parse_args(argv)
    logs = LogSettings.from_env()
    setup_logging(args.log_level.upper(), logs.fmt, sys.stderr, secrets=logs.secrets)
    if (problem := bad_args(args)) is not None:
        log.error("%s", problem)
        return 2
    try:
        settings = WebSettings.from_env()
    except ConfigError as exc:
        log.error("%s", exc)
        return 2
    data_dir, limits = settings.data_path, settings.limits
    redis_url = redis_url or settings.redis_url
    if not redis_url:
        log.error(
            "REDIS_URL is not set: run `tunesmith web`, which starts a private redis-server and a worker, "
            "or point REDIS_URL at the deployment's Redis"
        )
        return 2
    try:
        db = Database(settings.database_url, data_dir)
        db.migrate()
    except (DatabaseError, OSError) as exc:
        log.error("could not open the database: %s", exc)
        return 2
    from redis import Redis

    redis = Redis.from_url(redis_url, socket_timeout=10, socket_connect_timeout=5)
    try:
        playground = Playground(Store(db), redis, data_dir, limits)
        asyncio.run(serve(playground, args.host, args.port, allowed_hosts(args.host, settings.web_hosts)))
    except OSError as exc:
        log.error("could not serve on %s:%s: %s", args.host, args.port, exc)
        return 1
    except KeyboardInterrupt:
        pass
    finally:
        redis.close()
        db.close()
    return 0
