"""compose_batch: pieces sampled together are the pieces each seed gives alone, with their own lengths and keys."""

from __future__ import annotations

import pytest
import torch

from models.compose.factory import load_composer
from models.music.tokens import Vocab
from models.tokenlm.batched import Ask, RowGrammar, can_batch, compose_batch


@pytest.mark.parametrize("arch", ["lstm", "wavenet"])
def test_batched_pieces_equal_pieces_sampled_alone(arch: str) -> None:
    torch.set_num_threads(1)
    composer = load_composer("irish", arch)
    asks = [Ask(12.0, 7), Ask(5.0, 8, temperature=0.7), Ask(20.0, 9, top_k=5), Ask(12.0, 10)]
    seen: dict[int, list[float]] = {}
    asks[1] = Ask(5.0, 8, temperature=0.7, on_progress=lambda f: seen.setdefault(8, []).append(f))
    batched = compose_batch(composer, asks)
    for ask, piece in zip(asks, batched, strict=True):
        alone = composer.compose(ask.seconds, seed=ask.seed, temperature=ask.temperature, top_k=ask.top_k)
        assert piece.tokens == alone.tokens and piece.seed == ask.seed
        assert piece.seconds == ask.seconds and (piece.meter, piece.transpose) == (alone.meter, alone.transpose)
    assert seen[8][-1] == 1.0 and seen[8] == sorted(seen[8])  # its own progress, up to done


def test_only_plain_token_models_batch() -> None:
    assert can_batch(load_composer("irish", "lstm"))
    gan = load_composer("irish", "gan")
    assert not can_batch(gan)  # per-step noise from the model's own generator
    with pytest.raises(ValueError, match="cannot sample several pieces"):
        compose_batch(gan, [Ask(5.0, 1), Ask(5.0, 2)])


def test_row_grammar_masks_each_rows_pitch_range() -> None:
    vocab = Vocab()
    grammar = RowGrammar(vocab, ["4/4", "4/4"], [(60, 62), (70, 71)])
    mask = grammar.mask()
    allowed = [
        {int(vocab.value(i)) for i in range(len(vocab)) if mask[r, i] and vocab.kind(i) == "pitch"} for r in (0, 1)
    ]
    assert allowed == [{60, 61, 62}, {70, 71}]
    assert all(mask[r, vocab.rest] for r in (0, 1))
