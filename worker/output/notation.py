"""A finished track as notation: its MIDI read back into voices of bar-aligned events (12 ticks a quarter, ties
across bar lines), its key, its chord symbols, and from those a music21 score (for MusicXML and the engraver)
and ABC text. Everything here reads the track's files; nothing is sampled again."""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any

from models.music.keys import BadKey, parse_key
from models.music.melody import TICKS_PER_QUARTER, meter_ticks
from worker.output.quiet_imports import pretty_midi

CHORALE_VOICES = ("Soprano", "Alto", "Tenor", "Bass")
TRIPLET_TICKS = (2, 4, 8)  # triplet sixteenths, eighths and quarters on the 12-ticks grid
MODE_ABC = {"major": "", "minor": "m", "dorian": "dor", "mixolydian": "mix"}
_SHARP_NAMES = ("C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B")
_FLAT_NAMES = ("C", "D-", "D", "E-", "E", "F", "G-", "G", "A-", "A", "B-", "B")


@dataclass(frozen=True)
class Ev:
    """One note or rest of a voice inside a bar: ``pitch`` None for a rest; ``tie`` when it goes on into the
    next bar."""

    pitch: int | None
    ticks: int
    tie: bool = False


@dataclass
class Voice:
    name: str
    program: int
    bars: list[list[Ev]]
    clef: str = "treble"  # treble | bass | treble8 (an octave lower, for a tenor)


@dataclass
class Notation:
    """What a track's notation is made from."""

    title: str
    meter: str
    tempo_qpm: float
    key: str  # "D dorian"
    voices: list[Voice]
    chords: list[tuple[int, str]] = field(default_factory=list)  # (tick from the start, "Am")

    @property
    def bar_ticks(self) -> int:
        return meter_ticks(self.meter)


def quantise(notes: list[tuple[int, float, float]], tempo_qpm: float, meter: str, n_bars: int) -> list[list[Ev]]:
    """One voice's (pitch, start s, end s), highest note first where they overlap, → ``n_bars`` bars of events
    on the 12-ticks grid, rests between notes, notes crossing a bar line split and tied."""
    per_s = tempo_qpm / 60.0 * TICKS_PER_QUARTER
    bar = meter_ticks(meter)
    total = n_bars * bar
    onsets: dict[int, tuple[int, int]] = {}
    for pitch, start, end in sorted(notes, key=lambda n: (n[1], -n[0])):
        s = int(round(start * per_s))
        e = max(s + 1, int(round(end * per_s)))
        if s < total and s not in onsets:
            onsets[s] = (pitch, min(e, total))
    line: list[tuple[int | None, int, int]] = []
    cursor = 0
    starts = sorted(onsets)
    for i, s in enumerate(starts):
        pitch, e = onsets[s]
        if i + 1 < len(starts):
            e = min(e, starts[i + 1])
        if s < cursor:
            continue
        if s > cursor:
            line.append((None, cursor, s))
        line.append((pitch, s, e))
        cursor = e
    if cursor < total:
        line.append((None, cursor, total))
    bars: list[list[Ev]] = [[] for _ in range(n_bars)]
    for voice_pitch, s, e in line:
        while s < e:
            b = s // bar
            cut = min(e, (b + 1) * bar)
            bars[b].append(Ev(voice_pitch, cut - s, tie=voice_pitch is not None and cut < e))
            s = cut
    return bars


def _key_of(sidecar: dict[str, Any], melody: list[list[Ev]]) -> str:
    """The track's key: as asked for (the sidecar's ``key``), else music21's estimate from the melody."""
    try:
        return parse_key(str(sidecar.get("key") or "")).name
    except BadKey:
        pass
    from music21 import note as m21note
    from music21 import stream

    s: stream.Stream = stream.Stream()
    for bar in melody:
        for ev in bar:
            if ev.pitch is not None:
                s.append(m21note.Note(ev.pitch, quarterLength=ev.ticks / TICKS_PER_QUARTER))
    if not len(s):
        return "C major"
    try:
        found = s.analyze("key")
        return parse_key(f"{found.tonic.name.replace('-', 'b')} {found.mode}").name
    except Exception:  # noqa: BLE001 - an odd estimate: fall back to no signature
        return "C major"


