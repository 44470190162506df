"""The GAN: real note tokens through Gumbel-softmax, grammar-valid rollouts, one adversarial step."""

from __future__ import annotations

import torch

from models.music.melody import Event, Tune
from models.music.tokens import Vocab, decode, encode
from models.tokenlm.gan import GANConfig, MelodyGAN, gan_losses
from models.tokenlm.gan_train import adversarial_train, rollout


def _model(vocab: Vocab) -> MelodyGAN:
    torch.manual_seed(0)
    return MelodyGAN(
        GANConfig(
            vocab_size=len(vocab), embed=8, noise=4, hidden=16, layers=1, disc_embed=8, disc_hidden=8, dropout=0.0
        )
    )


def _tunes(vocab: Vocab) -> list[list[int]]:
    bars = [[Event(60 + i % 5, 6), Event(62, 6), Event(None, 12)] for i in range(12)]
    return [encode(Tune(f"t{i}", "2/4", bars), vocab, "irish") for i in range(4)]


def test_rollout_emits_grammatical_one_hot_notes() -> None:
    vocab = Vocab()
    model = _model(vocab)
    heads = torch.tensor([_tunes(vocab)[0][:3]] * 2)  # <bos> S:irish M:2/4
    fake = rollout(model, heads, ["2/4", "2/4"], 40, vocab)
    assert fake.shape == (2, 40, len(vocab))
    assert torch.allclose(fake.sum(-1), torch.ones(2, 40))  # hard one-hot rows
    ids = heads[0].tolist() + fake[0].argmax(-1).tolist()
    tune = decode(ids, vocab)
    assert tune.bars and all(sum(e.ticks for e in bar) == 24 for bar in tune.bars)


def test_generator_gets_gradient_through_discrete_notes() -> None:
    vocab = Vocab()
    model = _model(vocab)
    heads = torch.tensor([_tunes(vocab)[0][:3]] * 2)
    real = torch.nn.functional.one_hot(torch.tensor([_tunes(vocab)[0][3:23]] * 2), len(vocab)).float()
    fake = rollout(model, heads, ["2/4", "2/4"], 20, vocab)
    _, g_loss = gan_losses(model, real, fake)
    g_loss.backward()
    grad = model.generator.head.weight.grad
    assert grad is not None and grad.abs().sum() > 0


def test_adversarial_steps_run_and_noise_is_seeded() -> None:
    vocab = Vocab()
    model = _model(vocab)
    history = adversarial_train(model, _tunes(vocab), vocab, steps=2, batch=2, length=12)
    assert len(history) == 2 and all(h["mle"] > 0 for h in history)
    model.reseed(3)
    a = model.noise(1, 5, torch.device("cpu"))
    model.reseed(3)
    assert torch.equal(a, model.noise(1, 5, torch.device("cpu")))
