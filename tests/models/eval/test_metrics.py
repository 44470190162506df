"""Metrics and the n-gram baseline on hand-made pieces whose answers are known."""

from __future__ import annotations

import math

import numpy as np
import pytest

from models.eval.metrics import (
    CopyIndex,
    Melody,
    max_repeat_run,
    overlap_area,
    pitch_class_entropy,
    relative_overlap,
    scale_consistency,
)
from models.eval.ngram import NGram, best_ngram


def _mel(pitches: list[int], dur: float = 0.5) -> Melody:
    return Melody(tuple(pitches), tuple(i * dur for i in range(len(pitches))), tuple([dur] * len(pitches)))


def test_scale_consistency() -> None:
    assert scale_consistency(_mel([60, 62, 64, 65, 67, 69, 71, 72])) == 1.0
    assert scale_consistency(_mel(list(range(60, 72)))) == pytest.approx(7 / 12)


def test_entropy_and_repeats() -> None:
    assert pitch_class_entropy(_mel([60] * 5)) == 0.0
    assert pitch_class_entropy(_mel(list(range(60, 72)))) == pytest.approx(math.log2(12))
    assert max_repeat_run(_mel([60, 60, 62, 62, 62, 62, 60])) == 4


def test_copy_index_finds_transposed_copies() -> None:
    train = [_mel([60, 62, 64, 65, 67, 65, 64, 62, 60, 59])]
    index = CopyIndex(train)
    copied = _mel([50, 55, 57, 59, 60, 62, 60, 59, 40])  # 55…59 is train[0][0:7] moved down 5
    assert index.longest_copied(copied) == 7
    assert index.longest_copied(_mel([60, 61, 60, 61])) <= 2


def test_overlap_area() -> None:
    rng = np.random.default_rng(0)
    a, b = rng.normal(0, 1, 400), rng.normal(0, 1, 400)
    assert overlap_area(a, b) > 0.85
    assert overlap_area(a, b + 10) < 0.05
    same = relative_overlap([_mel([60, 62, 64, 65])] * 3, [_mel([60, 62, 64, 65]), _mel([62, 64, 65, 67])] * 2)
    assert set(same) == {"oa_pch", "oa_ioi", "oa_note_length"}


def test_ngram_learns_and_normalises() -> None:
    seqs = [[1, 5, 6, 7, 5, 6, 7, 5, 6, 7, 2]] * 20
    lm = NGram(3, vocab_size=10).fit(seqs)
    assert sum(lm.prob([5, 6], w) for w in range(10)) == pytest.approx(1.0, abs=1e-6)
    assert lm.prob([5, 6], 7) > 0.8
    model, scores = best_ngram(seqs, seqs[:2], 10, orders=(1, 2, 3))
    assert scores[3] < scores[1] and model.n in (2, 3)


def test_key_normalised_histogram_ignores_transposition() -> None:
    from models.eval.metrics import key_normalized_pch

    tune = [60, 62, 64, 65, 67, 69, 71, 72, 67, 64, 60]
    assert np.allclose(key_normalized_pch(_mel(tune)), key_normalized_pch(_mel([p + 2 for p in tune])))
