"""The admin cog: /finetune (uploads or votes → a new model version), /models and /rollback."""

from __future__ import annotations

import asyncio
import base64
import logging
from datetime import datetime
from typing import TYPE_CHECKING

import discord
from discord import app_commands
from discord.ext import commands
from redis.exceptions import RedisError

from bot import metrics
from bot.options import style_choices
from bot.storage import votes
from bot.tracking import snapshot
from bot.training import NOT_ADMIN, is_admin
from worker.contract.tracks import (
    UPLOAD_EXTENSIONS,
    UPLOAD_MAX_FILE_BYTES,
    UPLOAD_MAX_FILES,
    UPLOAD_MAX_TOTAL_BYTES,
    BadRequest,
)
from worker.contract.training import (
    FINETUNE_ARCHES,
    MAX_VOTE_TRACKS,
    VOTE_THRESHOLD,
    FinetuneRequest,
    enqueue_finetune,
    enqueue_rollback,
    read_models,
    validate_finetune,
)

if TYPE_CHECKING:  # pragma: no cover
    from rq.job import Job

    from bot.client import TunesmithBot

log = logging.getLogger(__name__)
ROLLBACK_WAIT_S = 30.0


def precheck(attachments: list[discord.Attachment]) -> tuple[list[discord.Attachment], list[tuple[str, str]]]:
    """Attachments worth downloading, and the refused ones with why (by name, size and count alone)."""
    keep: list[discord.Attachment]
    refused: list[tuple[str, str]]
    keep, refused, total = [], [], 0
    for att in attachments:
        name = att.filename[:80]
        if not name.lower().endswith(UPLOAD_EXTENSIONS):
            refused.append((name, f"not a MIDI or .zip file (allowed: {', '.join(UPLOAD_EXTENSIONS)})"))
        elif att.size > UPLOAD_MAX_FILE_BYTES:
            refused.append((name, f"too large ({att.size / 1e6:.1f} MB > {UPLOAD_MAX_FILE_BYTES / 1e6:g} MB)"))
        elif len(keep) >= UPLOAD_MAX_FILES:
            refused.append((name, f"more than {UPLOAD_MAX_FILES} files"))
        elif total + att.size > UPLOAD_MAX_TOTAL_BYTES:
            refused.append((name, f"the uploads pass {UPLOAD_MAX_TOTAL_BYTES / 1e6:g} MB together"))
        else:
            keep.append(att)
            total += att.size
    return keep, refused


def models_text(style: str | None, models: dict[str, dict]) -> str:
    """The /models listing: every fine-tuned version, newest first, the serving one marked."""
    names = [style] if style else sorted(models)
    lines = []
    for name in names:
        for arch, info in sorted(models.get(name, {}).items()):
            lines.append(f"**{name}** · {arch} — serving " + (f"v{info['active']}" if info["active"] else "shipped"))
            for row in reversed(info["versions"][-10:]):
                mark = "▶️" if row["version"] == info["active"] else "·"
                nll = f"{row['heldout_nll']:.3f}" if row.get("heldout_nll") is not None else "n/a"
                date = (row.get("date") or "")[:16].replace("T", " ")
                by = str(row.get("by") or "?")
                who = f"<@{by}>" if by.isdigit() else by  # a Discord user id, or "cli"
                lines.append(
                    f"{mark} v{row['version']} · {date} · by {who} · {row['steps']} steps · "
                    f"held-out NLL {nll} · {row['files']} file(s) + {row.get('vote_tracks', 0)} voted"
                )
    if not lines:
        return f"No fine-tuned versions{f' of `{style}`' if style else ''} yet: an admin can run `/finetune`."
    return "\n".join(lines)[:2000]


