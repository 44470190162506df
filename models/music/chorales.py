"""Four-part Bach chorales from music21's corpus on a 16th-note grid, with held and struck notes apart.

Each chorale becomes, per voice (Soprano, Alto, Tenor, Bass), an int array of MIDI pitches (-1 for a rest)
and a bool array of onsets (True where a note is struck, False where the previous one is held), so a
repeated note stays two notes (``Jsb16thSeparated`` and Kickflip89 merge them). Pieces with durations off the
16th grid are dropped, as in the Coconet ICLR-2017 draft (357 → 354). Parsing takes minutes, so the grids are
cached (``models.music.grid_corpus``, which also reads other four-voice corpora with this parser). The train/valid/test
split is frozen by chorale in ``models/splits/bach.json`` (60/20/20, the draft's protocol).
"""

from __future__ import annotations

import hashlib
import json
import os
import random
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from models.music.melody import Event, Note, Tune, meter_ticks

STEPS_PER_QUARTER = 4  # 16th-note grid
TICKS_PER_STEP = 3  # models.music.melody.TICKS_PER_QUARTER / STEPS_PER_QUARTER
VOICES = ("Soprano", "Alto", "Tenor", "Bass")
PROGRAM = 52  # General MIDI "choir aahs" (0-based)
SPLIT_PATH = Path(__file__).resolve().parents[1] / "splits" / "bach.json"


@dataclass
class Chorale:
    """One chorale: ``pitch`` [4, T] int (MIDI or -1), ``onset`` [4, T] bool, voices top to bottom."""

    chorale_id: str  # corpus path without extension, e.g. "bach/bwv269"
    numbers: list[int]  # Riemenschneider numbers (some files carry two, none for chorales outside the 371)
    meter: str
    key_sharps: int
    key_mode: str
    bar_starts: list[int]  # grid steps where the soprano's measures start (a pickup makes the first short)
    pitch: np.ndarray
    onset: np.ndarray
    title: str = ""

    def to_json(self) -> dict:
        return {
            "id": self.chorale_id,
            "numbers": self.numbers,
            "meter": self.meter,
            "sharps": self.key_sharps,
            "mode": self.key_mode,
            "bars": self.bar_starts,
            "title": self.title,
            "pitch": self.pitch.tolist(),
            "onset": self.onset.astype(int).tolist(),
        }

    @classmethod
    def from_json(cls, d: dict) -> Chorale:
        return cls(
            d["id"],
            d["numbers"],
            d["meter"],
            d["sharps"],
            d["mode"],
            d["bars"],
            np.array(d["pitch"], dtype=np.int64),
            np.array(d["onset"], dtype=bool),
            d.get("title", ""),
        )


def fix_onsets(pitch: np.ndarray, onset: np.ndarray) -> np.ndarray:
    """Onsets made consistent with pitches [..., T]: a cell after a rest or another pitch is a strike, rests
    are never struck."""
    prev = np.concatenate([np.full(pitch.shape[:-1] + (1,), -1), pitch[..., :-1]], axis=-1)
    return (onset | (prev != pitch)) & (pitch >= 0)


def voice_to_notes(pitch: np.ndarray, onset: np.ndarray, qpm: float, *, velocity: int = 80) -> list[Note]:
    """One voice's grid [T] → notes in seconds at ``qpm``; a held cell extends the sounding note."""
    step = 60.0 / qpm / STEPS_PER_QUARTER
    onset = fix_onsets(pitch, onset)
    notes, start = [], None
    for t in range(len(pitch) + 1):
        if start is not None and (t == len(pitch) or onset[t] or pitch[t] < 0):
            notes.append(Note(int(pitch[start]), start * step, t * step, velocity))
            start = None
        if t < len(pitch) and onset[t]:
            start = t
    return notes


def notes_to_voice(notes: list[Note], qpm: float, steps: int) -> tuple[np.ndarray, np.ndarray]:
    """Notes in seconds → one voice's grid (pitch [steps], onset [steps]); the top note wins where they overlap."""
    step = 60.0 / qpm / STEPS_PER_QUARTER
    pitch, onset = np.full(steps, -1, dtype=np.int64), np.zeros(steps, dtype=bool)
    for n in sorted(notes, key=lambda n: (n.pitch, n.start)):
        s = int(round(n.start / step))
        e = max(s + 1, int(round(n.end / step)))
        if s >= steps:
            continue
        pitch[s:e], onset[s:e] = n.pitch, False
        onset[s] = True
    return pitch, onset


