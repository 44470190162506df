"""Adversarial training of the melody GAN after maximum-likelihood pre-training.

Fakes are free-running rollouts of the generator under the bar grammar, with straight-through
Gumbel-softmax so the discriminator's gradient reaches the generator through discrete notes. A weighted
likelihood term keeps the generator anchored to the data (mode collapse is the usual GAN failure).
"""

from __future__ import annotations

import logging
import random

import torch
from torch import nn
from torch.nn import functional as F

from models.core.trainer import Trainer, TrainerConfig
from models.music.tokens import Vocab
from models.tokenlm.gan import MelodyGAN, discriminator_loss, generator_loss
from models.tokenlm.sampling import BatchGrammar

log = logging.getLogger(__name__)


def rollout(
    model: MelodyGAN, heads: torch.Tensor, meters: list[str], steps: int, vocab: Vocab, tau: float = 1.0
) -> torch.Tensor:
    """Free-running generation from heads [B, P] → straight-through one-hot tokens [B, steps, V]."""
    grammar = BatchGrammar(vocab, meters)
    logits, state = model.forward(heads)
    logits = logits[:, -1]  # [B, V]
    outs = []
    for _ in range(steps):
        mask = grammar.mask().to(logits.device)  # [B, V]
        onehot = F.gumbel_softmax(logits.masked_fill(~mask, -1e9), tau=tau, hard=True)  # [B, V]
        outs.append(onehot)
        grammar.advance(onehot.argmax(-1).cpu())
        logits, state = model.soft_step(onehot, state)
    return torch.stack(outs, dim=1)


def adversarial_train(
    model: MelodyGAN,
    seqs: list[list[int]],
    vocab: Vocab,
    *,
    steps: int = 300,
    batch: int = 32,
    length: int = 64,
    head: int | None = None,
    lr: float = 2e-4,
    mle_weight: float = 1.0,
    max_minutes: float = 10.0,
    device: str = "cpu",
    seed: int = 0,
    d_lr: float | None = None,
) -> list[dict]:
    """Train generator and discriminator against each other; returns the loss history.

    ``head`` tokens of each real tune (``<bos>``, style, meter) prime the generator; the next ``length``
    tokens of real tunes are the discriminator's positives. The discriminator skips its update while it
    wins more than 90% of the time, C-RNN-GAN's freezing heuristic.
    """
    rng = random.Random(seed)
    if head is None:  # up to and including the meter token
        head = 1 + next(i for i, t in enumerate(seqs[0]) if vocab.kind(t) == "meter")
    usable = [s for s in seqs if len(s) >= head + length]
    if not usable:
        raise ValueError(f"no training sequence has {head + length} tokens")
    stats: dict[str, float] = {}
    history: list[dict] = []

    def d_loss_fn(model: MelodyGAN, b: tuple[torch.Tensor, torch.Tensor, torch.Tensor]) -> torch.Tensor | None:
        d_loss, d_acc = discriminator_loss(model, b[1], b[2])
        stats.update(d_loss=d_loss.item(), d_acc=d_acc)
        return d_loss if d_acc < 0.9 else None  # no update while it wins

    def g_loss_fn(model: MelodyGAN, b: tuple[torch.Tensor, torch.Tensor, torch.Tensor]) -> torch.Tensor:
        rows, real, fake = b
        logits, _ = model(rows[:, :-1])  # [B, P+L-1, V]
        mle = nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]), rows[:, 1:].reshape(-1))
        g_loss = generator_loss(model, real, fake)  # against the discriminator as just updated
        stats.update(g_loss=g_loss.item(), mle=mle.item())
        return g_loss + mle_weight * mle

    # Two trainers in turn: the generator's drives the loop, and each of its batches (real tunes and a rollout)
    # first gives the discriminator its step, so the generator then plays against the updated discriminator.
    d_trainer = Trainer(
        model,
        TrainerConfig(lr=d_lr or 5 * lr, optimizer="adam", betas=(0.5, 0.999), grad_clip=0.0),
        d_loss_fn,
        params=model.discriminator.parameters(),
    )

    def next_batch(step: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        rows = torch.tensor([rng.choice(usable)[: head + length] for _ in range(batch)], device=device)
        meters = [vocab.value(int(r[head - 1])) for r in rows.cpu()]  # rows [B, P+L]
        real = F.one_hot(rows[:, head:], len(vocab)).float()  # [B, L, V]
        fake = rollout(model, rows[:, :head], meters, length, vocab)  # [B, L, V]
        d_trainer.train_step((rows, real, fake))
        return rows, real, fake

    def record(t: Trainer) -> None:
        history.append(
            {
                "step": t.step,
                "d_loss": stats["d_loss"],
                "g_loss": stats["g_loss"],
                "mle": stats["mle"],
                "d_acc": stats["d_acc"],
            }
        )
        if t.step % 25 == 0:
            log.info(
                "gan step %d d %.3f g %.3f mle %.3f d_acc %.2f",
                t.step,
                stats["d_loss"],
                stats["g_loss"],
                stats["mle"],
                stats["d_acc"],
            )

    g_trainer = Trainer(
        model,
        TrainerConfig(
            max_steps=steps, max_seconds=max_minutes * 60, lr=lr, optimizer="adam", betas=(0.5, 0.999), grad_clip=1.0
        ),
        g_loss_fn,
        next_batch,
        params=model.generator.parameters(),
    )
    g_trainer.add_callback("on_batch_end", record)
    g_trainer.fit()
    return history
