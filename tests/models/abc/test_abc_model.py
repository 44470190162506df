"""ABC LSTM: training lowers the loss, cached sampling equals a full recompute, seeded sampling, the grammar,
resampling of unusable tunes, and compositions of exact length with an ABC file."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path

import pytest
import torch
from torch import nn

import models.abc.compose as abc_compose
from models.abc.compose import AbcComposer, Grammar, sample_ids
from models.abc.corpus import build_vocab, split_tunes
from models.abc.model import TINY_ABC_ARGS, abc_split, build_abc_model, train_abc
from models.abc.syntax import AbcError, kind
from models.abc.tokens import tokenize
from models.compose.types import plan_length
from models.music.melody import TICKS_PER_QUARTER, meter_ticks
from models.music.styles import get_style
from models.tokenlm.train import TrainConfig

REL = "oneills1850/0001-0050.abc"


@cache
def corpus() -> dict[str, list[str]]:
    from music21 import corpus as m21corpus

    path = next(p for p in m21corpus.getPaths() if str(p).replace("\\", "/").endswith(REL))
    out = {}
    for tune in split_tunes(path.read_bytes().decode("utf-8", errors="replace"), REL):
        try:
            out[tune.tune_id] = tokenize(tune.text)
        except AbcError:
            continue
    return out


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory) -> Path:
    torch.set_num_threads(1)
    out = tmp_path_factory.mktemp("abc_ck")
    config = TrainConfig(epochs=2, batch=8, seq_len=64, lr=1e-2, seed=0)
    train_abc(get_style("irish"), config, out, args=TINY_ABC_ARGS, corpus=corpus(), min_count=1)
    return out


def _tiny(vocab_size: int) -> nn.Module:
    torch.manual_seed(0)
    return build_abc_model({**TINY_ABC_ARGS, "vocab_size": vocab_size}).eval()


def test_split_follows_the_frozen_irish_split() -> None:
    frozen = json.loads(Path("models/splits/irish.json").read_text())
    split = abc_split("irish", list(corpus()))
    assert set(split["valid"]) >= set(frozen["valid"]) & set(corpus())
    assert set(split["test"]) >= set(frozen["test"]) & set(corpus())
    assert not set(split["train"]) & (set(frozen["valid"]) | set(frozen["test"]))


def test_checkpoint_metadata(checkpoint: Path) -> None:
    meta = json.loads((checkpoint / "irish-abc.json").read_text())
    assert meta["arch"] == "abc" and meta["style"] == "irish"
    assert meta["args"]["vocab_size"] == len(meta["vocab"]) and meta["vocab"][:3] == ["<pad>", "<s>", "</s>"]
    assert meta["heldout_nll"]["unit"] == "nats/token" and meta["heldout_nll"]["valid"] > 0
    assert {"corpus", "split", "train", "date"} <= set(meta)
    assert (checkpoint / "irish-abc.safetensors").stat().st_size < 200_000


def test_training_step_lowers_loss() -> None:
    vocab = build_vocab(list(corpus().values()), min_count=1)
    seqs = torch.tensor([vocab.encode(t)[:40] for t in list(corpus().values())[:8] if len(t) >= 39])
    model = _tiny(len(vocab)).train()
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)

    def loss() -> torch.Tensor:
        logits, _ = model(seqs[:, :-1])
        return nn.functional.cross_entropy(logits.reshape(-1, len(vocab)), seqs[:, 1:].reshape(-1))

    before = loss().item()
    for _ in range(10):
        opt.zero_grad()
        value = loss()
        value.backward()
        opt.step()
    assert loss().item() < before - 0.3


def test_cached_sampling_equals_full_recompute() -> None:
    vocab = build_vocab(list(corpus().values()), min_count=1)
    model = _tiny(len(vocab))
    trace: list[torch.Tensor] = []
    ids = sample_ids(model, vocab, torch.Generator().manual_seed(1), max_tokens=80, trace=trace)
    stream = ids[:-1]  # a prefix of what was drawn (cut after the last bar line at the cap) + </s>
    full, _ = model(torch.tensor([stream]))
    assert len(stream) > 20 and torch.allclose(torch.stack(trace[: len(stream)]), full[0], atol=1e-5)


def test_sampling_is_seeded_and_follows_the_grammar() -> None:
    vocab = build_vocab(list(corpus().values()), min_count=1)
    model = _tiny(len(vocab))
    runs = [
        sample_ids(model, vocab, torch.Generator().manual_seed(s), temperature=0.7, top_k=20, max_tokens=150)
        for s in (5, 5, 6)
    ]
    assert runs[0] == runs[1] and runs[0] != runs[2]
    for ids in runs:
        tokens = vocab.decode(ids)
        assert tokens[0] == "<s>" and kind(tokens[1]) == "meter" and kind(tokens[2]) == "key"
        assert tokens[-1] == "</s>" and kind(tokens[-2]) == "bar"
        for prev, tok in zip(tokens[2:-2], tokens[3:-1], strict=True):
            assert kind(tok) not in ("meter", "key", "special")
            if kind(tok) == "dur":
                assert kind(prev) in ("pitch", "rest")
            if kind(prev) in ("broken", "tuplet"):
                assert kind(tok) in ("pitch", "rest")
            if kind(prev) == "bar" and kind(tok) == "bar":
                assert (prev, tok) == (":|", "|:")
    grammar = Grammar(vocab)
    assert not grammar.masks["pitch"][vocab.eos] and grammar.masks["bar"][vocab.eos]
    assert grammar.masks["repeat_end"][vocab.index["|:"]] and not grammar.masks["bar"][vocab.index["|:"]]
    assert grammar.advance("bar", vocab.index[":|"]) == "repeat_end"


def test_compose_exact_length_with_abc_file(checkpoint: Path) -> None:
    composer = AbcComposer("irish", checkpoint_dir=checkpoint)
    pieces = {}
    for seed in range(6):
        try:
            pieces[seed] = composer.compose(20.0, seed=seed, temperature=0.8)
        except RuntimeError:
            continue
        if len(pieces) == 2:
            break
    assert pieces, "no playable tune from six seeds"
    for seed, piece in pieces.items():
        bars, qpm = plan_length(20.0, piece.meter, get_style("irish").tempo_range)
        bar_s = meter_ticks(piece.meter) / TICKS_PER_QUARTER * 60 / qpm
        assert piece.bars == bars and piece.tempo_qpm == qpm and piece.seconds == 20.0
        assert abs(bars * bar_s - 20.0) < 1e-9 and max(n.end for n in piece.notes) <= 20.0 + 1e-9
        abc = piece.extra_files["abc"]
        assert abc.startswith("X:1\nT:") and f"\nM:{piece.meter}\nL:1/8\nK:" in abc
        again = composer.compose(20.0, seed=seed, temperature=0.8)
        assert again.extra_files == piece.extra_files and again.notes == piece.notes


def test_unusable_tune_is_resampled(checkpoint: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    composer = AbcComposer("irish", checkpoint_dir=checkpoint)
    vocab = composer.vocab
    tune = next(t for t in corpus().values() if all(x in vocab.index for x in t) and t[0] == "M:6/8")
    bad = vocab.encode(["M:6/8", "K:Cmaj", "c", "|", "d", "||"])  # no whole bar anywhere
    draws = iter([bad, vocab.encode(tune)])
    monkeypatch.setattr(abc_compose, "sample_ids", lambda *a, **k: next(draws))
    progress: list[float] = []
    piece = composer.compose(30.0, seed=3, on_progress=progress.append)
    bars, _ = plan_length(30.0, "6/8", get_style("irish").tempo_range)
    assert piece.tokens == [-bars, *vocab.encode(tune)] and "attempt 2" in piece.extra_files["abc"]
    assert piece.bars == bars and progress[-1] == 1.0
    monkeypatch.setattr(abc_compose, "sample_ids", lambda *a, **k: bad)
    with pytest.raises(RuntimeError):
        composer.compose(30.0, seed=3)


def test_extend_plays_a_second_tune_after_the_first(checkpoint: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    composer = AbcComposer("irish", checkpoint_dir=checkpoint)
    vocab = composer.vocab
    jigs = [t for t in corpus().values() if all(x in vocab.index for x in t) and t[:2] == ["M:6/8", "K:Cmaj"]]
    draws, primes = iter([vocab.encode(jigs[0]), vocab.encode(jigs[1])]), []

    def fake(*args, prime=None, **kwargs):
        primes.append(prime)
        return next(draws)

    monkeypatch.setattr(abc_compose, "sample_ids", fake)
    first = composer.compose(20.0, seed=4)
    longer = composer.extend(first.tokens, first.meter, first.tempo_qpm, first.transpose, 10.0, seed=5)
    bar_s = meter_ticks("6/8") / TICKS_PER_QUARTER * 60 / first.tempo_qpm
    added = round(10.0 / bar_s)
    assert longer.bars == first.bars + added and abs(longer.seconds - longer.bars * bar_s) < 1e-9
    assert longer.notes[: len(first.notes)] == first.notes and longer.transpose == first.transpose
    assert longer.tokens == [*first.tokens, -added, *vocab.encode(jigs[1])]
    assert primes[1][-3:] == [vocab.bos, vocab.index["M:6/8"], vocab.index["K:Cmaj"]]
    assert "X:1\n" in longer.extra_files["abc"] and "X:2\n" in longer.extra_files["abc"]
    with pytest.raises(ValueError):
        composer.extend([5, 6, 7], "6/8", 120.0, 0, 10.0, seed=1)
