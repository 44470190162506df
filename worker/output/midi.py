"""Writes a Composition to a Standard MIDI File whose length is exactly the composition's length."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from models.music.melody import Note
from worker.output.quiet_imports import pretty_midi

if TYPE_CHECKING:  # pragma: no cover
    from models.compose.types import Composition

# 960 ticks per quarter: a bar line (a whole number of quarters or eighths) falls on an exact tick, and any
# other time is off by at most half a tick (0.26 ms at 120 qpm), well under the 1 ms the length must meet.
RESOLUTION = 960
# "All Notes Off" (CC 123) at the last instant marks the end of the piece: pretty_midi's get_end_time()
# and FluidSynth's player then see the full length even when the piece ends on a rest.
END_CONTROLLER = 123
VOLUME, PAN, REVERB, CHORUS = 7, 10, 91, 93
# The mix per part name (volume, pan, reverb send, chorus send), so the melody leads: set by controllers at
# time 0 of each track, which the warm synth (worker.output.synth) and the fluidsynth command both obey.
MIX: dict[str, tuple[int, int, int, int]] = {
    "melody": (112, 64, 52, 8),
    "chords": (88, 42, 60, 40),
    "bass": (96, 60, 30, 0),
    "percussion": (84, 86, 36, 0),
}
DEFAULT_MIX = (100, 64, 44, 0)  # a chorale's voices and bare melodies


def _time_signature(meter: str) -> pretty_midi.TimeSignature | None:
    try:
        num, den = (int(x) for x in meter.split("/"))
    except ValueError:
        return None
    if num <= 0 or den <= 0 or den & (den - 1):
        return None
    return pretty_midi.TimeSignature(num, den, 0.0)


def to_pretty_midi(composition: Composition) -> pretty_midi.PrettyMIDI:
    """Build the PrettyMIDI object: the piece's tempo and meter, one instrument (or one per part of a
    polyphonic piece), notes clipped to the piece's length."""
    seconds = float(composition.seconds)
    pm = pretty_midi.PrettyMIDI(resolution=RESOLUTION, initial_tempo=float(composition.tempo_qpm))
    signature = _time_signature(composition.meter)
    if signature is not None:
        pm.time_signature_changes.append(signature)
    parts = getattr(composition, "parts", None) or [
        (f"{composition.style} ({composition.arch})", composition.program, composition.notes)
    ]
    drums = set(getattr(composition, "drum_parts", None) or [])
    band = getattr(composition, "arrangement", "") == "band" and len(parts) > 1
    for name, program, notes in parts:
        inst = pretty_midi.Instrument(program=min(127, max(0, int(program))), name=str(name), is_drum=name in drums)
        if band:
            for number, value in zip((VOLUME, PAN, REVERB, CHORUS), MIX.get(str(name), DEFAULT_MIX), strict=True):
                inst.control_changes.append(pretty_midi.ControlChange(number=number, value=value, time=0.0))
        for note in sorted(notes, key=lambda n: (n.start, n.pitch)):
            start, end = max(0.0, float(note.start)), min(seconds, float(note.end))
            if end - start <= 1e-4 or not 0 <= note.pitch <= 127:
                continue
            velocity = min(127, max(1, int(note.velocity)))
            inst.notes.append(pretty_midi.Note(velocity=velocity, pitch=int(note.pitch), start=start, end=end))
        pm.instruments.append(inst)
    pm.instruments[0].control_changes.append(pretty_midi.ControlChange(number=END_CONTROLLER, value=0, time=seconds))
    return pm


def write_midi(composition: Composition, path: Path | str) -> Path:
    """Write ``composition`` as a type-1 MIDI file at ``path``; its end time equals ``composition.seconds``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    to_pretty_midi(composition).write(str(path))
    return path


def midi_end_time(path: Path | str) -> float:
    """The end time in seconds that pretty_midi reads from a MIDI file."""
    return float(pretty_midi.PrettyMIDI(str(path)).get_end_time())


def read_notes(path: Path | str, part: str | None = None) -> list[Note]:
    """All non-drum notes of a MIDI file in seconds, sorted by start time and pitch; only the track named
    ``part`` when the file has one (a band arrangement's ``melody``)."""
    pm = pretty_midi.PrettyMIDI(str(path))
    tracks = [inst for inst in pm.instruments if not inst.is_drum]
    if part is not None and any(inst.name == part for inst in tracks):
        tracks = [inst for inst in tracks if inst.name == part]
    notes = [
        Note(int(n.pitch), round(float(n.start), 6), round(float(n.end), 6), int(n.velocity))
        for inst in tracks
        for n in inst.notes
    ]
    return sorted(notes, key=lambda n: (n.start, n.pitch, n.end))


def read_parts(path: Path | str) -> list[tuple[str, int, bool, list[Note]]]:
    """Every track of a MIDI file as (name, program, is_drum, notes sorted by start and pitch), in file order:
    how stems (issue 15) and tests read a band arrangement back."""
    pm = pretty_midi.PrettyMIDI(str(path))
    return [
        (
            inst.name,
            int(inst.program),
            bool(inst.is_drum),
            sorted(
                (
                    Note(int(n.pitch), round(float(n.start), 6), round(float(n.end), 6), int(n.velocity))
                    for n in inst.notes
                ),
                key=lambda n: (n.start, n.pitch, n.end),
            ),
        )
        for inst in pm.instruments
    ]
