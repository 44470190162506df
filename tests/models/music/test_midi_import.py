"""MIDI import: the melody (not bass, chords or drums) as key-normalised whole-bar tunes the vocabulary encodes."""

from __future__ import annotations

import io
import random
from types import SimpleNamespace

import mido
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from models.music.melody import Event, Note, Tune
from models.music.midi_import import MidiImportError, estimate_key, key_shift, midi_to_tunes, skyline
from models.music.tokens import PITCH_MAX, PITCH_MIN, Vocab, decode, encode

TPB = 480
GRID = TPB // 12  # file ticks per tick of the 12-a-quarter grid
D, E, Fs, G, A, B, Cs = 74, 76, 78, 79, 81, 71, 73  # D major, fifth octave (A4 = 69)

# A D-major melody in 4/4 on the 12-ticks grid: eighths, a dotted quarter, triplets, a rest, a note tied over
# the bar line (bars 6-7), and a half-bar note at the end.
MELODY = [
    [(D, 6), (E, 6), (Fs, 12), (A, 12), (Fs, 12)],
    [(G, 18), (Fs, 6), (E, 12), (D, 12)],
    [(Cs, 6), (D, 6), (E, 6), (Cs, 6), (69, 24)],
    [(D, 12), (None, 12), (69, 12), (D, 12)],
    [(B, 4), (Cs, 4), (D, 4), (E, 12), (Fs, 24)],
    [(G, 12), (E, 12), (Cs, 12), (A, 12)],
    [(A, 12), (G, 12), (Fs, 12), (E, 12)],
    [(D, 36), (None, 12)],
]
TIED = {(5, 3)}  # (bar, event) that continues into the next bar's first event


def notes_of(bars: list[list[tuple[int | None, int]]], *, offset: int = 0, tied: set = frozenset()) -> list:
    """(start, end, pitch) in file ticks from bars of (pitch, grid ticks); tied events merge with the next."""
    out, tick = [], offset
    for b, bar in enumerate(bars):
        for i, (pitch, ticks) in enumerate(bar):
            if pitch is not None and i == 0 and (b - 1, len(bars[b - 1]) - 1) in tied:
                out[-1] = (out[-1][0], tick + ticks * GRID, pitch)
            elif pitch is not None:
                out.append((tick, tick + ticks * GRID, pitch))
            tick += ticks * GRID
    return out


