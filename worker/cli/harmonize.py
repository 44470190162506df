"""``tunesmith harmonize MELODY.mid``: the melody becomes a track, then the worker's harmonize job (the one the
🎼 button runs) writes alto, tenor and bass with Coconet, through the same queue as ``compose``."""

from __future__ import annotations

import json
import os
import shutil
import time
import uuid
from pathlib import Path

from worker.contract.tracks import MAX_SECONDS, BadRequest
from worker.jobs.tracks import track_dir
from worker.output.quiet_imports import pretty_midi

MAX_MIDI_BYTES = 1_000_000


def import_melody(path: Path, root: Path) -> str:
    """Copy a user's MIDI file into the data directory as a track with a sidecar; returns its track id.

    Raises:
        BadRequest: missing, oversized, unreadable, empty or over-long file.
    """
    if not path.is_file():
        raise BadRequest(f"No such file: {path}")
    if path.stat().st_size > MAX_MIDI_BYTES:
        raise BadRequest(f"{path.name} is larger than {MAX_MIDI_BYTES // 1000} kB; give a melody, not a score.")
    try:
        pm = pretty_midi.PrettyMIDI(str(path))
    except Exception as exc:  # noqa: BLE001 - pretty_midi raises many kinds for broken files
        raise BadRequest(f"{path.name} is not a readable MIDI file ({exc.__class__.__name__}).") from exc
    notes = [n for inst in pm.instruments if not inst.is_drum for n in inst.notes]
    if not notes:
        raise BadRequest(f"{path.name} has no notes to harmonize.")
    seconds = max(n.end for n in notes)
    if seconds > MAX_SECONDS:
        raise BadRequest(f"{path.name} lasts {seconds:.0f}s; the most is {MAX_SECONDS:g}s.")
    _, tempi = pm.get_tempo_changes()
    sigs = pm.time_signature_changes
    meter = f"{sigs[0].numerator}/{sigs[0].denominator}" if sigs else "4/4"
    track_id = "melody" + uuid.uuid4().hex[:16]
    out = track_dir(root, track_id)
    out.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(path, out / f"{track_id}.mid")
    sidecar = {
        "track_id": track_id,
        "style": "upload",
        "arch": "upload",
        "seed": 0,
        "seconds": seconds,
        "tempo_qpm": float(tempi[0]) if len(tempi) else 120.0,
        "meter": meter,
        "bars": 0,
        "transpose": 0,
    }
    (out / f"{track_id}.json").write_text(json.dumps(sidecar), encoding="utf-8")
    return track_id


def cmd_harmonize(args) -> int:
    """Run the harmonize job on ``args.melody`` and copy the four-voice files into ``args.out``."""
    from worker.cli.queue_client import CommandError, copy_files, err, run_job
    from worker.contract.tracks import ComposeRequest
    from worker.jobs.context import data_dir

    t0 = time.perf_counter()
    try:
        parent = import_melody(Path(args.melody), data_dir())
        seconds = json.loads((track_dir(data_dir(), parent) / f"{parent}.json").read_text())["seconds"]
        request = ComposeRequest(
            style="bach",
            seconds=min(MAX_SECONDS, max(5.0, seconds)),
            arch="coconet",
            seed=args.seed,
            kind="harmonize",
            parent_id=parent,
        )
        result = run_job(request, os.environ.get("REDIS_URL", "").strip(), args.timeout)
        files = copy_files(result, Path(args.out))
    except BadRequest as exc:
        err(str(exc))
        return 1
    except CommandError as exc:
        err(str(exc))
        return 1
    finally:
        if "parent" in locals():
            shutil.rmtree(track_dir(data_dir(), parent), ignore_errors=True)
    summary = {
        "style": result.style,
        "arch": result.arch,
        "seed": result.seed,
        "seconds": result.seconds,
        "voices": result.voices,
        "files": files,
        "timings": {**result.timings, "total_s": round(time.perf_counter() - t0, 3)},
    }
    print(
        json.dumps(summary)
        if args.json
        else f"harmonized {args.melody} into {result.voices} voices (seed {result.seed}): " + ", ".join(files.values())
    )
    return 0
