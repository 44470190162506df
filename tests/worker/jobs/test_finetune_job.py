"""The fine-tune and rollback jobs as the worker runs them: uploads checked, a version written and activated."""

from __future__ import annotations

import base64
import io
import json
import subprocess
import sys
import zipfile
from pathlib import Path

import mido
import pytest

from models.core import catalog, versions
from worker.contract.tracks import BadRequest
from worker.contract.training import FinetuneRequest, validate_finetune
from worker.jobs.finetune_job import finetune, rollback


def melody_midi(seed: int, bars: int = 24) -> bytes:
    """A one-track 4/4 melody in G major at 100 BPM with a bass line under it."""
    mid = mido.MidiFile(ticks_per_beat=480)
    lead, bass = mido.MidiTrack(), mido.MidiTrack()
    mid.tracks += [lead, bass]
    lead.append(mido.MetaMessage("set_tempo", tempo=600_000))
    lead.append(mido.MetaMessage("time_signature", numerator=4, denominator=4))
    scale = [67, 69, 71, 72, 74, 76, 78, 79]
    for i in range(bars * 4):
        pitch = scale[(i * (seed + 2) + i // 3) % len(scale)]
        lead += [
            mido.Message("note_on", note=pitch, velocity=80, time=0),
            mido.Message("note_off", note=pitch, velocity=0, time=480),
        ]
    for _ in range(bars):
        bass += [
            mido.Message("note_on", note=43, velocity=70, channel=1, time=0),
            mido.Message("note_off", note=43, velocity=0, channel=1, time=1920),
        ]
    buffer = io.BytesIO()
    mid.save(file=buffer)
    return buffer.getvalue()


def upload(name: str, data: bytes) -> dict[str, str]:
    return {"name": name, "data": base64.b64encode(data).decode()}


@pytest.fixture
def data(data_dir: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The data directory, with the shipped checkpoints as the base models."""
    monkeypatch.delenv("TUNESMITH_CHECKPOINT_DIR", raising=False)
    return data_dir


def test_a_new_style_from_uploads_goes_live_and_bad_files_are_listed(data: Path) -> None:
    bomb = io.BytesIO()
    with zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("big.mid", b"\0" * 30_000_000)
    uploads = [upload(f"tune{i}.mid", melody_midi(i)) for i in range(4)]
    uploads += [
        upload("bomb.zip", bomb.getvalue()),
        upload("text.mid", b"hello, not midi"),
        {"name": "broken.mid", "data": "***"},
    ]
    request = FinetuneRequest(style="Pokemon", steps=12, uploads=uploads, user_id="99")
    result = finetune(request.to_dict())
    assert (result["style"], result["version"], result["steps"]) == ("pokemon", 1, 12)
    assert result["base"].endswith("-lstm") and result["new_style"]
    assert sorted(result["accepted"]) == [f"tune{i}.mid" for i in range(4)]
    refused = {r["name"].split(":")[0]: r["reason"] for r in result["refused"]}
    assert set(refused) == {"bomb.zip", "text.mid", "broken.mid"}, refused
    assert result["heldout_nll_before"] is not None and result["heldout_nll_after"] is not None
    assert (data / result["loss_png"]).read_bytes()[:4] == b"\x89PNG"
    assert versions.active_version("pokemon", "lstm") == 1
    meta = versions.metadata("pokemon", "lstm", 1)
    assert meta["style_def"]["keys"] == [7] and meta["style_def"]["program"] == 0  # G major, piano
    assert 85 <= meta["style_def"]["tempo_range"][0] <= 100 <= meta["style_def"]["tempo_range"][1] <= 115
    assert catalog.find("pokemon", "lstm").directory.name == "v0001"


def test_nothing_usable_is_a_bad_request_that_changes_nothing(data: Path) -> None:
    request = FinetuneRequest(style="junk", steps=10, uploads=[upload("a.mid", b"MThd\0\0\0\6\0\1\0\1\1\xe0")])
    with pytest.raises(BadRequest, match="a.mid"):
        finetune(request.to_dict())
    assert not (data / "models").exists() or versions.summary() == {}


def test_validation_names_and_bases() -> None:
    styles = {}
    with pytest.raises(BadRequest, match="can't be a style name"):
        validate_finetune(FinetuneRequest(style="../etc", uploads=[{"name": "a", "data": ""}]), styles)
    with pytest.raises(BadRequest, match="Nothing to learn from"):
        validate_finetune(FinetuneRequest(style="pokemon"), styles)
    with pytest.raises(BadRequest, match="Steps"):
        validate_finetune(FinetuneRequest(style="pokemon", steps=10**6, uploads=[{"name": "a", "data": ""}]), styles)
    with pytest.raises(BadRequest, match="Fine-tuning works for"):
        validate_finetune(FinetuneRequest(style="pokemon", arch="coconet", uploads=[{"name": "a"}]), styles)


def test_rollback_switches_versions_and_refuses_unknown_ones(data: Path) -> None:
    ups = [upload(f"t{i}.mid", melody_midi(i, 12)) for i in range(2)]
    for _ in range(2):
        finetune(FinetuneRequest(style="scottish", steps=10, uploads=ups).to_dict())
    assert versions.active_version("scottish", "lstm") == 2
    assert rollback({"style": "scottish", "arch": "lstm", "version": 1})["version"] == 1
    assert catalog.find("scottish", "lstm").directory.name == "v0001"
    assert rollback({"style": "scottish", "arch": "lstm", "version": 0})["version"] == 0
    assert catalog.find("scottish", "lstm").directory.name == "checkpoints"  # the shipped one again
    with pytest.raises(BadRequest, match="no version 7"):
        rollback({"style": "scottish", "arch": "lstm", "version": 7})


def test_cli_trains_from_a_folder(data: Path, tmp_path: Path) -> None:
    folder = tmp_path / "midis"
    folder.mkdir()
    for i in range(12):  # more than one /finetune takes: the CLI sends them as one zip
        (folder / f"s{i}.mid").write_bytes(melody_midi(i, 8 + i))  # all different
    (folder / "notes.txt").write_text("ignored")
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "worker.cli.main",
            "train",
            "--style",
            "cli_style",
            "--midi-dir",
            str(folder),
            "--steps",
            "10",
            "--json",
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    result = json.loads(proc.stdout)
    assert result["version"] == 1 and len(result["accepted"]) == 12 and result["refused"] == []
