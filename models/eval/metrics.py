"""Objective metrics for generated melodies (torch-free, numpy only).

Per piece: scale consistency (C-RNN-GAN, MusPy), pitch-class entropy, pitch range, the longest run of one
repeated pitch, and the longest run of notes copied from the training set. Per set: Yang & Lerch (2018)
relative evaluation — the overlapped area between the KDE of intra-set distances (held-out vs held-out) and
inter-set distances (generated vs held-out) for the pitch-class histogram, the mean inter-onset interval
and the note-length histogram. mgeval is Python 2 only, so this is a small reimplementation.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

MAJOR = (0, 2, 4, 5, 7, 9, 11)
MINOR = (0, 2, 3, 5, 7, 8, 10)
HARMONIC_MINOR = (0, 2, 3, 5, 7, 8, 11)
LENGTH_CLASSES = np.array([1 / 4, 1 / 3, 1 / 2, 2 / 3, 3 / 4, 1, 3 / 2, 2, 3, 4, 6])  # in quarter notes


@dataclass(frozen=True)
class Melody:
    """A piece reduced to what the metrics read: pitches, onsets and durations in quarter notes."""

    pitches: tuple[int, ...]
    onsets: tuple[float, ...]
    durations: tuple[float, ...]

    @classmethod
    def from_notes(cls, notes: Iterable, qpm: float) -> Melody:
        """From objects with ``pitch``, ``start``, ``end`` in seconds (e.g. models.music.melody.Note)."""
        ordered = sorted(notes, key=lambda n: (n.start, -n.pitch))
        q = qpm / 60.0
        return cls(
            tuple(n.pitch for n in ordered),
            tuple(n.start * q for n in ordered),
            tuple((n.end - n.start) * q for n in ordered),
        )


def scale_consistency(m: Melody) -> float:
    """The largest share of notes inside one major, natural-minor or harmonic-minor scale."""
    if not m.pitches:
        return 0.0
    pcs = np.array(m.pitches) % 12
    best = 0.0
    for tonic in range(12):
        for scale in (MAJOR, MINOR, HARMONIC_MINOR):
            best = max(best, float(np.isin((pcs - tonic) % 12, scale).mean()))
    return best


def pitch_class_histogram(m: Melody) -> np.ndarray:
    """Normalised 12-bin count histogram of pitch classes."""
    hist = np.bincount(np.array(m.pitches, dtype=int) % 12, minlength=12).astype(float)
    return hist / max(hist.sum(), 1.0)


# Krumhansl-Kessler major-key profile, to rotate histograms into one key before comparing pieces.
_KK_MAJOR = np.array([6.35, 2.23, 3.48, 2.33, 4.38, 4.09, 2.52, 5.19, 2.39, 3.66, 2.29, 2.88])


def key_normalized_pch(m: Melody) -> np.ndarray:
    """The pitch-class histogram rotated so its best-matching major key is C (pieces in D and in C compare
    alike; generated pieces are played in the style's keys, held-out tunes are stored in C)."""
    hist = pitch_class_histogram(m)
    best = max(range(12), key=lambda r: float(np.roll(hist, -r) @ _KK_MAJOR))
    return np.roll(hist, -best)


def pitch_class_entropy(m: Melody) -> float:
    """Entropy of the pitch-class histogram in bits (0 … log2 12 ≈ 3.58)."""
    p = pitch_class_histogram(m)
    p = p[p > 0]
    return float(-(p * np.log2(p)).sum())


def pitch_range(m: Melody) -> int:
    return max(m.pitches) - min(m.pitches) if m.pitches else 0


def mean_ioi(m: Melody) -> float:
    """Mean inter-onset interval in quarter notes."""
    onsets = sorted(set(m.onsets))
    return float(np.diff(onsets).mean()) if len(onsets) > 1 else 0.0


def note_length_histogram(m: Melody) -> np.ndarray:
    """Normalised histogram of note lengths over LENGTH_CLASSES (nearest class)."""
    if not m.durations:
        return np.zeros(len(LENGTH_CLASSES))
    idx = np.abs(np.array(m.durations)[:, None] - LENGTH_CLASSES[None]).argmin(axis=1)
    hist = np.bincount(idx, minlength=len(LENGTH_CLASSES)).astype(float)
    return hist / hist.sum()


def max_repeat_run(m: Melody) -> int:
    """The longest run of consecutive notes on one pitch (the old write-ups' one-note loops)."""
    best = run = 0
    prev = None
    for p in m.pitches:
        run = run + 1 if p == prev else 1
        best, prev = max(best, run), p
    return best


def _shapes(m: Melody) -> list[tuple[int, float]]:
    """(interval to the next note, duration) pairs: transposition-invariant note shapes."""
    p, d = m.pitches, m.durations
    return [(p[i + 1] - p[i], round(d[i], 3)) for i in range(len(p) - 1)]


class CopyIndex:
    """Finds the longest run of notes a piece shares with any training piece (transposition-invariant)."""

    def __init__(self, training: Sequence[Melody], max_n: int = 64) -> None:
        self.max_n = max_n
        self.shapes = [_shapes(m) for m in training]
        self._sets: dict[int, set[tuple]] = {}

    def _grams(self, n: int) -> set[tuple]:
        if n not in self._sets:
            self._sets[n] = {tuple(s[i : i + n]) for s in self.shapes for i in range(len(s) - n + 1)}
        return self._sets[n]

    def longest_copied(self, m: Melody) -> int:
        """Length in notes of the longest run of ``m`` found in the training set (binary search on n)."""
        shapes = _shapes(m)
        lo, hi = 0, min(self.max_n, len(shapes))
        while lo < hi:
            mid = (lo + hi + 1) // 2
            grams = self._grams(mid)
            if any(tuple(shapes[i : i + mid]) in grams for i in range(len(shapes) - mid + 1)):
                lo = mid
            else:
                hi = mid - 1
        return lo + 1 if lo else (1 if m.pitches else 0)  # n shapes span n + 1 notes


def _kde(samples: np.ndarray, grid: np.ndarray) -> np.ndarray:
    """Gaussian KDE with Scott's bandwidth, evaluated on ``grid``."""
    std = samples.std() or 1e-3
    bw = std * len(samples) ** (-1 / 5)
    z = (grid[:, None] - samples[None]) / bw
    return np.exp(-0.5 * z**2).sum(axis=1) / (len(samples) * bw * np.sqrt(2 * np.pi))


def overlap_area(intra: np.ndarray, inter: np.ndarray) -> float:
    """Overlapped area of the two distance distributions' KDEs (1 = indistinguishable)."""
    lo, hi = min(intra.min(), inter.min()), max(intra.max(), inter.max())
    pad = 0.1 * (hi - lo + 1e-6)
    grid = np.linspace(lo - pad, hi + pad, 512)
    a, b = _kde(intra, grid), _kde(inter, grid)
    return float(np.minimum(a, b).sum() * (grid[1] - grid[0]))


def relative_overlap(generated: Sequence[Melody], reference: Sequence[Melody]) -> dict[str, float]:
    """Yang & Lerch overlapped areas for the (key-normalised) pitch-class histogram, mean IOI and note-length
    histogram."""
    feats = {"pch": key_normalized_pch, "ioi": lambda m: np.array([mean_ioi(m)]), "note_length": note_length_histogram}
    out = {}
    for name, fn in feats.items():
        ref = np.stack([fn(m) for m in reference])
        gen = np.stack([fn(m) for m in generated])
        iu = np.triu_indices(len(ref), k=1)
        intra = np.linalg.norm(ref[:, None] - ref[None], axis=-1)[iu]
        inter = np.linalg.norm(gen[:, None] - ref[None], axis=-1).ravel()
        out[f"oa_{name}"] = round(overlap_area(intra, inter), 4)
    return out