@app_commands.guild_only()
class FinetuneCog(commands.Cog):
    """Admin commands; hidden from members without Manage Server, and checked again on every call."""

    def __init__(self, bot: TunesmithBot) -> None:
        self.bot = bot

    async def _admin(self, interaction: discord.Interaction) -> bool:
        if is_admin(interaction, self.bot.settings.admin_role_ids):
            return True
        metrics.note(interaction, "refused")
        await interaction.response.send_message(NOT_ADMIN, ephemeral=True)
        return False

    @app_commands.command(name="finetune", description="Train a style further, or create one from MIDI uploads")
    @app_commands.default_permissions(manage_guild=True)
    @app_commands.describe(
        style="an existing style, or a new name such as pokemon",
        base="the style whose model to start from (default: the style itself, or folk)",
        from_votes=f"also learn from this style's tracks voted +{VOTE_THRESHOLD} or better",
        steps="training steps (default 300, about 1–3 minutes on CPU)",
        file1="a MIDI file or a .zip of up to 1,000 MIDI files (up to 10 attachments)",
    )
    @app_commands.choices(arch=[app_commands.Choice(name=a, value=a) for a in FINETUNE_ARCHES])
    async def finetune(
        self,
        interaction: discord.Interaction,
        style: str,
        file1: discord.Attachment | None = None,
        file2: discord.Attachment | None = None,
        file3: discord.Attachment | None = None,
        file4: discord.Attachment | None = None,
        file5: discord.Attachment | None = None,
        file6: discord.Attachment | None = None,
        file7: discord.Attachment | None = None,
        file8: discord.Attachment | None = None,
        file9: discord.Attachment | None = None,
        file10: discord.Attachment | None = None,
        arch: str = "lstm",
        base: str | None = None,
        from_votes: bool = False,
        steps: int | None = None,
    ) -> None:
        if not await self._admin(interaction):
            return
        given = [a for a in (file1, file2, file3, file4, file5, file6, file7, file8, file9, file10) if a]
        keep, refused = precheck(given)
        request = FinetuneRequest(
            style=style,
            arch=arch,
            base=base,
            steps=steps or 300,
            uploads=[{"name": a.filename, "data": ""} for a in keep],
            user_id=str(interaction.user.id),
        )
        try:
            if from_votes:
                voted = await asyncio.to_thread(
                    votes.training_tracks, self.bot.store.db, style.strip().lower(), VOTE_THRESHOLD, MAX_VOTE_TRACKS
                )
                request = FinetuneRequest(**{**request.to_dict(), "vote_tracks": voted})
                if not voted and not keep:
                    raise BadRequest(f"No `{style[:30]}` track has a score of +{VOTE_THRESHOLD} or more yet.")
            if not keep and not from_votes and refused:
                raise BadRequest("No usable upload: " + "; ".join(f"`{n}` ({why})" for n, why in refused))
            request = validate_finetune(request, self.bot.styles)
        except BadRequest as exc:
            metrics.note(interaction, "refused")
            await interaction.response.send_message(f"❌ {exc}", ephemeral=True)
            return
        await interaction.response.defer(thinking=True)
        uploads = []
        for att in keep:
            try:
                data = await att.read()
            except (discord.HTTPException, OSError) as exc:
                refused.append((att.filename[:80], f"download failed ({exc.__class__.__name__})"))
                continue
            if len(data) > UPLOAD_MAX_FILE_BYTES:  # the size Discord reported was wrong
                refused.append((att.filename[:80], "too large"))
                continue
            uploads.append({"name": att.filename, "data": base64.b64encode(data).decode()})
        request = FinetuneRequest(**{**request.to_dict(), "uploads": uploads})
        if not uploads and not request.vote_tracks:
            await interaction.edit_original_response(
                content="❌ None of the uploads could be read: " + "; ".join(f"`{n}` ({why})" for n, why in refused)
            )
            return
        try:
            await asyncio.to_thread(enqueue_finetune, self.bot.redis, request)
        except (RedisError, OSError):
            await interaction.edit_original_response(content="❌ The training queue is unreachable; try again soon.")
            return
        log.info(
            "fine-tune %s queued: %s/%s from %s, %d file(s), %d voted track(s), by %s",
            request.job_id,
            request.style,
            request.arch,
            request.base,
            len(uploads),
            len(request.vote_tracks),
            request.user_id,
        )
        self.bot.training.follow(
            interaction, request.job_id, (request.style, request.arch, request.base or ""), refused
        )

    @app_commands.command(name="models", description="Fine-tuned versions of a style, and which one is serving")
    async def models(self, interaction: discord.Interaction, style: str | None = None) -> None:
        try:
            models = await asyncio.to_thread(read_models, self.bot.redis)
        except (RedisError, OSError):
            await interaction.response.send_message("❌ I can't reach the queue right now.", ephemeral=True)
            return
        await interaction.response.send_message(models_text(style.lower() if style else None, models), ephemeral=True)

    @app_commands.command(name="rollback", description="Serve an earlier version of a style (0 = the shipped model)")
    @app_commands.default_permissions(manage_guild=True)
    @app_commands.choices(arch=[app_commands.Choice(name=a, value=a) for a in FINETUNE_ARCHES])
    async def rollback(
        self,
        interaction: discord.Interaction,
        style: str,
        version: app_commands.Range[int, 0, 9999],
        arch: str = "lstm",
    ) -> None:
        if not await self._admin(interaction):
            return
        await interaction.response.defer(thinking=True)
        try:
            job = await asyncio.to_thread(
                enqueue_rollback, self.bot.redis, style.strip().lower(), arch, version, str(interaction.user.id)
            )
            text = await self._wait_rollback(job)
        except (RedisError, OSError):
            text = "❌ The queue is unreachable; nothing changed."
        await interaction.edit_original_response(content=text)
        await self.bot.refresh_styles()

    async def _wait_rollback(self, job: Job) -> str:
        deadline = asyncio.get_running_loop().time() + ROLLBACK_WAIT_S
        while asyncio.get_running_loop().time() < deadline:
            snap = await asyncio.to_thread(snapshot, job, dict)
            if snap.finished:
                r = snap.result
                which = f"version {r.get('version')}" if r.get("version") else "the shipped model"
                return (
                    f"⏪ **{r.get('style')}** ({r.get('arch')}) now serves {which}, on every worker. "
                    f"({datetime.now().strftime('%H:%M')})"
                )
            if snap.failed:
                return f"❌ Rollback failed: {snap.reason or snap.status}"
            await asyncio.sleep(0.25)
        return "⏳ No worker took the rollback within 30 s; it will apply when one does."

    @finetune.autocomplete("style")
    @finetune.autocomplete("base")
    @models.autocomplete("style")
    @rollback.autocomplete("style")
    async def _styles(self, interaction: discord.Interaction, current: str) -> list[app_commands.Choice[str]]:
        return style_choices(self.bot.styles, current)


async def setup(bot: TunesmithBot) -> None:
    """Extension entry point (``bot.load_extension("bot.cogs.finetune")``)."""
    await bot.add_cog(FinetuneCog(bot))
