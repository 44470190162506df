"""Key and mode of a melody: Krumhansl–Kessler profiles, modal variants, scale fit and the final note."""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from models.arrange.theory import MODES, Key

# Krumhansl & Kessler (1982) probe-tone ratings, tonic first.
KK_MAJOR = np.array([6.35, 2.23, 3.48, 2.33, 4.38, 4.09, 2.52, 5.19, 2.39, 3.66, 2.29, 2.88])
KK_MINOR = np.array([6.33, 2.68, 3.52, 5.38, 2.60, 3.53, 2.54, 4.75, 3.98, 2.69, 3.34, 3.17])


def _modal(profile: np.ndarray, lowered: int, raised: int) -> np.ndarray:
    out = profile.copy()
    out[lowered], out[raised] = profile[raised], profile[lowered]
    return out


# Dorian is minor with a major sixth, mixolydian major with a minor seventh: the two weights trade places.
PROFILES: dict[str, np.ndarray] = {
    "major": KK_MAJOR,
    "minor": KK_MINOR,
    "dorian": _modal(KK_MINOR, 8, 9),
    "mixolydian": _modal(KK_MAJOR, 11, 10),
}
SCALE_WEIGHT = 0.6  # how much the share of the melody inside the mode's scale counts beside the correlation
FINAL_BONUS = 0.12  # tunes end on their tonic: a tonic equal to the last note's pitch class scores this much more
MIN_FIT = 0.3  # below this correlation the melody is not placed in any key (atonal)
MIN_IN_SCALE = 0.7


def histogram(notes: Iterable[tuple[int, float]]) -> np.ndarray:
    """Pitch-class weights from (MIDI pitch, weight) pairs, e.g. weight = duration × beat strength."""
    hist = np.zeros(12)
    for pitch, weight in notes:
        hist[int(pitch) % 12] += float(weight)
    return hist


def scores(
    hist: np.ndarray, final_pc: int | None = None, modes: Iterable[str] = tuple(PROFILES)
) -> dict[tuple[int, str], tuple[float, float]]:
    """(correlation, combined score) for every tonic and each of ``modes``."""
    out = {}
    total = float(hist.sum()) or 1.0
    for mode in modes:
        profile = PROFILES[mode]
        for tonic in range(12):
            rotated = np.roll(profile, tonic)
            r = float(np.corrcoef(hist, rotated)[0, 1]) if hist.std() > 0 else 0.0
            in_scale = sum(hist[(tonic + s) % 12] for s in MODES[mode]) / total
            bonus = FINAL_BONUS if final_pc is not None and final_pc % 12 == tonic else 0.0
            out[(tonic, mode)] = (r, r + SCALE_WEIGHT * in_scale + bonus)
    return out


def find_key(
    notes: list[tuple[int, float]], final_pitch: int | None = None, modes: Iterable[str] = tuple(PROFILES)
) -> Key | None:
    """The best-fitting key and mode for weighted notes, or None when the melody fits no key (atonal).

    ``modes``: the modes to consider (a chorale is in major or minor: its modulations are not modes)."""
    hist = histogram(notes)
    if hist.sum() <= 0 or np.count_nonzero(hist) < 3:
        return None
    table = scores(hist, final_pitch, modes)
    (tonic, mode), (r, _) = max(table.items(), key=lambda kv: (kv[1][1], kv[0][1] in ("major", "minor")))
    in_scale = sum(hist[(tonic + s) % 12] for s in MODES[mode]) / hist.sum()
    if r < MIN_FIT or in_scale < MIN_IN_SCALE:
        return None
    return Key(tonic, mode, round(r, 3))
