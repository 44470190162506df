"""Light percussion on General MIDI channel 10: a bodhrán-like frame drum, a pipe-band side drum, a tambourine."""

from __future__ import annotations

import random

from models.arrange.harmony import Meter

# GM percussion keys.
LOW_FLOOR_TOM, HIGH_FLOOR_TOM, LOW_TOM = 41, 43, 45
BASS_DRUM, SIDE_STICK, SNARE, TAMBOURINE = 36, 37, 38, 54
KITS = ("bodhran", "sidedrum", "tambourine")
HIT_Q = 0.25  # drum notes are short; the sound decays on its own

Hit = tuple[float, float, int, int]  # (start, end) in quarters, GM key, velocity


def _grid(meter: Meter) -> float:
    """The percussion's pulse in quarters: eighths (triplet eighths of a compound beat)."""
    return 0.5


def pattern(kit: str, meter: Meter, bars: int, rng: random.Random) -> list[Hit]:
    """Hits for ``bars`` bars; the last bar has one closing stroke. Quiet, with ghost notes left out at random."""
    if kit not in KITS or bars <= 0:
        return []
    step = _grid(meter)
    steps = max(1, round(meter.bar_q / step))
    out: list[Hit] = []
    for bar in range(bars):
        t0 = bar * meter.bar_q
        if bar == bars - 1 and bars > 1:
            key = {"bodhran": LOW_FLOOR_TOM, "sidedrum": BASS_DRUM, "tambourine": TAMBOURINE}[kit]
            out.append((t0, t0 + HIT_Q, key, 64))
            break
        for i in range(steps):
            q = i * step
            strength = meter.strength(q)
            hit = _stroke(kit, strength, i, rng)
            if hit is not None:
                out.append((t0 + q, t0 + q + HIT_Q, hit[0], hit[1]))
    return out


def _stroke(kit: str, strength: float, i: int, rng: random.Random) -> tuple[int, int] | None:
    if kit == "bodhran":  # a low stroke on the strong beats, lighter top strokes between, some left out
        if strength >= 0.8:
            return LOW_FLOOR_TOM, 62
        if strength >= 0.6:
            return HIGH_FLOOR_TOM, 50
        return (HIGH_FLOOR_TOM, 34) if rng.random() < 0.75 else None
    if kit == "sidedrum":  # bass drum on the downbeat, a soft snare on the beats, ghost strokes between
        if strength >= 1.0:
            return BASS_DRUM, 60
        if strength >= 0.6:
            return SNARE, 50
        return (SIDE_STICK, 26) if rng.random() < 0.4 else None
    if strength >= 1.0:  # tambourine: off the downbeat, on the other beats
        return None
    return (TAMBOURINE, 60) if strength >= 0.6 else None
