"""The /compose cog: validate from memory, defer, enqueue, report progress, post the finished track."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Mapping
from typing import TYPE_CHECKING

import discord
from discord import app_commands
from discord.ext import commands
from redis.exceptions import RedisError

from bot import embeds
from bot.tracking import JobSnapshot, pick_attachments, snapshot
from worker.contract import (
    BadRequest,
    ComposeRequest,
    ComposeResult,
    StyleInfo,
    enqueue_compose,
    parse_length,
    validate_request,
)

if TYPE_CHECKING:  # pragma: no cover
    from rq.job import Job

    from bot.client import TunesmithBot

log = logging.getLogger(__name__)

LENGTH_SUGGESTIONS = ("15s", "30s", "45s", "1m", "1m30s", "2m")


def style_choices(styles: Mapping[str, StyleInfo], current: str) -> list[app_commands.Choice[str]]:
    """Autocomplete choices: styles starting with what was typed first, then other matches; at most 25."""
    typed = current.strip().lower()
    names = sorted(styles)
    ranked = [n for n in names if n.startswith(typed)] + [n for n in names if typed in n and not n.startswith(typed)]
    choices = []
    for name in ranked[:25]:
        info = styles[name]
        label = f"{name} — {info.description}" if info.description else name
        choices.append(app_commands.Choice(name=label[:100], value=name))
    return choices


def length_choices(current: str) -> list[app_commands.Choice[str]]:
    """Autocomplete for the length: the typed value first if it parses, then common lengths."""
    values = list(LENGTH_SUGGESTIONS)
    typed = current.strip()
    if typed:
        try:
            parse_length(typed)
        except BadRequest:
            pass
        else:
            values = [typed[:100]] + [v for v in values if v != typed]
    return [app_commands.Choice(name=v, value=v) for v in values[:25]]


def build_request(style: str, length: str, styles: Mapping[str, StyleInfo], user_id: str) -> ComposeRequest:
    """Parse and validate a /compose request against the cached styles (no I/O).

    Raises:
        BadRequest: the message tells the user what is allowed.
    """
    seconds = parse_length(length)
    return validate_request(ComposeRequest(style=style, seconds=seconds, user_id=user_id), dict(styles))


class ComposeCog(commands.Cog):
    """Slash commands for composing music."""

    def __init__(self, bot: TunesmithBot) -> None:
        self.bot = bot

    @app_commands.command(name="compose", description="Compose a new tune in a style")
    @app_commands.describe(style="The musical style, e.g. irish", length="How long: 30s, 45 or 1m30s (5s to 5m)")
    async def compose(self, interaction: discord.Interaction, style: str, length: str) -> None:
        try:
            request = build_request(style, length, self.bot.styles, str(interaction.user.id))
        except BadRequest as exc:
            await interaction.response.send_message(f"⚠️ {exc}", ephemeral=True)
            return
        await interaction.response.defer(thinking=True)
        try:
            job = await asyncio.to_thread(enqueue_compose, self.bot.redis, request)
        except (RedisError, OSError) as exc:
            log.error("could not enqueue track %s: %s", request.track_id, exc)
            await self._edit(interaction, "❌ The composing queue is unreachable right now; please try again soon.")
            return
        log.info("queued track %s: %s %gs for user %s", request.track_id, request.style, request.seconds,
                 request.user_id)
        await self._follow(interaction, job, request)

    @compose.autocomplete("style")
    async def _style_autocomplete(
        self, interaction: discord.Interaction, current: str
    ) -> list[app_commands.Choice[str]]:
        return style_choices(self.bot.styles, current)

    @compose.autocomplete("length")
    async def _length_autocomplete(
        self, interaction: discord.Interaction, current: str
    ) -> list[app_commands.Choice[str]]:
        return length_choices(current)

    async def _follow(self, interaction: discord.Interaction, job: Job, request: ComposeRequest) -> None:
        """Poll the job without blocking the loop, edit progress in, then deliver or explain."""
        settings = self.bot.settings
        loop = asyncio.get_running_loop()
        started = loop.time()
        last_edit, last_text = float("-inf"), ""
        while True:
            try:
                snap: JobSnapshot = await asyncio.to_thread(snapshot, job)
            except (RedisError, OSError) as exc:
                log.warning("polling track %s failed: %s", request.track_id, exc)
                snap = JobSnapshot(status="unknown")
            if snap.finished and snap.result is not None:
                await self._deliver(interaction, snap.result)
                return
            if snap.failed:
                log.info("track %s %s: %s", request.track_id, snap.status, snap.reason)
                await self._edit(interaction, embeds.failure_text(request.track_id, snap.reason))
                return
            waited = loop.time() - started
            if waited > settings.job_wait_s:
                log.warning("gave up on track %s after %.0fs", request.track_id, waited)
                with contextlib.suppress(Exception):
                    await asyncio.to_thread(job.cancel)
                await self._edit(interaction, embeds.timeout_text(request.track_id, waited))
                return
            if snap.status != "unknown":
                text = embeds.progress_text(request.track_id, request.style, request.seconds, status=snap.status,
                                            position=snap.position, progress=snap.progress)
                if text != last_text and loop.time() - last_edit >= settings.edit_interval_s:
                    await self._edit(interaction, text)
                    last_edit, last_text = loop.time(), text
            await asyncio.sleep(settings.poll_interval_s)

    async def _deliver(self, interaction: discord.Interaction, result: ComposeResult) -> None:
        paths, skipped = pick_attachments(result.files, data_dir=self.bot.settings.data_dir,
                                          size_limit=interaction.filesize_limit or None)
        image = next((p.name for p in paths if p.suffix.lower() in (".png", ".jpg", ".jpeg", ".gif")), None)
        embed = embeds.track_embed(result, image_filename=image, requested_by=interaction.user.display_name)
        content = "Left out: " + "; ".join(skipped) if skipped else None
        files = [discord.File(p, filename=p.name) for p in paths]
        try:
            await interaction.followup.send(content=content, embed=embed, files=files)
        except discord.HTTPException as exc:
            log.error("posting track %s failed: %s", result.track_id, exc)
            embed.set_image(url=None)
            with contextlib.suppress(discord.HTTPException):
                await interaction.followup.send(content="⚠️ I could not upload the files for this track.",
                                                embed=embed)
            return
        finally:
            for file in files:
                file.close()
        log.info("posted track %s (%d file(s))", result.track_id, len(paths))
        await self._edit(interaction, embeds.done_text(result.track_id))

    @staticmethod
    async def _edit(interaction: discord.Interaction, content: str) -> None:
        try:
            await interaction.edit_original_response(content=content)
        except discord.HTTPException as exc:
            log.warning("could not edit the response to interaction %s: %s", interaction.id, exc)

    async def cog_app_command_error(
        self, interaction: discord.Interaction, error: app_commands.AppCommandError
    ) -> None:
        log.error("/%s failed", interaction.command.name if interaction.command else "?", exc_info=error)
        message = "❌ Something went wrong on my side; please try again."
        with contextlib.suppress(discord.HTTPException):
            if interaction.response.is_done():
                await interaction.followup.send(message, ephemeral=True)
            else:
                await interaction.response.send_message(message, ephemeral=True)
