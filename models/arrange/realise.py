"""Chords and bass realised in a style's pattern (reel, jig, waltz, air), voice-led and kept below the melody."""

from __future__ import annotations

import bisect
import itertools
from collections.abc import Sequence

from models.arrange.harmony import Meter, MNote
from models.arrange.theory import Chord

CHORD_FLOOR, CHORD_TOP = 48, 72  # C3..C5: the accompaniment's register
BASS_LOW, BASS_HIGH = 33, 52  # A1..E3
GAP = 2  # chords stay at least this many semitones under the melody sounding with them, where there is room

Event = tuple[float, float, int, int]  # (start, end) in quarters, MIDI pitch, velocity


def pattern_for(meter: Meter, qpm: float, kind: str) -> str:
    """``jig`` (compound meters), ``waltz`` (three beats), ``air`` (slow songs and airs), else ``reel``."""
    if meter.compound:
        return "jig"
    if meter.beats == 3:
        return "waltz"
    if kind != "dance" and qpm < 100:
        return "air"
    return "reel"


class MelodyIndex:
    """The lowest melody pitch sounding over any span (quarters), for keeping the accompaniment under it."""

    def __init__(self, melody: Sequence[MNote]) -> None:
        self.notes = sorted(melody, key=lambda n: n.start)
        self.starts = [n.start for n in self.notes]
        self.low = min((n.pitch for n in self.notes), default=84)

    def at(self, q: float) -> int | None:
        """The melody pitch sounding at ``q``, if any."""
        i = bisect.bisect_right(self.starts, q + 1e-9) - 1
        return self.notes[i].pitch if i >= 0 and self.notes[i].end > q + 1e-9 else None

    def lowest(self, start: float, end: float) -> int:
        i = max(0, bisect.bisect_right(self.starts, start) - 1)
        found = [n.pitch for n in self.notes[i : bisect.bisect_left(self.starts, end)] if n.end > start + 1e-9]
        return min(found) if found else self.low


def voicing(chord: Chord, ceiling: int, prev: Sequence[int] | None) -> list[int]:
    """Three chord tones in close position under ``ceiling`` (exclusive), moving least from ``prev``. A seventh
    chord keeps its third and seventh (the bass has the root; the fifth may go)."""
    top = min(CHORD_TOP, ceiling - 1)
    needed = {chord.tones[1], chord.seventh} if chord.seventh is not None else set()
    options = []
    for low in range(CHORD_FLOOR - 5, top + 1):
        if low % 12 not in chord.tones:
            continue
        notes = [low]
        for _ in range(2):
            notes.append(next(p for p in range(notes[-1] + 1, notes[-1] + 10) if p % 12 in chord.tones))
        if notes[-1] <= top and needed <= {p % 12 for p in notes}:
            options.append(notes)
    if not options:  # the melody is very low: two tones, or none
        pairs = [
            [a, b]
            for a, b in itertools.combinations(range(CHORD_FLOOR - 7, top + 1), 2)
            if a % 12 in chord.tones and b % 12 in chord.tones and 3 <= b - a <= 9
        ]
        return pairs[-1] if pairs else []
    if not prev:
        centre = min(top - 4, 64)
        return min(options, key=lambda v: abs(sum(v) / 3 - centre))
    return min(options, key=lambda v: sum(abs(a - b) for a, b in zip(v, prev, strict=False)) + 0.1 * abs(v[0] - 55))


def bass_pitch(pc: int, prev: int | None, ceiling: int) -> int:
    """The pitch of class ``pc`` in the bass register nearest the previous bass note, under ``ceiling``."""
    options = [p for p in range(BASS_LOW, BASS_HIGH + 1) if p % 12 == pc and p < ceiling]
    options = options or [BASS_LOW + (pc - BASS_LOW) % 12]
    return min(options, key=lambda p: abs(p - (prev if prev is not None else 40)))


def _parallel(prev: Sequence[int], melody: int | None, bass: int) -> bool:
    """Whether moving to (``melody``, ``bass``) from ``prev`` makes parallel fifths or octaves."""
    if not prev or melody is None or (melody == prev[0] and bass == prev[1]):
        return False
    same_way = (melody - prev[0]) * (bass - prev[1]) > 0
    return same_way and (melody - bass) % 12 == (prev[0] - prev[1]) % 12 and (melody - bass) % 12 in (0, 7)