def _voice_order(pm: pretty_midi.PrettyMIDI, sidecar: dict[str, Any]) -> list[pretty_midi.Instrument]:
    """The pitched instruments to write: every voice of a chorale, else the melody (a part named so, or the
    first pitched one)."""
    pitched = [inst for inst in pm.instruments if not inst.is_drum and inst.notes]
    names = [inst.name.lower() for inst in pitched]
    if int(sidecar.get("voices") or 1) == 4 and len(pitched) == 4 and sidecar.get("arrangement") != "band":
        return pitched
    for i, name in enumerate(names):
        if "melody" in name or "lead" in name or "soprano" in name:
            return [pitched[i]]
    return pitched[:1]


def from_track(midi: Path, sidecar: dict[str, Any]) -> Notation:
    """A track's MIDI and ``<track_id>.json`` → Notation (chord symbols from the sidecar's ``chords``)."""
    pm = pretty_midi.PrettyMIDI(str(midi))
    meter = str(sidecar.get("meter") or "4/4")
    if not re.fullmatch(r"\d{1,2}/(1|2|4|8|16)", meter):
        meter = "4/4"
    tempo = float(sidecar.get("tempo_qpm") or 120.0)
    bar_s = meter_ticks(meter) / TICKS_PER_QUARTER * 60.0 / tempo
    n_bars = int(sidecar.get("bars") or 0) or max(1, round(float(sidecar.get("seconds") or bar_s) / bar_s))
    chosen = _voice_order(pm, sidecar)
    voices = []
    for i, inst in enumerate(chosen):
        notes = [(int(n.pitch), float(n.start), float(n.end)) for n in inst.notes]
        bars = quantise(notes, tempo, meter, n_bars)
        name = CHORALE_VOICES[i] if len(chosen) == 4 else "Melody"
        pitches = [n[0] for n in notes]
        middle = sorted(pitches)[len(pitches) // 2] if pitches else 67
        if len(chosen) == 4:  # SATB: treble, treble, tenor (treble an octave down), bass
            clef = ("treble", "treble", "treble8", "bass")[i]
        else:
            clef = "bass" if middle < 55 else "treble"
        voices.append(Voice(name, int(inst.program), bars, clef))
    if not voices:
        voices = [Voice("Melody", 0, [[Ev(None, meter_ticks(meter))] for _ in range(n_bars)])]
    per_s = tempo / 60.0 * TICKS_PER_QUARTER
    chords: list[tuple[int, str]] = []
    for chord in sidecar.get("chords") or []:
        try:
            tick = int(round(float(chord["start"]) * per_s))
            symbol = str(chord["symbol"]).strip()
        except (KeyError, TypeError, ValueError):
            continue
        if symbol and 0 <= tick < n_bars * meter_ticks(meter) and (not chords or chords[-1][1] != symbol):
            chords.append((tick, symbol[:12]))
    title = f"{str(sidecar.get('style') or 'tune').capitalize()} · {str(sidecar.get('track_id') or '')[:8]}"
    return Notation(title, meter, tempo, _key_of(sidecar, voices[0].bars), voices, chords)


# --- music21 / MusicXML -------------------------------------------------------------------------------------
@functools.lru_cache(maxsize=64)
def _m21_key(name: str):  # noqa: ANN202 - music21.key.Key
    from music21 import key

    parsed = parse_key(name)
    return key.Key(
        _FLAT_NAMES[parsed.tonic] if _flat_tonic(parsed.tonic, parsed.mode) else _SHARP_NAMES[parsed.tonic], parsed.mode
    )


def _flat_tonic(tonic: int, mode: str) -> bool:
    """Whether the key of this tonic and mode is written with flats."""
    major_tonic = (tonic - {"major": 0, "minor": 9, "dorian": 2, "mixolydian": 7}[mode]) % 12
    return major_tonic in (5, 10, 3, 8, 1)  # F, Bb, Eb, Ab, Db major and their modes


@functools.lru_cache(maxsize=4096)
def spell(pitch: int, key_name: str) -> str:
    """A MIDI pitch's name with octave in the key (``F#4``, ``B-3``): the key's own notes as the scale spells
    them, others with sharps in sharp keys and flats in flat keys."""
    parsed = parse_key(key_name)
    flats = _flat_tonic(parsed.tonic, parsed.mode)
    scale = {p.pitchClass: p.name for p in _m21_key(key_name).getScale().getPitches()}
    name = scale.get(pitch % 12) or (_FLAT_NAMES if flats else _SHARP_NAMES)[pitch % 12]
    octave = pitch // 12 - 1
    if name.startswith("C-"):
        octave += 1
    elif name.startswith("B#"):
        octave -= 1
    return f"{name}{octave}"


def chord_figure(symbol: str) -> str:
    """ "Bbm7" → music21's "B-m7"; "F#" stays."""
    return re.sub(r"^([A-Ga-g])b", lambda m: m.group(1).upper() + "-", symbol.strip())


def to_score(nt: Notation, *, metronome: bool = True):  # noqa: ANN201 - music21.stream.Score
    """A music21 Score: one staff per voice, key and time signature, tempo (a metronome mark, or in the
    heading when ``metronome`` is False), chord symbols over the melody."""
    from music21 import clef, harmony, metadata, meter, note, stream, tempo

    score = stream.Score()
    heading = nt.title if metronome else f"{nt.title} · {nt.key} · {round(nt.tempo_qpm)} BPM"
    score.metadata = metadata.Metadata(title=heading, composer="tunesmith")
    bar_q = Fraction(nt.bar_ticks, TICKS_PER_QUARTER)
    for v, voice in enumerate(nt.voices):
        part = stream.Part(id=f"P{v + 1}")
        part.partName = voice.name
        for b, events in enumerate(voice.bars):
            measure = stream.Measure(number=b + 1)
            if b == 0:
                measure.insert(
                    0, {"bass": clef.BassClef, "treble8": clef.Treble8vbClef}.get(voice.clef, clef.TrebleClef)()
                )
                measure.insert(0, _m21_key(nt.key))
                measure.insert(0, meter.TimeSignature(nt.meter))
                if v == 0 and metronome:
                    measure.insert(0, tempo.MetronomeMark(number=round(nt.tempo_qpm)))
            offset = Fraction(0)
            for ev in events:
                length = Fraction(ev.ticks, TICKS_PER_QUARTER)
                item: note.GeneralNote
                if ev.pitch is None:
                    item = note.Rest(quarterLength=length)
                else:
                    item = note.Note(spell(ev.pitch, nt.key), quarterLength=length)
                measure.insert(offset, item)
                offset += length
            if v == 0:
                for tick, symbol in nt.chords:
                    start = Fraction(tick, TICKS_PER_QUARTER)
                    if b * bar_q <= start < (b + 1) * bar_q:
                        try:
                            measure.insert(start - b * bar_q, harmony.ChordSymbol(chord_figure(symbol)))
                        except Exception:  # noqa: BLE001 - a symbol music21 can't read is left out
                            continue
            part.append(measure)
        _tie(part, voice)
        score.insert(0, part)
    return score


def _tie(part, voice: Voice) -> None:  # noqa: ANN001 - music21.stream.Part
    """Tie each note marked ``tie`` to the next note."""
    from music21 import tie

    notes = list(part.recurse().notes)
    flags = [ev.tie for bar in voice.bars for ev in bar if ev.pitch is not None]
    for i, (n, flag) in enumerate(zip(notes, flags, strict=False)):
        if flag and i + 1 < len(notes):
            n.tie = tie.Tie("start") if n.tie is None else tie.Tie("continue")
            notes[i + 1].tie = tie.Tie("stop")


def to_musicxml(nt: Notation, *, metronome: bool = True) -> str:
    """The notation as MusicXML text (``metronome`` False for the engraver, whose PNG lacks the note font)."""
    from music21.musicxml.m21ToXml import GeneralObjectExporter

    text = GeneralObjectExporter(to_score(nt, metronome=metronome)).parse().decode("utf-8")
    # music21 marks a chord root that is natural against the key (F in G major) with <root-alter>0, which an
    # engraver prints as a natural sign after the letter (a box in Verovio's text font); no alter means the same.
    return re.sub(r"\s*<(root|bass)-alter>0</(root|bass)-alter>", "", text)


# --- ABC ----------------------------------------------------------------------------------------------------
def _abc_length(ticks: int) -> str:
    """A duration in ticks as an ABC length with L:1/8 (6 ticks): 6 → "", 12 → "2", 3 → "/2", 9 → "3/2"."""
    frac = Fraction(ticks, TICKS_PER_QUARTER // 2)
    if frac == 1:
        return ""
    if frac.denominator == 1:
        return str(frac.numerator)
    if frac.numerator == 1:
        return f"/{frac.denominator}"
    return f"{frac.numerator}/{frac.denominator}"


def _abc_pitch(pitch: int, key_name: str, state: dict[str, str], key_acc: dict[str, str]) -> str:
    """One pitch in ABC, with an accidental where it leaves the key signature or the bar so far."""
    name = spell(pitch, key_name)
    match = re.fullmatch(r"([A-G])([#-]*)(-?\d+)", name)
    letter, acc, octave = (match[1], match[2], int(match[3])) if match else ("C", "", 4)
    sound = {"": "=", "#": "^", "-": "_", "##": "^^", "--": "__"}.get(acc, "=")
    # Every note off the key signature gets its accidental, and so does one that follows such a note of the same
    # letter and octave in the bar: right for readers that carry accidentals through the bar and those that don't.
    default = key_acc.get(letter, "=")
    current = state.get(f"{letter}{octave}", default)
    mark = sound if sound != default or current != sound else ""
    state[f"{letter}{octave}"] = sound
    base = letter if octave <= 4 else letter.lower()
    marks = "," * max(0, 4 - octave) if octave <= 4 else "'" * max(0, octave - 5)
    return f"{mark}{base}{marks}"


def to_abc(nt: Notation, voice: int = 0, number: int = 1) -> str:
    """One voice (the melody by default) as an ABC tune, chord symbols in quotes, ties and bar lines."""
    parsed = parse_key(nt.key)
    k = _m21_key(nt.key)
    key_acc = {}
    for p in k.alteredPitches:
        key_acc[p.step] = "^" if p.accidental.alter > 0 else "_"
    tonic = spell(parsed.tonic + 60, nt.key)[:-1].replace("-", "b").replace("#", "#")
    lines = [
        f"X:{number}",
        f"T:{nt.title}",
        f"M:{nt.meter}",
        "L:1/8",
        f"Q:1/4={round(nt.tempo_qpm)}",
        f"K:{tonic}{MODE_ABC[parsed.mode]}",
    ]
    chords = dict(nt.chords)
    body, tick = [], 0
    for b, events in enumerate(nt.voices[voice].bars):
        state: dict[str, str] = {}
        out = []
        triplet = 0  # notes left in a "(3" group: three notes in the time of two, written at the plain length
        for i, ev in enumerate(events):
            chord = chords.get(tick)
            prefix = f'"{chord}"' if chord else ""
            written = ev.ticks
            if triplet == 0 and ev.ticks in TRIPLET_TICKS and [e.ticks for e in events[i : i + 3]] == [ev.ticks] * 3:
                triplet, prefix = 3, "(3" + prefix
            if triplet:
                written, triplet = ev.ticks * 3 // 2, triplet - 1
            if ev.pitch is None:
                out.append(f"{prefix}z{_abc_length(written)}")
            else:
                out.append(
                    f"{prefix}{_abc_pitch(ev.pitch, nt.key, state, key_acc)}{_abc_length(written)}"
                    + ("-" if ev.tie else "")
                )
            tick += ev.ticks
        body.append(" ".join(out) + (" |]" if b == len(nt.voices[voice].bars) - 1 else " |"))
    for i in range(0, len(body), 4):
        lines.append(" ".join(body[i : i + 4]))
    return "\n".join(lines) + "\n"
