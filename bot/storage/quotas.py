"""Quotas, as pure functions: per-user in-flight and daily caps, per-guild caps, and the refusal that says
when the next job is allowed (a Discord ``<t:…:R>`` timestamp, shown in the reader's own time zone)."""

from __future__ import annotations

from dataclasses import dataclass, field

DAY_S = 24 * 3600


@dataclass(frozen=True)
class Limits:
    """Caps; 0 turns one off. Defaults match the README's quota table."""

    user_inflight: int = 2
    user_daily: int = 30
    guild_inflight: int = 8
    guild_daily: int = 300


@dataclass(frozen=True)
class Usage:
    """What is in flight now, and when each track of the last 24 hours was asked for (oldest first)."""

    user_inflight: int = 0
    user_day: list[float] = field(default_factory=list)
    guild_inflight: int = 0
    guild_day: list[float] = field(default_factory=list)


def when(timestamp: float) -> str:
    """A Discord relative timestamp, e.g. ``<t:1767225600:R>`` ("in 3 hours")."""
    return f"<t:{int(timestamp + 0.999)}:R>"


def next_free(times: list[float], limit: int, wanted: int) -> float | None:
    """When enough of ``times`` (oldest first) leave the 24-hour window for ``wanted`` more under ``limit``;
    None when ``wanted`` can never fit."""
    if wanted > limit:
        return None
    must_leave = len(times) + wanted - limit
    return times[must_leave - 1] + DAY_S if must_leave > 0 else 0.0


def refusal(limits: Limits, usage: Usage, wanted: int, now: float) -> str | None:
    """None if ``wanted`` more tracks are allowed now; else an explanation with the time of the next chance."""
    jobs = "a track" if wanted == 1 else f"{wanted} tracks"
    if limits.user_inflight and usage.user_inflight + wanted > limits.user_inflight:
        if wanted > limits.user_inflight:
            return (
                f"⏳ You may have at most {limits.user_inflight} track(s) in the works at once, so {jobs} at "
                "once is too many: ask for fewer takes."
            )
        return (
            f"⏳ You already have {usage.user_inflight} track(s) in the works (the limit is "
            f"{limits.user_inflight} at once). You can ask for {jobs} again as soon as one of them is posted; "
            "`/queue` shows where they are."
        )
    if limits.user_daily and len(usage.user_day) + wanted > limits.user_daily:
        at = next_free(usage.user_day, limits.user_daily, wanted)
        later = f"Your next track is allowed {when(at)}." if at else "Ask for fewer takes."
        return f"📅 You have used your {limits.user_daily} tracks for the last 24 hours. {later}"
    if limits.guild_inflight and usage.guild_inflight + wanted > limits.guild_inflight:
        return (
            f"⏳ This server already has {usage.guild_inflight} track(s) in the works (the limit is "
            f"{limits.guild_inflight}). Try again in a minute, when one of them has been posted."
        )
    if limits.guild_daily and len(usage.guild_day) + wanted > limits.guild_daily:
        at = next_free(usage.guild_day, limits.guild_daily, wanted)
        later = f"The next one is allowed {when(at)}." if at else "Ask for fewer takes."
        return f"📅 This server has used its {limits.guild_daily} tracks for the last 24 hours. {later}"
    return None


def left(limits: Limits, usage: Usage, now: float) -> list[str]:
    """Lines for /info: what the user may still ask for, and when the daily count frees up."""
    lines = []
    if limits.user_inflight:
        lines.append(f"In the works: {usage.user_inflight} of {limits.user_inflight} at once")
    else:
        lines.append(f"In the works: {usage.user_inflight} (no limit)")
    if limits.user_daily:
        remaining = max(0, limits.user_daily - len(usage.user_day))
        line = f"Last 24 hours: {len(usage.user_day)} of {limits.user_daily} ({remaining} left)"
        if usage.user_day:
            line += f"; the oldest counts until {when(usage.user_day[0] + DAY_S)}"
        lines.append(line)
    return lines
