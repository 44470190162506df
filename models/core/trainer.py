"""The one training loop every model family uses (minGPT-style): budgets, best-state evaluation and callbacks."""

from __future__ import annotations

import math
import time
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, Literal

import torch
from torch import nn

EVENTS = ("on_batch_start", "on_batch_end", "on_eval", "on_train_end")
Callback = Callable[["Trainer"], bool | None]  # a truthy return stops training after the current step
LossFn = Callable[[Any, Any], torch.Tensor | None]  # (model, batch) → loss; None: no update on this batch
Scheduler = Callable[[torch.optim.Optimizer], torch.optim.lr_scheduler.LRScheduler]


@dataclass
class TrainerConfig:
    """Budgets and optimiser settings; training ends at ``max_steps`` or ``max_seconds``, whichever comes first."""

    max_steps: int = 1000  # read every step: a callback may move it
    max_seconds: float = math.inf
    lr: float = 1e-3
    weight_decay: float = 0.0
    betas: tuple[float, float] = (0.9, 0.999)
    optimizer: Literal["adamw", "adam"] = "adamw"
    grad_clip: float = 1.0  # max gradient norm of the optimised parameters (0: no clipping)
    eval_every: int = 0  # steps between evaluations; the last step is scored too (0: only the last)
    eval_at_timeout: bool = True  # score the last step also when the time budget (not max_steps) ended it
    patience: int = 0  # stop after this many evaluations in a row without a new best (0: never)


class Trainer:
    """Steps ``loss_fn(model, batch_fn(step))`` with one optimiser until a budget is spent, patience runs out or
    a callback returns a truthy value; ``eval_fn(model)`` (lower is better) scores the model every
    ``eval_every`` steps and after the last one, and the best state seen is restored at the end.

    Each step runs, in order: ``on_batch_start`` callbacks, ``model.train()``, ``batch_fn``, the update, then
    (when due) the evaluation and its ``on_eval`` callbacks, then ``on_batch_end``. Callbacks get the trainer
    (``step``, ``loss``, ``losses``, ``last_eval``, ``evals``, ``best``, ``elapsed``, ``progress``, ``config``);
    an exception they raise (e.g. a cancellation) leaves ``fit`` at once with nothing restored.
    ``baseline`` is the score a state must beat to be kept (e.g. the model's own before fine-tuning).
    ``train_step`` alone steps a second optimiser from the first's ``batch_fn`` (the GAN's discriminator).
    """

    def __init__(
        self,
        model: nn.Module,
        config: TrainerConfig,
        loss_fn: LossFn,
        batch_fn: Callable[[int], Any] | None = None,
        *,
        eval_fn: Callable[[Any], float] | None = None,
        params: Iterable[nn.Parameter] | None = None,
        scheduler: Scheduler | None = None,
        baseline: float = math.inf,
    ) -> None:
        self.model, self.config, self.loss_fn, self.batch_fn, self.eval_fn = model, config, loss_fn, batch_fn, eval_fn
        self.params = list(model.parameters() if params is None else params)
        opt = torch.optim.AdamW if config.optimizer == "adamw" else torch.optim.Adam
        self.optimizer = opt(self.params, lr=config.lr, betas=config.betas, weight_decay=config.weight_decay)
        self.scheduler = scheduler(self.optimizer) if scheduler is not None else None
        self.callbacks: dict[str, list[Callback]] = defaultdict(list)
        self.step, self.progress, self.best, self.stale = 0, 0.0, baseline, 0
        self.loss: float | None = None
        self.losses: list[float] = []
        self.best_state: dict[str, torch.Tensor] | None = None
        self.last_eval: float | None = None
        self.evals: list[tuple[int, float]] = []
        self.start = time.monotonic()

    def add_callback(self, event: str, callback: Callback) -> None:
        """Call ``callback(trainer)`` on ``event`` (one of :data:`EVENTS`), after those already added."""
        if event not in EVENTS:
            raise ValueError(f"unknown event {event!r}; one of {', '.join(EVENTS)}")
        self.callbacks[event].append(callback)

    def trigger(self, event: str) -> bool:
        """Run the callbacks of ``event`` in order; True when any of them asks to stop (all of them run)."""
        return any([bool(callback(self)) for callback in self.callbacks[event]])

    @property
    def elapsed(self) -> float:
        """Seconds since ``fit`` began."""
        return time.monotonic() - self.start

    def train_step(self, batch: Any) -> float | None:
        """One update on ``batch``: loss, backward, clipping, optimiser and scheduler steps. Returns the loss, or
        None when ``loss_fn`` returned None (no update)."""
        loss = self.loss_fn(self.model, batch)
        if loss is None:
            return None
        self.optimizer.zero_grad()
        loss.backward()
        if self.config.grad_clip > 0:
            nn.utils.clip_grad_norm_(self.params, self.config.grad_clip)
        self.optimizer.step()
        if self.scheduler is not None:
            self.scheduler.step()
        return loss.item()

    def evaluate(self) -> bool:
        """Score the model, keep a copy of its state if it beats the best so far, run ``on_eval``; True to stop
        (a callback asked, or ``patience`` evaluations in a row brought no new best)."""
        assert self.eval_fn is not None
        self.last_eval = value = float(self.eval_fn(self.model))
        self.evals.append((self.step, value))
        if value < self.best:
            self.best, self.stale = value, 0
            self.best_state = {k: v.detach().clone() for k, v in self.model.state_dict().items()}
        else:
            self.stale += 1
        stop = self.trigger("on_eval")
        return stop or 0 < self.config.patience <= self.stale

    def fit(self) -> None:
        """Train until a budget, patience or a callback stops it, then load the best evaluated state (if any
        beat ``baseline``). ``progress`` is max(steps / max_steps, seconds / max_seconds) after each step."""
        assert self.batch_fn is not None, "fit needs a batch_fn"
        c, self.start, timed_out = self.config, time.monotonic(), False
        while self.step < c.max_steps and not timed_out:
            if self.trigger("on_batch_start"):
                break
            self.model.train()
            self.loss = self.train_step(self.batch_fn(self.step))
            self.step += 1
            if self.loss is not None:
                self.losses.append(self.loss)
            elapsed = self.elapsed
            self.progress = max(self.step / max(c.max_steps, 1), elapsed / c.max_seconds)
            timed_out = elapsed >= c.max_seconds
            due = (
                (c.eval_every > 0 and self.step % c.eval_every == 0)
                or self.step >= c.max_steps
                or (timed_out and c.eval_at_timeout)
            )
            stop = self.eval_fn is not None and due and self.evaluate()
            if self.trigger("on_batch_end") or stop:
                break
        if self.best_state is not None:
            self.model.load_state_dict(self.best_state)
        self.trigger("on_train_end")
