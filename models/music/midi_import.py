"""Turns one MIDI file into key-normalised melody tunes (whole bars on the 12-ticks grid) for fine-tuning."""

from __future__ import annotations

import io
import math
import re
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass

import mido

from models.music.melody import TICKS_PER_QUARTER, Event, Tune, meter_ticks
from models.music.tokens import METERS, PITCH_MAX, PITCH_MIN

DRUM_CHANNEL = 9
MAX_BARS = 32  # longer pieces are split into tunes of at most this many bars
MAX_QUARTERS = 20_000  # notes past this many quarter notes are ignored (a hostile file could claim billions)
MELODY_RANGE = (55, 84)
_GRID = (0, 3, 4, 6, 8, 9, 12)  # positions in a quarter note: sixteenths and eighth-note triplets
_MELODY_NAME = re.compile(r"melod|lead|vocal|voice|solo|sopran", re.IGNORECASE)
_MAJOR = (6.35, 2.23, 3.48, 2.33, 4.38, 4.09, 2.52, 5.19, 2.39, 3.66, 2.29, 2.88)  # Krumhansl–Kessler profiles
_MINOR = (6.33, 2.68, 3.52, 5.38, 2.60, 3.53, 2.54, 4.75, 3.98, 2.69, 3.34, 3.17)

NoteSpan = tuple[int, int, int]  # (start, end, pitch)


class MidiImportError(ValueError):
    """A MIDI file that yields no usable melody; the message says why, in words an uploader can act on."""


@dataclass
class ImportedMidi:
    """The tunes of one MIDI file and the facts a new style takes from it."""

    tunes: list[Tune]  # key-normalised like corpus tunes: whole bars of ``meter``, at least 2 bars each
    qpm: float  # the tempo that lasts longest, in quarter notes per minute (held within 20..480)
    program: int  # General MIDI program of the melody's voice (0 when it sets none)
    meter: str
    key_shift: int  # semitones applied to move the estimated key to C major / A minor (-5..+6)


@dataclass
class _Parsed:
    voices: dict[tuple[int, int], list[NoteSpan]]  # (track, channel) → notes in file ticks
    programs: dict[tuple[int, int], int]
    names: dict[int, str]
    tempos: list[tuple[int, int]]  # (tick, microseconds per quarter)
    signatures: list[tuple[int, int, int]]  # (tick, numerator, denominator)


def _parse(midi: mido.MidiFile) -> _Parsed:
    parsed = _Parsed({}, {}, {}, [], [])
    sounding: dict[tuple[int, int], list[int]]  # (channel, note) → start ticks of the notes still on
    for index, track in enumerate(midi.tracks):
        tick, sounding = 0, {}
        for msg in track:
            tick += msg.time
            if msg.type == "note_on" and msg.velocity > 0:
                sounding.setdefault((msg.channel, msg.note), []).append(tick)
            elif msg.type in ("note_on", "note_off") and sounding.get((msg.channel, msg.note)):
                start = sounding[(msg.channel, msg.note)].pop(0)
                parsed.voices.setdefault((index, msg.channel), []).append((start, tick, msg.note))
            elif msg.type == "program_change":
                parsed.programs.setdefault((index, msg.channel), msg.program)
            elif msg.type == "set_tempo":
                parsed.tempos.append((tick, msg.tempo))
            elif msg.type == "time_signature":
                parsed.signatures.append((tick, msg.numerator, msg.denominator))
            elif msg.type == "track_name":
                parsed.names.setdefault(index, msg.name)
        for (channel, pitch), starts in sounding.items():  # notes never released end with their track
            parsed.voices.setdefault((index, channel), []).extend((s, tick, pitch) for s in starts if s < tick)
    return parsed


def snapper(ticks_per_beat: int) -> Callable[[int], int]:
    """File tick → grid tick: the nearest sixteenth or eighth-note-triplet position, in the file's own beats."""
    table = [min(_GRID, key=lambda g: abs(r * TICKS_PER_QUARTER / ticks_per_beat - g)) for r in range(ticks_per_beat)]
    return lambda tick: tick // ticks_per_beat * TICKS_PER_QUARTER + table[tick % ticks_per_beat]


