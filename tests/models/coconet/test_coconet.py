"""Coconet: shapes, masked loss, a training step, seeded Gibbs sampling, harmonisation, NLL, composer."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch

from models.coconet.eval import evaluate
from models.coconet.model import (
    Coconet,
    CoconetConfig,
    fix_onsets,
    generate,
    harmonize,
    masked_loss,
    orderless_mask,
    to_classes,
    yao_p,
)
from models.coconet.train import masked_nll, random_batch
from models.core.checkpoint import save_checkpoint
from models.music.melody import Note

CFG = CoconetConfig(pitch_low=48, pitch_high=59, layers=4, channels=8)  # 13 classes


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    """Tiny convs on a busy 2-core machine are ~100x faster without OpenMP's second thread."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def _model() -> Coconet:
    torch.manual_seed(0)
    return Coconet(CFG).eval()


def _data(n: int = 3, length: int = 12) -> list[tuple[np.ndarray, np.ndarray]]:
    rng = np.random.default_rng(0)
    out = []
    for _ in range(n):
        pitch = rng.integers(1, CFG.classes, (4, length))
        pitch[:, 1::2] = pitch[:, ::2]  # every note lasts two steps: held or repeated
        onset = fix_onsets(torch.from_numpy(pitch), torch.from_numpy(rng.random((4, length)) < 0.5)).numpy()
        out.append((pitch, onset))
    return out


def test_shapes_and_size() -> None:
    model = _model()
    pitch, onset = random_batch(_data(), 2, 8, np.random.default_rng(0), CFG.classes, transpose=2)
    mask = orderless_mask((2, 4, 8))
    x = model.encode(pitch, onset, mask)
    assert x.shape == (2, 12, 8, CFG.classes)
    pitch_logits, onset_logits = model(x)
    assert pitch_logits.shape == onset_logits.shape == (2, 4, 8, CFG.classes)
    assert Coconet(CoconetConfig()).config.classes == 47  # MIDI 36..81 and a rest
    assert sum(p.numel() for p in Coconet(CoconetConfig()).parameters()) * 2 < 1.5e6  # fp16 checkpoint


def test_loss_ignores_unmasked_cells() -> None:
    pitch, onset = random_batch(_data(), 2, 8, np.random.default_rng(1), CFG.classes)
    mask = orderless_mask((2, 4, 8), torch.Generator().manual_seed(0))
    mask[0, 0, 0], mask[1, 2, 3] = True, False
    pl, ol = torch.randn(2, 4, 8, CFG.classes), torch.randn(2, 4, 8, CFG.classes)
    loss, _ = masked_loss(pl, ol, pitch, onset, mask)
    noise = torch.randn_like(pl) * 5 * (~mask)[..., None]
    assert torch.allclose(masked_loss(pl + noise, ol + noise, pitch, onset, mask)[0], loss)
    assert not torch.allclose(masked_loss(pl + 5 * torch.randn_like(pl), ol, pitch, onset, mask)[0], loss)


def test_training_step_lowers_masked_loss() -> None:
    model = _model().train()
    pitch, onset = random_batch(_data(), 4, 12, np.random.default_rng(2), CFG.classes)
    mask = orderless_mask((4, 4, 12), torch.Generator().manual_seed(1))
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    losses = []
    for _ in range(6):
        loss, _ = masked_loss(*model.predict(pitch, onset, mask), pitch, onset, mask)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < losses[0]


def test_masks_and_schedule() -> None:
    mask = orderless_mask((64, 4, 8), torch.Generator().manual_seed(0), voice_frac=0.5)
    assert mask.any(dim=(1, 2)).all()  # every example erases something
    assert yao_p(0, 100) == pytest.approx(0.9) and yao_p(99, 100) == pytest.approx(0.1)
    assert yao_p(35, 100) == pytest.approx(0.9 - 35 * 0.8 / 70)


def test_gibbs_reproducible_and_harmonize_keeps_soprano() -> None:
    model = _model()
    a = generate(model, 16, seed=3, steps=4)
    b = generate(model, 16, seed=3, steps=4)
    c = generate(model, 16, seed=4, steps=4)
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1]) and not torch.equal(a[0], c[0])
    sounding = a[0][a[0] >= 0]
    assert a[0].shape == (4, 16) and sounding.min() >= 48 and sounding.max() <= 59  # never "pitch 0"
    assert torch.equal(a[1], fix_onsets(to_classes(a[0], CFG), a[1]))
    soprano = torch.tensor([59, 59, 57, 57, 57, 57, -1, 55, 55, 55, 53, 53, 52, 52, 52, 52])
    struck = torch.tensor([1, 0, 1, 0, 1, 0, 0, 1, 0, 0, 1, 1, 1, 0, 0, 0], dtype=torch.bool)
    progress: list[float] = []
    pitch, onset = harmonize(model, soprano, struck, seed=5, steps=3, on_progress=progress.append)
    assert torch.equal(pitch[0], soprano) and torch.equal(onset[0], struck)
    assert progress == pytest.approx([1 / 3, 2 / 3, 1.0])


