"""The LSTM: shapes, a training step that lowers the loss, cached decoding equal to full recomputation."""

from __future__ import annotations

import torch
from torch import nn

from models.tokenlm.lstm import LSTMConfig, MelodyLSTM


def _tiny() -> MelodyLSTM:
    torch.manual_seed(0)
    return MelodyLSTM(LSTMConfig(vocab_size=40, embed=8, hidden=16, layers=2, dropout=0.0))


def test_shapes() -> None:
    model = _tiny()
    logits, (h, c) = model(torch.randint(0, 40, (3, 7)))
    assert logits.shape == (3, 7, 40)
    assert h.shape == c.shape == (2, 3, 16)


def test_training_step_lowers_loss() -> None:
    model = _tiny()
    data = torch.randint(0, 40, (4, 17))
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)

    def loss() -> torch.Tensor:
        logits, _ = model(data[:, :-1])
        return nn.functional.cross_entropy(logits.reshape(-1, 40), data[:, 1:].reshape(-1))

    before = loss()
    for _ in range(5):
        opt.zero_grad()
        value = loss()
        value.backward()
        opt.step()
    assert loss().item() < before.item() - 0.05


def test_carried_state_matches_full_recompute() -> None:
    model = _tiny().eval()
    ids = torch.randint(0, 40, (2, 12))
    full, _ = model(ids)
    logits, state = model(ids[:, :1])
    steps = [logits[:, -1]]
    for t in range(1, 12):
        step_logits, state = model.step(ids[:, t], state)
        steps.append(step_logits)
    assert torch.allclose(torch.stack(steps, 1), full, atol=1e-5)
    assert torch.allclose(model.refeed_step(ids, window=12), full[:, -1], atol=1e-5)