def skyline(notes: list[NoteSpan]) -> list[NoteSpan]:
    """A monophonic line: at each onset the highest note starting there, unless the one still sounding is higher."""
    onsets: dict[int, NoteSpan] = {}
    for note in notes:
        best = onsets.get(note[0])
        if best is None or (note[2], note[1]) > (best[2], best[1]):
            onsets[note[0]] = note
    line: list[NoteSpan] = []
    for start in sorted(onsets):
        note = onsets[start]
        if line and line[-1][1] > start:
            if line[-1][2] > note[2]:
                continue
            line[-1] = (line[-1][0], start, line[-1][2])
        line.append(note)
    return [n for n in line if n[1] > n[0]]


def _melody_score(line: list[NoteSpan], chords: float, name: str) -> float:
    pitches = [p for _, _, p in line]
    in_range = sum(MELODY_RANGE[0] <= p <= MELODY_RANGE[1] for p in pitches)
    score = in_range * (sum(pitches) / len(pitches) / 72) ** 2 * (1 - 0.5 * chords)
    return score * (1.5 if _MELODY_NAME.search(name) else 1.0)


def _quantised_line(notes: list[NoteSpan]) -> list[NoteSpan]:
    """The skyline of a voice's snapped notes, articulation gaps closed; at most MAX_QUARTERS long."""
    cap = MAX_QUARTERS * TICKS_PER_QUARTER
    line = skyline([(s, max(min(e, cap), s + 1), p) for s, e, p in notes if s < cap])
    for i in range(len(line) - 1):
        (start, end, pitch), following = line[i], line[i + 1][0]
        if following - end < TICKS_PER_QUARTER // 2 and following - end <= end - start:
            line[i] = (start, following, pitch)
    return line


def estimate_key(notes: list[NoteSpan]) -> tuple[int, str]:
    """(tonic pitch class, 'major' or 'minor'): the Krumhansl–Schmuckler profile best correlated with durations."""
    weights = [0.0] * 12
    for start, end, pitch in notes:
        weights[pitch % 12] += min(end - start, 4 * TICKS_PER_QUARTER)

    def corr(profile: tuple[float, ...], tonic: int) -> float:
        rotated = [profile[(pc - tonic) % 12] for pc in range(12)]
        mw, mp = sum(weights) / 12, sum(rotated) / 12
        cov = sum((w - mw) * (p - mp) for w, p in zip(weights, rotated, strict=True))
        norm = math.sqrt(sum((w - mw) ** 2 for w in weights) * sum((p - mp) ** 2 for p in rotated))
        return cov / norm if norm else 0.0

    _, tonic, mode = max(
        (corr(prof, t), t, mode) for t in range(12) for prof, mode in ((_MAJOR, "major"), (_MINOR, "minor"))
    )
    return tonic, mode


def key_shift(tonic: int, mode: str) -> int:
    """Semitones that move the key to C major / A minor, by the rule models.music.corpus applies to key signatures."""
    major = tonic % 12 if mode == "major" else (tonic + 3) % 12
    return -major if major <= 6 else 12 - major


def _main_tempo(tempos: list[tuple[int, int]], end: int) -> float:
    """Quarter notes per minute of the tempo in force over the most ticks before ``end`` (120 when none is set)."""
    changes = sorted(tempos, key=lambda t: t[0])
    if not changes or changes[0][0] > 0:
        changes.insert(0, (0, 500_000))  # MIDI's default until the first tempo event
    spans: Counter[int] = Counter()
    for (tick, tempo), following in zip(changes, [t for t, _ in changes[1:]] + [end], strict=True):
        spans[tempo] += max(0, min(following, end) - tick)
    tempo = max(spans, key=spans.__getitem__) if spans.total() else changes[-1][1]
    return round(min(480.0, max(20.0, 60_000_000 / max(tempo, 1))), 2)


