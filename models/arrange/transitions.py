"""Chord-to-chord transition probabilities learned from the Bach chorales' harmony, beat by beat.

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

from models.arrange.theory import identify

TABLE_PATH = Path(__file__).resolve().parent / "transitions.json"
VOCAB_SHARE = 0.005  # the chorale style offers every chord Bach moves to on at least 0.5% of changes
SMOOTHING = 0.5  # add-k counts, so chords the chorales never moved between (e.g. ♭VII → I in major) stay possible


def label(semitones: int, quality: str) -> str:
    """Key-free chord label used in the table, e.g. ``7:maj`` (V), ``10:maj`` (♭VII)."""
    return f"{semitones % 12}:{quality}"


def _tonic(sharps: int, mode: str) -> int:
    return (sharps * 7 + (9 if mode == "minor" else 0)) % 12


def beat_chords(ch: Any) -> list[tuple[str | None, bool]]:
    """(label, on a bar line) for each quarter-note beat of a chorale (``models.music.chorales.Chorale``).

    The four voices sounding at the beat are named by ``theory.identify`` (seventh chords and triads, rooted on the
    bass where the set allows); the label is None on a beat that holds no triad (a passing sonority).
    """
    mode = "minor" if str(ch.key_mode).lower() == "minor" else "major"
    tonic = _tonic(int(ch.key_sharps), mode)
    bar_lines = set(ch.bar_starts)
    out: list[tuple[str | None, bool]] = []
    for step in range(0, ch.pitch.shape[1], 4):
        sounding = [int(p) for p in ch.pitch[:, step] if p >= 0]
        found = identify({p % 12 for p in sounding}, min(sounding) % 12) if sounding else None
        out.append((label(found.root - tonic, found.quality) if found else None, step in bar_lines))
    return out


def chorale_chords(ch: Any) -> list[str]:
    """The chorale's chord changes as table labels: one per beat, passing sonorities skipped, repeats collapsed."""
    return _changes(beat_chords(ch))


def _changes(beats: list[tuple[str | None, bool]]) -> list[str]:
    out: list[str] = []
    for lab, _ in beats:
        if lab is not None and (not out or out[-1] != lab):
            out.append(lab)
    return out


def build_table(chorales: list[Any]) -> dict[str, Any]:
    """Counts of chord changes (and of chords) per mode family from the chorales' analyses, and how often a chord
    is held into the next beat (on a bar line and within the bar)."""
    table: dict[str, Any] = {
        "source": "models.arrange.theory.identify on the four voices of the Bach chorales "
        "(models.music.grid_corpus grids, one chord per quarter-note beat, repeats collapsed)",
        "chorales": {"major": 0, "minor": 0},
    }
    for family in ("major", "minor"):
        table[family] = {"unigram": Counter(), "bigram": {}}
    holds = {"bar_line": [0, 0], "in_bar": [0, 0]}  # [held, beats]
    for ch in chorales:
        family = "minor" if str(ch.key_mode).lower() == "minor" else "major"
        beats = beat_chords(ch)
        labels = _changes(beats)
        table["chorales"][family] += 1
        table[family]["unigram"].update(labels)
        for a, b in zip(labels, labels[1:], strict=False):
            table[family]["bigram"].setdefault(a, Counter())[b] += 1
        prev = None
        for lab, on_bar_line in beats:
            lab = lab or prev  # a passing sonority continues the chord before it
            if prev is not None and lab is not None:
                count = holds["bar_line" if on_bar_line else "in_bar"]
                count[0] += lab == prev
                count[1] += 1
            prev = lab
    for family in ("major", "minor"):
        table[family]["unigram"] = dict(table[family]["unigram"].most_common())
        table[family]["bigram"] = {a: dict(c.most_common()) for a, c in sorted(table[family]["bigram"].items())}
    table["hold"] = {where: round(held / max(1, beats), 4) for where, (held, beats) in holds.items()}
    return table


def hold_rates() -> tuple[float, float]:
    """P(the chord is held into the next beat) (within a bar, on a bar line), from the chorales."""
    hold = load_table()["hold"]
    return float(hold["in_bar"]), float(hold["bar_line"])


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


def learned_vocabulary(family: str, min_share: float = VOCAB_SHARE) -> list[tuple[int, str]]:
    """The chords (semitones above the tonic, quality) that hold at least ``min_share`` of the chorales' chord
    changes in ``family``, commonest first: the chorale style's vocabulary, secondary dominants and sevenths
    included."""
    uni = load_table()[family]["unigram"]
    total = sum(uni.values()) or 1
    out = []
    for lab, count in uni.items():
        if count / total >= min_share:
            semis, quality = lab.split(":")
            out.append((int(semis), quality))
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
