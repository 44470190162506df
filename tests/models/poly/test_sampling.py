"""Grammar-masked poly sampling: exact bars, valid grammar, seeds, batching, grid and shortest value."""

from __future__ import annotations

import pytest
import torch

from models.poly.sampling import PolyAsk, sample_poly
from models.poly.tokens import PolyVocab, decode
from models.tokenlm.registry import build_model

VOCAB = PolyVocab()


@pytest.fixture(params=["lstm", "wavenet"])
def model(request: pytest.FixtureRequest) -> torch.nn.Module:
    torch.manual_seed(0)
    args = {
        "lstm": {"embed": 16, "hidden": 32, "layers": 2, "dropout": 0.0},
        "wavenet": {"channels": 16, "skip": 16, "layers": 4, "blocks": 1, "dropout": 0.0},
    }[request.param]
    return build_model(request.param, {"vocab_size": len(VOCAB), **args}).eval()


def check_grammar(ids: list[int], bars: int, grid: set[int], min_dur: int, low: int, high: int) -> None:
    kinds = [VOCAB.kind(i) for i in ids]
    assert kinds[0] == "<bos>" and kinds[-1] == "<eos>" and kinds.count("<bar>") == bars
    assert kinds[-2] == "<bar>"  # ends at a bar line
    pos, last = -1, -1
    for k, (kind, tid) in enumerate(zip(kinds, ids, strict=True)):
        if kind == "pos":
            value = int(VOCAB.value(tid))
            assert value > pos and value % 12 in grid
            pos, last = value, -1
            assert kinds[k + 1] == "vel" and kinds[k + 2] == "pitch"
        elif kind == "pitch":
            p = int(VOCAB.value(tid))
            assert p > last and low <= p <= high and kinds[k + 1] == "dur"
            last = p
        elif kind == "dur":
            assert int(VOCAB.value(tid)) >= min_dur
        elif kind == "<bar>":
            pos = -1


def test_exact_bars_and_a_valid_grammar(model: torch.nn.Module) -> None:
    asks = [
        PolyAsk("4/4", 3, seed=1, pitch_range=(40, 90)),
        PolyAsk("3/4", 5, seed=2, pitch_range=(40, 90)),
        PolyAsk("12/8", 2, seed=3, temperature=1.5, top_k=20, pitch_range=(40, 90)),
    ]
    rows = sample_poly(model, VOCAB, asks, prefix=["S:keyboard"], grid=(0, 6), min_dur=6)
    for row, ask in zip(rows, asks, strict=True):
        check_grammar(row, ask.bars, {0, 6}, 6, 40, 90)
        piece = decode(row, VOCAB)
        assert piece.bars == ask.bars and piece.meter == ask.meter
        assert all(n.start + n.ticks <= piece.bars * piece.bar_ticks for n in piece.notes)


def test_same_seed_same_piece_alone_or_in_a_batch(model: torch.nn.Module) -> None:
    ask = PolyAsk("4/4", 2, seed=7, temperature=0.9, top_k=30)
    alone = sample_poly(model, VOCAB, [ask])[0]
    assert sample_poly(model, VOCAB, [ask])[0] == alone
    batch = sample_poly(model, VOCAB, [PolyAsk("3/4", 4, seed=1), ask, PolyAsk("4/4", 1, seed=2)])
    assert batch[1] == alone
    assert sample_poly(model, VOCAB, [PolyAsk("4/4", 2, seed=8)])[0] != alone


def test_progress_and_continuation(model: torch.nn.Module) -> None:
    seen: list[float] = []
    first = sample_poly(model, VOCAB, [PolyAsk("4/4", 2, seed=1, on_progress=seen.append)])[0]
    assert seen[-1] == 1.0 and seen == sorted(seen)
    head = first[:-1]
    more = sample_poly(model, VOCAB, [PolyAsk("4/4", 3, seed=2)], prime=[head])[0]
    assert more[: len(head)] == head and decode(more, VOCAB).bars == 5
