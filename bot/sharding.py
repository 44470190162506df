"""The bot on ``discord.AutoShardedClient`` for large deployments: every shard in this one process."""

from __future__ import annotations

from typing import Any

from discord.ext import commands

from bot.client import TunesmithBot
from bot.config import Settings


class ShardedTunesmithBot(TunesmithBot, commands.AutoShardedBot):
    """TunesmithBot with the gateway split into shards (``TUNESMITH_SHARDS``): ``auto`` asks Discord how many
    (GET /gateway/bot), a number fixes it. Commands, buttons and deliveries work the same on every shard."""

    def __init__(self, settings: Settings, **kwargs: Any) -> None:
        super().__init__(settings, **kwargs)
        self.shard_count = settings.shard_count  # None: Discord's recommendation, read when connecting


def bot_class(settings: Settings) -> type[TunesmithBot]:
    """The client class for ``settings``: sharded or one plain gateway connection (the default)."""
    return ShardedTunesmithBot if settings.sharded else TunesmithBot
