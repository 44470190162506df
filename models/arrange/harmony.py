"""Chords under a melody by Viterbi: chord-tone emissions weighted by duration and beat strength, transitions
learned from the chorales, and hard constraints (tonic start and end, cadences at phrase ends)."""

from __future__ import annotations

import dataclasses
import math
import random
from collections.abc import Sequence
from dataclasses import dataclass

from models.arrange.decode import sample_path, viterbi
from models.arrange.theory import MODE_FAMILY, Chord, Key, cadential, tonic_chord, vocabulary
from models.arrange.transitions import hold_rates, label, learned_vocabulary, log_prior, log_transition

CHORD_TONE = {0: 1.0, 1: 0.85, 2: 0.8, 3: 0.7}  # root, third, fifth, seventh
NON_CHORD = -0.7
STRONG_NON_CHORD = -1.4  # a non-chord tone struck on a strong beat clashes most
# A non-chord tone the melody leaves by leap is no passing or neighbour tone: it sounds like a wrong chord.
LEAPT_NON_CHORD = -1.4
EMISSION_SCALE = 2.5
PRIOR_SCALE = 0.15
TRANSITION_SCALE = 0.5  # the chorales' I–V habit, halved: folk melodies lead the choice more than Bach's bass
STAY_IN_BAR = 0.35  # the chord often holds through the bar (1 chord a bar); changes prefer bar lines
STAY_ACROSS_BAR = 0.15
# The chorale style (a chord slot on every beat) holds its chord as often as Bach does: ``transitions.hold_rates``.
SAMPLE_TEMPERATURE = 1.0  # posterior sampling: scores divided by this (lower: closer to the Viterbi path)
# How consonant a melody note is with each chord tone (semitones above it): unison, thirds, fifth and sixths
# +1, the fourth 0, seconds, sevenths and the tritone -1. Two non-chord tones differ by how hard they clash:
# B over C major (a seventh over the root, but a fifth and third over E and G) is a leading tone, B over F major
# (a tritone over the root, a semitone under C) is a clash.
INTERVAL_CONSONANCE = (1.0, -1.0, -1.0, 1.0, 1.0, 0.0, -1.0, 1.0, 1.0, 1.0, -1.0, -1.0)
CONSONANCE_WEIGHT = 0.5
# A chord with a tone outside the key (♭VII in a major tune: F natural in G major) is borrowed: it needs the melody
# to sound that tone in its slot, or it contradicts the key the melody is in. Per quarter of the slot.
BORROWED = -1.0


@dataclass(frozen=True)
class MNote:
    """A melody note in quarter notes from the start of the piece; ``leaps_on``: the next note is more than a
    whole tone away (so the note cannot be a passing or neighbour tone: set by ``harmonize``)."""

    pitch: int
    start: float
    end: float
    leaps_on: bool = False


@dataclass(frozen=True)
class Meter:
    """A meter's bar and beat lengths in quarter notes."""

    text: str
    bar_q: float
    beat_q: float

    @classmethod
    def parse(cls, meter: str) -> Meter:
        num, den = (int(x) for x in meter.split("/"))
        bar_q = num * 4.0 / den
        compound = den == 8 and num % 3 == 0  # 3/8 too: one dotted-quarter beat a bar
        return cls(meter, bar_q, 1.5 if compound else 4.0 / den)

    @property
    def beats(self) -> int:
        return max(1, round(self.bar_q / self.beat_q))

    @property
    def compound(self) -> bool:
        return abs(self.beat_q - 1.5) < 1e-9

    def strength(self, q: float) -> float:
        """Metric weight of a position ``q`` quarters into a bar: 1 downbeat, 0.8 mid-bar, 0.6 beat, less off it."""
        pos = q % self.bar_q
        if abs(pos) < 1e-6 or abs(pos - self.bar_q) < 1e-6:
            return 1.0
        on_beat = abs(pos / self.beat_q - round(pos / self.beat_q)) < 1e-6
        if on_beat:
            return 0.8 if self.beats % 2 == 0 and abs(pos - self.bar_q / 2) < 1e-6 else 0.6
        half = self.beat_q / (3 if self.compound else 2)
        return 0.35 if abs(pos / half - round(pos / half)) < 1e-6 else 0.2

    def slots_per_bar(self, every_beat: bool = False) -> int:
        """Chords per bar at most: two in four-beat and compound-duple bars, one otherwise; with ``every_beat``
        (the chorale style, whose harmony moves on the beat) one a beat."""
        if every_beat:
            return self.beats
        return 2 if self.beats in (2, 4) and (self.bar_q >= 3.0) else 1