def grid_to_parts(
    grid: np.ndarray, onsets: np.ndarray, qpm: float, *, program: int = PROGRAM
) -> list[tuple[str, int, list[Note]]]:
    """A 4-voice grid [4, T] → (voice name, GM program, notes) per voice, Soprano first."""
    return [
        (name, program, voice_to_notes(grid[v], onsets[v], qpm, velocity=86 if v == 0 else 76))
        for v, name in enumerate(VOICES)
    ]


def riemenschneider_numbers() -> dict[str, list[int]]:
    """Corpus path → Riemenschneider numbers of the chorales music21 numbers (some files carry two)."""
    from music21 import corpus

    it = corpus.chorales.Iterator(returnType="filename")
    out: dict[str, list[int]] = {}
    for number, name in zip(it.numberList, corpus.chorales.Iterator(returnType="filename"), strict=True):
        out.setdefault(name, []).append(number)
    return out


def corpus_paths(folder: str, suffixes: tuple[str, ...] = (".mxl", ".xml", ".musicxml", ".krn")) -> dict[str, Path]:
    """Corpus path without extension (``folder/name``) → file, for the scores in one music21 corpus folder."""
    from music21 import corpus

    return {
        os.path.splitext("/".join(p.parts[-2:]))[0]: Path(p)
        for p in corpus.getComposer(folder)
        if p.suffix in suffixes and p.parts[-2] == folder
    }


def chorale_files() -> list[str]:
    """Corpus paths (without extension) of every score in music21's ``bach`` folder, sorted."""
    return sorted(corpus_paths("bach"))


def parse_chorale(
    rel: str, numbers: list[int] | None = None, *, scale: float = 1.0, sort_voices: bool = False
) -> Chorale | str:
    """Parse one score into a Chorale, or return why it was dropped ("parts", "grid", "overlap", "order").

    Durations and offsets are multiplied by ``scale`` (0.5 turns a Renaissance half note into a quarter, and
    4/2 into 4/4). With ``sort_voices`` the parts are ordered by mean pitch, highest first; without, a score
    whose parts are not already in that order is dropped.
    """
    from music21 import corpus

    score = corpus.parse(rel)
    parts = list(score.parts)
    if len(parts) != 4:
        return "parts"
    sigs = list(score.recurse().getElementsByClass("TimeSignature"))
    keys = list(score.recurse().getElementsByClass("KeySignature"))
    grid = STEPS_PER_QUARTER * scale  # grid steps per quarter length of the score
    steps = score.highestTime * grid
    if not sigs or steps != int(steps) or sigs[0].denominator / scale != int(sigs[0].denominator / scale):
        return "grid"
    pitch, onset = np.full((4, int(steps)), -1, dtype=np.int64), np.zeros((4, int(steps)), dtype=bool)
    for v, part in enumerate(parts):
        for el in part.flatten().notesAndRests:
            if el.duration.isGrace or el.quarterLength == 0 or el.isRest:
                continue
            s, e = el.offset * grid, (el.offset + el.quarterLength) * grid
            if s != int(s) or e != int(e):
                return "grid"
            s, e = int(s), int(e)
            midi = [p.midi for p in el.pitches]
            p = max(midi) if v < 2 else min(midi)
            if (pitch[v, s:e] >= 0).any():
                return "overlap"
            tied = el.tie is not None and el.tie.type in ("stop", "continue")
            pitch[v, s:e] = p
            onset[v, s] = not (tied and s > 0 and pitch[v, s - 1] == p)
    means = [pitch[v][pitch[v] >= 0].mean() if (pitch[v] >= 0).any() else -1 for v in range(4)]
    order = sorted(range(4), key=lambda v: -means[v]) if sort_voices else list(range(4))
    pitch, onset, means = pitch[order], onset[order], [means[v] for v in order]
    if not all(means[v] > means[v + 1] for v in range(3)) or means[3] < 0:
        return "order"
    bars = sorted({int(m.offset * grid) for m in parts[0].getElementsByClass("Measure")})
    title = str(score.metadata.title) if score.metadata and score.metadata.title else ""
    return Chorale(
        rel,
        numbers or [],
        f"{sigs[0].numerator}/{int(sigs[0].denominator / scale)}",
        keys[0].sharps if keys else 0,
        str(getattr(keys[0], "mode", "") or "") if keys else "",
        bars,
        pitch,
        onset,
        title,
    )


