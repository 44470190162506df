"""The engraver (Verovio → PNG/PDF/SVG), the exports beside a track, stems that add up to the mix and fit the
upload limit, the outputs job behind the buttons, and loops that render without a gap."""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path

import numpy as np
import pytest

from models.compose.types import Composition
from models.music.melody import Note
from worker.output import exports, notation, render
from worker.output.engrave import engrave
from worker.output.midi import write_midi
from worker.output.stems import kbps_for, part_midis

TRACK = "ab" * 16


def _folder(tmp_path: Path, *, voices: int = 1, bars: int = 4) -> tuple[Path, dict]:
    """A track folder as the worker leaves it: MIDI and sidecar (two eighths a beat, 4/4 at 120)."""
    folder = tmp_path / "tracks" / TRACK
    folder.mkdir(parents=True)
    seconds = bars * 2.0
    melody = [Note([62, 64, 66, 67, 69, 71, 73, 74][i % 8], i * 0.25, (i + 1) * 0.25) for i in range(bars * 8)]
    parts = []
    if voices == 4:
        parts = [
            ("Soprano", 52, melody),
            ("Alto", 52, [Note(n.pitch - 5, n.start, n.end) for n in melody]),
            ("Tenor", 52, [Note(n.pitch - 12, n.start, n.end) for n in melody]),
            ("Bass", 52, [Note(n.pitch - 24, n.start, n.end) for n in melody]),
        ]
    piece = Composition(
        notes=[n for _, _, ns in parts for n in ns] or melody,
        seconds=seconds,
        tempo_qpm=120.0,
        bars=bars,
        meter="4/4",
        program=40,
        style="irish",
        arch="lstm",
        seed=1,
        parts=parts,
    )
    write_midi(piece, folder / f"{TRACK}.mid")
    sidecar = {
        "track_id": TRACK,
        "style": "irish",
        "meter": "4/4",
        "tempo_qpm": 120.0,
        "bars": bars,
        "seconds": seconds,
        "voices": voices,
        "key": "D major",
        "chords": [
            {"start": 0.0, "end": 2.0, "symbol": "D", "roman": "I"},
            {"start": 2.0, "end": 4.0, "symbol": "A7", "roman": "V7"},
        ],
    }
    (folder / f"{TRACK}.json").write_text(json.dumps(sidecar))
    return folder, sidecar


def test_engraving_makes_a_real_score_image(tmp_path: Path) -> None:
    from PIL import Image

    folder, side = _folder(tmp_path)
    xml = notation.to_musicxml(notation.from_track(folder / f"{TRACK}.mid", side), metronome=False)
    files = engrave(xml, tmp_path, "s")
    png = Image.open(files["png"])
    assert png.format == "PNG" and png.width == 1400 and 150 < png.height < 2000
    pixels = np.asarray(png.convert("L"))
    assert (pixels < 128).mean() > 0.01 and (pixels > 200).mean() > 0.5  # black notation on white paper
    svg = files["svg"].read_text()
    assert "<svg" in svg and svg.count('class="note"') >= 32 and 'class="harm"' in svg  # every note, the chords
    assert files["pdf"].read_bytes().startswith(b"%PDF")


def test_exports_are_written_once_and_reused(tmp_path: Path) -> None:
    folder, side = _folder(tmp_path, voices=4, bars=2)
    timings: dict[str, float] = {}
    made = exports.write_exports(folder, TRACK, side, ("abc", "musicxml", "score", "midi"), timings=timings)
    assert set(made) == {"abc", "musicxml", "score", "score_pdf", "score_svg", "midi"}
    assert made["abc"].read_text().startswith("X:1") and "<part-list>" in made["musicxml"].read_text()
    assert made["musicxml"].read_text().count("<score-part ") == 4  # all four voices of a chorale
    assert {"abc_s", "musicxml_s", "engrave_s"} <= set(timings)
    again: dict[str, float] = {}
    assert exports.write_exports(folder, TRACK, side, ("abc", "musicxml", "score"), timings=again) == {
        k: v for k, v in made.items() if k != "midi"
    }
    assert "engrave_s" not in again  # the files of an earlier click are reused


def test_stems_are_one_ogg_per_part_and_fit_the_limit(tmp_path: Path) -> None:
    folder, side = _folder(tmp_path, voices=4, bars=2)
    assert [name for name, _ in part_midis(folder / f"{TRACK}.mid", tmp_path)] == ["soprano", "alto", "tenor", "bass"]
    made = exports.write_exports(folder, TRACK, side, ("stems",), size_limit=8 * 1024 * 1024)
    with zipfile.ZipFile(made["stems"]) as zf:
        names = zf.namelist()
        assert names == ["01-soprano.ogg", "02-alto.ogg", "03-tenor.ogg", "04-bass.ogg"]
        for name in names:
            data = zf.read(name)
            assert data[:4] == b"OggS"
            tmp = tmp_path / name
            tmp.write_bytes(data)
            assert render.audio_duration(tmp) == pytest.approx(4.0, abs=0.05)
    # A tiny limit: a lower bitrate first, then one zip per part rather than one over the limit.
    assert kbps_for(1024 * 1024, 300, 4) == 32 and kbps_for(100 * 1024 * 1024, 30, 1) == 160
    small = exports.write_exports(folder, TRACK, side, ("stems",), size_limit=40_000)
    zips = [p for k, p in small.items() if k.startswith("stems")]
    assert len(zips) >= 2 and not (folder / f"{TRACK}.stems.zip").exists()
    assert sum(len(zipfile.ZipFile(p).namelist()) for p in zips) == 4


