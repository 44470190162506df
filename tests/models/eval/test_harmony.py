"""The harmony and form metrics on hand-made examples with known answers."""

from __future__ import annotations

import pytest

from models.eval.harmony import (
    Harmonized,
    N,
    Span,
    che_cc,
    ctnctr,
    ends_on_tonic,
    mctd,
    overlap,
    parallels,
    pcs,
    repeated_bar_share,
)

C = Span(0.0, 4.0, frozenset({0, 4, 7}), "C")


def test_ctnctr_counts_chord_tones_and_proper_passing_tones() -> None:
    # C (chord), D (non-chord, next is E: a passing tone, proper), E (chord), F# (non-chord, next is C: improper)
    h = Harmonized([N(60, 0, 1), N(62, 1, 2), N(64, 2, 3), N(66, 3, 3.5), N(60, 3.5, 4)], [C], [])
    # chord tones 3, non-chord 2, proper 1: (3 + 1) / (3 + 2)
    assert ctnctr(h) == pytest.approx(0.8)


def test_pcs_scores_consonance_per_sixteenth() -> None:
    assert pcs(Harmonized([N(67, 0, 1)], [C], [])) == pytest.approx((1 + 1 + 1) / 3)  # G over C E G
    assert pcs(Harmonized([N(65, 0, 1)], [C], [])) == pytest.approx((0 + -1 + -1) / 3)  # F: a 4th, a 2nd, a 7th
    assert pcs(Harmonized([N(61, 0, 0.5)], [C], [])) == pytest.approx((-1 + 1 + -1) / 3)  # C#: 2nd, 6th, tritone


def test_mctd_is_zero_for_a_lone_tone_and_grows_with_distance() -> None:
    lone = Span(0.0, 4.0, frozenset({0}), "C5")
    assert mctd(Harmonized([N(60, 0, 4)], [lone], [])) == pytest.approx(0.0)
    near, far = mctd(Harmonized([N(64, 0, 4)], [C], [])), mctd(Harmonized([N(66, 0, 4)], [C], []))
    assert 0 < near < far


def test_entropy_and_coverage_count_chord_changes() -> None:
    spans = [Span(i, i + 1, frozenset({0, 4, 7}), lab) for i, lab in enumerate(["C", "C", "G", "C", "G"])]
    entropy, coverage = che_cc(Harmonized([], spans, []))
    # changes: C G C G → two chords, each half the time: ln 2
    assert coverage == 2 and entropy == pytest.approx(0.6931, abs=1e-4)


def test_parallel_fifths_and_octaves_between_melody_and_bass() -> None:
    melody = [N(67, 0, 1), N(69, 1, 2), N(72, 2, 3)]
    # C→D under G→A: parallel fifths; D→C under A→C: contrary motion
    bass = [N(48, 0, 1), N(50, 1, 2), N(48, 2, 3)]
    assert parallels(Harmonized(melody, [C], bass)) == pytest.approx(0.5)
    octaves = parallels(Harmonized([N(60, 0, 1), N(62, 1, 2)], [C], [N(48, 0, 1), N(50, 1, 2)]))
    assert octaves == pytest.approx(1.0)


def test_a_humanised_bass_is_heard_with_the_melody_note_it_starts_with() -> None:
    # G→A over C→D: parallel fifths, whether the bass's D comes on time or 6 ms (at 60 qpm) early
    melody = [N(67, 0, 1), N(69, 1, 2)]
    assert parallels(Harmonized(melody, [C], [N(48, 0, 1), N(50, 1, 2)])) == pytest.approx(1.0)
    assert parallels(Harmonized(melody, [C], [N(48, 0, 0.994), N(50, 0.994, 2)])) == pytest.approx(1.0)
    # C→F under G→A (a third): early or not, no parallel
    assert parallels(Harmonized(melody, [C], [N(48, 0, 0.994), N(53, 0.994, 2)])) == 0.0


def test_overlap_and_crossing() -> None:
    melody = [N(72, 0, 2), N(76, 2, 4)]
    acc = [N(60, 0, 1), N(74, 0, 1), N(74, 2, 3), N(48, 2, 3)]
    inside, crossing = overlap(Harmonized(melody, [C], [], acc))
    assert inside == pytest.approx(0.5) and crossing == pytest.approx(0.25)  # 74 over 72 crosses; 74 under 76 not


def test_form_measures() -> None:
    bar = [N(60, 0, 1), N(62, 1, 2)]
    tune = bar + [N(n.pitch, n.start + 2, n.end + 2) for n in bar] + [N(64, 4, 6)] + [N(60, 6, 8)]
    assert repeated_bar_share(tune, 2.0) == pytest.approx(1 / 3)
    assert ends_on_tonic(tune, 0) and not ends_on_tonic(tune, 7)


def test_naive_baseline_takes_each_bars_most_frequent_pitch_class() -> None:
    from models.arrange.harmony import Meter
    from models.arrange.theory import Key
    from models.eval.arrangement import baseline

    meter = Meter.parse("4/4")
    melody = [N(62, 0, 3), N(60, 3, 4), N(67, 4, 5), N(71, 5, 8)]  # bar 1 mostly D, bar 2 mostly B
    h = baseline(melody, meter, 2, Key(0, "major"))
    assert [c.label for c in h.chords] == ["Dm", "Bdim"]
    assert [n.pitch for n in h.bass] == [38, 47] and [n.pitch for n in h.accompaniment[:3]] == [62, 65, 69]


def test_a_four_voice_beat_reduces_to_the_chord_it_holds() -> None:
    from models.eval.arrangement import reduce_beat
    from models.eval.harmony import Span

    # G B D F: the dominant seventh (not the B diminished triad inside it)
    assert reduce_beat(frozenset({7, 11, 2, 5}), 7, None) == (frozenset({7, 11, 2, 5}), "G7")
    # C E G with a passing D in the soprano: still C major
    assert reduce_beat(frozenset({0, 4, 7, 2}), 0, None) == (frozenset({0, 4, 7}), "C")
    # a passing sonority (C D G) continues the chord before it, or is named by its set when none came before
    before = Span(0.0, 1.0, frozenset({5, 9, 0}), "F")
    assert reduce_beat(frozenset({0, 2, 7}), 0, before) == (frozenset({5, 9, 0}), "F")
    assert reduce_beat(frozenset({0, 2}), 0, None) == (frozenset({0, 2}), "{0,2}")
