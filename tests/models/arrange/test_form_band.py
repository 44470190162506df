"""Form plans and the band arrangement of generated pieces: exact length, tonic start and end, cadences, repeated
parts, no part crossing the melody, percussion only where the style has it, same seed same notes."""

from __future__ import annotations

import dataclasses

import pytest

from models.arrange import form
from models.arrange.band import arrange
from models.arrange.harmony import Meter
from models.arrange.piece import arrange_piece, part_info
from models.arrange.theory import cadential, tonic_chord
from models.music.melody import Note


def test_plans_cover_the_bars_in_parts() -> None:
    assert [(s.label, s.length) for s in form.plan(32, "dance")] == [("A", 8), ("A", 8), ("B", 8), ("B", 8)]
    assert [(s.label, s.length) for s in form.plan(16, "dance")] == [("A", 4), ("A", 4), ("B", 4), ("B", 4)]
    assert [s.label for s in form.plan(16, "song")] == ["A", "A", "B", "C"]
    assert [s.label for s in form.plan(16, "air")] == ["A", "B", "A", "C"]
    for bars in range(1, 80):
        plan = form.plan(bars, "dance")
        assert plan[0].start == 0 and plan[-1].end == bars
        assert all(a.end == b.start for a, b in zip(plan, plan[1:], strict=False))
    long = form.plan(64, "dance")  # a set: the tune twice, then new parts
    assert [s.label for s in long] == list("AABBAABB") and [s.label for s in form.plan(128, "dance")][8:] == list(
        "CCDDCCDD"
    )


def test_ties_copy_repeats_but_vary_their_last_bar() -> None:
    tie = form.ties(form.plan(16, "dance"))
    assert tie == {4: 0, 5: 1, 6: 2, 12: 8, 13: 9, 14: 10}
    notes = [Note(60 + b, b * 2.0, b * 2.0 + 1.0) for b in range(16)]
    out = form.repeat_bars(notes, 2.0, tie)
    assert [n.pitch for n in out] == [60, 61, 62, 63, 60, 61, 62, 67, 68, 69, 70, 71, 68, 69, 70, 75]
    assert [n.start for n in out] == [b * 2.0 for b in range(16)]


def test_cadence_holds_the_tonic_to_the_end() -> None:
    notes = [Note(64, 0.0, 0.5), Note(67, 0.5, 1.0), Note(71, 1.0, 1.5), Note(69, 1.5, 2.0)]
    out = form.cadence(notes, 7, 1.0, 2.0)  # G, from the half bar
    assert out[-1] == Note(67, 1.0, 2.0, 90) and out[:-1] == notes[:2]


def _generated(style: str, seed: int, seconds: float = 30.0):
    from models.compose.factory import load_composer

    return load_composer(style, "lstm").compose(seconds, seed=seed)


def _sounding(notes: list[Note], t: float) -> list[Note]:
    return [n for n in notes if n.start - 1e-6 <= t < n.end - 1e-6]


@pytest.mark.parametrize(("style", "seed"), [("irish", 0), ("irish", 1), ("folk", 2), ("scottish", 3), ("bach", 4)])
def test_band_arrangement_of_generated_pieces(style: str, seed: int) -> None:
    piece = _generated(style, seed)
    out = arrange(
        piece.notes,
        seconds=piece.seconds,
        bars=piece.bars,
        meter=piece.meter,
        qpm=piece.tempo_qpm,
        style=style,
        program=piece.program,
        seed=seed,
    )
    assert out.arrangement == "band" and out.key is not None, out.note
    names = [p.name for p in out.parts]
    assert names[:3] == ["melody", "chords", "bass"] and (
        ("percussion" in names) == (style in ("irish", "scottish", "folk"))
    )
    # exact length, whole bars
    assert max(n.end for p in out.parts for n in p.notes) <= piece.seconds + 1e-9
    assert sum(s.length for s in out.sections) == piece.bars
    # tonic start and end, a cadential chord into the last bar, the melody ends on the tonic
    assert out.spans[0][2] == out.spans[-1][2] == tonic_chord(out.key)
    per = Meter.parse(piece.meter).slots_per_bar(every_beat=style == "bach")  # a chorale's chord a beat
    assert len(out.spans) == per * piece.bars
    assert out.spans[-per - 1][2] in cadential(out.key)
    assert out.melody[-1].pitch % 12 == out.key.tonic and out.melody[-1].end == pytest.approx(piece.seconds)
    assert out.chords[0]["start"] == 0.0 and out.chords[-1]["end"] == pytest.approx(piece.seconds, abs=1e-3)
    # phrase ends close on the tonic or the dominant
    for sec in out.sections[:-1]:
        chord = out.spans[sec.end * per - 1][2]
        assert chord.degree(out.key)[0] in (0, 7, 10)
    # no accompaniment note at or above the melody note sounding with it
    accompaniment = [n for p in out.parts[1:] if not p.is_drum for n in p.notes]
    for a in accompaniment:
        for m in _sounding(out.melody, a.start + 0.01):
            assert a.pitch < m.pitch
    # the melody leads: louder than the accompaniment
    assert min(n.velocity for n in out.melody) > max(n.velocity for n in accompaniment)
    # same seed, same notes
    again = arrange(
        piece.notes,
        seconds=piece.seconds,
        bars=piece.bars,
        meter=piece.meter,
        qpm=piece.tempo_qpm,
        style=style,
        program=piece.program,
        seed=seed,
    )
    assert [p.notes for p in again.parts] == [p.notes for p in out.parts]


