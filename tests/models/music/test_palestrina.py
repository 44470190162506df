"""Palestrina: spine counts, halved durations on the grid, the split by mass, a tiny Coconet served and composing."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from models.coconet.train import CoconetTrainConfig, train_coconet
from models.core import catalog
from models.music.chorales import Chorale, fix_onsets, freeze_split, parse_chorale
from models.music.grid_corpus import grid_corpus, load_grids
from models.music.palestrina import SCALE, kern_header, mass_of, palestrina_files, spine_census
from tests.models.coconet.test_coconet import _one_thread  # noqa: F401 - the module's one-thread fixture


def test_kern_header_counts_kern_spines(tmp_path: Path) -> None:
    path = tmp_path / "x.krn"
    path.write_text("!!!COM: Palestrina\n!!!OPR: Missa Brevis\n**kern\t**kern\t**dynam\t**kern\t**kern\n*^\t*\t*\t*\n")
    assert kern_header(path) == (4, "Missa Brevis")  # the **dynam spine and a later split do not count
    (tmp_path / "y.krn").write_text("!! no work title\n**kern\t**kern\n4c\t4e\n")
    assert kern_header(tmp_path / "y.krn") == (2, "")
    census = spine_census()
    assert sum(census.values()) == 1318 and census[4] == len(palestrina_files()) == 498 and census[5] == 477


def test_halved_durations_fit_the_grid() -> None:
    halved = parse_chorale("palestrina/Credo_67_c", scale=SCALE, sort_voices=True)
    full = parse_chorale("palestrina/Credo_67_c", sort_voices=True)
    assert isinstance(halved, Chorale) and isinstance(full, Chorale)
    assert (full.meter, halved.meter) == ("3/2", "3/4")
    assert halved.pitch.shape == (4, 48) and full.pitch.shape == (4, 96)
    assert (full.pitch[:, ::2] == halved.pitch).all() and (full.pitch[:, 1::2] == halved.pitch).all()
    assert (full.onset[:, ::2] == halved.onset).all() and not full.onset[:, 1::2].any()  # nothing shorter than an 8th
    assert halved.bar_starts == [0, 12, 24, 36] and full.bar_starts == [0, 24, 48, 72]
    assert (halved.onset == fix_onsets(halved.pitch, halved.onset)).all()
    assert parse_chorale("palestrina/Agnus_III_b", scale=SCALE, sort_voices=True) == "grid"  # triplets stay off it


def test_voices_ordered_by_mean_pitch() -> None:
    assert parse_chorale("palestrina/Credo_16_c", scale=SCALE) == "order"  # its parts cross in the file's order
    piece = parse_chorale("palestrina/Credo_16_c", scale=SCALE, sort_voices=True)
    assert isinstance(piece, Chorale)
    means = [piece.pitch[v][piece.pitch[v] >= 0].mean() for v in range(4)]
    assert means == sorted(means, reverse=True)
    assert 36 <= piece.pitch[piece.pitch >= 0].min() and piece.pitch.max() <= 81  # the default Coconet range


def test_load_grids_of_chosen_files_skips_the_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TUNESMITH_CACHE_DIR", str(tmp_path))
    pieces = load_grids("palestrina", files=["palestrina/Credo_67_c", "palestrina/Agnus_III_b"], processes=1)
    assert [p.chorale_id for p in pieces] == ["palestrina/Credo_67_c"] and not list(tmp_path.iterdir())
    with pytest.raises(KeyError, match="palestrina"):
        grid_corpus("josquin")


def test_shipped_split_frozen_by_mass() -> None:
    frozen = json.loads(grid_corpus("palestrina").split_path.read_text())
    parts = {k: set(frozen[k]) for k in ("train", "valid", "test")}
    total = sum(len(v) for v in parts.values())
    assert total == 495 and set().union(*parts.values()) <= set(palestrina_files())
    assert 0.55 < len(parts["train"]) / total < 0.65 and 0.15 < len(parts["test"]) / total < 0.25
    assert not parts["train"] & parts["test"] and not parts["valid"] & (parts["train"] | parts["test"])
    masses = {k: {mass_of(SimpleNamespace(chorale_id=i)) for i in v} for k, v in parts.items()}  # type: ignore[arg-type]
    assert not masses["train"] & masses["test"] and not masses["valid"] & (masses["train"] | masses["test"])


def _pieces(n: int, length: int = 80) -> list[Chorale]:
    """Random-walk voices in the Palestrina ranges, notes of one or two half notes (8 or 16 steps)."""
    rng = np.random.default_rng(0)
    out = []
    for i in range(n):
        pitch = np.stack(
            [np.repeat(base + rng.integers(-3, 4, length // 8).cumsum() % 7, 8) for base in (69, 64, 57, 50)]
        )  # [4, length]
        onset = np.zeros_like(pitch, dtype=bool)
        onset[:, ::8] = rng.random((4, length // 8)) < 0.8
        out.append(
            Chorale(
                f"palestrina/x{i:02d}",
                [],
                "4/4",
                -1,
                "",
                list(range(0, length, 16)),
                pitch,
                fix_onsets(pitch, onset),
                f"Missa {i // 2}",
            )
        )
    return out


def test_freeze_split_keeps_a_mass_together(tmp_path: Path) -> None:
    pieces = _pieces(40, 16)
    a = freeze_split(pieces, tmp_path / "a.json", key=lambda c: c.title, grouped="by mass")
    assert a == freeze_split(list(reversed(pieces)), tmp_path / "b.json", key=lambda c: c.title, grouped="by mass")
    part_of = {i: k for k, ids in a.items() for i in ids}
    assert len(part_of) == 40 and all(
        part_of[f"palestrina/x{2 * m:02d}"] == part_of[f"palestrina/x{2 * m + 1:02d}"] for m in range(20)
    )
    assert json.loads((tmp_path / "a.json").read_text())["method"].startswith("by mass, shuffled")


def test_tiny_palestrina_coconet_is_served_and_composes(tmp_path: Path) -> None:
    from models.coconet.compose import CoconetComposer
    from models.compose.factory import available_styles, load_composer

    pieces = _pieces(6)
    split = {
        "train": [p.chorale_id for p in pieces[:4]],
        "valid": [pieces[4].chorale_id],
        "test": [pieces[5].chorale_id],
    }
    config = CoconetTrainConfig(steps=3, batch=2, crop=16, eval_every=2, eval_pieces=1, eval_crop=8, valid_windows=1)
    meta = train_coconet(tmp_path, {"layers": 2, "channels": 4}, config, pieces, style="palestrina", split=split)
    assert meta["style"] == "palestrina" and meta["train"]["steps_run"] == 3 and meta["corpus"]["duration_scale"] == 0.5
    assert meta["split"]["file"] == "models/splits/palestrina.json" and meta["meters"] == {"4/4": 1.0}
    assert (tmp_path / "palestrina-coconet.safetensors").stat().st_size < 10_000
    assert catalog.find("palestrina", "coconet", tmp_path).name == "palestrina"
    assert available_styles(tmp_path)["palestrina"]["default_arch"] == "coconet"
    composer = load_composer("palestrina", "coconet", checkpoint_dir=tmp_path)
    assert isinstance(composer, CoconetComposer)
    composer.steps = 2
    piece = composer.compose(9.0, seed=3)
    assert piece.seconds == 9.0 and piece.style == "palestrina" and piece.program == 52 and len(piece.parts) == 4
    assert 60 <= piece.tempo_qpm <= 84 and piece.bars * 4 * 60 / piece.tempo_qpm == pytest.approx(9.0)
    assert all(n.end <= 9.0 + 1e-6 for n in piece.notes) and all(notes for _, _, notes in piece.parts)


def test_nll_of_middle_crops() -> None:
    from models.coconet.eval import evaluate
    from models.coconet.model import Coconet, CoconetConfig, to_arrays

    model = Coconet(CoconetConfig(layers=2, channels=4)).eval()
    ((pitch, onset),) = to_arrays(_pieces(1, 40), model.config)
    middle = evaluate(model, [(pitch, onset)], crop=8, orderings=1, middle=True)
    cut = evaluate(model, [(pitch[:, 16:24], onset[:, 16:24])], crop=8, orderings=1)
    start = evaluate(model, [(pitch, onset)], crop=8, orderings=1)
    assert middle["notewise"] == cut["notewise"] and middle["crops_from"] == "middle"
    assert start["notewise"] != middle["notewise"]


def test_train_cli_forwards_the_style(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from worker.cli.models import train_main

    seen: list[list[str]] = []
    monkeypatch.setattr("models.coconet.train.main", lambda argv: seen.append(argv) or 0)
    args = ["--style", "palestrina", "--arch", "coconet", "--out", str(tmp_path), "--max-minutes", "40"]
    assert train_main(args) == 0
    argv = seen[0]
    assert argv[argv.index("--style") + 1] == "palestrina" and argv[argv.index("--max-minutes") + 1] == "40.0"


def test_evaluation_rows_merge(tmp_path: Path) -> None:
    from models.eval.evaluate import Row, read_rows, write_markdown

    path = tmp_path / "EVALUATION.md"
    write_markdown(
        [Row("bach", "coconet", extra={"notewise_nll": 0.6}), Row("irish", "lstm", nll=1.0)],
        path,
        "tunesmith evaluate --pieces 20",
    )
    assert "Rows for" not in path.read_text()
    write_markdown(
        [Row("palestrina", "coconet", extra={"notewise_nll": 0.5})],
        path,
        "tunesmith evaluate --style palestrina",
        served={"bach": ["coconet"], "palestrina": ["coconet"]},
    )
    rows = read_rows(path)
    assert list(rows) == [("bach", "coconet"), ("palestrina", "coconet")]  # irish/lstm is no longer served
    assert rows[("bach", "coconet")][2] == "tunesmith evaluate --pieces 20"
    assert rows[("palestrina", "coconet")][1] == "- palestrina/coconet: notewise_nll = 0.5"
    assert "Rows for palestrina/coconet by `tunesmith evaluate --style palestrina`." in path.read_text()
