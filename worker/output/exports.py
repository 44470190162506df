"""Exports of a finished track, written beside its other files: ABC and MusicXML of the melody (every voice of
a chorale in the MusicXML), the engraved score, and the multi-track MIDI it already has."""

from __future__ import annotations

import os
import time
import uuid
from pathlib import Path
from typing import Any

from worker.output import notation

FORMATS = ("abc", "musicxml", "score", "stems", "midi")


def _atomic_write(path: Path, text: str) -> Path:
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:6]}")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)
    return path


def write_exports(
    folder: Path,
    track_id: str,
    sidecar: dict[str, Any],
    formats: tuple[str, ...] | list[str],
    *,
    size_limit: int = 10 * 1024 * 1024,
    timings: dict[str, float] | None = None,
) -> dict[str, Path]:
    """Write the asked ``formats`` of track ``track_id`` (its files in ``folder``); existing ones are reused.

    Returns {"abc", "musicxml", "score" (the PNG), "score_pdf", "score_svg", "midi", "stems" / "stems-N"}.

    Raises:
        worker.output.engrave.EngraveError, worker.output.render.RenderError: the engraver or the renderer failed.
    """
    timings = timings if timings is not None else {}
    midi = folder / f"{track_id}.mid"
    out: dict[str, Path] = {}
    wanted = set(formats)
    if "midi" in wanted:
        out["midi"] = midi
    nt = None

    def get_notation() -> notation.Notation:
        nonlocal nt
        if nt is None:
            t = time.perf_counter()
            nt = notation.from_track(midi, sidecar)
            timings["notation_s"] = round(time.perf_counter() - t, 3)
        return nt

    if "abc" in wanted:
        path = folder / f"{track_id}.abc"
        if not path.is_file() or not path.stat().st_size:
            t = time.perf_counter()
            _atomic_write(path, notation.to_abc(get_notation()))
            timings["abc_s"] = round(time.perf_counter() - t, 3)
        out["abc"] = path
    if "musicxml" in wanted:
        path = folder / f"{track_id}.musicxml"
        if not path.is_file():
            t = time.perf_counter()
            _atomic_write(path, notation.to_musicxml(get_notation()))
            timings["musicxml_s"] = round(time.perf_counter() - t, 3)
        out["musicxml"] = path
    if "score" in wanted:
        png = folder / f"{track_id}.score.png"
        if not png.is_file():
            from worker.output.engrave import engrave

            t = time.perf_counter()
            xml = notation.to_musicxml(get_notation(), metronome=False)
            engrave(xml, folder, track_id)
            timings["engrave_s"] = round(time.perf_counter() - t, 3)
        out["score"] = png
        for ext in ("pdf", "svg"):
            if (folder / f"{track_id}.score.{ext}").is_file():
                out[f"score_{ext}"] = folder / f"{track_id}.score.{ext}"
    if "stems" in wanted:
        existing = sorted(folder.glob(f"{track_id}.stems*.zip"))
        if not existing or any(p.stat().st_size > size_limit for p in existing):
            from worker.output.stems import write_stems

            for old in existing:
                old.unlink(missing_ok=True)
            t = time.perf_counter()
            existing = write_stems(
                midi,
                float(sidecar.get("seconds") or 30.0),
                folder,
                track_id,
                size_limit=size_limit,
                loop=bool(sidecar.get("loop")),
            )
            timings["stems_s"] = round(time.perf_counter() - t, 3)
        for i, path in enumerate(existing):
            out["stems" if i == 0 else f"stems-{i + 1}"] = path
    return out
