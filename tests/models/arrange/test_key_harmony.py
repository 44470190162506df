"""Key and mode finding, the chord vocabulary and names, and the Viterbi harmony's constraints."""

from __future__ import annotations

import math

from models.arrange.harmony import Meter, MNote, borrowed, emission, harmonize, slots
from models.arrange.key import find_key
from models.arrange.theory import Chord, Key, cadential, tonic_chord, vocabulary
from models.arrange.transitions import load_table, log_transition


def line(pitches: list[int], length: float = 1.0) -> list[tuple[int, float]]:
    return [(p, length) for p in pitches]


def test_major_minor_and_the_modes() -> None:
    d_major = [62, 64, 66, 67, 69, 71, 73, 74, 69, 66, 62]
    assert find_key(line(d_major), final_pitch=62) == Key(2, "major", find_key(line(d_major), 62).fit)
    a_minor = [69, 71, 72, 74, 76, 77, 79, 76, 72, 69, 64, 69]
    assert (find_key(line(a_minor), 69).tonic, find_key(line(a_minor), 69).mode) == (9, "minor")
    d_dorian = [62, 64, 65, 67, 69, 71, 72, 74, 69, 65, 62, 71, 69, 62]  # B natural and C natural over D
    assert (find_key(line(d_dorian), 62).tonic, find_key(line(d_dorian), 62).mode) == (2, "dorian")
    g_mixo = [67, 69, 71, 72, 74, 76, 77, 79, 74, 71, 67, 77, 74, 67]  # F natural over G
    assert (find_key(line(g_mixo), 67).tonic, find_key(line(g_mixo), 67).mode) == (7, "mixolydian")


def test_an_atonal_line_has_no_key() -> None:
    assert find_key(line(list(range(60, 72)) * 2), final_pitch=71) is None
    assert find_key(line([60, 60]), 60) is None


def test_names_and_vocabulary() -> None:
    d_mixo = Key(2, "mixolydian")
    assert Chord(0, "maj").symbol(d_mixo) == "C" and Chord(0, "maj").roman(d_mixo) == "♭VII"
    assert Chord(0, "maj") in vocabulary(d_mixo) and tonic_chord(d_mixo) == Chord(2, "maj")
    f_major = Key(5, "major")
    assert Chord(10, "maj").symbol(f_major) == "Bb" and Chord(7, "min").roman(f_major) == "ii"
    assert Key(9, "dorian").name() == "A dorian" and Chord(11, "dim").roman(Key(0, "major")) == "vii°"
    assert Chord(7, "maj") in cadential(Key(0, "major"))


def test_transitions_are_learned_from_the_chorales() -> None:
    table = load_table()
    assert table["chorales"]["major"] > 100 and table["chorales"]["minor"] > 100
    labels = ("0:maj", "2:min", "5:maj", "7:maj", "9:min")
    row = [math.exp(log_transition("major", "7:maj", b, labels)) for b in labels if b != "7:maj"]
    assert abs(sum(row) - 1) < 1e-9
    assert log_transition("major", "7:maj", "0:maj", labels) == max(
        log_transition("major", "7:maj", b, labels) for b in labels if b != "7:maj"
    )  # V goes to I most


def arpeggios(chords: list[tuple[int, int, int]], meter: Meter) -> list[MNote]:
    notes = []
    for bar, tones in enumerate(chords):
        step = meter.bar_q / 4
        for i, p in enumerate([*tones, tones[0] + 12]):
            notes.append(MNote(p, bar * meter.bar_q + i * step, bar * meter.bar_q + (i + 1) * step))
    return notes


def test_viterbi_follows_the_melody_and_keeps_the_constraints() -> None:
    meter = Meter.parse("4/4")
    c, f, g, am = (60, 64, 67), (65, 69, 72), (67, 71, 74), (69, 72, 76)
    melody = arpeggios([c, f, g, c, am, f, g, c], meter)
    key = Key(0, "major")
    out = harmonize(melody, key, meter, 8, phrase_ends=[3])
    assert len(out) == len(slots(meter, 8)) == 16
    per_bar = [out[2 * b][2] for b in range(8)]
    assert per_bar == [
        Chord(0, "maj"),
        Chord(5, "maj"),
        Chord(7, "maj"),
        Chord(0, "maj"),
        Chord(9, "min"),
        Chord(5, "maj"),
        Chord(7, "maj"),
        Chord(0, "maj"),
    ]
    assert out[0][2] == out[-1][2] == tonic_chord(key)  # tonic start and end
    assert out[-3][2] in cadential(key)  # the slot before the last bar leads into it
    assert out[7][2] in (Chord(0, "maj"), Chord(7, "maj"))  # a phrase end: full or half cadence