def test_nll_finite_and_positive() -> None:
    model = _model()
    result = evaluate(model, _data(2, 6), max_pieces=2, crop=6, orderings=2)
    for kind in ("notewise", "framewise"):
        for part in ("total", "pitch"):
            assert math.isfinite(result[kind][part]["mean"]) and result[kind][part]["mean"] > 0
    assert result["notewise"]["total"]["mean"] >= result["notewise"]["pitch"]["mean"]
    true = evaluate(model, _data(2, 6), max_pieces=1, crop=6, orderings=1, within="true")
    assert math.isfinite(true["framewise"]["total"]["mean"])
    masked = masked_nll(model, _data(2, 16), crop=8)
    assert 0 < masked["pitch"] < masked["total"] < 20


def test_composer_exact_length_and_harmonize(tmp_path: Path) -> None:
    from models.coconet.compose import CoconetComposer, fit_soprano

    model = Coconet(CoconetConfig(layers=2, channels=4))
    save_checkpoint(
        model,
        {"arch": "coconet", "style": "bach", "args": model.config.to_dict(), "meters": {"3/4": 1.0}},
        tmp_path,
        "bach",
        "coconet",
    )
    composer = CoconetComposer(checkpoint_dir=tmp_path, steps=2)
    seen: list[float] = []
    piece = composer.compose(7.0, seed=1, on_progress=seen.append)
    assert piece.seconds == 7.0 and piece.meter == "3/4" and len(piece.parts) == 4 and seen[-1] == 1.0
    assert piece.bars * 3 * 60 / piece.tempo_qpm == pytest.approx(7.0)
    assert max(n.end for n in piece.notes) <= 7.0 + 1e-6
    assert len(piece.notes) == sum(len(notes) for _, _, notes in piece.parts)
    melody = [Note(84, 0.0, 0.5), Note(84, 0.5, 1.0), Note(86, 1.0, 2.0)]  # too high: moved an octave down
    song = composer.harmonize(melody, 120.0, "4/4", seed=2)
    assert song.transpose == -12 and song.bars == 1 and song.seconds == pytest.approx(2.0)
    assert [(n.pitch, n.start, n.end) for n in song.parts[0][2]] == [(72, 0.0, 0.5), (72, 0.5, 1.0), (74, 1.0, 2.0)]
    moved, shift = fit_soprano(np.array([40, -1, 95]))
    assert shift == 24 and moved.tolist() == [64, -1, 71]


def _reach(model: Coconet, length: int = 120) -> int:
    """How many steps away from a changed input cell the output still changes (the receptive field's half)."""
    model.eval()
    x = torch.zeros(1, 12, length, CFG.classes)
    y = x.clone()
    y[0, 0, length // 2, 3] = 1.0
    with torch.no_grad():
        changed = ((model(x)[0] - model(y)[0]).abs().sum(dim=(0, 1, 3)) > 0).nonzero().flatten()
    return int(max(length // 2 - changed.min(), changed.max() - length // 2))


def test_time_dilations_widen_the_receptive_field_and_survive_a_checkpoint(tmp_path: Path) -> None:
    torch.manual_seed(0)
    plain = Coconet(CoconetConfig(pitch_low=48, pitch_high=59, layers=8, channels=4))
    dilated = Coconet(CoconetConfig(pitch_low=48, pitch_high=59, layers=8, channels=4, dilations=[1, 2, 4]))
    assert _reach(plain) <= 8 < 14 <= _reach(dilated)  # 6 middle convs: ±(1+6+1) vs ±(1+(1+2+4)·2+1)
    save_checkpoint(
        dilated, {"arch": "coconet", "style": "bach", "args": dilated.config.to_dict()}, tmp_path, "bach", "coconet"
    )
    from models.coconet.compose import load_coconet

    loaded, meta, _ = load_coconet("bach", checkpoint_dir=tmp_path)
    assert loaded.config.dilations == [1, 2, 4] and meta["args"]["dilations"] == [1, 2, 4]
    assert _reach(loaded) == _reach(dilated)