def slots(meter: Meter, bars: int, per: int | None = None) -> list[tuple[float, float]]:
    """(start, end) in quarters of each chord slot, ``per`` a bar (the meter's default)."""
    per = per or meter.slots_per_bar()
    width = meter.bar_q / per
    return [(b * meter.bar_q + i * width, b * meter.bar_q + (i + 1) * width) for b in range(bars) for i in range(per)]


def emission(notes: Sequence[MNote], chord: Chord, start: float, end: float, meter: Meter) -> float:
    """How well ``chord`` fits the melody between ``start`` and ``end`` (quarters)."""
    tones = chord.tones
    score = 0.0
    for n in notes:
        overlap = min(end, n.end) - max(start, n.start)
        if overlap <= 1e-9:
            continue
        strength = meter.strength(n.start) if n.start >= start - 1e-9 else 0.5
        weight = overlap * (0.5 + strength)
        pc = n.pitch % 12
        if pc in tones:
            score += weight * CHORD_TONE[tones.index(pc)]
        else:
            score += weight * (STRONG_NON_CHORD if strength >= 0.6 else NON_CHORD)
            score += weight * LEAPT_NON_CHORD if n.leaps_on else 0.0
        if CONSONANCE_WEIGHT:
            score += weight * CONSONANCE_WEIGHT * sum(INTERVAL_CONSONANCE[(pc - t) % 12] for t in tones) / len(tones)
    return score


def borrowed(chord: Chord, key: Key, sounded: set[int], length: float, strict: bool = True) -> float:
    """The penalty for a chord whose tones outside ``key`` the melody does not sound (``sounded``: its pitch
    classes in the slot): ``BORROWED`` per quarter of the slot, for each such tone."""
    if not strict:
        return 0.0
    foreign = [t for t in chord.tones if t not in key.scale and t not in sounded]
    return BORROWED * length * len(foreign)


def chord_vocabulary(key: Key, extended: bool = False) -> list[Chord]:
    """The chords on offer: the folk band's for the mode, or (``extended``, major and minor keys) every chord the
    chorales move to often enough (``transitions.learned_vocabulary``), the tonic and a cadence always among them."""
    if not extended or key.mode not in ("major", "minor"):
        return vocabulary(key)
    chords = [Chord((key.tonic + s) % 12, q) for s, q in learned_vocabulary(key.mode)]
    for must in [tonic_chord(key), *cadential(key)[:1]]:
        if must not in chords:
            chords.append(must)
    return chords


