"""Tokenization: exact round trips on real corpus tunes, vocabulary checks, the bar grammar."""

from __future__ import annotations

import pytest
import torch

from models.music.corpus import parse_file
from models.music.melody import Event, Tune, tune_seconds, tune_to_notes
from models.music.tokens import Vocab, decode, encode


@pytest.fixture(scope="module")
def corpus_tunes() -> list[Tune]:
    # A real file of music21's bundled corpus (a few seconds to parse).
    return [Tune.from_json(d) for d in parse_file("ryansMammoth/7thRegimentReel.abc")] + [
        Tune.from_json(d) for d in parse_file("ryansMammoth/42dHighlandRegimentStrathspey.abc")
    ]


def test_corpus_tunes_have_durations_and_whole_bars(corpus_tunes: list[Tune]) -> None:
    assert corpus_tunes
    for tune in corpus_tunes:
        assert all(sum(e.ticks for e in bar) == tune.bar_ticks for bar in tune.bars)
        # Real rhythm: not every note is the same length (the old write-ups' fixed eighth-note grid).
        assert len({e.ticks for e in tune.events()}) > 1


def test_round_trip_is_exact(corpus_tunes: list[Tune]) -> None:
    vocab = Vocab()
    for tune in corpus_tunes:
        ids = encode(tune, vocab)
        assert ids[0] == vocab.bos and ids[-1] == vocab.eos
        back = decode(ids, vocab, tune.tune_id)
        assert back.meter == tune.meter
        assert back.bars == tune.bars


def test_rests_and_triplets_round_trip() -> None:
    tune = Tune("t", "6/8", [[Event(62, 4), Event(64, 4), Event(66, 4), Event(None, 6), Event(67, 18)]] * 2)
    assert decode(encode(tune, Vocab()), Vocab()).bars == tune.bars


def test_vocab_order_is_stable() -> None:
    vocab = Vocab()
    assert vocab.tokens[:5] == ["<pad>", "<bos>", "<eos>", "<bar>", "<rest>"]
    assert Vocab(vocab.tokens).index == vocab.index


def test_grammar_forces_full_bars() -> None:
    from models.tokenlm.sampling import BatchGrammar

    vocab = Vocab()
    g = BatchGrammar(vocab, ["6/8"])  # 36 ticks a bar
    masks = g.masks

    def step(token: int) -> None:
        g.advance(torch.tensor([token]))

    assert torch.equal(g.mask()[0], masks.event)
    step(vocab.pitch_id(60))
    assert torch.equal(g.mask()[0], masks.dur[36])
    step(vocab.dur_id(30))
    step(vocab.rest)
    assert torch.equal(g.mask()[0], masks.dur[6])
    step(vocab.dur_id(6))
    assert torch.equal(g.mask()[0], masks.bar)
    step(vocab.bar)
    assert int(g.bars_done[0]) == 1 and torch.equal(g.mask()[0], masks.event)


def test_notes_timing() -> None:
    tune = Tune("t", "2/4", [[Event(60, 12), Event(None, 6), Event(62, 6)], [Event(64, 24)]])
    notes = tune_to_notes(tune, qpm=120)
    assert [(n.pitch, n.start, n.end) for n in notes] == [(60, 0.0, 0.5), (62, 0.75, 1.0), (64, 1.0, 2.0)]
    assert tune_seconds(tune, 120) == 2.0
