"""A sampled Composition becomes a track on disk: tempo and instrument applied, MIDI, audio, piano roll, and
``<track_id>.json`` with what extending it later needs (tokens, meter, tempo, transposition, style, arch)."""

from __future__ import annotations

import dataclasses
import errno
import json
import logging
import os
import re
import shutil
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from worker.contract.faults import point
from worker.contract.ids import is_track_id
from worker.contract.tracks import BadRequest, ComposeRequest, ComposeResult
from worker.jobs.settings import settings

if TYPE_CHECKING:  # pragma: no cover
    from models.compose.types import Composition

log = logging.getLogger(__name__)
SIDECAR_FIELDS = (
    "track_id",
    "style",
    "arch",
    "seed",
    "seconds",
    "tempo_qpm",
    "bars",
    "meter",
    "transpose",
    "program",
    "voices",
    "tokens",
    "kind",
    "parent_id",
    "parts",
    "arrangement",
    "key",
    "chords",
    "arrangement_note",
    "loop",
    "vary",
    "varied_bars",
)


def check_track_id(track_id: str) -> str:
    """``track_id`` if it is safe as a file name.

    Raises:
        BadRequest: it holds anything but letters, digits, '-' and '_', or is longer than 64.
    """
    if not is_track_id(track_id):
        raise BadRequest("The track id may only hold letters, digits, '-' and '_' (at most 64).")
    return track_id


def track_dir(root: Path, track_id: str) -> Path:
    """Where a track's files live under the data directory ``root``."""
    return root / "tracks" / check_track_id(track_id)


def with_instrument(piece: Composition, program: int | None) -> Composition:
    """The piece played on General MIDI ``program`` (every voice of a polyphonic piece); unchanged if None."""
    if program is None:
        return piece
    return dataclasses.replace(
        piece, program=int(program), parts=[(name, int(program), notes) for name, _, notes in piece.parts]
    )


def arranged(
    piece: Composition, arrangement: str, keep: list | None = None, keep_bars: int = 0, keep_chords: list | None = None
) -> Composition:
    """``piece`` arranged as ``arrangement`` (models.arrange): a band under a melody, or the bare melody; a
    chorale keeps its voices. A failure of the arranger leaves the bare melody, with a note, never a failed track."""
    from models.arrange.piece import arrange_piece

    try:
        return arrange_piece(piece, arrangement, keep=keep, keep_bars=keep_bars, keep_chords=keep_chords or ())
    except Exception:  # noqa: BLE001 - the melody is still a track worth posting
        log.exception("could not arrange %s (seed %s) as %s", piece.style, piece.seed, arrangement)
        return dataclasses.replace(
            piece, arrangement="melody", arrangement_note="the arranger failed on this melody, so it is posted bare"
        )


def read_sidecar(root: Path, track_id: str) -> dict[str, Any]:
    """The ``<track_id>.json`` a finished track left behind.

    Raises:
        BadRequest: no such track on this worker's data directory, or the file is unreadable.
    """
    path = track_dir(root, track_id) / f"{track_id}.json"
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise BadRequest(f"Track `{track_id}` is not on this worker's disk any more.") from exc
    if not isinstance(data, dict):
        raise BadRequest(f"Track `{track_id}` has an unreadable description file.")
    return data


class StorageError(RuntimeError):
    """The data directory refused a track's files (full, or read-only); the message is safe to show users."""


DISK_FULL = (errno.ENOSPC, errno.EDQUOT, errno.EFBIG)
READ_ONLY = (errno.EROFS, errno.EACCES, errno.EPERM)


def storage_error(exc: BaseException) -> StorageError | None:
    """A StorageError for a write that failed because the disk is full or read-only (an OSError, or a tool such
    as ffmpeg saying so); None for any other failure."""
    code = exc.errno if isinstance(exc, OSError) else None
    text = str(exc)
    if code in DISK_FULL or any(os.strerror(c) in text for c in DISK_FULL):
        return StorageError("the server's disk is full, so the track could not be saved")
    if code in READ_ONLY or os.strerror(errno.EROFS) in text:
        return StorageError("the server could not save the track (its storage is read-only)")
    return None


