"""Real piano collections in: hundreds of files in zips or a folder, quirky files read leniently, hostile ones
still refused, and a polyphonic collection fine-tunes the piano model (a melodic one keeps the melody path)."""

from __future__ import annotations

import base64
import io
import struct
import zipfile
from pathlib import Path

import pytest

from tests.benchmarks.piano_collection import Spec, compound, write_midi
from tests.models.poly.conftest import make_piece, write_tiny_piano
from tests.worker.jobs.test_finetune_job import melody_midi
from worker.cli.train import finetune_main
from worker.jobs.uploads import Accepted, Refused, check_midi, cli_limits, expand_uploads


def collection(n: int, bars: int = 4) -> list[tuple[str, bytes]]:
    """``n`` piano files with the quirks of real sets, mostly 4/4 with some 3/4 and 12/8."""
    out = []
    for i in range(n):
        piece = make_piece(i, bars=bars, meter="3/4" if i % 5 == 1 else "4/4")
        if i % 10 == 3:
            piece = compound(piece)
        spec = Spec(
            f"piano_{i:03d}.mid",
            piece,
            100.0 + (i % 7) * 22,
            fmt=0 if i % 7 == 3 else 1,
            meta_on_track2=i % 5 == 1,
            bad_bytes=i % 4 == 2,
            drums=i % 9 == 4,
            empty_track=i % 6 == 0,
            no_eot=i % 8 == 7,
            tempo_change=i % 10 == 9,
        )
        out.append((spec.name, write_midi(spec)))
    return out


def zipped(files: list[tuple[str, bytes]]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in files:
            archive.writestr(name, data)
    return buffer.getvalue()


def test_a_zip_of_300_quirky_piano_files_is_accepted_whole() -> None:
    files = collection(300)
    accepted, refused = expand_uploads([("pokemon.zip", zipped(files))])
    assert refused == [] and len(accepted) == 300


def test_several_zips_share_one_budget_of_midi_files() -> None:
    files = collection(12)
    accepted, refused = expand_uploads([("a.zip", zipped(files[:6])), ("b.zip", zipped(files[6:]))])
    assert len(accepted) == 12 and not refused
    from worker.jobs.uploads import UploadLimits

    accepted, refused = expand_uploads(
        [("a.zip", zipped(files[:6])), ("b.zip", zipped(files[6:]))], UploadLimits(max_midi_files=8)
    )
    assert len(accepted) == 8 and [r.reason for r in refused] == ["more than 8 MIDI files"] * 4


def test_hostile_files_are_still_refused_clearly() -> None:
    good = collection(1)[0][1]
    many_tracks = b"MThd" + struct.pack(">LHHH", 6, 1, 10_000, 480) + good[14:]
    assert check_midi("tracks.mid", many_tracks) == Refused("tracks.mid", "too many tracks (10000 > 64)")
    lying = b"MThd" + struct.pack(">LHHH", 6, 1, 9, 480) + good[14:]  # claims 9 tracks, holds 4
    assert check_midi("lie.mid", lying).reason == "truncated MIDI: track 5 of 9 is missing"
    bomb = io.BytesIO()
    with zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("a.mid", b"\0" * 80_000_000)
    assert expand_uploads([("bomb.zip", bomb.getvalue())])[1][0].reason.startswith("compression ratio")
    assert isinstance(check_midi("good.mid", good), Accepted)


@pytest.fixture
def piano_ckpt(data_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    directory = write_tiny_piano(tmp_path / "ckpt")
    monkeypatch.setenv("TUNESMITH_CHECKPOINT_DIR", str(directory))
    return data_dir


def test_cli_folder_of_piano_files_fine_tunes_the_piano_model(
    piano_ckpt: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    folder = tmp_path / "midis"
    (folder / "sub").mkdir(parents=True)
    for i, (name, data) in enumerate(collection(60)):  # more than Discord's 10 attachments, no zip needed
        (folder / ("sub" if i % 2 else "") / name).write_bytes(data)
    (folder / "notes.txt").write_text("not music")
    assert finetune_main(["--style", "pokemon", "--midi-dir", str(folder), "--steps", "10", "--json"]) == 0
    import json

    result = json.loads(capsys.readouterr().out)
    assert result["kind"] == "piano" and result["polyphony"] > 1.3 and len(result["accepted"]) == 60
    from models.compose.factory import load_composer
    from models.poly.compose import PolyComposer

    composer = load_composer("pokemon", "lstm")
    assert isinstance(composer, PolyComposer)
    assert list(composer.style_meta["meters"]) == ["4/4"]  # what the collection mostly uses
    piece = composer.compose(8.0, seed=1)
    assert piece.seconds == 8.0 and {p[1] for p in piece.parts} == {0}


def test_melodic_uploads_keep_the_melody_path(data_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TUNESMITH_CHECKPOINT_DIR", raising=False)
    import mido

    from worker.jobs.finetune_job import collection_polyphony, finetune, poly_imports

    def solo(seed: int) -> bytes:  # melody only: one pitch at each onset
        mid = mido.MidiFile(file=io.BytesIO(melody_midi(seed)))
        mid.tracks = mid.tracks[:1]
        buffer = io.BytesIO()
        mid.save(file=buffer)
        return buffer.getvalue()

    uploads = [{"name": f"folk{i}.mid", "data": base64.b64encode(solo(i)).decode()} for i in range(4)]
    accepted, _ = expand_uploads([(u["name"], base64.b64decode(u["data"])) for u in uploads])
    assert collection_polyphony(poly_imports(accepted)) == 1.0
    result = finetune({"style": "folkish", "steps": 10, "uploads": uploads})
    assert result["kind"] == "melody"


def test_cli_limits_only_raise_counts() -> None:
    limits = cli_limits(5000)
    assert limits.max_files == 5000 and limits.max_midi_files == 5000
    from worker.jobs.uploads import DEFAULT_LIMITS

    assert (limits.max_entry_bytes, limits.max_tracks, limits.max_ratio, limits.max_zip_entries) == (
        DEFAULT_LIMITS.max_entry_bytes,
        DEFAULT_LIMITS.max_tracks,
        DEFAULT_LIMITS.max_ratio,
        DEFAULT_LIMITS.max_zip_entries,
    )


def test_bench_sections_report_each_target(tmp_path: Path) -> None:
    from worker.bench.finetune import write_poly_sections

    ev = {
        "style": "pokemon",
        "arch": "lstm",
        "pieces": 20,
        "collection_polyphony": 2.9,
        "composed_polyphony": 2.7,
        "polyphony_ratio": 0.93,
        "heldout_nll": 1.5,
        "ngram_nll": 2.0,
        "ngram_order": 4,
        "nll_gain": 0.25,
        "share_copied_16": 0.0,
        "shortest_common_ticks": 6,
        "share_shorter_composed": 0.0,
        "share_shorter_collection": 0.01,
        "compose_p50_s": 0.9,
        "overlaps": {"oa_pch": 0.9},
        "meters": {"4/4": 1.0},
        "heldout_files": 60,
    }
    ft = {"finetune_300_files_s": 420.0, "files_used": 300}
    bench, evaluation = tmp_path / "B.md", tmp_path / "E.md"
    evaluation.write_text("# Evaluation\n\nkept\n")
    write_poly_sections({"finetune": ft, "evaluation": ev}, bench, evaluation, "tunesmith bench --finetune --poly", "m")
    text = evaluation.read_text()
    assert text.startswith("# Evaluation\n\nkept") and text.count("✅") == 5 and "❌" not in text
    assert "**420.0 s ✅**" in bench.read_text()
