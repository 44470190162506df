"""The Discord client: slash commands and restart-proof buttons, a Redis connection, the database, a cache of
what the workers offer, and the poster that delivers finished tracks."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

import discord
from discord.ext import commands
from redis import Redis
from redis.exceptions import RedisError

from bot.config import Settings
from bot.storage.store import Store
from worker.contract.tracks import StyleInfo, compose_queue, read_features, read_styles

log = logging.getLogger(__name__)
# One cog per feature (bot/cogs/), each with its ``setup()``.
EXTENSIONS = ("bot.cogs.compose", "bot.cogs.info", "bot.cogs.finetune")


def minimal_intents() -> discord.Intents:
    """Only the guilds intent: interactions arrive without any, and nothing privileged is needed."""
    intents = discord.Intents.none()
    intents.guilds = True
    return intents


class TunesmithBot(commands.Bot):
    """Answers /compose by enqueuing RQ jobs and posting what the workers make."""

    def __init__(self, settings: Settings, *, store: Store, redis: Redis | None = None) -> None:
        super().__init__(
            command_prefix=commands.when_mentioned,
            intents=minimal_intents(),
            help_command=None,
            guild_ready_timeout=settings.guild_ready_timeout,
            chunk_guilds_at_startup=False,
            max_messages=None,
            allowed_mentions=discord.AllowedMentions.none(),
        )
        self.settings = settings
        self.redis: Redis = redis or Redis.from_url(
            settings.redis_url, socket_timeout=10, socket_connect_timeout=5, health_check_interval=30
        )
        self.store = store
        self.styles: dict[str, StyleInfo] = {}
        self.features: dict[str, str] = {}
        self.workers_online = 0
        self._recorded_styles: dict[str, StyleInfo] = {}
        self._styles_task: asyncio.Task[None] | None = None
        self._redis_ok = True
        from bot.actions import TrackActions
        from bot.poster import Poster
        from bot.training import TrainingFollower

        self.poster = Poster(self)
        self.training = TrainingFollower(self)
        self.track_actions = TrackActions(self)
        from bot.outputs import Outputs

        self.outputs = Outputs(self)

    async def setup_hook(self) -> None:
        from bot import observe
        from bot.buttons import TrackButton
        from bot.training import CancelButton

        observe.install(self)  # log fields per interaction; command metrics
        await self.refresh_styles()
        self.add_dynamic_items(TrackButton, CancelButton)
        for extension in EXTENSIONS:
            await self.load_extension(extension)  # a broken cog stops the start: better than a bot without it
        self._styles_task = asyncio.create_task(self._refresh_styles_forever(), name="tunesmith-styles")
        await self.poster.resume()
        await self.sync_commands()

    async def sync_commands(self) -> None:
        """Register the slash commands: instantly in DISCORD_GUILD_ID if set, else globally."""
        if self.settings.guild_id is not None:
            guild = discord.Object(id=self.settings.guild_id)
            self.tree.copy_global_to(guild=guild)
            synced = await self.tree.sync(guild=guild)
            log.info("synced %d command(s) to guild %s", len(synced), self.settings.guild_id)
        else:
            synced = await self.tree.sync()
            log.info("synced %d global command(s); Discord may take a while to show them", len(synced))

    async def refresh_styles(self) -> bool:
        """Reload the styles cache from Redis; keep the old cache if Redis is unreachable."""
        try:
            styles, self.features, self.workers_online = await asyncio.to_thread(self._read_offer)
        except (RedisError, OSError, ValueError, TypeError) as exc:
            if self._redis_ok:
                log.warning("could not read styles from Redis (%s); keeping %d cached", exc, len(self.styles))
            self._redis_ok = False
            return False
        if not self._redis_ok:
            log.info("Redis is reachable again")
        self._redis_ok = True
        styles = await self._remembered(styles)
        if set(styles) != set(self.styles):
            log.info("styles on offer: %s", ", ".join(sorted(styles)) or "none (no worker has published yet)")
        self.styles = styles
        return True

    async def _remembered(self, published: dict[str, StyleInfo]) -> dict[str, StyleInfo]:
        """The published styles, recorded in the database; when none are published (Redis lost them, no worker
        is up yet), the styles this deployment last served, so that /compose queues rather than refuses."""
        try:
            if published:
                if published != self._recorded_styles:
                    await asyncio.to_thread(self.store.remember_styles, published)
                    self._recorded_styles = dict(published)
                return published
            known = await asyncio.to_thread(self.store.known_styles)
        except Exception as exc:  # noqa: BLE001 - the database is optional here: go on with what Redis says
            log.warning("could not read or record the styles last served: %s", exc)
            return published
        if known and not self.styles:
            log.info(
                "no worker has published styles; offering the %d last served: %s", len(known), ", ".join(sorted(known))
            )
        return known

    def _read_offer(self) -> tuple[dict[str, StyleInfo], dict[str, str], int]:
        from rq import Worker

        workers = Worker.count(connection=self.redis, queue=compose_queue(self.redis))
        return read_styles(self.redis), read_features(self.redis), workers

    async def _refresh_styles_forever(self) -> None:
        while True:
            await asyncio.sleep(self.settings.styles_refresh_s)
            await self.refresh_styles()

    async def on_ready(self) -> None:
        user = self.user
        log.info("ready as %s (id %s) in %d guild(s)", user, user.id if user else "?", len(self.guilds))
        activity = discord.Activity(type=discord.ActivityType.listening, name="/compose")
        await self.change_presence(activity=activity)

    async def close(self) -> None:
        if self._styles_task is not None:
            self._styles_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._styles_task
        await self.poster.close()
        await self.training.close()
        await super().close()
        await asyncio.to_thread(self.redis.close)


class ShardedTunesmithBot(TunesmithBot, commands.AutoShardedBot):
    """TunesmithBot on ``discord.AutoShardedClient``, every shard in this one process (``TUNESMITH_SHARDS``):
    ``auto`` asks Discord how many shards (GET /gateway/bot), a number fixes it. Commands, buttons and
    deliveries work the same on every shard."""

    def __init__(self, settings: Settings, **kwargs: Any) -> None:
        super().__init__(settings, **kwargs)
        # None: Discord's recommendation, read when connecting. discord.py handles None here but declares the
        # attribute int on AutoShardedClient (a bare ``self.shard_count: int`` in launch_shards).
        self.shard_count = settings.shard_count  # type: ignore[assignment]


def bot_class(settings: Settings) -> type[TunesmithBot]:
    """The client class for ``settings``: sharded, or one plain gateway connection (the default)."""
    return ShardedTunesmithBot if settings.sharded else TunesmithBot
