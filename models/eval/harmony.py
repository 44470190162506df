"""Harmony and form metrics for a melody with an accompaniment (Yeh et al.'s CTnCTR, PCS, MCTD, CHE, CC; parallel
fifths and octaves against the bass; parts overlapping the melody; tonic endings and repeated bars)."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

FRAME_Q = 0.25  # sixteenth-note frames for the pitch consonance score
# Onsets this close (quarters; 15 ms at 120 qpm) sound together: a bass note humanised a few milliseconds early
# is heard against the melody note starting with it, not the one before.
ONSET_TOLERANCE_Q = 0.03


@dataclass(frozen=True)
class N:
    """A note in quarter notes."""

    pitch: int
    start: float
    end: float


@dataclass(frozen=True)
class Span:
    """A chord: its pitch classes, a label for the histogram, and where it sounds (quarters)."""

    start: float
    end: float
    pcs: frozenset[int]
    label: str


@dataclass
class Harmonized:
    """One harmonized melody: melody, chord spans, bass line and every accompaniment note."""

    melody: list[N]
    chords: list[Span]
    bass: list[N]
    accompaniment: list[N] = field(default_factory=list)


def chord_at(chords: Sequence[Span], q: float) -> Span | None:
    for c in chords:
        if c.start - 1e-9 <= q < c.end - 1e-9:
            return c
    return None


def ctnctr(h: Harmonized) -> float:
    """Chord-tone to non-chord-tone ratio: (chord tones + proper non-chord tones) / (chord tones + non-chord tones);
    a non-chord tone is proper when the next note is within two semitones (a passing or neighbour tone)."""
    mel = sorted(h.melody, key=lambda n: n.start)
    c = p = nn = 0
    for i, n in enumerate(mel):
        chord = chord_at(h.chords, n.start)
        if chord is None:
            continue
        if n.pitch % 12 in chord.pcs:
            c += 1
        else:
            nn += 1
            if i + 1 < len(mel) and abs(mel[i + 1].pitch - n.pitch) <= 2:
                p += 1
    return (c + p) / (c + nn) if c + nn else 0.0


_CONSONANCE = {0: 1, 3: 1, 4: 1, 7: 1, 8: 1, 9: 1, 5: 0}


def pcs(h: Harmonized) -> float:
    """Pitch consonance score: mean over 16th frames and chord tones of +1 (unison, thirds, fifth, sixths),
    0 (fourth) or -1 (seconds, sevenths, tritone) between the melody note and each chord pitch class."""
    total, count = 0.0, 0
    for n in h.melody:
        q = n.start
        while q < n.end - 1e-9:
            chord = chord_at(h.chords, q)
            if chord is not None:
                for pc in chord.pcs:
                    total += _CONSONANCE.get((n.pitch - pc) % 12, -1)
                    count += 1
            q += FRAME_Q
    return total / count if count else 0.0


def _centroid(pcs_: Sequence[int] | frozenset[int]) -> np.ndarray:
    """Harte et al.'s 6-D tonal centroid of a pitch-class set (fifths, minor thirds, major thirds circles)."""
    if not pcs_:
        return np.zeros(6)
    out = np.zeros(6)
    for pc in pcs_:
        a = pc * 7 * math.pi / 6
        b = pc * 3 * math.pi / 2
        c = pc * 2 * math.pi / 3
        out += [math.sin(a), math.cos(a), math.sin(b), math.cos(b), 0.5 * math.sin(c), 0.5 * math.cos(c)]
    return out / len(pcs_)


def mctd(h: Harmonized) -> float:
    """Melody–chord tonal distance: duration-weighted mean distance between each melody note's and its chord's
    tonal centroids (lower is closer)."""
    total, weight = 0.0, 0.0
    for n in h.melody:
        chord = chord_at(h.chords, n.start)
        if chord is None:
            continue
        d = float(np.linalg.norm(_centroid([n.pitch % 12]) - _centroid(chord.pcs)))
        total += d * (n.end - n.start)
        weight += n.end - n.start
    return total / weight if weight else 0.0