def _meter_map(signatures: list[tuple[int, str]], end: int) -> tuple[str, list[tuple[int, str]]]:
    """The meter (one the vocabulary has) in force over most of the melody, and the map as (tick, meter).

    4/4 holds until the first time signature. When no meter of the vocabulary covers half the melody, the whole
    piece is read as 4/4 bars from the start.
    """
    sigs = sorted(signatures, key=lambda s: s[0])
    if not sigs or sigs[0][0] > 0:
        sigs.insert(0, (0, "4/4"))
    sigs = [s for i, s in enumerate(sigs) if i + 1 == len(sigs) or sigs[i + 1][0] != s[0]]  # last one per tick wins
    spans: Counter[str] = Counter()
    for (tick, meter), following in zip(sigs, [t for t, _ in sigs[1:]] + [max(end, 1)], strict=True):
        if meter in METERS:
            spans[meter] += max(0, min(following, end) - tick)
    meter = max(spans, key=spans.__getitem__, default="4/4")
    return (meter, sigs) if 2 * spans[meter] >= end else ("4/4", [(0, "4/4")])


def _bar_starts(signatures: list[tuple[int, str]], meter: str, end: int) -> list[int]:
    """Start ticks of the bars of ``meter`` before ``end`` under the time-signature map (other meters left out)."""
    starts: list[int] = []
    length = meter_ticks(meter)
    for i, (tick, sig) in enumerate(signatures):
        last = i + 1 == len(signatures)
        while sig == meter and tick < end and (last or tick + length <= signatures[i + 1][0]):
            starts.append(tick)
            tick += length
    return starts


def _bars(line: list[NoteSpan], starts: list[int], length: int, shift: int) -> list[list[Event] | None]:
    """Events of each bar (notes cut at bar lines, gaps as rests); None after a missing bar of the meter."""
    bars: list[list[Event] | None] = []
    i = 0
    for n, start in enumerate(starts):
        if n and starts[n - 1] + length != start:
            bars.append(None)
        stop, events, tick = start + length, [], start
        while i < len(line) and line[i][1] <= start:
            i += 1
        j = i
        while j < len(line) and line[j][0] < stop:
            s, e = max(line[j][0], start), min(line[j][1], stop)
            if s > tick:
                events.append(Event(None, s - tick))
            events.append(Event(_fold(line[j][2] + shift), e - s))
            tick, j = e, j + 1
        if tick < stop:
            events.append(Event(None, stop - tick))
        bars.append(events)
    return bars


