"""MIDI writing: exact length, tempo, program, notes that survive a round trip."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pretty_midi
import pytest

from models.music.melody import Note
from tests.worker.conftest import make_composition
from worker.output.midi import midi_end_time, read_notes, write_midi


@pytest.mark.parametrize(
    "qpm,meter,seconds", [(120.0, "4/4", 30.0), (137.6, "6/8", 30.0), (97.3, "3/4", 20.0), (151.0, "2/4", 300.0)]
)
def test_length_is_exact(tmp_path: Path, qpm: float, meter: str, seconds: float) -> None:
    piece = make_composition(seconds, qpm=qpm, meter=meter)
    path = write_midi(piece, tmp_path / "a.mid")
    assert midi_end_time(path) == pytest.approx(piece.seconds, abs=1e-3)


def test_ending_on_a_rest_keeps_the_length(tmp_path: Path) -> None:
    piece = make_composition(16.0, rest_at_end=True)
    assert piece.notes[-1].end < piece.seconds - 1.0
    assert midi_end_time(write_midi(piece, tmp_path / "rest.mid")) == pytest.approx(piece.seconds, abs=1e-3)


def test_round_trip_notes_tempo_program_meter(tmp_path: Path) -> None:
    piece = make_composition(10.0, qpm=132.0, meter="6/8", program=73)
    path = write_midi(piece, tmp_path / "b.mid")
    got = read_notes(path)
    assert [n.pitch for n in got] == [n.pitch for n in piece.notes]
    assert [n.velocity for n in got] == [n.velocity for n in piece.notes]
    for a, b in zip(got, piece.notes, strict=True):
        assert a.start == pytest.approx(b.start, abs=1e-3) and a.end == pytest.approx(b.end, abs=1e-3)
    pm = pretty_midi.PrettyMIDI(str(path))
    assert pm.instruments[0].program == 73
    assert pm.get_tempo_changes()[1][0] == pytest.approx(132.0, abs=0.01)
    sig = pm.time_signature_changes[0]
    assert (sig.numerator, sig.denominator) == (6, 8)


def test_notes_beyond_the_end_are_clipped(tmp_path: Path) -> None:
    piece = make_composition(8.0)
    extra = [Note(60, piece.seconds - 0.25, piece.seconds + 2.0), Note(61, piece.seconds + 1.0, piece.seconds + 2)]
    path = write_midi(replace(piece, notes=piece.notes + extra), tmp_path / "c.mid")
    assert midi_end_time(path) == pytest.approx(piece.seconds, abs=1e-3)
    assert max(n.end for n in read_notes(path)) == pytest.approx(piece.seconds, abs=1e-3)
    assert 61 not in {n.pitch for n in read_notes(path)}


def test_parts_become_instruments(tmp_path: Path) -> None:
    piece = make_composition(8.0)
    bass = [Note(n.pitch - 24, n.start, n.end, 70) for n in piece.notes[::2]]
    parts = [("soprano", 52, piece.notes), ("bass", 32, bass)]
    path = write_midi(replace(piece, notes=piece.notes + bass, parts=parts), tmp_path / "satb.mid")
    pm = pretty_midi.PrettyMIDI(str(path))
    assert [(i.name, i.program, len(i.notes)) for i in pm.instruments] == [
        ("soprano", 52, len(piece.notes)),
        ("bass", 32, len(bass)),
    ]
    assert pm.get_end_time() == pytest.approx(piece.seconds, abs=1e-3)