def che_cc(h: Harmonized) -> tuple[float, int]:
    """Chord histogram entropy (natural log, over chord changes: a held chord counts once) and chord coverage
    (distinct chords)."""
    labels = [c.label for i, c in enumerate(h.chords) if i == 0 or h.chords[i - 1].label != c.label]  # changes
    counts = Counter(labels)
    n = sum(counts.values())
    entropy = -sum(v / n * math.log(v / n) for v in counts.values()) if n else 0.0
    return entropy, len(counts)


def _sounding(notes: Sequence[N], q: float) -> N | None:
    for n in notes:
        if n.start - 1e-9 <= q < n.end - 1e-9:
            return n
    return None


def parallels(h: Harmonized) -> float:
    """Parallel fifths and octaves between melody and bass: the share of bass onsets where both voices move in
    the same direction from a perfect fifth or octave (or unison) into the same interval class. The melody note
    at a bass onset is the one sounding just after it (``ONSET_TOLERANCE_Q``), so humanised timing does not
    count as motion."""
    mel = sorted(h.melody, key=lambda n: n.start)
    bass = sorted(h.bass, key=lambda n: n.start)
    moves = bad = 0
    prev: tuple[int, int] | None = None
    for b in bass:
        m = _sounding(mel, b.start + ONSET_TOLERANCE_Q)
        if m is None:
            prev = None
            continue
        if prev is not None and (m.pitch != prev[0] or b.pitch != prev[1]):
            moves += 1
            before, after = (prev[0] - prev[1]) % 12, (m.pitch - b.pitch) % 12
            same_way = (m.pitch - prev[0]) * (b.pitch - prev[1]) > 0
            if same_way and before == after and after in (0, 7):
                bad += 1
        prev = (m.pitch, b.pitch)
    return bad / moves if moves else 0.0


def overlap(h: Harmonized) -> tuple[float, float]:
    """(share of accompaniment notes inside the melody's pitch range, share at or above the melody note
    sounding with them: crossing)."""
    if not h.accompaniment or not h.melody:
        return 0.0, 0.0
    low, high = min(n.pitch for n in h.melody), max(n.pitch for n in h.melody)
    mel = sorted(h.melody, key=lambda n: n.start)
    inside = sum(low <= a.pitch <= high for a in h.accompaniment)
    crossing = 0
    for a in h.accompaniment:
        m = _sounding(mel, a.start)
        crossing += bool(m is not None and a.pitch >= m.pitch)
    return inside / len(h.accompaniment), crossing / len(h.accompaniment)


def ends_on_tonic(melody: Sequence[N], tonic_pc: int) -> bool:
    """Whether the last melody note is the tonic."""
    return bool(melody) and max(melody, key=lambda n: n.start).pitch % 12 == tonic_pc


def repeated_bar_share(melody: Sequence[N], bar_q: float) -> float:
    """Share of bars (after the first) whose notes, relative to the bar line, equal an earlier bar's: how much of
    a piece returns to material heard before."""
    bars: dict[int, list[tuple[int, float, float]]] = {}
    for n in melody:
        b = int(n.start / bar_q + 1e-6)
        bars.setdefault(b, []).append((n.pitch, round(n.start - b * bar_q, 3), round(n.end - n.start, 3)))
    if len(bars) < 2:
        return 0.0
    seen: set[tuple] = set()
    repeats = 0
    for b in sorted(bars):
        content = tuple(sorted(bars[b]))
        repeats += content in seen
        seen.add(content)
    return repeats / (len(bars) - 1)


def scores(h: Harmonized) -> dict[str, float]:
    """All harmony metrics of one piece."""
    entropy, coverage = che_cc(h)
    inside, crossing = overlap(h)
    return {
        "ctnctr": ctnctr(h),
        "pcs": pcs(h),
        "mctd": mctd(h),
        "che": entropy,
        "cc": float(coverage),
        "parallels": parallels(h),
        "overlap": inside,
        "crossing": crossing,
    }
