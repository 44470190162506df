"""The shared Trainer: same updates as a hand-written loop, callbacks, cancellation, best state, budgets."""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest
import torch
from torch import nn

from models.core.trainer import Trainer, TrainerConfig

X = torch.linspace(-1, 1, 16)[:, None]  # [16, 1]
Y = 3 * X - 1


def _model() -> nn.Linear:
    torch.manual_seed(0)
    return nn.Linear(1, 1)


def _loss(model: nn.Module, batch: tuple[torch.Tensor, torch.Tensor]) -> torch.Tensor:
    return nn.functional.mse_loss(model(batch[0]), batch[1])


def _batch(step: int) -> tuple[torch.Tensor, torch.Tensor]:
    rows = torch.arange(step % 4 * 4, step % 4 * 4 + 4)
    return X[rows], Y[rows]


def _trainer(model: nn.Module, scores: list[float] | None = None, **config: object) -> Trainer:
    it = iter(scores or [])
    return Trainer(
        model,
        TrainerConfig(**config),
        _loss,
        _batch,  # type: ignore[arg-type]
        eval_fn=(lambda m: next(it)) if scores is not None else None,
    )


def test_updates_equal_a_hand_written_adamw_loop() -> None:
    model = _model()
    opt = torch.optim.AdamW(model.parameters(), lr=0.1, weight_decay=0.01)
    losses = []
    for step in range(10):
        loss = _loss(model, _batch(step))
        opt.zero_grad()
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), 0.5)
        opt.step()
        losses.append(loss.item())
    trainer = _trainer(_model(), max_steps=10, lr=0.1, weight_decay=0.01, grad_clip=0.5)
    trainer.fit()
    assert trainer.losses == losses and trainer.step == 10
    assert all(torch.equal(a, b) for a, b in zip(model.parameters(), trainer.model.parameters(), strict=True))


def test_callbacks_fire_in_order_and_unknown_events_are_refused() -> None:
    trainer = _trainer(_model(), [5.0, 4.0, 3.0], max_steps=7, eval_every=3)
    seen: list[tuple[str, int]] = []

    def note(event: str) -> Callable[[Trainer], None]:
        return lambda t: seen.append((event, t.step))

    for event in ("on_batch_start", "on_batch_end", "on_eval", "on_train_end"):
        trainer.add_callback(event, note(event))
    trainer.fit()
    assert [s for e, s in seen if e == "on_eval"] == [3, 6, 7]  # every 3 steps and the last one
    assert seen[:4] == [("on_batch_start", 0), ("on_batch_end", 1), ("on_batch_start", 1), ("on_batch_end", 2)]
    assert seen.index(("on_eval", 3)) < seen.index(("on_batch_end", 3))
    assert seen[-1] == ("on_train_end", 7) and len([e for e, _ in seen if e == "on_batch_end"]) == 7
    with pytest.raises(ValueError, match="unknown event"):
        trainer.add_callback("on_epoch_end", lambda t: None)


def test_a_callback_stops_training_and_an_exception_cancels_it() -> None:
    trainer = _trainer(_model(), max_steps=100)
    trainer.add_callback("on_batch_end", lambda t: t.step >= 4)
    trainer.fit()
    assert trainer.step == 4

    class Cancelled(RuntimeError):
        pass

    def cancel(t: Trainer) -> None:
        if t.step == 3:
            raise Cancelled

    model = _model()
    trainer = _trainer(model, [1.0, 2.0, 3.0], max_steps=100, eval_every=1)
    trainer.add_callback("on_batch_start", cancel)
    with pytest.raises(Cancelled):
        trainer.fit()
    assert trainer.step == 3 and trainer.best_state is not None
    assert not torch.equal(model.weight, trainer.best_state["weight"])  # the run was abandoned: step 1 not restored


def test_best_state_is_restored_and_must_beat_the_baseline() -> None:
    trainer = _trainer(_model(), [3.0, 1.0, 2.0, 1.0], max_steps=8, eval_every=2)
    states = []
    trainer.add_callback("on_eval", lambda t: states.append({k: v.clone() for k, v in t.model.state_dict().items()}))
    trainer.fit()
    assert trainer.best == 1.0 and [s for s, _ in trainer.evals] == [2, 4, 6, 8]
    assert all(torch.equal(v, states[1][k]) for k, v in trainer.model.state_dict().items())  # step 4, not 8 (a tie)

    trainer = Trainer(
        _model(), TrainerConfig(max_steps=4, eval_every=2), _loss, _batch, eval_fn=lambda m: 2.0, baseline=1.5
    )
    trainer.fit()
    assert trainer.best_state is None and trainer.best == 1.5  # nothing beat the base model: last weights kept


def test_patience_and_skipped_updates() -> None:
    trainer = _trainer(_model(), [1.0, 2.0, 2.0, 0.5], max_steps=20, eval_every=1, patience=2)
    trainer.fit()
    assert trainer.step == 3
    model = _model()
    before = [p.clone() for p in model.parameters()]
    trainer = Trainer(model, TrainerConfig(max_steps=3), lambda m, b: None, _batch)
    trainer.fit()
    assert trainer.step == 3 and trainer.losses == [] and all(map(torch.equal, before, model.parameters()))


@pytest.mark.parametrize("eval_at_timeout", [True, False])
def test_time_budget_ends_training_and_the_last_step_is_scored_if_asked(eval_at_timeout: bool) -> None:
    def slow(step: int) -> tuple[torch.Tensor, torch.Tensor]:
        time.sleep(0.02)
        return _batch(step)

    trainer = Trainer(
        _model(),
        TrainerConfig(max_steps=10_000, max_seconds=0.1, eval_every=1000, eval_at_timeout=eval_at_timeout),
        _loss,
        slow,
        eval_fn=lambda m: 1.0,
    )
    trainer.fit()
    assert 1 <= trainer.step < 50 and trainer.progress >= 1 and trainer.elapsed < 5
    assert [s for s, _ in trainer.evals] == ([trainer.step] if eval_at_timeout else [])
