"""Turns one uploaded MIDI file into polyphonic keyboard pieces (torch-free): every note outside the drum
channel, on the 12-ticks grid, key-normalised, in whole bars of the meter the file mostly uses.

Reading is lenient (mido with out-of-range data bytes clipped; meta events on any track; type 0 and 1;
running status; a missing end-of-track; tempo and meter changes): worker.jobs.uploads has already refused what is
structurally unsafe. Only a file with no notes outside the drums, or no two whole bars, is refused, with why.
"""

from __future__ import annotations

import io
import math
from bisect import bisect_left
from collections import Counter
from dataclasses import dataclass

import mido

from models.music.melody import TICKS_PER_QUARTER, meter_ticks
from models.music.midi_import import (
    DRUM_CHANNEL,
    MAX_QUARTERS,
    MidiImportError,
    _bar_starts,
    _main_tempo,
    _meter_map,
    _parse,
    estimate_key,
    key_shift,
    snapper,
)
from models.poly.tokens import PolyNote, PolyPiece, pieces_polyphony

MAX_BARS = 32


@dataclass
class ImportedPoly:
    """The pieces of one MIDI file and the facts a style takes from it."""

    pieces: list[PolyPiece]
    qpm: float
    program: int
    meter: str
    key_shift: int
    polyphony: float  # distinct pitches sounding at each onset, over the whole file
    bars: int  # whole bars in ``pieces``


def read_midi(data: bytes) -> mido.MidiFile:
    """Lenient parse of MIDI bytes. Raises MidiImportError when they are not readable at all."""
    try:
        midi = mido.MidiFile(file=io.BytesIO(data), clip=True)
    except Exception as exc:  # noqa: BLE001 - mido raises OSError, EOFError, KeyError, ValueError...
        raise MidiImportError(f"not a readable MIDI file ({str(exc)[:80] or type(exc).__name__})") from exc
    if midi.ticks_per_beat <= 0:
        raise MidiImportError("MIDI files timed in SMPTE frames are not supported")
    return midi


def _runs(starts: list[int], length: int) -> list[list[int]]:
    runs: list[list[int]] = []
    for s in starts:
        if runs and runs[-1][-1] + length == s:
            runs[-1].append(s)
        else:
            runs.append([s])
    return runs


def midi_to_pieces(data: bytes, name: str = "upload") -> ImportedPoly:
    """All notes of a MIDI file as key-normalised pieces of at most MAX_BARS whole bars.

    Raises:
        MidiImportError: unreadable, only drums, no notes, or no 2 whole bars with notes.
    """
    midi = read_midi(data)
    parsed = _parse(midi)
    snap = snapper(midi.ticks_per_beat)
    cap = MAX_QUARTERS * TICKS_PER_QUARTER
    notes: list[tuple[int, int, int, int]] = []  # start, end, pitch, velocity (grid ticks)
    velocities = _velocities(midi)
    for (track, channel), spans in parsed.voices.items():
        if channel == DRUM_CHANNEL:
            continue
        for s, e, p in spans:
            start, end = snap(s), snap(e)
            if start < cap:
                notes.append((start, max(end, start + 3), p, velocities.get((track, channel, s, p), 80)))
    if not notes:
        raise MidiImportError("no notes outside the drum channel" if parsed.voices else "no notes")
    notes.sort()
    end = max(e for _, e, _, _ in notes)
    meter, sigs = _meter_map([(snap(t), f"{n}/{d}") for t, n, d in parsed.signatures], end)
    length = meter_ticks(meter)
    tonic, mode = estimate_key([(s, e, p) for s, e, p, _ in notes])
    shift = key_shift(tonic, mode)
    note_starts = [s for s, _, _, _ in notes]

    def filled(bar: int) -> bool:
        return bisect_left(note_starts, bar + length) > bisect_left(note_starts, bar)

    pieces: list[PolyPiece] = []
    for run in _runs(_bar_starts(sigs, meter, end), length):
        while run and not filled(run[0]):
            run = run[1:]
        while run and not filled(run[-1]):
            run = run[:-1]
        n = math.ceil(len(run) / MAX_BARS) if run else 0
        for k in range(n):
            bars = run[k * len(run) // n : (k + 1) * len(run) // n]
            if len(bars) < 2:
                continue
            origin, stop = bars[0], bars[-1] + length
            chunk = [PolyNote(s - origin, e - s, p + shift, v) for s, e, p, v in notes if origin <= s < stop]
            if chunk:
                pieces.append(PolyPiece(f"{name}#{len(pieces) + 1}", meter, len(bars), chunk))
    if not pieces:
        raise MidiImportError(f"no usable music: no stretch of 2 or more whole {meter} bars with notes")
    programs = Counter(p for (t, c), p in parsed.programs.items() if c != DRUM_CHANNEL)
    end_ticks = max((e for v in parsed.voices.values() for _, e, _ in v), default=0)
    return ImportedPoly(
        pieces,
        _main_tempo(parsed.tempos, end_ticks),
        programs.most_common(1)[0][0] if programs else 0,
        meter,
        shift,
        round(pieces_polyphony(pieces), 3),
        sum(p.bars for p in pieces),
    )


def _velocities(midi: mido.MidiFile) -> dict[tuple[int, int, int, int], int]:
    """(track, channel, file tick, pitch) → note-on velocity."""
    out = {}
    for index, track in enumerate(midi.tracks):
        tick = 0
        for msg in track:
            tick += msg.time
            if msg.type == "note_on" and msg.velocity > 0:
                out[(index, msg.channel, tick, msg.note)] = msg.velocity
    return out


def upload_polyphony(data: bytes) -> float:
    """Polyphony of one MIDI file's non-drum notes (0.0 when it cannot be read): decides piano vs melody."""
    try:
        return midi_to_pieces(data).polyphony
    except MidiImportError:
        return 0.0
