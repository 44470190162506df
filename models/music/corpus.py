"""Reads a style's tunes from music21's bundled corpus into bars of events, cached on disk.

music21 parses the ~3,000 Irish tunes in minutes, so the parsed tunes are cached as gzipped JSON keyed by
the style and the music21 version; later runs load them in a second.
"""

from __future__ import annotations

import gzip
import json
import logging
import os
from collections.abc import Iterable
from multiprocessing import get_context
from pathlib import Path

from models.music.melody import Event, Tune, quarters_to_ticks
from models.music.styles import Style

log = logging.getLogger(__name__)


def cache_dir() -> Path:
    """Where parsed corpora are cached (``TUNESMITH_CACHE_DIR``, default ``~/.cache/tunesmith``)."""
    return Path(os.environ.get("TUNESMITH_CACHE_DIR", Path.home() / ".cache" / "tunesmith"))


def corpus_files(style: Style) -> list[str]:
    """Corpus-relative paths of the style's files, sorted, e.g. ``oneills1850/0001-0050.abc``."""
    from music21 import corpus

    out = []
    for path in corpus.getPaths():
        parts = Path(path).parts
        for d in style.corpus_dirs:
            if d in parts:
                out.append("/".join(parts[parts.index(d) :]))
    out = sorted(out)
    return out[: style.max_files] if style.max_files else out


def _key_shift(score) -> int:
    """Semitones that move the tune's key signature to C major / A minor (within -5..+6)."""
    sigs = list(score.recurse().getElementsByClass("KeySignature"))
    sharps = sigs[0].sharps if sigs else 0
    tonic = (sharps * 7) % 12
    return -tonic if tonic <= 6 else 12 - tonic


def score_to_tune(score, tune_id: str, *, normalize_key: bool = True) -> Tune | None:
    """One monophonic music21 score → Tune of whole bars; None when it has no usable bars.

    Bars whose length differs from the first meter (pickups, endings, meter changes) are dropped, grace
    notes are skipped, chords keep their top note, and durations off the 12-ticks grid reject the tune.
    """
    sigs = list(score.recurse().getElementsByClass("TimeSignature"))
    sigs = [s for s in sigs if s.denominator in (2, 4, 8) and s.numerator > 1]
    if not sigs:
        return None
    meter = f"{sigs[0].numerator}/{sigs[0].denominator}"
    shift = _key_shift(score) if normalize_key else 0
    part = score.parts[0] if score.parts else score
    bar_len = quarters_to_ticks(sigs[0].barDuration.quarterLength)
    bars: list[list[Event]] = []
    for measure in part.getElementsByClass("Measure"):
        events: list[Event] = []
        for el in measure.notesAndRests:
            if el.duration.isGrace or el.quarterLength == 0:
                continue
            ticks = quarters_to_ticks(el.quarterLength)
            if ticks is None:
                return None
            if el.isRest:
                pitch = None
            elif el.isChord:
                pitch = max(p.midi for p in el.pitches) + shift
            else:
                pitch = el.pitch.midi + shift
            if (
                events
                and ticks
                and el.isNote
                and el.tie is not None
                and el.tie.type in ("stop", "continue")
                and events[-1].pitch == pitch
            ):
                events[-1] = Event(pitch, events[-1].ticks + ticks)
                continue
            events.append(Event(pitch, ticks))
        if events and sum(e.ticks for e in events) == bar_len and any(e.pitch is not None for e in events):
            bars.append(events)
    if len(bars) < 2:
        return None
    title = str(score.metadata.title) if score.metadata and score.metadata.title else ""
    return Tune(tune_id, meter, bars, title)


def parse_file(rel_path: str) -> list[dict]:
    """Parse one corpus file (an ABC opus or a single score) into tune dicts."""
    from music21 import corpus, stream

    try:
        parsed = corpus.parse(rel_path)
    except Exception as exc:  # noqa: BLE001 - a broken corpus file costs us only its tunes
        log.warning("skipping %s: %s", rel_path, exc)
        return []
    scores = list(parsed.scores) if isinstance(parsed, stream.Opus) else [parsed]
    out = []
    for i, score in enumerate(scores):
        number = getattr(score.metadata, "number", None) if score.metadata else None
        tune_id = f"{rel_path}#{number or i + 1}"
        try:
            tune = score_to_tune(score, tune_id)
        except Exception as exc:  # noqa: BLE001
            log.warning("skipping %s: %s", tune_id, exc)
            continue
        if tune is not None:
            out.append(tune.to_json())
    return out


def parse_files(files: Iterable[str], processes: int = 2) -> list[Tune]:
    """Parse corpus files in parallel, keeping the order of ``files``."""
    files = list(files)
    if processes > 1 and len(files) > 1:
        with get_context("spawn").Pool(processes) as pool:
            chunks = pool.map(parse_file, files, chunksize=4)
    else:
        chunks = [parse_file(f) for f in files]
    tunes, seen = [], set()
    for chunk in chunks:
        for data in chunk:
            if data["id"] not in seen:
                seen.add(data["id"])
                tunes.append(Tune.from_json(data))
    return tunes


def load_style_tunes(style: Style, *, refresh: bool = False) -> list[Tune]:
    """All parsed tunes of a style, from the on-disk cache when it is there."""
    import music21

    path = cache_dir() / f"{style.name}-m21-{music21.__version__}.json.gz"
    if path.exists() and not refresh:
        with gzip.open(path, "rt") as fh:
            return [Tune.from_json(d) for d in json.load(fh)]
    files = corpus_files(style)
    log.info("parsing %d corpus files for %s (cached afterwards at %s)", len(files), style.name, path)
    tunes = parse_files(files, processes=max(1, min(4, os.cpu_count() or 1)))
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    with gzip.open(tmp, "wt") as fh:
        json.dump([t.to_json() for t in tunes], fh)
    os.replace(tmp, path)
    return tunes
