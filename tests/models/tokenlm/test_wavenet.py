"""WaveNet: causal shapes, Fast-WaveNet cached logits equal to full recomputation, a training step."""

from __future__ import annotations

import torch
from torch import nn

from models.tokenlm.wavenet import MelodyWaveNet, WaveNetConfig


def _tiny() -> MelodyWaveNet:
    torch.manual_seed(0)
    return MelodyWaveNet(WaveNetConfig(vocab_size=30, channels=8, skip=12, layers=4, blocks=2, dropout=0.0)).eval()


def test_shapes_and_receptive_field() -> None:
    model = _tiny()
    logits, cache = model(torch.randint(0, 30, (2, 9)))
    assert logits.shape == (2, 9, 30)
    assert len(cache) == 1 + 8 and cache[-1].shape == (2, 8, 8)
    assert model.receptive_field == 2 * (1 + 2 + 4 + 8) + 2


def test_causal() -> None:
    model = _tiny()
    ids = torch.randint(0, 30, (1, 20))
    changed = ids.clone()
    changed[0, 15] = (changed[0, 15] + 1) % 30
    a, _ = model(ids)
    b, _ = model(changed)
    assert torch.allclose(a[:, :15], b[:, :15], atol=1e-6)
    assert not torch.allclose(a[:, 15:], b[:, 15:], atol=1e-6)


def test_cached_generation_equals_full_recompute() -> None:
    model = _tiny()
    ids = torch.randint(0, 30, (3, 40))  # longer than the receptive field (32)
    full, _ = model(ids)
    logits, cache = model(ids[:, :5])
    got = [logits[:, t] for t in range(5)]
    for t in range(5, 40):
        step, cache = model.step(ids[:, t], cache)
        got.append(step)
    assert torch.allclose(torch.stack(got, 1), full, atol=1e-5)
    assert torch.allclose(model.naive_step(ids), full[:, -1], atol=1e-5)


def test_training_step_lowers_loss() -> None:
    model = _tiny().train()
    data = torch.randint(0, 30, (4, 25))
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)

    def loss() -> torch.Tensor:
        logits, _ = model(data[:, :-1])
        return nn.functional.cross_entropy(logits.reshape(-1, 30), data[:, 1:].reshape(-1))

    before = loss().item()
    for _ in range(8):
        opt.zero_grad()
        value = loss()
        value.backward()
        opt.step()
    assert loss().item() < before - 0.05
