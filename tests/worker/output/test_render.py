"""Rendering with the real FluidSynth and ffmpeg: exact length, audible, faded out, clear errors."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from tests.worker.conftest import make_composition
from worker.output import render
from worker.output.midi import write_midi
from worker.output.render import RenderError, audio_duration, audio_levels, find_soundfont, render_audio


@pytest.fixture(scope="module")
def short_midi(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, float]:
    piece = make_composition(8.0, qpm=120.0)
    return write_midi(piece, tmp_path_factory.mktemp("midi") / "short.mid"), piece.seconds


def _tail_level(path: Path, seconds: float, tmp_path: Path) -> float:
    tail = tmp_path / "tail.wav"
    subprocess.run(
        ["ffmpeg", "-v", "error", "-y", "-ss", f"{seconds - 0.05:.3f}", "-i", str(path), str(tail)], check=True
    )
    return audio_levels(tail).peak_db


def test_ogg_has_the_exact_length_and_sound(short_midi: tuple[Path, float], tmp_path: Path) -> None:
    midi, seconds = short_midi
    out = render_audio(midi, tmp_path / "a.ogg", seconds)
    assert audio_duration(out) == pytest.approx(seconds, abs=0.01)
    levels = audio_levels(out)
    assert levels.peak_db > -3.0 and levels.mean_db > -35.0  # normalised, clearly not silent
    assert _tail_level(out, seconds, tmp_path) < levels.peak_db - 20  # faded out


def test_mp3_and_padding_to_a_longer_length(short_midi: tuple[Path, float], tmp_path: Path) -> None:
    midi, seconds = short_midi
    out = render_audio(midi, tmp_path / "b.mp3", seconds + 4.0)  # 4 s of silence padded on
    assert audio_duration(out) == pytest.approx(seconds + 4.0, abs=0.06)  # MP3 frames are 26 ms
    assert audio_levels(out).peak_db > -3.0


def test_soundfont_lookup(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    found = find_soundfont()
    assert found.is_file() and find_soundfont(found) == found
    with pytest.raises(RenderError, match="TUNESMITH_SOUNDFONT"):
        find_soundfont(tmp_path / "missing.sf2")
    monkeypatch.setattr(render, "SOUNDFONT_CANDIDATES", (str(tmp_path / "none.sf2"),))
    with pytest.raises(RenderError, match="apt-get install fluid-soundfont-gm"):
        find_soundfont()


@pytest.mark.parametrize("tool,package", [("fluidsynth", "fluidsynth"), ("ffmpeg", "ffmpeg")])
def test_missing_tools_name_the_package(
    short_midi: tuple[Path, float], tmp_path: Path, monkeypatch: pytest.MonkeyPatch, tool: str, package: str
) -> None:
    real_which = shutil.which
    monkeypatch.setattr(render.shutil, "which", lambda name: None if name == tool else real_which(name))
    render._encoders.cache_clear()
    with pytest.raises(RenderError, match=f"apt-get install {package}"):
        # the midi2audio path needs the fluidsynth command
        render_audio(short_midi[0], tmp_path / "x.ogg", short_midi[1], renderer="command")
    render._encoders.cache_clear()


def test_bad_midi_and_bad_format_fail_clearly(tmp_path: Path) -> None:
    bad = tmp_path / "bad.mid"
    bad.write_bytes(b"not a midi file")
    with pytest.raises(RenderError):
        render_audio(bad, tmp_path / "x.ogg", 8.0)
    with pytest.raises(RenderError, match="Unknown audio format"):
        render_audio(bad, tmp_path / "x.flac", 8.0)


def test_warm_and_command_renderers_agree(
    short_midi: tuple[Path, float], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from worker.output import synth
    from worker.output.render import audio_duration, audio_levels

    assert synth.available(), "pyfluidsynth/libfluidsynth should be installed by the set-up"
    levels = {}
    for mode in ("warm", "command"):
        out = render_audio(short_midi[0], tmp_path / f"{mode}.ogg", short_midi[1], renderer=mode)
        assert abs(audio_duration(out) - short_midi[1]) < 0.01
        levels[mode] = audio_levels(out)
    assert levels["warm"].peak_db > -3 and levels["command"].peak_db > -3
    assert abs(levels["warm"].mean_db - levels["command"].mean_db) < 3.0
