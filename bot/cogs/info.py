"""/styles, /top, /track, /queue, /info and /help: read-only views of the styles, the votes, the queue and
the user's quota. /track posts a stored track again with its buttons."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import TYPE_CHECKING

import discord
from discord import app_commands
from discord.ext import commands

from bot import texts
from bot.delivery import build_post
from bot.observe import report_error
from bot.storage import votes
from bot.storage.quotas import left
from bot.storage.store import Track
from bot.tracking import JobSnapshot
from worker.contract.ids import is_style_query, is_track_id_prefix

if TYPE_CHECKING:  # pragma: no cover
    from bot.client import TunesmithBot

log = logging.getLogger(__name__)


class InfoCog(commands.Cog):
    """Everything but /compose."""

    def __init__(self, bot: TunesmithBot) -> None:
        self.bot = bot

    @app_commands.command(name="styles", description="The styles the workers can compose, and their models")
    async def styles(self, interaction: discord.Interaction) -> None:
        await interaction.response.send_message(texts.styles_text(self.bot.styles, self.bot.features), ephemeral=True)

    @app_commands.command(name="top", description="The best-voted tracks")
    @app_commands.describe(style="Only this style", period="How far back (default: week)")
    async def top(self, interaction: discord.Interaction, style: str | None = None, period: str = "week") -> None:
        name = style.strip().lower() if style else None
        period = period.strip().lower()
        if name is not None and not is_style_query(name):
            await interaction.response.send_message("⚠️ A style is a single word, e.g. `irish`.", ephemeral=True)
            return
        if period not in votes.PERIODS:
            await interaction.response.send_message("⚠️ The period is day, week, month or all.", ephemeral=True)
            return
        ranked = await asyncio.to_thread(votes.top, self.bot.store.db, name, period)
        await interaction.response.send_message(embed=texts.top_embed(ranked, name, period))

    @top.autocomplete("style")
    async def _top_style(self, interaction: discord.Interaction, current: str) -> list[app_commands.Choice[str]]:
        return [app_commands.Choice(name=s, value=s) for s in sorted(self.bot.styles) if current.lower() in s][:25]

    @top.autocomplete("period")
    async def _top_period(self, interaction: discord.Interaction, current: str) -> list[app_commands.Choice[str]]:
        return [app_commands.Choice(name=p, value=p) for p in votes.PERIODS if current.lower() in p]

    @app_commands.command(name="track", description="Post a track again, with its buttons")
    @app_commands.describe(
        id="The track id (at least its first 6 characters)", score="Also post its engraved score (sheet music)"
    )
    async def track(
        self,
        interaction: discord.Interaction,
        id: str,  # noqa: A002 - the option's name
        score: bool = False,
    ) -> None:
        prefix = id.strip().strip("`").lower()
        if not is_track_id_prefix(prefix):
            await interaction.response.send_message(
                "⚠️ A track id is 6 to 32 characters of 0-9 and a-f, as shown under each track.", ephemeral=True
            )
            return
        found = await asyncio.to_thread(self.bot.store.find_tracks, prefix)
        if len(found) != 1:
            why = "No track" if not found else "More than one track"
            await interaction.response.send_message(f"⚠️ {why} starts with `{prefix}`.", ephemeral=True)
            return
        track = found[0]
        if track.result is None:
            state = (
                "is still being made: `/queue` shows where"
                if track.status == "pending"
                else f"was not made ({track.reason or 'it failed'})"
            )
            await interaction.response.send_message(f"⚠️ Track `{track.id}` {state}.", ephemeral=True)
            return
        await interaction.response.defer(thinking=True)
        tally = (await asyncio.to_thread(votes.tallies, self.bot.store.db, [track.id]))[track.id]
        notes = await asyncio.to_thread(self._lineage, track)
        extra: list[Path] = []
        if score:
            from bot.outputs import cached_files

            extra = await asyncio.to_thread(cached_files, track, "score")
            if not extra:
                extra, why = await self.bot.outputs.make(track, "score", interaction.filesize_limit, wait_s=60.0)
                if why:
                    notes.append(f"📄 {why}")
        post = await build_post(
            self.bot,
            [track.result],
            user_id=track.user_id,
            size_limit=interaction.filesize_limit,
            tallies={track.id: (tally.up, tally.down)},
            notes=notes,
        )
        post.paths += [p for p in extra if p.suffix == ".png" and p.stat().st_size <= interaction.filesize_limit][:1]
        files = post.files()
        try:
            await interaction.followup.send(
                content=post.content or discord.utils.MISSING, embeds=post.embeds, files=files, view=post.view
            )
        finally:
            for file in files:
                file.close()

    def _lineage(self, track: Track) -> list[str]:
        """Where the track comes from and the variations made of it, with their votes."""
        lines = []
        if track.kind == "vary" and track.parent_id:
            lines.append(
                f"🧬 A {track.request.vary or ''} variation of track `{track.parent_id}` "
                f"(`/track {track.parent_id[:8]}` posts it).".replace("A  ", "A ")
            )
        children = self.bot.store.variations(track.id)
        if children:
            tallies = votes.tallies(self.bot.store.db, [c.id for c in children])
            lines.append(
                "🧬 Variations: "
                + ", ".join(
                    f"`{c.id[:8]}` ({c.request.vary or '?'}, 👍 {tallies[c.id].up} 👎 {tallies[c.id].down})"
                    for c in children
                )
            )
        return lines

    @app_commands.command(name="queue", description="How busy the workers are, and where your tracks are")
    async def queue(self, interaction: discord.Interaction) -> None:
        await interaction.response.defer(ephemeral=True, thinking=True)
        user = str(interaction.user.id)
        try:
            depth, running, mine = await asyncio.to_thread(self._queue_state, user)
        except Exception as exc:  # noqa: BLE001 - Redis or the database is down: say so
            log.warning("/queue failed: %s", exc)
            await interaction.followup.send("❌ I can't see the queue right now; please try again soon.")
            return
        await interaction.followup.send(
            texts.queue_text(depth, running, self.bot.workers_online, mine, self.bot.poster.job_s)
        )

    def _queue_state(self, user: str) -> tuple[int, int, list[tuple[str, str, float, JobSnapshot]]]:
        from rq.registry import StartedJobRegistry

        from bot.poster import look
        from worker.contract.tracks import compose_queue

        queue = compose_queue(self.bot.redis)
        running = StartedJobRegistry(queue=queue).count
        tracks = self.bot.store.pending_tracks(user)
        snaps = look(self.bot.redis, [t.id for t in tracks])
        return queue.count, running, [(t.id, t.style, t.request.seconds, s) for t, s in zip(tracks, snaps, strict=True)]

    @app_commands.command(name="info", description="Your quota, your tracks and the votes they received")
    async def info(self, interaction: discord.Interaction) -> None:
        import time

        user = str(interaction.user.id)
        guild = str(interaction.guild_id) if interaction.guild_id else None
        now = time.time()
        usage = await asyncio.to_thread(self.bot.store.usage, user, guild, now)
        summary = await asyncio.to_thread(votes.summary, self.bot.store.db, user)
        await interaction.response.send_message(
            texts.info_text(left(self.bot.settings.limits, usage, now), summary), ephemeral=True
        )

    @app_commands.command(name="help", description="How to use tunesmith")
    async def help(self, interaction: discord.Interaction) -> None:
        await interaction.response.send_message(texts.help_text(self.bot.settings), ephemeral=True)

    async def cog_app_command_error(
        self, interaction: discord.Interaction, error: app_commands.AppCommandError
    ) -> None:
        await report_error(interaction, error)


async def setup(bot: TunesmithBot) -> None:
    """Extension entry point (``bot.load_extension("bot.cogs.info")``)."""
    await bot.add_cog(InfoCog(bot))
