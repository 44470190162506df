"""Polyphonic keyboard reductions of music21's bundled corpus (chorales, madrigals, string quartets, keyboard
pieces), each file parsed once and cached on disk as JSON (music21's parser is slow: minutes for the set).

Every part of a score is folded onto one keyboard: all its notes (ties merged, chords kept) become
:class:`models.poly.tokens.PolyNote` on the 12-ticks grid, the key is normalised to C major / A minor by a
Krumhansl–Schmuckler estimate, and the piece is cut into chunks of at most MAX_BARS whole bars of its first
meter (a pickup before the first full bar and everything after a meter change are dropped).
"""

from __future__ import annotations

import gzip
import hashlib
import json
import logging
import math
import os
from pathlib import Path

from models.music.corpus import cache_dir
from models.music.midi_import import estimate_key, key_shift
from models.music.tokens import METERS
from models.poly.tokens import PolyNote, PolyPiece

log = logging.getLogger(__name__)

MAX_BARS = 32
# corpus directory → style token of the pieces it holds
SOURCES: dict[str, str] = {
    "bach": "chorale",
    "monteverdi": "madrigal",
    "beethoven": "quartet",
    "mozart": "quartet",
    "haydn": "quartet",
    "schumann_robert": "quartet",
    "joplin": "keyboard",
    "chopin": "keyboard",
    "schumann_clara": "keyboard",
    "beach": "keyboard",
    "cpebach": "keyboard",
    "handel": "keyboard",
    "schubert": "keyboard",
    "corelli": "keyboard",
    "weber": "keyboard",
    "johnson_j_r": "keyboard",
    "liliuokalani": "keyboard",
}
MAX_PARTS = 6
SKIP_SUFFIXES = (".rntxt",)  # roman-numeral analyses: block chords, not music
MAX_FILE_BYTES = 160_000  # bigger files (whole quartets, the Grosse Fuge) take music21 minutes each to parse


def corpus_files() -> list[tuple[str, str]]:
    """(corpus-relative path, style token) of every file the poly corpus uses, sorted."""
    from music21 import corpus

    out: dict[str, tuple[str, str]] = {}
    for path in corpus.getPaths():
        parts = Path(path).parts
        for d, token in SOURCES.items():
            if d in parts and Path(path).suffix not in SKIP_SUFFIXES and Path(path).stat().st_size <= MAX_FILE_BYTES:
                rel = "/".join(parts[parts.index(d) :])
                stem = rel.rsplit(".", 1)[0]
                if stem not in out or rel.endswith((".mxl", ".xml", ".musicxml")):  # one encoding per work
                    out[stem] = (rel, token)
    return sorted(out.values())


def score_to_pieces(score, piece_id: str, scale: float = 1.0) -> list[PolyPiece]:
    """One music21 score → keyboard-reduction pieces (possibly none). ``scale`` multiplies every duration
    (0.5 reads a Renaissance half-note tactus as a quarter: 4/2 becomes 4/4)."""

    def _ticks(quarters) -> int:
        return round(float(quarters) * 12 * scale)

    parts = list(score.parts) or [score]
    if len(parts) > MAX_PARTS:
        return []
    first = parts[0].flatten()
    sigs = [
        (_ticks(ts.offset), f"{ts.numerator}/{round(ts.denominator / scale)}", _ticks(ts.barDuration.quarterLength))
        for ts in first.getElementsByClass("TimeSignature")
    ]
    if not sigs or sigs[0][1] not in METERS:
        return []
    meter, bar_ticks = sigs[0][1], sigs[0][2]
    stop = next((t for t, m, _ in sigs[1:] if m != meter), None)
    measures = [(_ticks(m.offset), _ticks(m.duration.quarterLength)) for m in parts[0].getElementsByClass("Measure")]
    origin = next((o for o, d in measures if d == bar_ticks), 0)
    notes: list[PolyNote] = []
    for index, part in enumerate(parts):
        velocity = 86 if index == 0 else 70
        for el in part.stripTies().flatten().notes:
            if el.duration.isGrace or el.quarterLength == 0:
                continue
            start, ticks = _ticks(el.offset) - origin, max(1, _ticks(el.quarterLength))
            if start < 0 or (stop is not None and start + origin >= stop):
                continue
            for p in el.pitches:
                notes.append(PolyNote(start, ticks, p.midi, velocity))
    if not notes:
        return []
    end = max(n.start + n.ticks for n in notes)
    if stop is not None:
        end = min(end, stop - origin)
    total = end // bar_ticks + (1 if end % bar_ticks > bar_ticks // 2 else 0)
    if total < 2:
        return []
    tonic, mode = estimate_key([(n.start, n.start + n.ticks, n.pitch) for n in notes])
    shift = key_shift(tonic, mode)
    notes = sorted(
        (PolyNote(n.start, n.ticks, n.pitch + shift, n.velocity) for n in notes), key=lambda n: (n.start, n.pitch)
    )
    title = str(score.metadata.title) if score.metadata and score.metadata.title else ""
    pieces_n = math.ceil(total / MAX_BARS)
    out = []
    for k in range(pieces_n):
        a, b = k * total // pieces_n, (k + 1) * total // pieces_n
        chunk = [
            PolyNote(n.start - a * bar_ticks, n.ticks, n.pitch, n.velocity)
            for n in notes
            if a * bar_ticks <= n.start < b * bar_ticks
        ]
        if b - a >= 2 and chunk:
            out.append(PolyPiece(f"{piece_id}@{a}", meter, b - a, chunk, title))
    return out


def parse_file(rel_path: str, scale: float = 1.0) -> list[dict]:
    """Parse one corpus file into piece dicts (an empty list when music21 cannot read it)."""
    from music21 import corpus, stream

    try:
        parsed = corpus.parse(rel_path)
        scores = list(parsed.scores) if isinstance(parsed, stream.Opus) else [parsed]
        out = []
        for i, score in enumerate(scores):
            out += [p.to_json() for p in score_to_pieces(score, f"{rel_path}#{i + 1}", scale)]
        return out
    except Exception as exc:  # noqa: BLE001 - a broken corpus file costs us only its pieces
        log.warning("skipping %s: %s", rel_path, exc)
        return []


def _file_cache(rel_path: str, scale: float = 1.0) -> Path:
    import music21

    key = hashlib.sha1((rel_path if scale == 1.0 else f"{rel_path}@{scale}").encode()).hexdigest()[:16]
    return cache_dir() / f"poly-m21-{music21.__version__}" / f"{key}.json.gz"


def load_corpus(
    files: list[tuple[str, str]] | None = None, *, log_every: int = 20, cached_only: bool = False, scale: float = 1.0
) -> list[tuple[str, PolyPiece]]:
    """(style token, piece) for every corpus file, each parsed once and cached per file (so an interrupted
    parse resumes where it stopped); ``cached_only`` skips files not parsed yet."""
    files = corpus_files() if files is None else files
    out: list[tuple[str, PolyPiece]] = []
    for n, (rel, token) in enumerate(files):
        path = _file_cache(rel, scale)
        if path.exists():
            with gzip.open(path, "rt") as fh:
                data = json.load(fh)
        elif cached_only:
            continue
        else:
            data = parse_file(rel, scale)
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_suffix(".tmp")
            with gzip.open(tmp, "wt") as fh:
                json.dump(data, fh)
            os.replace(tmp, path)
        out += [(token, PolyPiece.from_json(d)) for d in data]
        if log_every and (n + 1) % log_every == 0:
            log.info("poly corpus: %d/%d files, %d pieces", n + 1, len(files), len(out))
    return out
