"""Stems: each part of a track's (multi-track) MIDI rendered on its own, at the mix's gain so that the stems add
up to the mix, zipped; re-encoded at a lower bitrate, then split into several zips, to fit the upload limit."""

from __future__ import annotations

import logging
import re
import tempfile
import zipfile
from pathlib import Path

import numpy as np

from worker.output import render
from worker.output.quiet_imports import pretty_midi

log = logging.getLogger(__name__)

MAX_KBPS, MIN_KBPS = 160, 32


def part_midis(midi: Path, out_dir: Path) -> list[tuple[str, Path]]:
    """One MIDI file per instrument with notes (tempo, meter and the end marker kept), read back by track name."""
    pm = pretty_midi.PrettyMIDI(str(midi))
    end = pm.get_end_time()
    out = []
    used: set[str] = set()
    for i, inst in enumerate(pm.instruments):
        if not inst.notes:
            continue
        one = pretty_midi.PrettyMIDI(str(midi))
        keep = one.instruments[i]
        keep.control_changes.append(pretty_midi.ControlChange(number=123, value=0, time=end))
        one.instruments = [keep]
        name = re.sub(r"[^A-Za-z0-9]+", "-", inst.name or f"part{i + 1}").strip("-").lower()[:24] or f"part{i + 1}"
        if name in used:
            name = f"{name}-{i + 1}"
        used.add(name)
        path = out_dir / f"{i + 1:02d}-{name}.mid"
        one.write(str(path))
        out.append((name, path))
    return out


def mix_gain(midi: Path, seconds: float, font: Path, warm: bool) -> float:
    """The linear gain the mix was normalised with (its peak to PEAK_TARGET_DB)."""
    pcm = render.render_pcm(midi, seconds, font, warm=warm)
    peak = float(np.abs(pcm).max()) if pcm.size else 0.0
    if peak <= 0:
        return 1.0
    return min(10 ** (render.MAX_GAIN_DB / 20), 10 ** (render.PEAK_TARGET_DB / 20) / peak)


def kbps_for(limit_bytes: int, seconds: float, parts: int) -> int:
    """The bitrate that fits ``parts`` stems of ``seconds`` into about 90 % of ``limit_bytes``."""
    kbps = int(limit_bytes * 8 * 0.9 / max(1.0, seconds * max(1, parts)) / 1000)
    return max(MIN_KBPS, min(MAX_KBPS, kbps))


def write_stems(
    midi: Path, seconds: float, out_dir: Path, stem: str, *, size_limit: int, loop: bool = False
) -> list[Path]:
    """Render every part of ``midi`` to Ogg and zip them as ``<stem>.stems.zip`` (or ``.stems-1.zip``, … when
    one zip would be over ``size_limit``); returns the zips.

    Raises:
        render.RenderError: FluidSynth, ffmpeg or a soundfont is missing.
    """
    from worker.jobs.settings import settings

    font = render.find_soundfont(settings().soundfont)
    warm = render.synth.available() and settings().renderer != "command"
    with tempfile.TemporaryDirectory(prefix="tunesmith-stems-") as tmp:
        tmp_dir = Path(tmp)
        parts = part_midis(midi, tmp_dir)
        gain = mix_gain(midi, seconds, font, warm)
        kbps = kbps_for(size_limit, seconds, len(parts))
        audio = []
        for _name, path in parts:
            out = tmp_dir / f"{path.stem}.ogg"
            render.render_audio(path, out, seconds, font, fmt="ogg", bitrate=f"{kbps}k", loop=loop, gain=gain)
            audio.append(out)
        out_dir.mkdir(parents=True, exist_ok=True)
        zips: list[list[Path]] = [[]]
        budget = int(size_limit * 0.95)
        for path in audio:
            size = path.stat().st_size
            if zips[-1] and sum(p.stat().st_size for p in zips[-1]) + size > budget:
                zips.append([])
            zips[-1].append(path)
        written = []
        for i, group in enumerate(zips):
            name = f"{stem}.stems.zip" if len(zips) == 1 else f"{stem}.stems-{i + 1}.zip"
            target = out_dir / name
            with zipfile.ZipFile(target, "w", compression=zipfile.ZIP_STORED) as zf:
                for path in group:
                    zf.write(path, arcname=path.name)
            written.append(target)
    log.info("stems of %s: %d part(s) at %d kb/s in %d zip(s)", stem, len(audio), kbps, len(written))
    return written