def realise(
    chords: Sequence[tuple[float, float, Chord]], melody: Sequence[MNote], meter: Meter, bars: int, pattern: str
) -> tuple[list[Event], list[Event]]:
    """Bass and chord events for the chord slots in ``pattern``."""
    index = MelodyIndex(melody)
    beat = meter.beat_q
    bass: list[Event] = []
    comp: list[Event] = []
    prev_voicing: list[int] | None = None
    prev_bass: int | None = None
    last_pair: list[int] = []  # (melody, bass) pitches at the previous bass note
    end_q = bars * meter.bar_q
    final_bar = (bars - 1) * meter.bar_q

    def chord_at(q: float) -> Chord:
        for s, e, c in chords:
            if s - 1e-9 <= q < e - 1e-9:
                return c
        return chords[-1][2]

    def add_chord(start: float, length: float, velocity: int) -> None:
        nonlocal prev_voicing
        end = min(end_q, start + length)
        ceiling = min(index.lowest(start, end) - GAP + 1, index.low + 7)
        notes = voicing(chord_at(start), ceiling, prev_voicing)
        if len(notes) < 3 or notes[-1] >= index.lowest(start, end):
            notes = [
                p
                for p in voicing(chord_at(start), index.lowest(start, end), prev_voicing)
                if p < index.lowest(start, end)
            ]
        if notes:
            prev_voicing = notes
        comp.extend((start, end, p, velocity) for p in notes)

    def add_bass(start: float, length: float, fifth: bool, velocity: int) -> None:
        nonlocal prev_bass
        end = min(end_q, start + length)
        chord = chord_at(start)
        ceiling = min(index.lowest(start, end), min((p for s, e, p, _ in comp if s <= start < e), default=99))
        tones = [chord.fifth, chord.root] if fifth else [chord.root, chord.fifth]
        tones.append(chord.tones[1])  # the third (a first inversion) when both would move in parallel
        melody_now = index.at(start)
        options = [bass_pitch(pc, prev_bass, ceiling) for pc in tones]
        # the first option that makes no parallel fifth or octave with the melody
        pick = next((b for b in options if not _parallel(last_pair, melody_now, b)), options[0])
        prev_bass = pick
        if melody_now is not None:
            last_pair[:] = [melody_now, pick]
        bass.append((start, end, pick, velocity))

    for bar in range(bars):
        t0 = bar * meter.bar_q
        if t0 >= final_bar - 1e-9 and bars > 1:  # the last bar: one held tonic chord over a root
            add_chord(t0, meter.bar_q, 60)
            add_bass(t0, meter.bar_q, False, 76)
            break
        if pattern == "jig":  # dotted-quarter roots (a fifth when the chord holds), chords on each beat
            for i in range(meter.beats):
                start = t0 + i * beat
                same = chord_at(start) == chord_at(start - beat) if i else False
                add_chord(start, beat * 0.8, 58 if i == 0 else 52)
                add_bass(start, beat, same and i % 2 == 1, 74 if i == 0 else 66)
        elif pattern == "waltz":  # root on one, chords on two and three
            add_bass(t0, beat * 0.95, False, 74)
            for i in range(1, meter.beats):
                add_chord(t0 + i * beat, beat * 0.7, 50)
        elif pattern == "air":  # held root and chord for each chord slot
            per = max(1, len(chords) // bars)  # the harmony's slots: a chorale's chord a beat
            width = meter.bar_q / per
            for i in range(per):
                start = t0 + i * width
                add_chord(start, width, 46)
                add_bass(start, width, False, 66)
        else:  # reel: root–fifth bass on the half bars, chords on the off-beats between them (boom-chick)
            half = meter.bar_q / 2
            for i in range(2):
                start = t0 + i * half
                same = i > 0 and chord_at(start) == chord_at(t0)
                add_bass(start, half * 0.45, same, 76 if i == 0 else 68)
                add_chord(start + half / 2, half * 0.3, 52)
    return bass, comp
