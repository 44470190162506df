"""Frozen splits and training batches."""

from __future__ import annotations

import json
from pathlib import Path

from models.core.data import SPLITS_DIR, hash_split, lm_chunks, load_or_freeze_split
from models.music.melody import Event, Tune


def _tunes(n: int) -> list[Tune]:
    return [Tune(f"corpus/file.abc#{i}", "2/4", [[Event(60, 24)], [Event(62, 24)]]) for i in range(n)]


def test_split_is_deterministic_and_disjoint(tmp_path: Path) -> None:
    tunes = _tunes(400)
    a = load_or_freeze_split("x", tunes, tmp_path)
    b = load_or_freeze_split("x", list(reversed(tunes)), tmp_path)
    assert {k: sorted(v) for k, v in a.items()} == {k: sorted(v) for k, v in b.items()}
    assert not set(a["train"]) & set(a["test"]) and not set(a["valid"]) & set(a["test"])
    assert 0 < len(a["test"]) < 60 and 0 < len(a["valid"]) < 60
    assert all(hash_split(i) == "test" for i in a["test"])


def test_frozen_file_wins_over_hashes(tmp_path: Path) -> None:
    tunes = _tunes(10)
    (tmp_path / "y.json").write_text(json.dumps({"valid": [tunes[0].tune_id], "test": [tunes[1].tune_id]}))
    split = load_or_freeze_split("y", tunes, tmp_path)
    assert split["valid"] == [tunes[0].tune_id] and split["test"] == [tunes[1].tune_id]
    assert len(split["train"]) == 8


def test_shipped_irish_split_is_frozen_in_repo() -> None:
    frozen = json.loads((SPLITS_DIR / "irish.json").read_text())
    assert len(frozen["test"]) > 50 and len(frozen["valid"]) > 50
    assert all(hash_split(i) == "test" for i in frozen["test"])


def test_lm_chunks_shape() -> None:
    rows = lm_chunks([[1, 2, 3, 4, 5], [1, 6, 7]], length=3, pad=0)
    assert rows.shape == (2, 4)
    assert rows[0].tolist() == [1, 2, 3, 4] and rows[1].tolist() == [4, 5, 1, 6]
