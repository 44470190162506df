"""Lenient import of real-world piano MIDI: clipped data bytes, meta on track 2, type 0, drums, empty tracks,
no end-of-track, tempo changes, 12/8, 3/4 and fast tempos."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from models.music.midi_import import MidiImportError
from models.poly.midi import midi_to_pieces, upload_polyphony
from models.poly.tokens import polyphony
from tests.benchmarks.piano_collection import Spec, compound, write_midi
from tests.models.poly.conftest import make_piece


@pytest.mark.parametrize(
    "quirks",
    [
        {},
        {"bad_bytes": True},
        {"meta_on_track2": True},
        {"fmt": 0},
        {"drums": True},
        {"empty_track": True},
        {"no_eot": True},
        {"tempo_change": True},
        {"fmt": 0, "bad_bytes": True, "drums": True, "no_eot": True, "meta_on_track2": True, "empty_track": True},
    ],
)
def test_quirky_files_read_like_clean_ones(quirks: dict) -> None:
    piece = make_piece(3, bars=6)
    got = midi_to_pieces(write_midi(Spec("q.mid", piece, 132.0, **quirks)), "q.mid")
    assert got.meter == "4/4" and got.bars == 6 and got.qpm == 132.0
    notes = got.pieces[0].notes
    assert len(notes) == len({(n.start, n.pitch) for n in piece.notes})  # drums left out, nothing lost
    assert abs(got.polyphony - polyphony(piece.notes)) < 0.05
    if quirks.get("bad_bytes"):
        assert max(n.velocity for n in notes) == 127  # the out-of-range velocity was clipped


@pytest.mark.parametrize(("meter", "qpm"), [("3/4", 96.0), ("12/8", 255.0)])
def test_meters_and_fast_tempos(meter: str, qpm: float) -> None:
    piece = make_piece(4, bars=4, meter="3/4") if meter == "3/4" else compound(make_piece(4, bars=4))
    got = midi_to_pieces(write_midi(Spec("m.mid", piece, qpm)), "m.mid")
    assert (got.meter, got.qpm, got.bars) == (meter, qpm, 4)


def test_unreadable_and_drum_only_files_are_refused_with_why() -> None:
    with pytest.raises(MidiImportError, match="not a readable MIDI file"):
        midi_to_pieces(b"MThd\x00\x00\x00\x06\x00\x01\x00\x01\x01\xe0MTrk\x00\x00\x00\x09\x00")
    assert upload_polyphony(b"junk") == 0.0


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(st.integers(14, 4000), st.integers(0, 255)), max_size=12))
def test_mangled_files_that_pass_the_upload_checks_never_crash_the_import(flips: list[tuple[int, int]]) -> None:
    from worker.jobs.uploads import Accepted, check_midi

    data = bytearray(write_midi(Spec("f.mid", make_piece(6, bars=3), 120.0, bad_bytes=True, drums=True)))
    for pos, value in flips:
        data[pos % len(data)] = value
    checked = check_midi("f.mid", bytes(data))
    if isinstance(checked, Accepted):
        try:
            midi_to_pieces(checked.data, "f.mid")
        except MidiImportError:
            pass