def test_repeated_parts_repeat_notes_and_chords() -> None:
    piece = _generated("irish", 5, 60.0)
    out = arrange(
        piece.notes,
        seconds=piece.seconds,
        bars=piece.bars,
        meter=piece.meter,
        qpm=piece.tempo_qpm,
        style="irish",
        program=40,
        seed=5,
    )
    bar_s = piece.seconds / piece.bars
    per = Meter.parse(piece.meter).slots_per_bar()
    tie = form.ties(out.sections)
    assert tie
    for bar, src in tie.items():

        def rel(b: int) -> list[tuple[int, float]]:
            return [
                (n.pitch, round(n.start - b * bar_s, 6))
                for n in out.melody
                if b * bar_s - 1e-9 <= n.start < (b + 1) * bar_s - 1e-9
            ]

        assert rel(bar) == rel(src)
        assert [c for _, _, c in out.spans[bar * per : (bar + 1) * per]] == [
            c for _, _, c in out.spans[src * per : (src + 1) * per]
        ]


def test_atonal_and_tiny_melodies_fall_back_to_the_bare_line() -> None:
    chromatic = [Note(60 + i % 12, i * 0.25, (i + 1) * 0.25) for i in range(32)]
    out = arrange(chromatic, seconds=8.0, bars=4, meter="4/4", qpm=120.0, style="irish", program=40, seed=1)
    assert out.arrangement == "melody" and "atonal" in out.note and out.melody == chromatic
    assert (
        arrange(
            chromatic[:2], seconds=0.5, bars=1, meter="4/4", qpm=480.0, style="irish", program=40, seed=1
        ).arrangement
        == "melody"
    )
    assert (
        arrange(chromatic, seconds=8.0, bars=4, meter="x/y", qpm=120.0, style="irish", program=40, seed=1).arrangement
        == "melody"
    )


def test_arrange_piece_on_compositions() -> None:
    piece = _generated("irish", 7, 20.0)
    band = arrange_piece(piece, "band")
    assert band.arrangement == "band" and band.key and band.drum_parts == ["percussion"]
    assert [p["channel"] for p in part_info(band)] == [0, 1, 2, 9] and band.seconds == piece.seconds
    bare = arrange_piece(piece, "melody")
    assert bare.notes == piece.notes and bare.arrangement == "melody" and bare.key  # analysed, not re-arranged
    voices = [
        ("Soprano", 52, piece.notes),
        ("Alto", 52, [dataclasses.replace(n, pitch=n.pitch - 7) for n in piece.notes]),
    ]
    chorale = arrange_piece(dataclasses.replace(piece, parts=voices), "band")
    assert chorale.parts == voices and chorale.chords and chorale.drum_parts == []
    with pytest.raises(ValueError, match="unknown arrangement"):
        arrange_piece(piece, "orchestra")


def test_bach_and_new_styles_have_no_percussion() -> None:
    piece = _generated("irish", 8, 20.0)
    for style in ("bach", "pokemon"):
        out = arrange(
            piece.notes,
            seconds=piece.seconds,
            bars=piece.bars,
            meter=piece.meter,
            qpm=piece.tempo_qpm,
            style=style,
            program=0,
            seed=8,
        )
        assert out.arrangement == "band" and not any(p.is_drum for p in out.parts)
        assert out.key is not None and (out.key.mode in ("major", "minor") or style != "bach")  # a chorale is tonal