def _tunes(bars: list[list[Event] | None], meter: str, name: str) -> list[Tune]:
    """Whole-bar tunes: runs of bars without a gap or two empty bars in a row, cut into pieces of ≤ MAX_BARS."""
    runs: list[list[list[Event]]] = [[]]
    for bar in bars + [None]:
        empty = bar is None or all(e.pitch is None for e in bar)
        if bar is None or (empty and runs[-1] and all(e.pitch is None for e in runs[-1][-1])):
            while runs[-1] and all(e.pitch is None for e in runs[-1][-1]):
                runs[-1].pop()  # a run ends on a bar with notes
            runs.append([])
        elif runs[-1] or not empty:  # a run starts on a bar with notes
            runs[-1].append(bar)
    tunes: list[Tune] = []
    for run in runs:
        pieces = math.ceil(len(run) / MAX_BARS)
        for k in range(pieces):  # near-equal pieces: 40 bars make two tunes of 20, not 32 and 8
            chunk = run[k * len(run) // pieces : (k + 1) * len(run) // pieces]
            if len(chunk) >= 2:
                tunes.append(Tune(f"{name}#{len(tunes) + 1}", meter, chunk, name))
    return tunes


def _fold(pitch: int) -> int:
    while pitch < PITCH_MIN:
        pitch += 12
    while pitch > PITCH_MAX:
        pitch -= 12
    return pitch


def _octave_fit(line: list[NoteSpan], shift: int) -> int:
    """The shift plus the octaves that put most of the melody inside the vocabulary's pitch range."""
    return max(
        (shift + 12 * k for k in range(-5, 6)),
        key=lambda s: (sum(PITCH_MIN <= p + s <= PITCH_MAX for _, _, p in line), -abs(s - shift)),
    )


def midi_to_tunes(data: bytes, name: str = "upload") -> ImportedMidi:
    """The melody of a MIDI file as training tunes, with the file's main tempo, melody program, meter and key shift.

    The melody: every (track, channel) outside the drum channel is a voice, reduced to its skyline (at each onset
    the highest note, unless the one still sounding is higher) and scored by its notes in a singable range
    (G3..C6) × (mean pitch / 72)² × (1 - half the share of its onsets that are chords), × 1.5 when its track is
    named like a melody (melody, lead, vocal, voice, solo, soprano); the best-scoring skyline is the melody.
    Timing is read in the file's own beats, so tempo changes never move the grid: onsets and ends snap to the
    nearest sixteenth or eighth-note triplet; a gap shorter than an eighth and no longer than the note before it
    is articulation (the note is held on), a longer one a rest. Bars follow the time-signature map in the meter
    that lasts longest (4/4 throughout when no vocabulary meter covers half the melody); notes are cut at bar
    lines into separate events, as models.music.corpus does with tied notes; bars in other meters are dropped, leading
    and trailing empty bars skipped, two empty bars in a row end a tune, and long runs are cut into near-equal
    tunes of at most MAX_BARS. The key is a Krumhansl–Schmuckler estimate over all non-drum notes, normalised to
    C major / A minor by models.music.corpus's rule; the melody is then moved by octaves into the vocabulary's range.

    Raises:
        MidiImportError: the file can't be read, has no notes outside the drum channel, or no 2 whole bars.
    """
    try:
        midi = mido.MidiFile(file=io.BytesIO(data), clip=True)  # data bytes over 127 clipped, as players do
    except Exception as exc:  # noqa: BLE001 - mido raises OSError, EOFError, KeyError, ValueError...
        raise MidiImportError(f"not a readable MIDI file ({str(exc)[:80] or type(exc).__name__})") from exc
    tpb = midi.ticks_per_beat
    if tpb <= 0:
        raise MidiImportError("MIDI files timed in SMPTE frames are not supported")
    parsed = _parse(midi)
    snap = snapper(tpb)
    voices = {k: [(snap(s), snap(e), p) for s, e, p in v] for k, v in parsed.voices.items() if k[1] != DRUM_CHANNEL}
    if not voices:
        raise MidiImportError("no melody: the file has only drums" if parsed.voices else "no notes")
    scored = []
    for key, notes in voices.items():
        line = _quantised_line(notes)
        onsets = Counter(s for s, _, _ in notes)
        chords = sum(c > 1 for c in onsets.values()) / max(1, len(onsets))
        if line:
            scored.append((_melody_score(line, chords, parsed.names.get(key[0], "")), len(line), key, line))
    if not scored:
        raise MidiImportError("no notes outside the drum channel")
    _, _, (track, channel), line = max(scored, key=lambda s: s[:2])
    end = line[-1][1]
    meter, sigs = _meter_map([(snap(t), f"{n}/{d}") for t, n, d in parsed.signatures], end)
    tonic, mode = estimate_key([n for v in voices.values() for n in v])
    shift = key_shift(tonic, mode)
    tunes = _tunes(
        _bars(line, _bar_starts(sigs, meter, end), meter_ticks(meter), _octave_fit(line, shift)), meter, name
    )
    if not tunes:
        raise MidiImportError(f"no usable melody: no stretch of 2 or more whole {meter} bars with notes")
    program = parsed.programs.get(
        (track, channel), next((p for (t, c), p in sorted(parsed.programs.items()) if c == channel), 0)
    )
    end_ticks = max((e for v in parsed.voices.values() for _, e, _ in v), default=0)  # in file ticks, as tempos are
    return ImportedMidi(tunes, _main_tempo(parsed.tempos, end_ticks), program, meter, shift)
