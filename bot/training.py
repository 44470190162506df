"""Following a fine-tune: step and loss in the message, a Cancel button, the loss curve and a sample track."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import discord
from redis.exceptions import RedisError
from rq.exceptions import NoSuchJobError

from bot.embeds import progress_bar
from bot.launch import delivery_for, with_seed
from bot.storage.quotas import Limits
from bot.tracking import JobSnapshot, snapshot
from worker.contract.ids import FINETUNE_JOB_ID
from worker.contract.tracks import ComposeRequest, enqueue_tracks, fetch_job
from worker.contract.training import request_cancel

if TYPE_CHECKING:  # pragma: no cover
    from rq.job import Job

    from bot.client import TunesmithBot

log = logging.getLogger(__name__)

SAMPLE_SECONDS = 20.0
UNLIMITED = Limits(user_inflight=10**6, user_daily=10**6, guild_inflight=10**6, guild_daily=10**6)
NOT_ADMIN = "🔒 Only server managers (Manage Server) or the bot's admin roles can fine-tune models or switch versions."


def is_admin(interaction: discord.Interaction, role_ids: frozenset[int]) -> bool:
    """Manage Server (or Administrator) in this guild, or one of the configured admin roles."""
    if interaction.guild_id is None:
        return False
    perms = interaction.permissions
    if perms.manage_guild or perms.administrator:
        return True
    roles = {r.id for r in getattr(interaction.user, "roles", [])} | set(getattr(interaction.user, "_roles", []))
    return bool(role_ids & roles)


def status_text(style: str, arch: str, base: str, progress: dict[str, Any], waiting: bool) -> str:
    """The message while a fine-tune waits or trains."""
    head = f"🎛️ Fine-tuning **{style}** ({arch}, starting from {base})"
    if waiting:
        return f"{head} · waiting for a trainer…"
    if progress.get("stage") == "training" and progress.get("steps"):
        step, steps = int(progress.get("step", 0)), int(progress["steps"])
        pct = 100.0 * step / max(1, steps)
        return f"{head}\n`{progress_bar(pct)}` step {step}/{steps} · loss {progress.get('loss', 0):.3f} nats/token"
    return f"{head} · checking the uploads…"


def result_text(result: dict[str, Any], early_refusals: list[tuple[str, str]]) -> str:
    """The summary posted when a fine-tune is done."""
    before, after = result.get("heldout_nll_before"), result.get("heldout_nll_after")
    nll = (
        f"held-out NLL {before:.3f} → {after:.3f} nats/token"
        if before is not None and after is not None
        else "no held-out file (upload 2 or more to get a held-out score)"
    )
    used = len(result.get("accepted", [])) + int(result.get("vote_tracks", 0))
    kind = (
        f" — piano (the uploads sound {result['polyphony']:.1f} pitches at each onset)"
        if result.get("kind") == "piano" and result.get("polyphony") is not None
        else ""
    )
    lines = [
        f"✅ **{result['style']}** ({result['arch']}) version {result['version']} is live{kind}: "
        f"{result['steps']} steps in {result['minutes']:.1f} min from `{result['base']}`, {used} source(s), "
        f"{nll}.",
        f"Try `/compose {result['style']} 30s`. A sample follows.",
    ]
    refused = [(r["name"], r["reason"]) for r in result.get("refused", [])] + early_refusals
    if refused:
        lines.append("Refused: " + "; ".join(f"`{n[:60]}` ({why})" for n, why in refused[:15]))
    return "\n".join(lines)[:2000]


def cancel_view(job_id: str) -> discord.ui.View:
    view = discord.ui.View(timeout=None)
    view.add_item(CancelButton(job_id))
    return view


class CancelButton(discord.ui.DynamicItem[discord.ui.Button], template=rf"ts:ftcancel:(?P<job>{FINETUNE_JOB_ID})"):
    """Stops a running fine-tune; admins only, checked on every click (the button is visible to all)."""

    def __init__(self, job_id: str) -> None:
        super().__init__(
            discord.ui.Button(
                label="Cancel", style=discord.ButtonStyle.danger, emoji="✖️", custom_id=f"ts:ftcancel:{job_id}"
            )
        )
        self.job_id = job_id

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction, item: discord.ui.Item[Any], match: re.Match[str]
    ) -> CancelButton:
        return cls(match["job"])

    async def callback(self, interaction: discord.Interaction) -> None:
        bot: TunesmithBot = interaction.client  # type: ignore[assignment]
        if not is_admin(interaction, bot.settings.admin_role_ids):
            await interaction.response.send_message(NOT_ADMIN, ephemeral=True)
            return
        try:
            await asyncio.to_thread(request_cancel, bot.redis, self.job_id)
        except (RedisError, OSError):
            await interaction.response.send_message("❌ The queue is unreachable; try again.", ephemeral=True)
            return
        await interaction.response.send_message("✖️ Cancelling: the serving version stays as it is.", ephemeral=True)


class TrainingFollower:
    """One task per running fine-tune: edits its message, then posts the outcome and a sample track."""

    def __init__(self, bot: TunesmithBot) -> None:
        self.bot = bot
        self.tasks: dict[str, asyncio.Task[None]] = {}

    def follow(
        self,
        interaction: discord.Interaction,
        job_id: str,
        what: tuple[str, str, str],
        early_refusals: list[tuple[str, str]],
    ) -> None:
        """Follow the fine-tune ``job_id`` of ``what`` = (style, arch, base) until it ends."""
        self.tasks[job_id] = asyncio.create_task(
            self._run(interaction, job_id, what, early_refusals), name=f"tunesmith-ft-{job_id}"
        )

    async def close(self) -> None:
        for task in self.tasks.values():
            task.cancel()
        await asyncio.gather(*self.tasks.values(), return_exceptions=True)

    async def _run(
        self, interaction: discord.Interaction, job_id: str, what: tuple[str, str, str], early: list[tuple[str, str]]
    ) -> None:
        try:
            await self._follow(interaction, job_id, what, early)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("following fine-tune %s failed", job_id)
        finally:
            self.tasks.pop(job_id, None)

    async def _follow(
        self, interaction: discord.Interaction, job_id: str, what: tuple[str, str, str], early: list[tuple[str, str]]
    ) -> None:
        settings, last_text, last_edit = self.bot.settings, "", 0.0
        job: Job | None = None
        while True:
            try:  # the job's data holds the uploads (megabytes): fetch it once, then read only status and meta
                if job is None:
                    job = await asyncio.to_thread(fetch_job, self.bot.redis, job_id)
                snap = await asyncio.to_thread(snapshot, job, dict)
            except NoSuchJobError:
                snap = JobSnapshot(status="missing", reason="the job disappeared from the queue")
            except (RedisError, OSError) as exc:
                log.warning("fine-tune %s: Redis unreachable (%s)", job_id, exc)
                await asyncio.sleep(settings.poll_interval_s * 4)
                continue
            if snap.finished:
                await self._done(interaction, snap.result, early)
                return
            if snap.failed:
                with contextlib.suppress(discord.HTTPException):
                    await interaction.edit_original_response(
                        content=f"❌ Fine-tune failed: {snap.reason or snap.status}", view=None
                    )
                return
            text = status_text(*what, snap.progress, snap.waiting)
            if text != last_text and time.monotonic() - last_edit >= settings.edit_interval_s:
                with contextlib.suppress(discord.HTTPException):
                    await interaction.edit_original_response(content=text, view=cancel_view(job_id))
                last_text, last_edit = text, time.monotonic()
            await asyncio.sleep(settings.poll_interval_s)

    async def _done(
        self, interaction: discord.Interaction, result: dict[str, Any], early: list[tuple[str, str]]
    ) -> None:
        text = result_text(result, early)
        with contextlib.suppress(discord.HTTPException):
            await interaction.edit_original_response(content=text.splitlines()[0], view=None)
        loss = Path(self.bot.settings.data_path) / str(result.get("loss_png", ""))
        files = [discord.File(loss, filename="loss.png")] if loss.is_file() else []
        try:
            await interaction.followup.send(text, files=files, wait=True)
        except discord.HTTPException as exc:
            log.warning("could not post the fine-tune summary: %s", exc)
        await self.bot.refresh_styles()
        await self._sample(interaction, result)

    async def _sample(self, interaction: discord.Interaction, result: dict[str, Any]) -> None:
        """A first track from the new version, posted like any /compose (votes, reroll, extend work)."""
        delivery = delivery_for(interaction)
        request = with_seed(
            ComposeRequest(style=result["style"], seconds=SAMPLE_SECONDS, arch=result["arch"], user_id=delivery.user_id)
        )
        try:
            if await asyncio.to_thread(self.bot.store.reserve, delivery, [request], UNLIMITED) is None:
                await asyncio.to_thread(enqueue_tracks, self.bot.redis, [request])
                self.bot.poster.follow(delivery.id)
        except Exception:  # noqa: BLE001 - the fine-tune itself is done; only the sample is lost
            log.exception("could not queue the sample track of %s", result.get("style"))