def melody_key(ch: Chorale) -> str:
    """Transposition-free fingerprint of the soprano (intervals and onsets): duplicates share a split."""
    sop, on = ch.pitch[0], fix_onsets(ch.pitch[0], ch.onset[0])
    first = int(sop[sop >= 0][0]) if (sop >= 0).any() else 0
    rel = np.where(sop >= 0, sop - first, -999)
    return hashlib.sha1(rel.tobytes() + on.tobytes()).hexdigest()[:16]


def freeze_split(
    chorales: list[Chorale],
    path: Path = SPLIT_PATH,
    *,
    seed: int = 0,
    key: Callable[[Chorale], str] = melody_key,
    grouped: str = "chorales grouped by soprano line",
) -> dict[str, list[str]]:
    """Shuffle groups of pieces (same ``key``, by default the same soprano line) with ``seed`` and cut 60/20/20
    by pieces; ``grouped`` says how in the file."""
    groups: dict[str, list[str]] = {}
    for ch in sorted(chorales, key=lambda c: c.chorale_id):
        groups.setdefault(key(ch), []).append(ch.chorale_id)
    order = sorted(groups.values())
    random.Random(seed).shuffle(order)
    out: dict[str, list[str]] = {"train": [], "valid": [], "test": []}
    n = len(chorales)
    for ids in order:
        done = sum(len(v) for v in out.values())
        out["train" if done < 0.6 * n else "valid" if done < 0.8 * n else "test"].extend(ids)
    split = {k: sorted(v) for k, v in out.items()}
    frozen = {"method": f"{grouped}, shuffled with random.Random({seed}), cut 60/20/20", **split}
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(frozen, indent=0) + "\n")
    return split


def load_split(chorales: list[Chorale] | None = None, path: Path = SPLIT_PATH) -> dict[str, list[str]]:
    """The frozen split (ids per part); frozen from ``chorales`` first when the file is missing."""
    if not path.exists():
        if chorales is None:
            raise FileNotFoundError(f"{path} is missing: freeze it from the chorales (grid_corpus.corpus_split)")
        return freeze_split(chorales, path)
    frozen = json.loads(path.read_text())
    return {k: frozen[k] for k in ("train", "valid", "test")}


def split_chorales(chorales: list[Chorale], split: dict[str, list[str]]) -> dict[str, list[Chorale]]:
    """Chorales per split part; chorales missing from the frozen file are left out."""
    part_of = {i: part for part, ids in split.items() for i in ids}
    out: dict[str, list[Chorale]] = {k: [] for k in split}
    for ch in chorales:
        if ch.chorale_id in part_of:
            out[part_of[ch.chorale_id]].append(ch)
    return out


def key_shift(sharps: int) -> int:
    """Semitones that move a key signature to C major / A minor (same rule as models.music.corpus)."""
    tonic = (sharps * 7) % 12
    return -tonic if tonic <= 6 else 12 - tonic


def chorale_to_tune(ch: Chorale, *, normalize_key: bool = True) -> Tune | None:
    """The soprano as a monophonic Tune of whole bars (12 ticks a quarter); partial bars are dropped."""
    bar = meter_ticks(ch.meter) // TICKS_PER_STEP
    shift = key_shift(ch.key_sharps) if normalize_key else 0
    pitch, onset = ch.pitch[0], fix_onsets(ch.pitch[0], ch.onset[0])
    starts = [s for s in ch.bar_starts if s + bar <= len(pitch)]
    bars = []
    for s in starts:
        if s + bar not in ch.bar_starts and s + bar != len(pitch):
            continue
        events: list[Event] = []
        for t in range(s, s + bar):
            p = None if pitch[t] < 0 else int(pitch[t]) + shift
            if events and t > s and not onset[t] and events[-1].pitch == p:
                events[-1] = Event(p, events[-1].ticks + TICKS_PER_STEP)
            else:
                events.append(Event(p, TICKS_PER_STEP))
        if any(e.pitch is not None for e in events):
            bars.append(events)
    return Tune(ch.chorale_id, ch.meter, bars, ch.title) if len(bars) >= 2 else None
