"""Pure formatting for the bot's messages and embeds: no I/O, no Redis, easy to test."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import discord

from worker.contract.tracks import ComposeResult

EMBED_COLOUR = discord.Colour(0x3B7A57)
STAGE_LABELS = {
    "queued": "waiting in the queue",
    "loading": "loading the model",
    "sampling": "composing notes",
    "sample": "composing notes",
    "midi": "writing MIDI",
    "writing": "writing MIDI",
    "render": "rendering audio",
    "rendering": "rendering audio",
    "pianoroll": "drawing the piano roll",
    "plot": "drawing the piano roll",
    "drawing": "drawing the piano roll",
    "done": "finishing up",
}


def format_seconds(seconds: float) -> str:
    """``30`` → ``30s``, ``90`` → ``1m30s``, ``12.5`` → ``12.5s``."""
    seconds = round(float(seconds), 1)
    minutes, rest = divmod(seconds, 60)
    rest_text = f"{rest:g}s" if rest else ""
    if minutes >= 1:
        return f"{int(minutes)}m{rest_text}"
    return rest_text or "0s"


def progress_percent(progress: Mapping[str, Any]) -> float | None:
    """A 0–100 percentage from whatever a job reported: percent, fraction, or step/total."""
    for key in ("percent", "pct"):
        if isinstance(progress.get(key), int | float):
            return max(0.0, min(100.0, float(progress[key])))
    for key in ("fraction", "progress"):
        if isinstance(progress.get(key), int | float):
            return max(0.0, min(100.0, 100.0 * float(progress[key])))
    step, total = progress.get("step"), progress.get("total", progress.get("steps"))
    if isinstance(step, int | float) and isinstance(total, int | float) and total > 0:
        return max(0.0, min(100.0, 100.0 * step / total))
    return None


def progress_text(
    track_id: str,
    style: str,
    seconds: float,
    *,
    status: str,
    position: int | None = None,
    progress: Mapping[str, Any] | None = None,
    eta: float | None = None,
    verb: str = "Composing",
    workers: int | None = None,
) -> str:
    """The status line shown in the deferred response while a track is being made; ``eta`` is a Unix time;
    ``workers`` 0 says that no worker is online, so the track starts when one is up."""
    head = f"🎼 {verb} **{style}** · {format_seconds(seconds)} · track `{track_id}`"
    ready = f" Ready <t:{int(eta)}:R>." if eta is not None else ""
    if status in ("queued", "deferred", "scheduled"):
        where = f"position {position + 1} in the queue" if position is not None else "waiting for a worker"
        if workers == 0:
            return f"{head}\n⏳ Queued ({where}). {SLEEPING}"
        return f"{head}\n⏳ Queued: {where}.{ready}"
    progress = progress or {}
    stage = str(progress.get("stage", "") or "").strip()
    label = STAGE_LABELS.get(stage.lower(), stage.replace("_", " ")) if stage else "working"
    pct = progress_percent(progress)
    bar = f" {progress_bar(pct)} {pct:.0f}%" if pct is not None else ""
    return f"{head}\n⚙️ {label[:80].capitalize()}…{bar}{ready}"


SLEEPING = (
    "No worker is online right now (one may be restarting): your request is safely queued and will "
    "start as soon as a worker is up."
)


def progress_bar(pct: float, width: int = 10) -> str:
    """A text bar such as ``▰▰▰▱▱▱▱▱▱▱`` for 30 %."""
    filled = round(max(0.0, min(100.0, pct)) / 100 * width)
    return "▰" * filled + "▱" * (width - filled)


def failure_text(track_id: str, reason: str | None = None) -> str:
    """What the user sees when a job fails; never a traceback."""
    tail = f" ({reason})" if reason else ""
    return (
        f"❌ Sorry, composing track `{track_id}` failed{tail}. "
        "Try again, perhaps with another style or length; quote the track id if you report it."
    )


def timeout_text(track_id: str, waited_s: float) -> str:
    """What the user sees when a job takes longer than the bot waits."""
    return (
        f"⌛ Track `{track_id}` was not ready after {format_seconds(waited_s)}, so I stopped waiting. "
        "The workers may be busy: try again later and quote the track id if you report it."
    )


def done_text(track_id: str, *more: str) -> str:
    """The final state of the deferred response once the track(s) have been posted."""
    if more:
        return "✅ Tracks " + ", ".join(f"`{t}`" for t in (track_id, *more)) + " are ready."
    return f"✅ Track `{track_id}` is ready."


def mention(user_id: str) -> str:
    """How to name a track's maker: a Discord mention, or "a web visitor" for the web playground's (bot.web)."""
    return "a web visitor" if user_id.startswith("web:") else f"<@{user_id}>"


def describe(result: ComposeResult, user_id: str | None = None) -> str:
    """One sentence on how a track was made: composed, continued from, or harmonized from another."""
    who = f" for {mention(user_id)}" if user_id else ""
    if result.kind == "extend" and result.parent_id:
        return f"Track `{result.parent_id}` continued by the `{result.arch}` model{who}."
    if result.kind == "harmonize" and result.parent_id:
        return f"The melody of track `{result.parent_id}` with alto, tenor and bass by Coconet{who}."
    if result.kind == "vary" and result.parent_id:
        bars = ", ".join(str(b + 1) for b in result.varied_bars[:24]) + ("…" if len(result.varied_bars) > 24 else "")
        how = "Gibbs re-sampled by Coconet" if result.voices > 1 else f"re-sampled by the `{result.arch}` model"
        return (
            f"A {result.vary or ''} variation of track `{result.parent_id}`{who}: bar"
            f"{'s' if len(result.varied_bars) != 1 else ''} {bars} {how}, the rest kept."
        ).replace("A  ", "A ")
    loop = " A seamless loop: the last bar leads back into the first." if result.loop else ""
    return f"A new **{result.style}** piece, composed by the `{result.arch}` model{who}.{loop}"


def track_embed(
    result: ComposeResult,
    *,
    image_filename: str | None = None,
    requested_by: str | None = None,
    user_id: str | None = None,
    take: str = "",
) -> discord.Embed:
    """The embed posted with a finished track: style, arch, length, seed, tempo and track id."""
    kind = {"extend": "tune, extended", "harmonize": "chorale", "vary": "variation"}.get(result.kind, "tune")
    if result.loop:
        kind += " (loop)"
    embed = discord.Embed(
        title=(f"Take {take} · " if take else "") + f"🎶 {result.style.capitalize()} {kind} · "
        f"{format_seconds(result.seconds)}",
        description=describe(result, user_id),
        colour=EMBED_COLOUR,
    )
    embed.add_field(name="Style", value=result.style)
    embed.add_field(name="Architecture", value=result.arch)
    embed.add_field(name="Length", value=f"{result.seconds:.1f} s ({result.bars} bars)")
    embed.add_field(name="Seed", value=str(result.seed))
    embed.add_field(name="Tempo", value=f"{result.tempo_qpm:.0f} BPM")
    if result.key:
        embed.add_field(name="Key", value=result.key)
    if result.meter:
        embed.add_field(name="Meter", value=result.meter)
    if result.kind == "vary" and result.parent_id:
        embed.add_field(name="Parent", value=f"`{result.parent_id}`")
    embed.add_field(name="Track", value=f"`{result.track_id}`")
    if result.arrangement == "band" or result.key:  # e.g. "band · D dorian · melody, chords, bass, percussion"
        names = ", ".join(p.get("name", "") for p in result.parts) if result.arrangement == "band" else ""
        value = " · ".join(x for x in (result.arrangement, result.key, names) if x)
        embed.add_field(name="Arrangement", value=value[:1024], inline=False)
    if result.arrangement_note:
        embed.add_field(name="Note", value=result.arrangement_note[:1024], inline=False)
    if image_filename:
        embed.set_image(url=f"attachment://{image_filename}")
    numbers = {k: v for k, v in result.timings.items() if isinstance(v, int | float)}
    total = numbers.get("total_s", numbers.get("total", sum(numbers.values())))
    footer = f"made in {total:.1f} s on {result.device}" if total else f"made on {result.device}"
    if result.checkpoint:  # e.g. "pokemon-lstm v2@2026-11-22T..." → "model pokemon-lstm v2"
        footer += f" · model {result.checkpoint.split('@')[0]}"
    if requested_by:
        footer = f"requested by {requested_by} · {footer}"
    embed.set_footer(text=footer[:2048])
    return embed