def test_the_outputs_job_reports_errors_instead_of_failing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from worker.contract.tracks import BadRequest
    from worker.jobs.outputs_job import outputs

    monkeypatch.setenv("TUNESMITH_DATA_DIR", str(tmp_path))
    _folder(tmp_path)
    done = outputs({"track_id": TRACK, "kind": "exports", "size_limit": 10 * 2**20})
    assert done["error"] is None and set(done["files"]) == {"abc", "musicxml", "midi"}
    missing = outputs({"track_id": "cd" * 16, "kind": "score", "size_limit": 10 * 2**20})
    assert missing["files"] == {} and "not on this worker" in missing["error"]
    for bad in ({"track_id": "../x", "kind": "score"}, {"track_id": TRACK, "kind": "poster"}, ["x"]):
        with pytest.raises(BadRequest):
            outputs(bad)  # type: ignore[arg-type]


def test_fold_tail_wraps_the_ring_out_onto_the_start() -> None:
    pcm = np.zeros((10, 2), dtype=np.float32)
    pcm[7:] = 1.0  # the last 3 samples ring past a loop of 4
    out = render.fold_tail(pcm, 4)
    assert out.shape == (4, 2) and out[:, 0].tolist() == [1.0, 1.0, 0.0, 1.0]


def test_a_loop_renders_exactly_its_length_without_a_fade(tmp_path: Path) -> None:
    folder, _ = _folder(tmp_path, bars=2)
    midi = folder / f"{TRACK}.mid"
    looped = render.render_audio(midi, tmp_path / "loop.wav.ogg", 4.0, fmt="ogg", loop=True)
    plain = render.render_audio(midi, tmp_path / "plain.ogg", 4.0, fmt="ogg")
    assert render.audio_duration(looped) == pytest.approx(4.0, abs=0.01)

    def last_level(path: Path) -> float:
        import subprocess

        raw = subprocess.run(
            ["ffmpeg", "-v", "error", "-i", str(path), "-f", "f32le", "-ac", "1", "-"], capture_output=True, check=True
        ).stdout
        samples = np.frombuffer(io.BytesIO(raw).read(), dtype="<f4")
        return float(np.abs(samples[-300:]).max())

    assert last_level(looped) > 0.1 and last_level(looped) > 5 * last_level(plain)  # a loop sounds at its seam


@pytest.mark.skipif(not render.synth.available(), reason="needs the in-process FluidSynth")
def test_a_loop_sounds_exactly_like_the_second_pass_of_two(tmp_path: Path) -> None:
    """Seamless means: one loop played over and over equals the piece played twice, from its second pass on
    (the first pass's reverb tail rings into it), so the wrap-around has no gap and no click."""
    folder, _ = _folder(tmp_path, bars=2)
    length, n = 4.0, int(4.0 * render.SAMPLE_RATE)
    one = folder / f"{TRACK}.mid"
    notes = [Note(62, 0.0, 1.5), Note(69, 1.5, 3.0), Note(74, 3.0, 4.0)]  # the last note sounds up to the end
    twice = [*notes, *(Note(x.pitch, x.start + length, x.end + length) for x in notes)]
    for path, ns, secs in ((one, notes, length), (tmp_path / "twice.mid", twice, 2 * length)):
        write_midi(
            Composition(
                notes=ns,
                seconds=secs,
                tempo_qpm=120.0,
                bars=int(secs / 2),
                meter="4/4",
                program=40,
                style="irish",
                arch="lstm",
                seed=1,
            ),
            path,
        )
    font = render.find_soundfont()
    loop = render.fold_tail(render.render_pcm(one, length + render.LOOP_TAIL_S, font), n)
    second = render.render_pcm(tmp_path / "twice.mid", 2 * length + render.LOOP_TAIL_S, font)[n : 2 * n]
    # FluidSynth's chorus runs on its own clock, so compare loudness in 50 ms windows rather than samples.
    win = render.SAMPLE_RATE // 20

    def rms(pcm: np.ndarray) -> np.ndarray:
        return np.sqrt((pcm[: len(pcm) // win * win].reshape(-1, win, 2) ** 2).mean(axis=(1, 2)))

    a, b, plain = rms(loop), rms(second), rms(render.render_pcm(one, length, font))
    # chorus and reverb (on since the band mix) drift a little between the two renders: most windows match closely
    gap = np.abs(a - b)
    assert b.min() > 0.005 and np.percentile(gap, 95) < 0.1 * b.max() and gap.max() < 0.25 * b.max()
    assert a[0] > 1.2 * plain[0]  # the start carries the last note's ring-out, as the second pass does