def write_track(
    piece: Composition,
    req: ComposeRequest,
    out: Path,
    *,
    device: str,
    checkpoint: str,
    timings: dict[str, float],
    progress: Callable[..., None],
    t0: float,
    extendable: bool = False,
    extra: dict[str, Any] | None = None,
) -> ComposeResult:
    """Write MIDI (+ extra files), audio, piano roll and the sidecar JSON for ``piece``; return the result.

    Everything is written into a hidden directory beside ``out`` and renamed to ``out`` at the end, so ``out``
    holds a whole track or nothing: a full or read-only disk leaves no half-written file to be served.

    Raises:
        StorageError: the disk is full or read-only.
    """
    stage = out.parent / f".{out.name}.partial-{uuid.uuid4().hex[:8]}"
    try:
        stage.mkdir(parents=True)
        result = _write_files(
            piece,
            req,
            stage,
            device=device,
            checkpoint=checkpoint,
            timings=timings,
            progress=progress,
            t0=t0,
            extendable=extendable,
            extra=extra,
        )
        _publish(stage, out)
        point("after_files")
    except Exception as exc:
        if (refused := storage_error(exc)) is not None:
            raise refused from exc
        raise
    finally:
        shutil.rmtree(stage, ignore_errors=True)
    progress("done", 1.0)
    return dataclasses.replace(result, files={k: str(out / Path(v).name) for k, v in result.files.items()})


def _publish(stage: Path, out: Path) -> None:
    """Rename the finished ``stage`` to ``out``; an older ``out`` (a rerun's first attempt) is replaced whole."""
    try:
        os.rename(stage, out)
        return
    except OSError as exc:
        if exc.errno not in (errno.EEXIST, errno.ENOTEMPTY):
            raise
    old = out.parent / f".{out.name}.old-{uuid.uuid4().hex[:8]}"
    os.rename(out, old)
    os.rename(stage, out)
    shutil.rmtree(old, ignore_errors=True)


def _write_files(
    piece: Composition,
    req: ComposeRequest,
    out: Path,
    *,
    device: str,
    checkpoint: str,
    timings: dict[str, float],
    progress: Callable[..., None],
    t0: float,
    extendable: bool,
    extra: dict[str, Any] | None = None,
) -> ComposeResult:
    from models.arrange.piece import part_info
    from worker.output.midi import write_midi
    from worker.output.pianoroll import draw_pianoroll
    from worker.output.render import audio_duration, render_audio

    t = time.perf_counter()
    progress("writing")
    tid = req.track_id
    files = {"midi": str(write_midi(piece, out / f"{tid}.mid"))}
    for name, text in sorted(piece.extra_files.items()):
        ext = re.sub(r"[^a-z0-9]", "", name.lower())[:12] or "txt"
        path = out / f"{tid}.{ext}"
        path.write_text(text, encoding="utf-8")
        files[ext] = str(path)
    t = timed(timings, "midi_s", t)

    progress("rendering")
    config = settings()
    fmt = config.audio_format
    audio = render_audio(
        files["midi"],
        out / f"{tid}.{fmt}",
        piece.seconds,
        soundfont=config.soundfont,
        fmt=fmt,
        renderer=config.renderer,
        synth_cores=config.synth_cores,
        loop=bool(getattr(piece, "loop", False)),
    )
    files["audio"] = str(audio)
    seconds = audio_duration(audio)
    t = timed(timings, "render_s", t)

    progress("drawing")
    files["image"] = str(draw_pianoroll(piece, out / f"{tid}.png"))
    timed(timings, "image_s", t)
    timings["total_s"] = round(time.perf_counter() - t0, 3)

    result = ComposeResult(
        track_id=tid,
        style=req.style,
        arch=piece.arch,
        seed=piece.seed,
        seconds=round(seconds, 4),
        tempo_qpm=round(piece.tempo_qpm, 3),
        bars=piece.bars,
        files=files,
        timings=timings,
        device=device,
        checkpoint=checkpoint,
        meter=piece.meter,
        transpose=int(piece.transpose),
        program=int(piece.program),
        voices=_voices(piece),
        tokens=[int(t) for t in piece.tokens],
        extendable=bool(extendable and piece.tokens),
        kind=req.kind,
        parent_id=req.parent_id,
        parts=part_info(piece),
        arrangement=getattr(piece, "arrangement", "melody") or "melody",
        key=getattr(piece, "key", ""),
        chords=list(getattr(piece, "chords", []) or []),
        arrangement_note=getattr(piece, "arrangement_note", ""),
        loop=bool(getattr(piece, "loop", False)),
        vary=req.vary,
    )
    if extra:
        result = dataclasses.replace(result, **extra)
    sidecar = {k: v for k, v in result.to_dict().items() if k in SIDECAR_FIELDS}
    (out / f"{tid}.json").write_text(json.dumps(sidecar), encoding="utf-8")
    return result


def _voices(piece: Composition) -> int:
    """Melodic voices: 1 for a band arrangement (one melody over an accompaniment, which 🎼 can still
    harmonize), else one per part."""
    parts = piece.parts or []
    if getattr(piece, "arrangement", "") == "band" and parts and parts[0][0] == "melody":
        return 1
    return max(1, len(parts))


def timed(timings: dict[str, float], name: str, start: float) -> float:
    """Record ``now - start`` as ``timings[name]`` (seconds, 3 decimals); returns now, the next start."""
    now = time.perf_counter()
    timings[name] = round(now - start, 3)
    return now
