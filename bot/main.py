"""Entry point for the bot process (`tunesmith bot` / `python -m bot`): logging, settings, run."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import sys

import discord
import discord.gateway
import discord.http
import yarl

from bot.client import TunesmithBot
from bot.config import ConfigError, Settings

log = logging.getLogger("bot")


def apply_overrides(settings: Settings) -> None:
    """Point discord.py at another REST base and gateway (a loopback fake in tests, or a proxy)."""
    if settings.api_base:
        discord.http.Route.BASE = settings.api_base
    if settings.gateway_url:
        discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(settings.gateway_url)


def setup_logging() -> None:
    """Log to stderr at TUNESMITH_LOG_LEVEL (default INFO)."""
    level = os.environ.get("TUNESMITH_LOG_LEVEL", "INFO").upper()
    logging.basicConfig(level=getattr(logging, level, logging.INFO), stream=sys.stderr,
                        format="%(asctime)s %(levelname)-7s %(name)s: %(message)s")


async def run(settings: Settings) -> None:
    """Run the bot until it is closed or gets SIGTERM/SIGINT."""
    async with TunesmithBot(settings) as bot:
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
    apply_overrides(settings)
    log.info("starting: redis %s, guild %s, api %s", settings.redis_url, settings.guild_id or "global",
             settings.api_base or "discord.com")
    try:
        asyncio.run(run(settings))
    except discord.LoginFailure:
        log.error("Discord rejected DISCORD_TOKEN: check the bot token (it is not logged)")
        return 1
    except (discord.GatewayNotFound, discord.ConnectionClosed, OSError) as exc:
        log.error("could not stay connected to Discord: %s", exc)
        return 1
    except KeyboardInterrupt:
        return 0
    log.info("stopped")
    return 0
