"""Pure formatting for /styles, /top, /queue, /info and /help (no I/O; easy to test)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

import discord

from bot.embeds import EMBED_COLOUR, format_seconds, mention, progress_percent
from bot.storage.votes import Summary, Tally
from bot.tracking import JobSnapshot
from worker.contract.tracks import MAX_SECONDS, MIN_SECONDS, StyleInfo

if TYPE_CHECKING:  # pragma: no cover
    from bot.config import Settings
    from bot.storage.store import Track

PERIOD_WORDS = {"day": "the last 24 hours", "week": "the last 7 days", "month": "the last 30 days", "all": "all time"}


def styles_text(styles: Mapping[str, StyleInfo], features: Mapping[str, str]) -> str:
    """One line per style: name, architectures (default first), tempo range and description."""
    if not styles:
        return "No worker is online yet, so no style can be composed. Try again in a minute."
    lines = ["🎻 **Styles on offer** (`/compose style length`):"]
    for name in sorted(styles):
        info = styles[name]
        arches = [info.default_arch] + [a for a in info.arches if a != info.default_arch]
        tempo = f"{info.tempo_range[0]:.0f}–{info.tempo_range[1]:.0f} BPM"
        line = f"• **{name}** — models: {', '.join(f'`{a}`' for a in arches)} · {tempo}"
        if info.meters:
            line += f" · meters {', '.join(info.meters[:8])}"
        if info.modes:
            line += f" · keys in {', '.join(info.modes)}"
        lines.append(line + (f"\n  {info.description}" if info.description else ""))
    if "harmonize" in features:
        lines.append("🎼 Any melody can be harmonized in four voices with the 🎼 button (Coconet).")
    return "\n".join(lines)[:2000]


def top_embed(ranked: list[tuple[Track, Tally]], style: str | None, period: str) -> discord.Embed:
    """The best-voted tracks, with who made them and how to hear them again."""
    scope = f"**{style}** tracks" if style else "tracks"
    embed = discord.Embed(title=f"🏆 Top {scope} of {PERIOD_WORDS.get(period, period)}", colour=EMBED_COLOUR)
    if not ranked:
        embed.description = "No votes yet. Vote with 👍 and 👎 under any track!"
        return embed
    lines = []
    for rank, (track, tally) in enumerate(ranked, start=1):
        seconds = track.result.seconds if track.result else track.request.seconds
        lines.append(
            f"**{rank}.** {track.style} · {format_seconds(seconds)} · 👍 {tally.up} 👎 {tally.down} · "
            f"by {mention(track.user_id)} · `{track.id}`"
        )
    embed.description = "\n".join(lines)[:4000]
    embed.set_footer(text="/track <id> posts a track again with its buttons")
    return embed


def _where(snap: JobSnapshot) -> str:
    if snap.waiting:
        return f"position {snap.position + 1} in the queue" if snap.position is not None else "waiting"
    if snap.status == "started":
        pct = progress_percent(snap.progress)
        return "being made" + (f", {pct:.0f}%" if pct is not None else "")
    if snap.finished:
        return "done, being posted"
    return snap.status


def queue_text(
    depth: int, running: int, workers: int, mine: list[tuple[str, str, float, JobSnapshot]], job_s: float
) -> str:
    """How busy the workers are and where the user's own tracks stand."""
    lines = [
        f"📋 **Queue:** {depth} waiting · {running} being made · {workers} worker(s) online · "
        f"a track takes about {format_seconds(round(job_s))}"
    ]
    if not mine:
        lines.append("You have no tracks in the works.")
    for track_id, style, seconds, snap in mine:
        lines.append(f"• `{track_id}` {style} {format_seconds(seconds)} — {_where(snap)}")
    return "\n".join(lines)[:2000]


def info_text(quota_lines: list[str], summary: Summary) -> str:
    """The user's quota and their record."""
    lines = [
        "🎟️ **Your quota**",
        *[f"• {line}" for line in quota_lines],
        "🎶 **Your tracks**",
        f"• Made: {summary.tracks}",
        f"• Votes received: 👍 {summary.up} 👎 {summary.down}",
    ]
    if summary.best is not None:
        track, tally = summary.best
        lines.append(f"• Best: `{track.id}` ({track.style}, {tally.up - tally.down:+d})")
    return "\n".join(lines)[:2000]


def help_text(settings: Settings) -> str:
    """What the bot does and how."""
    limits = settings.limits
    caps = []
    if limits.user_inflight:
        caps.append(f"{limits.user_inflight} tracks in the works at once")
    if limits.user_daily:
        caps.append(f"{limits.user_daily} per 24 hours")
    return "\n".join(
        [
            "🎼 **tunesmith composes music.**",
            f"`/compose style length` — e.g. `/compose irish 30s` ({MIN_SECONDS:g}s to {format_seconds(MAX_SECONDS)}). "
            "Options: `arch` (model), `seed` (same seed, same notes), `temperature`, `tempo` (BPM), `instrument`, "
            "`takes: 2` (two versions for an A/B vote), `arrangement` (`band`: chords, bass and percussion under the "
            "melody, the default; `melody`: the bare tune), `key` (e.g. D dorian) and `meter` (e.g. 6/8), honoured "
            "exactly, `loop: true` (a seamless loop).",
            "Under each track: 👍/👎 vote (click again to take it back), 🔁 reroll with a new seed, "
            f"➕ continue it by {settings.extend_s:g}s, 🎼 harmonize its melody in four voices; 📄 sheet music, "
            "📦 ABC/MusicXML/MIDI, 🎚️ stems, 🎲/🌀 a subtle or strong variation.",
            "`/styles` what can be composed · `/top [style] [period]` best-voted tracks · `/track id [score]` post a "
            "track again · `/queue` where your tracks are · `/info` your quota and votes",
            "Limits: " + (", ".join(caps) if caps else "none") + ". Results arrive even if they take a while.",
        ]
    )
