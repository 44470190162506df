"""Entry point for the bot process (`tunesmith bot` / `python -m bot`): logging, settings, run."""

from __future__ import annotations

import asyncio
import logging
import signal
import sys

import discord
import discord.gateway
import discord.http
import yarl

from bot import metrics
from bot.client import bot_class
from bot.config import ConfigError, LogSettings, Settings
from bot.storage.db import Database, DatabaseError
from bot.storage.store import Store
from worker.contract.logfmt import setup_logging as setup_log_handler

log = logging.getLogger("bot")


def apply_overrides(settings: Settings) -> None:
    """Point discord.py at another REST base and gateway (a loopback fake in tests, or a proxy)."""
    if settings.api_base:
        discord.http.Route.BASE = settings.api_base
    if settings.gateway_url:
        discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(settings.gateway_url)


def setup_logging(log: LogSettings | None = None) -> None:
    """Log to stderr at TUNESMITH_LOG_LEVEL (default INFO), as text or JSON lines (TUNESMITH_LOG_FORMAT), with
    the Discord token masked."""
    log = log or LogSettings.from_env()
    setup_log_handler(log.level, log.fmt, sys.stderr, secrets=log.secrets)


def open_store(settings: Settings) -> Store:
    """The database at DATABASE_URL (default: SQLite in the data directory), migrated to the latest schema.

    Raises:
        DatabaseError: the URL is unusable or the driver is missing.
    """
    try:
        db = Database(settings.database_url, settings.data_path)
        db.migrate()
    except DatabaseError:
        raise
    except Exception as exc:
        raise DatabaseError(f"could not open the database: {type(exc).__name__}") from exc
    log.info("database: %s", db.where)
    return Store(db)


async def run(settings: Settings, store: Store) -> None:
    """Run the bot until it is closed or gets SIGTERM/SIGINT."""
    async with bot_class(settings)(settings, store=store) as bot:
        if settings.metrics_port is not None:
            metrics.serve(settings.metrics_port, bot.redis)
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, lambda: asyncio.ensure_future(bot.close()))
        await bot.start(settings.discord_token)


def main(argv: list[str] | None = None) -> int:
    """Start the bot; returns a process exit code (0 clean, 1 login/connection failure, 2 bad config)."""
    setup_logging()
    try:
        settings = Settings.from_env()
    except ConfigError as exc:
        log.error("%s", exc)
        return 2
    try:
        store = open_store(settings)
    except DatabaseError as exc:
        log.error("%s", exc)
        return 2
    apply_overrides(settings)
    log.info(
        "starting: redis %s, guild %s, api %s, %s",
        settings.redis_url,
        settings.guild_id or "global",
        settings.api_base or "discord.com",
        f"{settings.shard_count or 'auto'} shards" if settings.sharded else "unsharded",
    )
    try:
        asyncio.run(run(settings, store))
    except discord.LoginFailure:
        log.error("Discord rejected DISCORD_TOKEN: check the bot token (it is not logged)")
        return 1
    except (discord.GatewayNotFound, discord.ConnectionClosed, OSError) as exc:
        log.error("could not stay connected to Discord: %s", exc)
        return 1
    except KeyboardInterrupt:
        return 0
    finally:
        store.db.close()
    log.info("stopped")
    return 0
