"""Track jobs in-process with the real Irish model: tempo and instrument options, the sidecar JSON, extend,
and harmonize with a tiny Coconet checkpoint built here (or a clear refusal without one)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pretty_midi
import pytest

from models.music.melody import Note
from worker.contract.tracks import BadRequest, ComposeRequest, ComposeResult
from worker.jobs import compose_job as jobs
from worker.jobs import context, track_jobs


@pytest.fixture
def models_dir(tmp_path: Path, checkpoint_dir: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A checkpoint directory holding the Irish model (linked) and, later, whatever a test adds."""
    directory = tmp_path / "checkpoints"
    directory.mkdir()
    for path in checkpoint_dir.glob("irish-lstm.*"):
        os.symlink(path, directory / path.name)
    monkeypatch.setenv("TUNESMITH_CHECKPOINT_DIR", str(directory))
    monkeypatch.setenv("TUNESMITH_TORCH_THREADS", "1")
    context.clear_cache()
    return directory


def tiny_coconet(directory: Path) -> None:
    from models.coconet.model import Coconet, CoconetConfig
    from models.core.checkpoint import save_checkpoint

    model = Coconet(CoconetConfig(layers=2, channels=4))
    save_checkpoint(model, {"arch": "coconet", "style": "bach", "args": model.config.to_dict(),
                            "meters": {"4/4": 1.0}}, directory, "bach", "coconet")


def _compose(**kw) -> ComposeResult:
    return ComposeResult.from_dict(jobs.compose(ComposeRequest("irish", 10.0, seed=3, **kw).to_dict()))


def test_compose_with_tempo_and_instrument_writes_the_sidecar(data_dir: Path, models_dir: Path) -> None:
    result = _compose(tempo=100.0, instrument=73)
    assert result.tempo_qpm == pytest.approx(100.0) and result.program == 73 and result.voices == 1
    assert result.extendable and result.tokens and result.meter
    assert result.seconds == pytest.approx(10.0, rel=0.25)  # whole bars at 100 BPM near the asked length
    midi = pretty_midi.PrettyMIDI(result.files["midi"])
    # the band arrangement (default): the asked instrument leads; guitar, bass and a bodhrán on channel 10 under it
    assert [(i.name, i.program, i.is_drum) for i in midi.instruments] == [
        ("melody", 73, False), ("chords", 25, False), ("bass", 32, False), ("percussion", 0, True)]
    assert result.arrangement == "band" and result.key and result.chords and result.voices == 1
    assert [p["channel"] for p in result.parts] == [0, 1, 2, 9] and result.parts[3]["is_drum"]
    bare = _compose(tempo=100.0, instrument=73, arrangement="melody")
    assert [i.program for i in pretty_midi.PrettyMIDI(bare.files["midi"]).instruments] == [73]
    assert bare.arrangement == "melody" and [p["name"] for p in bare.parts] == ["irish (lstm)"]
    assert midi.get_tempo_changes()[1][0] == pytest.approx(100.0, abs=0.01)
    sidecar = json.loads((Path(result.files["midi"]).with_suffix(".json")).read_text())
    assert sidecar["tokens"] == result.tokens and sidecar["tempo_qpm"] == result.tempo_qpm
    assert sidecar["meter"] == result.meter and sidecar["program"] == 73 and "info" not in result.files
    assert sidecar["arrangement"] == "band" and sidecar["key"] == result.key and sidecar["chords"] == result.chords


def test_extend_continues_the_track(data_dir: Path, models_dir: Path) -> None:
    parent = _compose()
    request = ComposeRequest("irish", 8.0, seed=4, kind="extend", parent_id=parent.track_id)
    result = ComposeResult.from_dict(track_jobs.extend(request.to_dict()))
    assert result.kind == "extend" and result.parent_id == parent.track_id and result.extendable
    assert result.meter == parent.meter and result.tempo_qpm == parent.tempo_qpm
    assert result.bars > parent.bars and result.seconds == pytest.approx(parent.seconds + 8.0, abs=3.0)
    old = pretty_midi.PrettyMIDI(parent.files["midi"]).instruments[0].notes
    new = pretty_midi.PrettyMIDI(result.files["midi"]).instruments[0].notes
    assert [(n.pitch, round(n.start, 3)) for n in new[:len(old)]] == [(n.pitch, round(n.start, 3)) for n in old]
    with pytest.raises(BadRequest, match="at most 300s"):
        track_jobs.extend(ComposeRequest("irish", 295.0, kind="extend", parent_id=parent.track_id).to_dict())
    with pytest.raises(BadRequest, match="not on this worker"):
        track_jobs.extend(ComposeRequest("irish", 8.0, kind="extend", parent_id="nosuchtrack").to_dict())


def test_harmonize_without_coconet_says_so(data_dir: Path, models_dir: Path) -> None:
    parent = _compose()
    assert not track_jobs.harmonizer_available()
    request = ComposeRequest("irish", parent.seconds, kind="harmonize", parent_id=parent.track_id)
    with pytest.raises(BadRequest, match="Coconet"):
        track_jobs.harmonize(request.to_dict())


def test_harmonize_writes_four_voices_under_the_melody(data_dir: Path, models_dir: Path) -> None:
    parent = _compose()
    tiny_coconet(models_dir)
    assert track_jobs.harmonizer_available()
    request = ComposeRequest("irish", parent.seconds, seed=5, kind="harmonize", parent_id=parent.track_id)
    result = ComposeResult.from_dict(track_jobs.harmonize(request.to_dict()))
    assert result.voices == 4 and result.arch == "coconet" and result.style == "irish"
    assert not result.extendable and result.parent_id == parent.track_id
    midi = pretty_midi.PrettyMIDI(result.files["midi"])
    assert len(midi.instruments) == 4 and Path(result.files["audio"]).stat().st_size > 0


def test_melody_line_keeps_the_top_note() -> None:
    notes = [Note(60, 0.0, 1.0), Note(67, 0.0, 1.0), Note(62, 0.5, 1.5), Note(64, 1.5, 2.0)]
    assert track_jobs.melody_line(notes) == [Note(67, 0.0, 0.5), Note(62, 0.5, 1.5), Note(64, 1.5, 2.0)]


def test_worker_publishes_the_harmonizer_only_when_it_has_one(redis_conn, models_dir: Path) -> None:
    from worker.contract.tracks import read_features
    from worker.jobs.runner import announce_styles

    assert "irish" in announce_styles(redis_conn) and read_features(redis_conn) == {}
    tiny_coconet(models_dir)
    announce_styles(redis_conn)
    assert read_features(redis_conn) == {"harmonize": "bach/coconet"}