def harmonize(
    notes: Sequence[MNote],
    key: Key,
    meter: Meter,
    bars: int,
    phrase_ends: Sequence[int] = (),
    ties: dict[int, int] | None = None,
    extended: bool = True,
    every_beat: bool = False,
    seed: int | None = None,
    fixed: dict[int, Chord] | None = None,
) -> list[tuple[float, float, Chord]]:
    """Chords for ``bars`` bars of melody: (start, end, chord) per slot, quarters.

    Args:
        phrase_ends: bar indices that end a phrase: their last slot is the tonic or the dominant (a full or half
            cadence); the last bar of the piece is always the tonic, led into by a cadential chord.
        ties: bar → earlier bar whose chords it must repeat (a repeated part).
        extended: the chorale style's learned vocabulary (sevenths, secondary dominants, diminished chords), not
            the folk band's triads and V7.
        every_beat: a chord slot on every beat (the chorale style's harmonic rhythm), not one or two a bar.
        seed: draw the chords from the model's posterior (``decode.sample_path``, seeded) instead of taking the
            single likeliest sequence (Viterbi): the chorale style, whose variety is part of its sound.
        fixed: slot → the chord it must take (an extended track's first bars keep their parent's chords).
    """
    family = MODE_FAMILY[key.mode]
    chords = chord_vocabulary(key, extended)
    chords += [c for c in dict.fromkeys((fixed or {}).values()) if c not in chords]
    labels = tuple(label(*c.degree(key)) for c in chords)
    log_change = [
        [TRANSITION_SCALE * log_transition(family, a, b, labels) if a != b else -math.inf for b in labels]
        for a in labels
    ]
    prior = [PRIOR_SCALE * p for p in log_prior(family, labels)]
    per = meter.slots_per_bar(every_beat)
    spans = slots(meter, bars, per)
    ordered = sorted(notes, key=lambda n: n.start)
    ordered = [
        dataclasses.replace(n, leaps_on=i + 1 < len(ordered) and abs(ordered[i + 1].pitch - n.pitch) > 2)
        for i, n in enumerate(ordered)
    ]
    emissions, cursor = [], 0
    for start, end in spans:
        while cursor < len(ordered) and ordered[cursor].end <= start:
            cursor += 1
        near = [n for n in ordered[cursor : cursor + 64] if n.start < end]
        sounded = {n.pitch % 12 for n in near if min(end, n.end) - max(start, n.start) > 1e-9}
        emissions.append(
            [
                EMISSION_SCALE
                * (emission(near, c, start, end, meter) + borrowed(c, key, sounded, end - start, not extended))
                + prior[i]
                for i, c in enumerate(chords)
            ]
        )
    in_bar, across = hold_rates() if every_beat and per > 2 else (STAY_IN_BAR, STAY_ACROSS_BAR)
    stay = [in_bar if s % per else across for s in range(len(spans))]
    index = {c: i for i, c in enumerate(chords)}
    tonic = {index[tonic_chord(key)]}
    dominant = {  # V, v, or the modal ♭VII where it is the mode's own (not borrowed into major)
        i
        for i, c in enumerate(chords)
        if c.degree(key) in ((7, "maj"), (7, "min"), (10, "maj")) and c.root in key.scale
    }
    allowed: dict[int, set[int]] = {0: tonic, len(spans) - 1: tonic}
    for bar in phrase_ends:
        if 0 <= bar < bars - 1:
            allowed[(bar + 1) * per - 1] = tonic | dominant
    if bars >= 2:  # the final cadence: a cadential chord, then the tonic for the whole last bar
        for s in range((bars - 1) * per, bars * per):
            allowed[s] = tonic
        allowed[(bars - 1) * per - 1] = {index[c] for c in cadential(key) if c in index}
    for s, fixed_chord in (fixed or {}).items():
        if 0 <= s < len(spans):
            allowed[s] = {index[fixed_chord]}
    for bar, src in sorted((ties or {}).items()):  # a repeated bar takes the same emission as its source
        if bar * per + per - 1 in allowed or src >= bar:
            continue
        for i in range(per):
            emissions[bar * per + i] = emissions[src * per + i]
    if seed is None:
        path = viterbi(emissions, stay, log_change, [0.0] * len(chords), allowed)
    else:
        path = sample_path(emissions, stay, log_change, allowed, random.Random(seed), SAMPLE_TEMPERATURE)
    for bar, src in sorted((ties or {}).items()):  # then the repeat takes the source's chords where allowed
        for i in range(per if src < bar else 0):
            s, chord = bar * per + i, path[src * per + i]
            if s not in allowed or chord in allowed[s]:
                path[s] = chord
    return [(s, e, chords[c]) for (s, e), c in zip(spans, path, strict=True)]
