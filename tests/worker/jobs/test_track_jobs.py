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
    save_checkpoint(
        model,
        {"arch": "coconet", "style": "bach", "args": model.config.to_dict(), "meters": {"4/4": 1.0}},
        directory,
        "bach",
        "coconet",
    )


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
        ("melody", 73, False),
        ("chords", 25, False),
        ("bass", 32, False),
        ("percussion", 0, True),
    ]
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
    assert [(n.pitch, round(n.start, 3)) for n in new[: len(old)]] == [(n.pitch, round(n.start, 3)) for n in old]
    # the parent's chords too (its last one may go on into the new bars)
    assert parent.arrangement == result.arrangement == "band" and parent.chords
    head = [(c["symbol"], c["start"]) for c in result.chords if c["start"] < parent.chords[-1]["start"] + 1e-3]
    assert head == [(c["symbol"], c["start"]) for c in parent.chords]
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


# --- issue 15: exact controls, loops and variations through the real jobs -------------------------------------
def test_compose_honours_key_meter_bpm_and_loop(data_dir: Path, models_dir: Path) -> None:
    from models.music.keys import parse_key

    result = _compose(key="E dorian", meter="2/2", bpm=150.0, loop=True)
    assert (result.key, result.meter, result.loop) == ("E dorian", "2/2", True)
    assert result.tempo_qpm == pytest.approx(150.0)
    notes = pretty_midi.PrettyMIDI(result.files["midi"]).instruments[0].notes
    assert {n.pitch % 12 for n in notes} <= parse_key("E dorian").scale()
    assert notes[0].pitch % 12 == 4 and notes[-1].pitch % 12 == notes[0].pitch % 12  # loops back to the start
    sidecar = json.loads((Path(result.files["midi"]).with_suffix(".json")).read_text())
    assert sidecar["key"] == "E dorian" and sidecar["loop"] is True
    with pytest.raises(BadRequest, match="meters"):
        _compose(meter="5/8")


@pytest.mark.parametrize("strength,share", [("subtle", 0.25), ("strong", 0.75)])
def test_vary_resamples_some_bars_and_keeps_the_rest(
    data_dir: Path, models_dir: Path, strength: str, share: float
) -> None:
    parent = _compose(key="A minor", arrangement="melody")  # the bare tune: its bars are the sampled ones
    request = ComposeRequest(
        "irish", parent.seconds, seed=8, arch="lstm", kind="vary", parent=parent.track_id, vary=strength
    )
    result = ComposeResult.from_dict(track_jobs.vary(request.to_dict()))
    assert (result.kind, result.parent_id, result.vary, result.key) == ("vary", parent.track_id, strength, "A minor")
    assert result.bars == parent.bars and result.tempo_qpm == parent.tempo_qpm
    assert len(result.varied_bars) == track_jobs.varied_bars(parent.bars, share, 8).__len__()
    assert abs(len(result.varied_bars) - share * parent.bars) <= 1
    bar_s = parent.seconds / parent.bars

    def bars_of(path: str) -> list[list[tuple[int, float]]]:
        notes = pretty_midi.PrettyMIDI(path).instruments[0].notes
        return [
            [(n.pitch, round(n.start, 3)) for n in notes if i * bar_s - 1e-3 <= n.start < (i + 1) * bar_s - 1e-3]
            for i in range(parent.bars)
        ]

    old, new = bars_of(parent.files["midi"]), bars_of(result.files["midi"])
    assert all(old[i] == new[i] for i in range(parent.bars) if i not in result.varied_bars)
    sidecar = json.loads((Path(result.files["midi"]).with_suffix(".json")).read_text())
    assert sidecar["varied_bars"] == result.varied_bars and sidecar["parent_id"] == parent.track_id


def test_vary_of_four_voices_is_gibbs_resampled(data_dir: Path, models_dir: Path) -> None:
    parent = _compose()
    tiny_coconet(models_dir)
    chorale = ComposeResult.from_dict(
        track_jobs.harmonize(
            ComposeRequest("irish", parent.seconds, seed=5, kind="harmonize", parent_id=parent.track_id).to_dict()
        )
    )
    request = ComposeRequest(
        "irish", chorale.seconds, seed=3, arch="coconet", kind="vary", parent_id=chorale.track_id, vary="subtle"
    )
    result = ComposeResult.from_dict(track_jobs.vary(request.to_dict()))
    assert result.voices == 4 and result.varied_bars and result.parent_id == chorale.track_id
    assert len(pretty_midi.PrettyMIDI(result.files["midi"]).instruments) == 4


def test_varied_bars_are_a_share_and_never_all() -> None:
    assert track_jobs.varied_bars(16, 0.25, 1).__len__() == 4 and track_jobs.varied_bars(16, 0.75, 1).__len__() == 12
    assert track_jobs.varied_bars(2, 0.75, 1).__len__() == 1 and track_jobs.varied_bars(1, 0.25, 1) == [0]
    assert track_jobs.varied_bars(16, 0.25, 1) == track_jobs.varied_bars(16, 0.25, 1)


def test_a_band_track_varies_its_melody_and_keeps_its_band(data_dir: Path, models_dir: Path) -> None:
    parent = _compose(key="A minor")  # band (the default)
    assert parent.arrangement == "band"
    request = ComposeRequest(
        "irish", parent.seconds, seed=8, arch="lstm", kind="vary", parent=parent.track_id, vary="strong"
    )
    result = ComposeResult.from_dict(track_jobs.vary(request.to_dict()))
    assert result.arrangement == "band" and result.key == "A minor" and result.varied_bars
    assert {p["name"] for p in result.parts} >= {"melody", "bass"}