def humanise(notes: list, seed: int = 0) -> list:
    """Onsets jittered by up to a fifth of a grid tick, notes followed closely by another played 15% short."""
    rng = random.Random(seed)
    starts = {s for s, _, _ in notes}
    out = []
    for s, e, p in notes:
        short = e in starts
        out.append((max(0, s + rng.randint(-8, 8)), e - (e - s) * 15 // 100 if short else e, p))
    return out


def make_midi(tracks: list[dict], *, tempos: tuple = ((0, 120.0),), sigs: tuple = ((0, 4, 4),), fmt: int = 1) -> bytes:
    """A MIDI file; each track dict has notes [(start, end, pitch)] in file ticks, and channel, program, name."""
    midi = mido.MidiFile(type=fmt, ticks_per_beat=TPB)
    timed = [(t, 0, mido.MetaMessage("set_tempo", tempo=mido.bpm2tempo(q))) for t, q in tempos]
    timed += [(t, 0, mido.MetaMessage("time_signature", numerator=n, denominator=d)) for t, n, d in sigs]
    per_track = [timed] + [[] for _ in tracks[1:]] if fmt == 1 else [timed]
    for i, tr in enumerate(tracks):
        events = per_track[i if fmt == 1 else 0]
        ch = tr.get("channel", 0)
        events.append((0, 1, mido.MetaMessage("track_name", name=tr.get("name", f"t{i}"))))
        events.append((0, 2, mido.Message("program_change", program=tr.get("program", 0), channel=ch)))
        for s, e, p in tr["notes"]:
            events.append((s, 4, mido.Message("note_on", note=p, velocity=90, channel=ch)))
            events.append((e, 3, mido.Message("note_off", note=p, velocity=0, channel=ch)))
    for events in per_track:
        track, now = mido.MidiTrack(), 0
        for tick, _, msg in sorted(events, key=lambda x: (x[0], x[1])):
            track.append(msg.copy(time=tick - now))
            now = tick
        midi.tracks.append(track)
    buf = io.BytesIO()
    midi.save(file=buf)
    return buf.getvalue()


D_MAJOR = ((50, 4), (55, 4), (57, 4), (50, 4))  # I IV V I as (root, third)
E_MINOR = ((52, 3), (57, 3), (59, 4), (52, 3))  # i iv V i


def band(
    melody_notes: list, bars: int, *, bar_ticks: int = 4 * TPB, intro: int = 0, harmony: tuple = D_MAJOR
) -> list[dict]:
    """The melody with block chords on every beat, a bass line and a busy drum kit underneath."""
    chords, bass, drums = [], [], []
    for b in range(bars + intro):
        root, third = harmony[b % 4]
        for beat in range(bar_ticks // TPB):
            t = b * bar_ticks + beat * TPB
            chords += [(t, t + TPB - 20, root + i) for i in (0, third, 7)]
            drums += [(t, t + 60, 36 + beat % 2 * 2), (t, t + 60, 42), (t + TPB // 2, t + TPB // 2 + 60, 42)]
        bass.append((b * bar_ticks, (b + 1) * bar_ticks - 30, root - 12))
    return [
        {"notes": melody_notes, "program": 73, "name": "Flute"},
        {"notes": chords, "channel": 1, "name": "Piano"},
        {"notes": bass, "channel": 2, "program": 33, "name": "Bass"},
        {"notes": drums, "channel": 9, "name": "Drums"},
    ]


def expected(bars: list, shift: int) -> list[list[Event]]:
    return [[Event(None if p is None else p + shift, t) for p, t in bar] for bar in bars]


def check_tunes(tunes: list[Tune]) -> None:
    vocab = Vocab()
    assert tunes
    for tune in tunes:
        assert len(tune.bars) >= 2
        assert all(sum(e.ticks for e in bar) == tune.bar_ticks for bar in tune.bars)
        assert all(PITCH_MIN <= e.pitch <= PITCH_MAX for e in tune.events() if e.pitch is not None)
        assert decode(encode(tune, vocab), vocab).bars == tune.bars


def test_the_melody_is_taken_quantised_and_normalised_across_a_tempo_change() -> None:
    melody = humanise(notes_of(MELODY, offset=4 * TPB, tied=TIED))  # after a one-bar intro
    tempo_change = 3 * 4 * TPB + 3 * TPB // 2  # mid-bar, off the beat: the grid must not move
    data = make_midi(band(melody, 8, intro=1), tempos=((0, 100.0), (tempo_change, 140.0)))
    got = midi_to_tunes(data, "song.mid")
    check_tunes(got.tunes)
    assert (got.meter, got.key_shift, got.program, got.qpm) == ("4/4", -2, 73, 140.0)
    assert [t.tune_id for t in got.tunes] == ["song.mid#1"] and got.tunes[0].title == "song.mid"
    assert got.tunes[0].bars == expected(MELODY, -2)


def test_format_0_channels_are_voices_and_an_unscored_bass_is_never_the_melody() -> None:
    tracks = [t for t in band(notes_of(MELODY, tied=TIED), 8) if t["name"] != "Piano"]
    got = midi_to_tunes(make_midi(tracks, fmt=0, tempos=((0, 96.0),)))
    assert got.tunes[0].bars == expected(MELODY, -2) and got.program == 73 and got.qpm == 96.0


def test_a_pickup_in_another_meter_is_dropped_and_bars_align_after_it() -> None:
    pickup = [(0, TPB, 69)]
    data = make_midi([{"notes": pickup + notes_of(MELODY, offset=TPB, tied=TIED)}], sigs=((0, 1, 4), (TPB, 4, 4)))
    got = midi_to_tunes(data)
    assert got.meter == "4/4" and got.tunes[0].bars == expected(MELODY, -2)


def test_three_four_in_e_minor() -> None:
    e, fs, g, a, b, c, ds = 64, 66, 67, 69, 71, 72, 63
    waltz = [
        [(e, 12), (g, 12), (b, 12)],
        [(e + 12, 24), (ds + 12, 12)],
        [(e + 12, 12), (b, 12), (g, 12)],
        [(a, 12), (c, 12), (e + 12, 12)],
        [(b, 24), (a, 6), (g, 6)],
        [(fs, 12), (ds, 12), (fs, 12)],
        [(e, 24), (b - 12, 12)],
        [(e, 36)],
    ]
    got = midi_to_tunes(make_midi(band(notes_of(waltz), 8, bar_ticks=3 * TPB, harmony=E_MINOR), sigs=((0, 3, 4),)))
    check_tunes(got.tunes)
    assert got.meter == "3/4" and got.key_shift == 5  # E minor → A minor, as corpus tunes are moved
    assert got.tunes[0].bars == expected(waltz, 5) and got.tunes[0].bar_ticks == 36


def test_six_eight_written_by_our_own_midi_writer() -> None:
    from worker.output.midi import to_pretty_midi  # the writer of the voted tracks that fine-tuning also imports

    qpm, g = 137.6, 67
    jig = [[g, g + 4, g + 7, g + 12, g + 7, g + 4], [g + 2, g + 5, g + 9, g + 11, g + 9, g + 5]] * 4
    eighth = 30 / qpm
    notes = [
        Note(p, (b * 6 + i) * eighth, (b * 6 + i + 0.95) * eighth)
        for b, bar in enumerate(jig)
        for i, p in enumerate(bar)
    ]
    piece = SimpleNamespace(
        seconds=len(jig) * 6 * eighth,
        tempo_qpm=qpm,
        meter="6/8",
        parts=None,
        style="irish",
        arch="lstm",
        program=40,
        notes=notes,
    )
    buf = io.BytesIO()
    to_pretty_midi(piece).write(buf)
    got = midi_to_tunes(buf.getvalue(), "track")
    check_tunes(got.tunes)
    assert (got.meter, got.key_shift, got.program, got.qpm) == ("6/8", 5, 40, 137.6)
    assert got.tunes[0].bars == [[Event(p + 5, 6) for p in bar] for bar in jig]


def test_long_pieces_split_into_even_tunes_and_long_silences_split_too() -> None:
    bars = [MELODY[i % 8] if i % 8 not in (5, 6) else [(G, 48)] for i in range(70)]
    melody = notes_of(bars)
    silent_at = 30 * 4 * TPB  # remove bars 30-31: two empty bars end a tune
    melody = [n for n in melody if not silent_at <= n[0] < silent_at + 8 * TPB]
    got = midi_to_tunes(make_midi([{"notes": melody}]))
    check_tunes(got.tunes)
    assert [len(t.bars) for t in got.tunes] == [30, 19, 19]
    assert got.tunes[1].bars[0] == expected([bars[32]], -2)[0]


def test_pitches_outside_the_vocabulary_move_by_octaves() -> None:
    high = [[(p + 24 if p else p, t) for p, t in bar] for bar in MELODY]  # up to A7 = 105 before the key shift
    got = midi_to_tunes(make_midi([{"notes": notes_of(high, tied=TIED)}]))
    check_tunes(got.tunes)
    assert got.tunes[0].bars == expected(MELODY, -2 + 12)


def test_unknown_meter_falls_back_to_four_four() -> None:
    got = midi_to_tunes(make_midi([{"notes": notes_of(MELODY, tied=TIED)}], sigs=((0, 5, 8),)))
    assert got.meter == "4/4" and got.tunes[0].bars == expected(MELODY, -2)


def test_the_meter_that_lasts_wins_over_a_first_bar_in_another() -> None:
    waltz = [[(69, 12), (72, 12), (76, 12)], [(74, 24), (71, 12)]] * 4
    notes = [(0, 4 * TPB, 69)] + notes_of(waltz, offset=4 * TPB)  # one whole-note bar of 4/4, then 3/4
    data = make_midi([{"notes": notes}], sigs=((0, 4, 4), (4 * TPB, 3, 4)))
    got = midi_to_tunes(data)
    assert got.meter == "3/4" and got.tunes[0].bars == expected(waltz, got.key_shift)


BAND = make_midi(band(notes_of(MELODY, tied=TIED), 8, intro=1), tempos=((0, 100.0), (3000, 140.0)))


@settings(max_examples=80, deadline=None)
@given(st.lists(st.tuples(st.integers(14, len(BAND) - 1), st.integers(0, 255)), min_size=1, max_size=4))
def test_damaged_files_give_valid_tunes_or_a_readable_error(flips: list[tuple[int, int]]) -> None:
    data = bytearray(BAND)
    for at, value in flips:
        data[at] = value
    try:
        got = midi_to_tunes(bytes(data))
    except MidiImportError as exc:
        assert str(exc)
    else:
        check_tunes(got.tunes)


@pytest.mark.parametrize(
    "data,reason",
    [
        (make_midi([{"notes": [(i * TPB, i * TPB + 60, 36) for i in range(32)], "channel": 9}]), "only drums"),
        (b"MThd\0\0\0\6\0\1\0\1\1\xe0MTrk\0\0\0\x10garbage", "not a readable MIDI file"),
        (make_midi([{"notes": [(0, TPB, 60), (TPB, 2 * TPB, 62)]}]), "no usable melody"),
    ],
)
def test_files_without_a_usable_melody_raise(data: bytes, reason: str) -> None:
    with pytest.raises(MidiImportError, match=reason):
        midi_to_tunes(data)


def test_skyline_and_key_helpers() -> None:
    chordy = [(0, 10, 60), (0, 10, 67), (5, 8, 64), (10, 20, 55), (12, 20, 72)]
    assert skyline(chordy) == [(0, 10, 67), (10, 12, 55), (12, 20, 72)]  # 64 lay under the held 67
    assert estimate_key(notes_of(MELODY)) == (2, "major")
    assert [key_shift(t, "major") for t in (0, 2, 6, 7, 11)] == [0, -2, -6, 5, 1]
    assert key_shift(9, "minor") == 0 and key_shift(4, "minor") == 5
