"""Fitting a post's files under Discord's limits: audio over the interaction's attachment_size_limit is
re-encoded with ffmpeg at a lower bitrate (Opus in Ogg) rather than dropped; other oversized files are left
out with a note. A whole request stays under 25 MiB."""

from __future__ import annotations

import asyncio
import logging
import shutil
from pathlib import Path

from bot.tracking import AUDIO_SUFFIXES, pick_attachments
from worker.contract.tracks import ComposeResult

log = logging.getLogger(__name__)

REQUEST_LIMIT = 25 * 1024 * 1024 - 256 * 1024  # Discord's per-request maximum, less room for the JSON
MIN_KBPS, MAX_KBPS = 12, 160
FFMPEG_TIMEOUT_S = 120.0


def target_kbps(limit_bytes: int, seconds: float) -> int:
    """The bitrate that makes ``seconds`` of audio about 90 % of ``limit_bytes`` (clamped to 12–160 kb/s)."""
    kbps = int(limit_bytes * 8 * 0.9 / max(1.0, seconds) / 1000)
    return max(MIN_KBPS, min(MAX_KBPS, kbps))


async def reencode(src: Path, dst: Path, kbps: int) -> bool:
    """Encode ``src`` to Ogg Opus at ``kbps`` into ``dst``; False if ffmpeg is missing or fails."""
    ffmpeg = shutil.which("ffmpeg")
    if ffmpeg is None:
        log.warning("ffmpeg is not installed, so %s cannot be made smaller", src.name)
        return False
    dst.parent.mkdir(parents=True, exist_ok=True)
    proc = await asyncio.create_subprocess_exec(
        ffmpeg,
        "-hide_banner",
        "-loglevel",
        "error",
        "-y",
        "-i",
        str(src),
        "-vn",
        "-c:a",
        "libopus",
        "-b:a",
        f"{kbps}k",
        str(dst),
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        _, err = await asyncio.wait_for(proc.communicate(), FFMPEG_TIMEOUT_S)
    except TimeoutError:
        proc.kill()
        await proc.wait()
        return False
    if proc.returncode != 0:
        log.warning("re-encoding %s failed: %s", src.name, err.decode(errors="replace").strip()[-300:])
        return False
    return dst.is_file() and dst.stat().st_size > 0


async def smaller_audio(path: Path, seconds: float, limit: int, cache: Path) -> Path | None:
    """A copy of ``path`` under ``limit`` bytes (cached in ``cache``), or None if none can be made."""
    kbps = target_kbps(limit, seconds)
    while kbps >= MIN_KBPS:
        out = cache / f"{path.stem}.{kbps}k.ogg"
        if (out.is_file() and out.stat().st_size > 0) or await reencode(path, out, kbps):
            if out.stat().st_size <= limit:
                log.info("re-encoded %s at %d kb/s to fit %d bytes", path.name, kbps, limit)
                return out
        else:
            return None
        kbps = int(kbps * 0.7)
    return None


def _size(path: Path) -> int:
    return path.stat().st_size


async def fit_files(
    results: list[ComposeResult], data_dir: Path, size_limit: int | None
) -> tuple[list[Path], list[str]]:
    """The files to attach for ``results`` (audio, MIDI, picture of each, at most 10) and notes on what was
    left out. Audio over ``size_limit`` (or over the request's share) is re-encoded smaller."""
    per_file = size_limit or REQUEST_LIMIT
    cache = data_dir / "cache"
    chosen: list[tuple[Path, float]] = []
    notes: list[str] = []
    for result in results:
        paths, skipped = pick_attachments(result.files, data_dir=data_dir)
        notes += skipped
        chosen += [(p, result.seconds) for p in paths]
    out: list[Path] = []
    length = dict(chosen)
    for path, seconds in chosen:
        if _size(path) <= per_file:
            out.append(path)
        elif path.suffix.lower() in AUDIO_SUFFIXES and (small := await smaller_audio(path, seconds, per_file, cache)):
            out.append(small)
            length[small] = seconds
        else:
            notes.append(f"{path.name} ({_size(path) / 2**20:.1f} MiB is over the {per_file / 2**20:.0f} MiB limit)")
    audio = [p for p in out if p.suffix.lower() in AUDIO_SUFFIXES]
    rest = sum(_size(p) for p in out if p not in audio)
    if audio and rest + sum(_size(p) for p in audio) > REQUEST_LIMIT:  # takes together: share what is left
        share = (REQUEST_LIMIT - rest) // len(audio)
        for path in audio:
            small = await smaller_audio(path, length.get(path, 60.0), share, cache) if share > 0 else None
            if small is not None:
                out[out.index(path)] = small
            else:
                out.remove(path)
                notes.append(f"{path.name} (too large for one message)")
    if len(out) > 10:
        notes += [f"{p.name} (more than 10 files)" for p in out[10:]]
    return out[:10], notes
