"""A band arrangement's files: one named MIDI track per part that round-trips exactly, drums on channel 10 with
the mix controllers, a synth that plays them with reverb, and a piano roll coloured by part."""

from __future__ import annotations

from pathlib import Path

import pretty_midi
import pytest

from models.arrange.piece import arrange_piece, part_info
from tests.worker.conftest import make_composition
from worker.output import synth
from worker.output.midi import MIX, RESOLUTION, midi_end_time, read_notes, read_parts, write_midi
from worker.output.pianoroll import draw_pianoroll


@pytest.mark.parametrize(("meter", "qpm"), [("4/4", 120.0), ("6/8", 137.6), ("3/4", 97.3)])
def test_band_tracks_round_trip_exactly(tmp_path: Path, meter: str, qpm: float) -> None:
    piece = arrange_piece(make_composition(20.0, qpm=qpm, meter=meter, program=73), "band")
    assert piece.arrangement == "band"
    path = write_midi(piece, tmp_path / "band.mid")
    assert midi_end_time(path) == pytest.approx(piece.seconds, abs=1e-3)
    got = read_parts(path)
    assert [(name, program, drum) for name, program, drum, _ in got] == [
        (p["name"], p["program"] if not p["is_drum"] else 0, p["is_drum"]) for p in part_info(piece)
    ]
    assert [name for name, *_ in got] == ["melody", "chords", "bass", "percussion"] and got[0][1] == 73
    tick = 60.0 / qpm / RESOLUTION
    for (name, _, _, notes), (pname, _, written) in zip(got, piece.parts, strict=True):
        assert name == pname
        want = sorted(written, key=lambda n: (n.start, n.pitch, n.end))
        assert [(n.pitch, n.velocity) for n in notes] == [(n.pitch, n.velocity) for n in want]
        for a, b in zip(notes, want, strict=True):  # times exact to the file's resolution
            assert abs(a.start - b.start) <= tick and abs(a.end - b.end) <= tick
    assert read_notes(path, part="melody") == got[0][3]
    pm = pretty_midi.PrettyMIDI(str(path))
    for inst in pm.instruments:
        values = {c.number: c.value for c in inst.control_changes if c.time == 0 and c.number != 123}
        assert values == dict(zip((7, 10, 91, 93), MIX[inst.name], strict=True))
    assert MIX["melody"][0] > max(MIX[n][0] for n in ("chords", "bass", "percussion"))  # the melody leads


def test_synth_events_put_drums_on_channel_ten_with_controllers(tmp_path: Path) -> None:
    piece = arrange_piece(make_composition(10.0), "band")
    pm = pretty_midi.PrettyMIDI(str(write_midi(piece, tmp_path / "b.mid")))
    programs, events = synth._events(pm)
    assert programs == [(0, 40), (1, 25), (2, 32), (9, -1)]
    assert {(ch, a) for _, order, ch, a, _ in events if order == 0} >= {(9, 91), (0, 7), (1, 93)}
    assert all(order == 0 for t, order, *_ in events[:16]) and events[0][0] == 0.0  # controllers before notes
    drum_keys = {a for _, order, ch, a, _ in events if ch == 9 and order == 2}
    assert drum_keys and drum_keys <= {36, 37, 38, 41, 43, 45, 54}


def test_piano_roll_colours_parts(tmp_path: Path) -> None:
    piece = arrange_piece(make_composition(10.0), "band")
    path = draw_pianoroll(piece, tmp_path / "roll.png")
    assert path.stat().st_size > 10_000


@pytest.mark.skipif(not synth.available(), reason="needs pyfluidsynth")
def test_band_renders_louder_than_its_melody_alone(tmp_path: Path) -> None:
    from worker.output.render import find_soundfont

    try:
        font = find_soundfont()
    except Exception:  # noqa: BLE001
        pytest.skip("no soundfont")
    piece = make_composition(6.0)
    band = write_midi(arrange_piece(piece, "band"), tmp_path / "band.mid")
    pcm = synth.render_pcm(band, piece.seconds, font)
    assert pcm.shape == (round(piece.seconds * synth.SAMPLE_RATE), 2) and float(abs(pcm).max()) > 0.01
