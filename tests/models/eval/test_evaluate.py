"""tunesmith evaluate on a tiny checkpoint and a few tunes: rows, targets and the markdown report."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from models.core.checkpoint import save_checkpoint
from models.eval import evaluate
from models.music.melody import Event, Tune
from models.music.tokens import Vocab
from models.tokenlm.lstm import LSTMConfig, MelodyLSTM


@pytest.fixture
def tiny_world(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    torch.manual_seed(0)
    vocab = Vocab()
    args = {"vocab_size": len(vocab), "embed": 8, "hidden": 16, "layers": 1, "dropout": 0.0}
    styles = {"irish": {"prefix": ["S:irish"], "meters": {"2/4": 1.0}}}
    meta = {"arch": "lstm", "args": args, "vocab": vocab.tokens, "styles": styles}
    save_checkpoint(MelodyLSTM(LSTMConfig(**args)), meta, tmp_path, "melody", "lstm")
    monkeypatch.setenv("TUNESMITH_CHECKPOINT_DIR", str(tmp_path))
    tunes = [Tune(f"x#{i}", "2/4", [[Event(60 + (i + j) % 7, 12), Event(62, 12)] for j in range(8)]) for i in range(60)]
    monkeypatch.setitem(evaluate.TUNE_PROVIDERS, "irish", lambda: tunes)
    splits = tmp_path / "splits"
    splits.mkdir()
    monkeypatch.setattr("models.core.data.SPLITS_DIR", splits)  # hash split of these tunes, not the repo's
    return tmp_path


def test_evaluate_rows_and_report(tiny_world: Path, tmp_path: Path) -> None:
    rows = evaluate.evaluate_all(pieces=3, seconds=10)
    assert [(r.style, r.arch) for r in rows] == [("irish", "lstm")]
    row = rows[0]
    assert row.nll is not None and row.nll > 0 and row.ngram_nll is not None and row.ngram_nll > 0
    assert row.pieces == 3 and 0 < row.scale_consistency <= 1
    assert row.max_repeat_run <= 8
    assert row.longest_copied_ngram >= 1
    assert {"oa_pch", "oa_ioi", "oa_note_length"} <= set(row.extra)
    checks = evaluate.targets(row)
    assert checks["no_repeat_over_8"] is True
    report = tmp_path / "EVALUATION.md"
    evaluate.write_markdown(rows, report, "tunesmith evaluate --pieces 3")
    text = report.read_text()
    assert "| irish | lstm |" in text and "tunesmith evaluate --pieces 3" in text
