"""Notation read back from a track's MIDI: bar-aligned events with ties, the key, chord symbols, and the ABC and
MusicXML written from them (music21 reads the MusicXML back to the same notes)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from models.compose.types import Composition
from models.music.melody import Note
from worker.output import notation
from worker.output.midi import write_midi
from worker.output.notation import Ev, quantise


def _track(
    tmp_path: Path,
    notes: list[Note],
    *,
    meter: str = "4/4",
    qpm: float = 120.0,
    bars: int = 2,
    parts: list | None = None,
    **sidecar,
) -> tuple[Path, dict]:
    bar_s = int(meter.split("/")[0]) * 4 / int(meter.split("/")[1]) * 60 / qpm
    piece = Composition(
        notes=notes,
        seconds=bars * bar_s,
        tempo_qpm=qpm,
        bars=bars,
        meter=meter,
        program=40,
        style="irish",
        arch="lstm",
        seed=1,
        parts=parts or [],
    )
    midi = write_midi(piece, tmp_path / "t.mid")
    side = {
        "track_id": "0" * 32,
        "style": "irish",
        "meter": meter,
        "tempo_qpm": qpm,
        "bars": bars,
        "seconds": bars * bar_s,
        "voices": len(parts) if parts else 1,
        **sidecar,
    }
    return midi, side


def test_quantise_fills_bars_with_rests_and_ties_across_bar_lines() -> None:
    # 4/4 at 60 qpm: a quarter is 1 s. A half note from beat 4 crosses the bar line and is tied.
    bars = quantise([(60, 0.0, 1.0), (62, 2.0, 3.0), (64, 3.0, 5.0)], 60.0, "4/4", 2)
    assert bars[0] == [Ev(60, 12), Ev(None, 12), Ev(62, 12), Ev(64, 12, tie=True)]
    assert bars[1] == [Ev(64, 12), Ev(None, 36)]
    assert all(sum(e.ticks for e in bar) == 48 for bar in bars)


def test_quantise_keeps_the_top_note_of_a_chord_and_cuts_overlaps() -> None:
    bars = quantise([(60, 0.0, 2.0), (67, 0.0, 2.0), (65, 1.0, 2.0)], 60.0, "2/4", 1)
    assert bars == [[Ev(67, 12), Ev(65, 12)]]


def test_abc_has_the_headers_the_key_chords_accidentals_and_ties(tmp_path: Path) -> None:
    notes = [Note(62, 0.0, 0.5), Note(66, 0.5, 1.0), Note(65, 1.0, 1.5), Note(69, 1.5, 2.5), Note(74, 2.5, 4.0)]
    midi, side = _track(
        tmp_path,
        notes,
        key="D major",
        chords=[{"start": 0.0, "end": 2.0, "symbol": "D"}, {"start": 2.0, "end": 4.0, "symbol": "Bbm7"}],
    )
    nt = notation.from_track(midi, side)
    assert nt.key == "D major" and nt.chords == [(0, "D"), (48, "Bbm7")]
    abc = notation.to_abc(nt)
    head, body = abc.split("K:D\n")
    assert "M:4/4" in head and "L:1/8" in head and "Q:1/4=120" in head
    # F# is in the key (no mark), F natural needs one; the A crosses the bar line and is tied.
    assert body.startswith('"D"D2 F2 =F2 A2- | "Bbm7"A2 d6 |]'), body


def test_modes_are_written_as_abc_modes(tmp_path: Path) -> None:
    midi, side = _track(tmp_path, [Note(64, 0.0, 4.0)], key="E dorian")
    assert "K:Edor" in notation.to_abc(notation.from_track(midi, side))
    midi, side = _track(tmp_path, [Note(67, 0.0, 4.0)], key="G mixolydian")
    assert "K:Gmix" in notation.to_abc(notation.from_track(midi, side))


def test_the_key_is_estimated_when_it_was_not_chosen(tmp_path: Path) -> None:
    scale = [67, 69, 71, 72, 74, 76, 78, 79]
    notes = [Note(p, i * 0.5, (i + 1) * 0.5) for i, p in enumerate(scale)]
    midi, side = _track(tmp_path, notes)
    assert notation.from_track(midi, side).key in ("G major", "E minor")


def test_musicxml_reads_back_to_the_same_notes(tmp_path: Path) -> None:
    from music21 import converter

    notes = [Note(60 + i, i * 0.5, (i + 1) * 0.5) for i in range(8)]
    midi, side = _track(tmp_path, notes, chords=[{"start": 0.0, "end": 4.0, "symbol": "C"}])
    xml = notation.to_musicxml(notation.from_track(midi, side))
    path = tmp_path / "t.musicxml"
    path.write_text(xml)
    score = converter.parse(str(path))
    assert [n.pitch.midi for n in score.recurse().notes if not n.isChord and n.isNote] == [n.pitch for n in notes]
    assert "<harmony" in xml and "<time" in xml and "<key" in xml


def test_a_chorale_keeps_four_voices_with_their_clefs(tmp_path: Path) -> None:
    voices = [
        ("Soprano", 52, [Note(72, 0.0, 2.0)]),
        ("Alto", 52, [Note(67, 0.0, 2.0)]),
        ("Tenor", 52, [Note(60, 0.0, 2.0)]),
        ("Bass", 52, [Note(48, 0.0, 2.0)]),
    ]
    midi, side = _track(tmp_path, [n for _, _, ns in voices for n in ns], parts=voices, bars=1, key="C major")
    nt = notation.from_track(midi, side)
    assert [v.name for v in nt.voices] == ["Soprano", "Alto", "Tenor", "Bass"]
    assert [v.clef for v in nt.voices] == ["treble", "treble", "treble8", "bass"]
    assert nt.voices[3].bars[0] == [Ev(48, 48)]


@pytest.mark.parametrize(
    "sidecar", [{"meter": "x/y"}, {"chords": [{"start": "soon"}, 5, {"symbol": "C"}]}, {"key": "H minor"}, {"bars": 0}]
)
def test_odd_sidecars_do_not_break_the_notation(tmp_path: Path, sidecar: dict) -> None:
    midi, side = _track(tmp_path, [Note(60, 0.0, 1.0)])
    nt = notation.from_track(midi, {**side, **sidecar})
    assert nt.voices and notation.to_abc(nt).startswith("X:1") and json.dumps(nt.chords)


def test_triplets_are_written_as_abc_tuplets(tmp_path: Path) -> None:
    # 2/4 at 60 qpm: three triplet eighths (1/3 s each), then a quarter.
    notes = [Note(62, 0.0, 1 / 3), Note(64, 1 / 3, 2 / 3), Note(66, 2 / 3, 1.0), Note(67, 1.0, 2.0)]
    midi, side = _track(tmp_path, notes, meter="2/4", qpm=60.0, bars=1, key="D major")
    body = notation.to_abc(notation.from_track(midi, side)).split("K:D\n")[1]
    assert body.startswith("(3D E F G2 |]"), body


@pytest.mark.parametrize("key", ["D major", "Bb major", "E dorian", "F# minor", "Eb mixolydian"])
def test_abc_reads_back_to_the_same_pitches(tmp_path: Path, key: str) -> None:
    """music21's ABC reader gets every pitch back, chromatic notes and accidentals carried through a bar
    included, in sharp and flat keys."""
    import random

    from music21 import converter

    rng = random.Random(key)
    notes = [Note(rng.randint(55, 84), i * 0.25, (i + 1) * 0.25) for i in range(32)]
    midi, side = _track(tmp_path, notes, bars=4, key=key)
    nt = notation.from_track(midi, side)
    parsed = converter.parse(notation.to_abc(nt), format="abc")
    assert [n.pitch.midi for n in parsed.recurse().notes if n.isNote] == [n.pitch for n in notes]


def test_a_chord_natural_against_the_key_is_written_without_a_natural(tmp_path: Path) -> None:
    """F in G major: music21 marks its root <root-alter>0, which Verovio engraves as a box after the letter."""
    notes = [Note(67, 0.0, 1.0), Note(65, 1.0, 2.0), Note(72, 2.0, 4.0)]
    midi, side = _track(
        tmp_path,
        notes,
        key="G major",
        chords=[{"start": 0.0, "end": 2.0, "symbol": "F"}, {"start": 2.0, "end": 4.0, "symbol": "C"}],
    )
    xml = notation.to_musicxml(notation.from_track(midi, side))
    assert "<root-step>F</root-step>" in xml and "<root-alter>0</root-alter>" not in xml
