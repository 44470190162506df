"""Seventh chords (naming, recognition, voicing), the learned chorale vocabulary and hold rates, and chords drawn
from the harmony model's posterior."""

from __future__ import annotations

import random

from models.arrange.decode import sample_path, viterbi
from models.arrange.harmony import Meter, MNote, chord_vocabulary, emission, harmonize
from models.arrange.realise import voicing
from models.arrange.theory import Chord, Key, identify
from models.arrange.transitions import hold_rates, learned_vocabulary, load_table

C_MAJOR, A_MINOR = Key(0, "major"), Key(9, "minor")


def test_seventh_chords_are_named_as_lead_sheets_and_roman_numerals() -> None:
    g7, bm7b5, gsd7 = Chord(7, "7"), Chord(11, "ø7"), Chord(8, "°7")
    assert g7.tones == (7, 11, 2, 5) and g7.seventh == 5 and Chord(7, "maj").seventh is None
    assert (g7.symbol(C_MAJOR), g7.roman(C_MAJOR)) == ("G7", "V7")
    assert (bm7b5.symbol(C_MAJOR), bm7b5.roman(C_MAJOR)) == ("Bm7b5", "viiø7")
    assert (gsd7.symbol(A_MINOR), gsd7.roman(A_MINOR)) == ("G#dim7", "vii°7")
    assert Chord(2, "m7").roman(C_MAJOR) == "ii7" and Chord(10, "7").symbol(Key(5, "major")) == "Bb7"


def test_identify_prefers_the_seventh_chord_and_the_bass_root() -> None:
    assert identify({7, 11, 2, 5}, 11) == Chord(7, "7")  # V6/5: still G7, not B diminished
    assert identify({7, 11, 5}, 7) == Chord(7, "7")  # the fifth left out
    assert identify({0, 4, 7}, 4) == Chord(0, "maj") and identify({9, 0, 4}, 9) == Chord(9, "min")
    assert identify({11, 2, 5, 8}, 2) == Chord(2, "°7")  # a diminished seventh is named from its bass
    assert identify({0, 2, 7}, 0) is None and identify({0, 7}, 0) is None  # no triad: a passing sonority
    assert identify({2, 5, 0}, 2) == Chord(2, "m7")  # D F C: ii7 with its fifth left out


def test_a_voiced_seventh_keeps_its_third_and_seventh() -> None:
    for ceiling in (66, 70, 74, 79):
        notes = voicing(Chord(7, "7"), ceiling, None)
        assert len(notes) == 3 and max(notes) < ceiling
        assert {11, 5} <= {p % 12 for p in notes} and {p % 12 for p in notes} <= {7, 11, 2, 5}


def test_the_chorale_vocabulary_and_hold_rates_are_learned() -> None:
    major = learned_vocabulary("major")
    assert (0, "maj") in major and (7, "7") in major and (2, "7") in major  # I, V7 and V7/V
    assert len(major) > len(learned_vocabulary("major", 0.05))  # a higher threshold keeps fewer
    assert major[0] == (0, "maj")  # commonest first
    in_bar, bar_line = hold_rates()
    assert 0.05 < bar_line < in_bar < 0.6  # Bach changes chord more often on a bar line than within the bar
    assert load_table()["hold"] == {"bar_line": bar_line, "in_bar": in_bar}
    chorale = chord_vocabulary(C_MAJOR, extended=True)
    assert Chord(7, "7") in chorale and Chord(2, "7") in chorale and len(chorale) > len(chord_vocabulary(C_MAJOR))
    assert Chord(0, "maj") in chord_vocabulary(Key(2, "mixolydian"))  # the folk band's modes keep ♭VII (C in D)


def test_a_seventh_fits_a_melody_that_sounds_it() -> None:
    meter = Meter.parse("4/4")
    g7_line = [MNote(p, i * 0.5, (i + 1) * 0.5) for i, p in enumerate([67, 71, 74, 77])]  # G B D F
    assert emission(g7_line, Chord(7, "7"), 0.0, 2.0, meter) > emission(g7_line, Chord(7, "maj"), 0.0, 2.0, meter)


def _toy() -> tuple[list[list[float]], list[float], list[list[float]]]:
    rng = random.Random(3)
    emissions = [[rng.uniform(-2, 2) for _ in range(4)] for _ in range(12)]
    change = [[-1.0 if a != b else float("-inf") for b in range(4)] for a in range(4)]
    return emissions, [0.3] * 12, change


def test_posterior_sampling_keeps_constraints_and_is_seeded() -> None:
    emissions, stay, change = _toy()
    allowed = {0: {2}, 5: {1, 3}, 11: {2}}
    paths = [sample_path(emissions, stay, change, allowed, random.Random(seed)) for seed in range(30)]
    assert all(p[0] == 2 and p[5] in (1, 3) and p[11] == 2 and len(p) == 12 for p in paths)
    assert paths[4] == sample_path(emissions, stay, change, allowed, random.Random(4))  # same seed, same path
    assert len({tuple(p) for p in paths}) > 5  # and it does vary with the seed
    # a cold posterior collapses onto the Viterbi path
    best = viterbi(emissions, stay, change, [0.0] * 4, allowed)
    assert sample_path(emissions, stay, change, allowed, random.Random(0), temperature=0.01) == best


def test_sampled_chorale_harmony_keeps_the_cadence_and_follows_the_seed() -> None:
    meter = Meter.parse("4/4")
    tune = [60, 62, 64, 65, 67, 65, 64, 62, 64, 65, 67, 69, 67, 65, 64, 62, 60, 60, 60, 60]
    beats = [MNote(p, i * 1.0, i + 1.0) for i, p in enumerate(tune)]
    runs = [harmonize(beats, C_MAJOR, meter, 5, every_beat=True, extended=True, seed=s) for s in range(8)]
    for out in runs:
        assert out[0][2] == Chord(0, "maj") and all(c == Chord(0, "maj") for _, _, c in out[-4:])
        assert out[-5][2].root == 7 or out[-5][2] in (Chord(5, "maj"), Chord(11, "dim"), Chord(11, "ø7"))
    assert runs[2] == harmonize(beats, C_MAJOR, meter, 5, every_beat=True, extended=True, seed=2)
    assert len({tuple(c for _, _, c in out) for out in runs}) > 1


def test_symbols_read_back_as_the_chords_that_wrote_them() -> None:
    from models.arrange.theory import QUALITIES, parse_symbol

    for key in (C_MAJOR, Key(5, "major"), A_MINOR):
        for root in range(12):
            for quality in QUALITIES:
                chord = Chord(root, quality)
                assert parse_symbol(chord.symbol(key)) == chord
    assert parse_symbol("H7") is None and parse_symbol("Cadd9") is None and parse_symbol("") is None


def test_fixed_slots_take_the_given_chords() -> None:
    meter = Meter.parse("4/4")
    beats = [MNote(p, i * 1.0, i + 1.0) for i, p in enumerate([60, 64, 67, 72, 71, 67, 65, 62, 60, 64, 67, 72])]
    fixed = {1: Chord(9, "min"), 2: Chord(4, "7")}  # Am, then E7 (not in the folk vocabulary of C major)
    for seed in (None, 1, 2):
        out = harmonize(beats, C_MAJOR, meter, 3, fixed=fixed, seed=seed)
        assert out[1][2] == Chord(9, "min") and out[2][2] == Chord(4, "7") and out[0][2] == Chord(0, "maj")
