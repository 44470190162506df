"""Polyphonic tokens: encode/decode round trip, grouping, folding, polyphony."""

from __future__ import annotations

from models.poly.tokens import (
    DURATIONS,
    MAX_GROUP,
    PolyNote,
    PolyPiece,
    PolyVocab,
    decode,
    encode,
    nearest_duration,
    piece_to_notes,
    polyphony,
    thin_group,
)
from tests.models.poly.conftest import make_piece


def test_round_trip_keeps_every_note_and_bar() -> None:
    piece = make_piece(1)
    vocab = PolyVocab()
    ids = encode(piece, vocab, "keyboard")
    assert vocab.tokens[ids[0]] == "<bos>" and vocab.tokens[ids[1]] == "S:keyboard" and vocab.tokens[ids[2]] == "M:4/4"
    assert ids.count(vocab.bar) == piece.bars and ids[-1] == vocab.eos
    back = decode(ids, vocab)
    assert back.bars == piece.bars and back.meter == "4/4"
    assert {(n.start, n.pitch, n.ticks) for n in back.notes} == {(n.start, n.pitch, n.ticks) for n in piece.notes}


def test_groups_share_a_position_and_velocity_and_rise_in_pitch() -> None:
    vocab = PolyVocab()
    piece = PolyPiece("x", "3/4", 1, [PolyNote(0, 12, 64, 90), PolyNote(0, 36, 48, 60), PolyNote(12, 12, 67, 50)])
    toks = [vocab.tokens[i] for i in encode(piece, vocab)]
    assert toks == [
        "<bos>",
        "M:3/4",
        "Pos:0",
        "V:2",
        "P:48",
        "D:36",
        "P:64",
        "D:12",
        "Pos:12",
        "V:0",
        "P:67",
        "D:12",
        "<bar>",
        "<eos>",
    ]


def test_out_of_range_pitches_fold_and_durations_round() -> None:
    vocab = PolyVocab()
    piece = PolyPiece("x", "4/4", 1, [PolyNote(0, 5, 10, 80), PolyNote(0, 200, 120, 80)])
    back = decode(encode(piece, vocab), vocab)
    assert {n.pitch for n in back.notes} == {22, 108}
    assert nearest_duration(5) in DURATIONS and max(DURATIONS) == 96
    assert all(n.start + n.ticks <= 48 for n in back.notes)  # notes end with the piece


def test_thinning_keeps_bass_and_top() -> None:
    pitches = list(range(40, 80, 4))
    kept = thin_group(pitches)
    assert len(kept) == MAX_GROUP and kept[0] == 40 and kept[-1] == 76


def test_polyphony_counts_sounding_pitches_at_onsets() -> None:
    notes = [PolyNote(0, 24, 48), PolyNote(0, 12, 72), PolyNote(12, 12, 74)]
    assert polyphony(notes) == 2.0
    assert 2.0 < polyphony(make_piece(2).notes) < 3.5
    secs = piece_to_notes(PolyPiece("x", "4/4", 1, notes), 120.0)
    assert polyphony(secs) == 2.0 and secs[0].end == 1.0
