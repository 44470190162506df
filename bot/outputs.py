"""The 📄 score, 📦 files and 🎚️ stems buttons: a small worker job engraves or exports the track on demand (or
the files it made before are reused), and the bot posts them under the click."""

from __future__ import annotations

import asyncio
import logging
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import discord
from redis.exceptions import RedisError

from bot import metrics
from bot.storage.store import Track
from worker.contract.tracks import enqueue_outputs, fetch_job

if TYPE_CHECKING:  # pragma: no cover
    from bot.client import TunesmithBot

log = logging.getLogger(__name__)

WAIT_S = 240.0  # how long a click waits for its job (the interaction token lives 15 minutes)
SLEEPING_WAIT_S = 20.0  # ... and while no worker is online (one may be starting)
POLL_S = 0.3
# The files a kind posts, by suffix after the track id, in order; all must exist to skip the job.
CACHED = {"score": (".score.png", ".score.pdf"), "exports": (".abc", ".musicxml", ".mid")}
TITLES = {
    "score": "📄 Score of track `{id}`{facts} (PNG to view, PDF to print).",
    "exports": "📦 Track `{id}` as ABC, MusicXML (open it in MuseScore or Sibelius) and multi-track MIDI "
    "(one named track per part, for your DAW).",
    "stems": "🎚️ Stems of track `{id}`: one Ogg per part at the mix's level, zipped; lay them side by side "
    "in your DAW and they add up to the mix.",
}


def cached_files(track: Track, kind: str) -> list[Path]:
    """The files an earlier click (or the CLI) already made for ``track``, or [] to run the job."""
    midi = (track.result.files.get("midi") if track.result else None) or ""
    if not midi:
        return []
    folder = Path(midi).parent
    if kind == "stems":
        return sorted(folder.glob(f"{track.id}.stems*.zip"))
    paths = [folder / f"{track.id}{suffix}" for suffix in CACHED.get(kind, ())]
    return paths if paths and all(p.is_file() and p.stat().st_size > 0 for p in paths) else []


def facts(track: Track) -> str:
    result = track.result
    if result is None:
        return ""
    bits = [result.key] if result.key else []
    bits += [result.meter] if result.meter else []
    bits.append(f"{result.tempo_qpm:.0f} BPM")
    return " · " + " · ".join(bits)


class Outputs:
    """Posts a track's score, exports or stems under the button that asked for them."""

    def __init__(self, bot: TunesmithBot) -> None:
        self.bot = bot

    async def post(self, interaction: discord.Interaction, track: Track, kind: str) -> None:
        limit = int(getattr(interaction, "filesize_limit", 0) or 10 * 1024 * 1024)
        paths = await asyncio.to_thread(cached_files, track, kind)
        await interaction.response.defer(thinking=True)
        note = ""
        if not paths:
            paths, note = await self.make(track, kind, limit)
        fitting = [p for p in paths if p.is_file() and p.stat().st_size <= limit][:10]
        left_out = [p.name for p in paths if p not in fitting]
        if not fitting:
            metrics.note(interaction, "refused")
            await interaction.followup.send(f"⚠️ {note or 'Nothing could be made for this track.'}")
            return
        lines = [TITLES[kind].format(id=track.id, facts=facts(track))]
        if left_out:
            lines.append("Left out (over the upload limit): " + ", ".join(left_out))
        files = [discord.File(p, filename=p.name) for p in fitting]
        try:
            await interaction.followup.send("\n".join(lines)[:2000], files=files)
        finally:
            for file in files:
                file.close()
        metrics.note(interaction, "ok")

    async def make(self, track: Track, kind: str, limit: int, wait_s: float | None = None) -> tuple[list[Path], str]:
        """Run the outputs job and wait for it (not long while no worker is online: it stays queued, and the
        next click finds its files); returns its files, or [] and what to tell the user."""
        if wait_s is None:
            wait_s = WAIT_S if self.bot.workers_online else SLEEPING_WAIT_S
        try:
            job = await asyncio.to_thread(enqueue_outputs, self.bot.redis, track.id, kind, limit)
        except (RedisError, OSError) as exc:
            log.warning("could not enqueue the %s of %s: %s", kind, track.id, exc)
            return [], "The queue is unreachable right now; please try again soon."
        deadline = time.monotonic() + wait_s
        while time.monotonic() < deadline:
            status, value = await asyncio.to_thread(self._look, job.id)
            if status == "finished" and isinstance(value, dict):
                if value.get("error"):
                    return [], f"Sorry: {str(value['error'])[:300]}."
                return [Path(p) for p in (value.get("files") or {}).values()], ""
            if status in ("failed", "stopped", "canceled", "missing"):
                return [], f"Making the {kind} of track `{track.id}` failed; please try again."
            await asyncio.sleep(POLL_S)
        when = "when a worker is up" if self.bot.workers_online == 0 else "in a minute"
        return [], (
            f"The {kind} of track `{track.id}` is not ready yet; it is queued, so click again {when} "
            "and it will be posted at once."
        )

    def _look(self, job_id: str) -> tuple[str, Any]:
        try:
            job = fetch_job(self.bot.redis, job_id)
        except Exception:  # noqa: BLE001 - expired or Redis gone: reported as missing
            return "missing", None
        status = str(getattr(job.get_status(refresh=True), "value", "unknown"))
        return status, job.return_value(refresh=True) if status == "finished" else None