def test_a_repeated_part_gets_the_same_chords() -> None:
    meter = Meter.parse("6/8")
    a = arpeggios([(62, 66, 69), (67, 71, 74), (69, 73, 76), (62, 66, 69)], meter)
    melody = a + [MNote(n.pitch, n.start + 4 * meter.bar_q, n.end + 4 * meter.bar_q) for n in a]
    out = harmonize(melody, Key(2, "major"), meter, 8, phrase_ends=[3], ties={4: 0, 5: 1, 6: 2})
    assert [c for _, _, c in out[8:14]] == [c for _, _, c in out[0:6]]


def test_the_arranger_is_torch_free() -> None:
    import subprocess
    import sys

    code = (
        "import sys, models.arrange.piece, models.arrange.transitions, models.eval.harmony; "
        "print('torch' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


REEL_G = [
    *[(67, 64, 66, 64, 66, 62, 67, 66), (59, 62, 62, 71, 69, 67, 69, 71), (67, 71, 74, 79, 74, 74, 76, 72)],
    *[(72, 71, 72, 74, 72, 71, 69, 67), (72, 71, 72, 69, 71, 72, 74, 72), (71, 67, 67, 71, 74, 74, 71, 67)],
]


def sixteenths(bars: list[tuple[int, ...]], bar_q: float) -> list[MNote]:
    step = bar_q / len(bars[0])
    return [
        MNote(p, b * bar_q + i * step, b * bar_q + (i + 1) * step)
        for b, ps in enumerate(bars)
        for i, p in enumerate(ps)
    ]


def test_no_borrowed_flat_seven_under_a_melody_that_outlines_four() -> None:
    meter, g_major = Meter.parse("2/4"), Key(7, "major")
    melody = sixteenths(REEL_G, meter.bar_q)
    # the fourth bar ends a phrase: its cadence is I or V, never the ♭VII (F) that major borrows from mixolydian
    out = harmonize(melody, g_major, meter, len(REEL_G), phrase_ends=[3], extended=False)
    assert out[3][2] in (Chord(7, "maj"), Chord(2, "maj"))
    assert all(c.root in g_major.scale for _, _, c in out)
    out = harmonize(melody, g_major, meter, len(REEL_G), extended=False)
    assert out[3][2] == Chord(0, "maj")  # IV (C), not ♭VII (F): B over F is a tritone, F natural is not in G
    # with F naturals in the melody the ♭VII is the mixolydian inflection a folk band plays
    flat = [*REEL_G[:3], (65, 69, 72, 69, 65, 69, 72, 77), *REEL_G[4:]]
    out = harmonize(sixteenths(flat, meter.bar_q), g_major, meter, len(flat), extended=False)
    assert out[3][2] == Chord(5, "maj")


def test_consonance_separates_clashes_from_leading_tones() -> None:
    meter, c_major = Meter.parse("4/4"), Key(0, "major")
    b = [MNote(71, 0.0, 1.0)]  # B: the major seventh of C but a fifth over E and a third over G
    assert emission(b, Chord(0, "maj"), 0.0, 1.0, meter) > emission(b, Chord(5, "maj"), 0.0, 1.0, meter)
    assert borrowed(Chord(10, "maj"), c_major, set(), 2.0) < 0 == borrowed(Chord(10, "maj"), c_major, {10}, 2.0)
    assert borrowed(Chord(2, "maj"), c_major, set(), 2.0, strict=False) == 0.0  # the chorale's V/V is free


def test_a_chorale_moves_a_chord_a_beat_in_major_or_minor() -> None:
    meter = Meter.parse("4/4")
    assert meter.slots_per_bar() == 2 and meter.slots_per_bar(every_beat=True) == 4
    assert Meter.parse("3/4").slots_per_bar(every_beat=True) == 3
    beats = [MNote(p, i * 1.0, i + 1.0) for i, p in enumerate([60, 65, 67, 64, 69, 65, 71, 74, 72, 72, 72, 72])]
    out = harmonize(beats, Key(0, "major"), meter, 3, every_beat=True)
    assert len(out) == 12 and [e - s for s, e, _ in out] == [1.0] * 12
    assert sum(a[2] != b[2] for a, b in zip(out[:8], out[1:8], strict=False)) >= 5  # it changes on most beats
    g_mixo = [67, 69, 71, 72, 74, 76, 77, 79, 74, 71, 67, 77, 74, 67]
    assert find_key(line(g_mixo), 67).mode == "mixolydian"
    assert find_key(line(g_mixo), 67, modes=("major", "minor")).mode in ("major", "minor")
