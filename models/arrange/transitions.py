"""Chord-to-chord transition probabilities learned from music21's roman-numeral analysis of the Bach chorales.

The table ships as ``transitions.json`` beside this module; ``python -m models.arrange.transitions`` rebuilds it
from the cached chorale grids (``models.music.chorales.load_chorales``), about a minute on one core.
"""

from __future__ import annotations

import json
import math
from collections import Counter
from functools import cache
from pathlib import Path
from typing import Any

TABLE_PATH = Path(__file__).resolve().parent / "transitions.json"
SMOOTHING = 0.5  # add-k counts, so chords the chorales never moved between (e.g. ♭VII → I in major) stay possible
_QUALITY = {"major": "maj", "minor": "min", "diminished": "dim"}


def label(semitones: int, quality: str) -> str:
    """Key-free chord label used in the table, e.g. ``7:maj`` (V), ``10:maj`` (♭VII)."""
    return f"{semitones % 12}:{quality}"


def _tonic(sharps: int, mode: str) -> int:
    return (sharps * 7 + (9 if mode == "minor" else 0)) % 12


def chorale_chords(ch: Any) -> list[str]:
    """The chord on each beat of a chorale (``models.music.chorales.Chorale``) as table labels, repeats collapsed.

    The four voices sounding at each quarter-note beat are analysed with music21's ``roman.romanNumeralFromChord``
    in the chorale's key; beats that are no triad (or only one or two pitch classes) are skipped.
    """
    from music21 import chord, key, roman

    mode = "minor" if str(ch.key_mode).lower() == "minor" else "major"
    tonic = _tonic(int(ch.key_sharps), mode)
    k = key.KeySignature(int(ch.key_sharps)).asKey(mode)
    out: list[str] = []
    for step in range(0, ch.pitch.shape[1], 4):
        pitches = sorted({int(p) for p in ch.pitch[:, step] if p >= 0})
        if len({p % 12 for p in pitches}) < 3:
            continue
        rn = roman.romanNumeralFromChord(chord.Chord(pitches), k)
        quality = _QUALITY.get(rn.quality)
        if quality is None or rn.root() is None:
            continue
        lab = label(rn.root().pitchClass - tonic, quality)
        if not out or out[-1] != lab:
            out.append(lab)
    return out


def build_table(chorales: list[Any]) -> dict[str, Any]:
    """Counts of chord changes (and of chords) per mode family from the chorales' analyses."""
    table: dict[str, Any] = {
        "source": "music21 roman.romanNumeralFromChord on the Bach chorales "
        "(models.music.chorales grids, one chord per quarter-note beat, repeats collapsed)",
        "chorales": {"major": 0, "minor": 0},
    }
    for family in ("major", "minor"):
        table[family] = {"unigram": Counter(), "bigram": {}}
    for ch in chorales:
        family = "minor" if str(ch.key_mode).lower() == "minor" else "major"
        labels = chorale_chords(ch)
        table["chorales"][family] += 1
        table[family]["unigram"].update(labels)
        for a, b in zip(labels, labels[1:], strict=False):
            table[family]["bigram"].setdefault(a, Counter())[b] += 1
    for family in ("major", "minor"):
        table[family]["unigram"] = dict(table[family]["unigram"].most_common())
        table[family]["bigram"] = {a: dict(c.most_common()) for a, c in sorted(table[family]["bigram"].items())}
    return table


@cache
def load_table(path: Path = TABLE_PATH) -> dict[str, Any]:
    """The shipped table."""
    return json.loads(path.read_text(encoding="utf-8"))


def log_transition(family: str, prev: str, nxt: str, vocab: tuple[str, ...]) -> float:
    """log P(next chord | previous chord, a change happens), smoothed over ``vocab`` (table labels)."""
    return _log_matrix(family, vocab)[vocab.index(prev)][vocab.index(nxt)]


@cache
def _log_matrix(family: str, vocab: tuple[str, ...]) -> list[list[float]]:
    rows = load_table()[family]["bigram"]
    out = []
    for a in vocab:
        counts = [rows.get(a, {}).get(b, 0) + SMOOTHING if b != a else 0.0 for b in vocab]
        total = sum(counts) or 1.0
        out.append([math.log(c / total) if c > 0 else -math.inf for c in counts])
    return out


def log_prior(family: str, vocab: tuple[str, ...]) -> list[float]:
    """log P(chord) over ``vocab`` from the chorales' chord counts (smoothed)."""
    uni = load_table()[family]["unigram"]
    counts = [uni.get(v, 0) + SMOOTHING * 10 for v in vocab]
    total = sum(counts)
    return [math.log(c / total) for c in counts]


def main() -> int:
    """Rebuild ``transitions.json`` from the cached chorale grids."""
    from models.music.grid_corpus import load_chorales

    table = build_table(load_chorales())
    TABLE_PATH.write_text(json.dumps(table, indent=1) + "\n", encoding="utf-8")
    print(f"wrote {TABLE_PATH} from {sum(table['chorales'].values())} chorales")
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
