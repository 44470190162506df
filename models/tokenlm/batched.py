"""Several pieces of one style and token model sampled in one batch, each with its own seed, length, key and
settings: a piece sampled alone (batch of one) has exactly the notes ``TokenComposer.compose`` gives for its seed."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TypeGuard

import torch

from models.compose.types import Composer, Composition, planned_seconds
from models.music.tokens import PITCH_MAX, PITCH_MIN, Vocab
from models.tokenlm.composer import TokenComposer
from models.tokenlm.sampling import BatchGrammar, StepModel, filter_logits

ProgressFn = Callable[[float], None]


@dataclass(frozen=True)
class Ask:
    """One piece of a batch: its length, seed and sampling settings, and where its progress goes."""

    seconds: float
    seed: int
    temperature: float = 1.0
    top_k: int = 0
    on_progress: ProgressFn | None = None
    tempo: float | None = None  # the user's BPM, exact (see models.compose.types.plan_length)


def can_batch(composer: object) -> TypeGuard[TokenComposer]:
    """Whether ``composer``'s pieces can share a batch: a plain token model whose random draws all come from the
    sampler (the GAN draws per-step noise from its own generator, so its pieces would depend on their batch)."""
    if getattr(composer, "batches_itself", False):  # e.g. models.poly.compose.PolyComposer
        return True
    return isinstance(composer, TokenComposer) and composer.can_batch


class RowGrammar(BatchGrammar):
    """The bar grammar with a pitch range per stream (each piece is transposed to its own key)."""

    def __init__(self, vocab: Vocab, meters: list[str], ranges: Sequence[tuple[int, int]], max_repeat: int = 8) -> None:
        super().__init__(vocab, meters, (PITCH_MIN, PITCH_MAX), max_repeat)
        value = torch.full((len(vocab),), -1)
        for p in range(PITCH_MIN, PITCH_MAX + 1):
            value[vocab.pitch_id(p)] = p
        low = torch.tensor([max(lo, PITCH_MIN) for lo, _ in ranges])[:, None]
        high = torch.tensor([min(hi, PITCH_MAX) for _, hi in ranges])[:, None]
        self.allowed = ~self.table.is_pitch | ((value >= low) & (value <= high))  # [B, V]

    def mask(self, done: torch.Tensor | None = None) -> torch.Tensor:
        return super().mask(done) & self.allowed


@torch.no_grad()
def sample_rows(
    model: StepModel,
    vocab: Vocab,
    meters: list[str],
    bars: list[int],
    asks: Sequence[Ask],
    ranges: Sequence[tuple[int, int]],
    *,
    prefix: list[str] | None = None,
    device: str = "cpu",
) -> list[list[int]]:
    """``models.tokenlm.sampling.sample_bars`` with a seed, length, pitch range, temperature, top-k and progress per
    stream: each stream draws from its own generator, so its notes do not depend on the others'."""
    gens = [torch.Generator().manual_seed(ask.seed) for ask in asks]
    grammar = RowGrammar(vocab, meters, ranges)
    batch, n_bars = len(meters), torch.tensor(bars)
    groups: dict[tuple[float, int], list[int]] = {}
    for i, ask in enumerate(asks):
        groups.setdefault((ask.temperature, ask.top_k), []).append(i)
    heads = [[vocab.bos, *(vocab.index[t] for t in prefix or []), vocab.meter_id(m)] for m in meters]
    done = torch.zeros(batch, dtype=torch.bool)
    reported = [-1.0] * batch
    steps: list[torch.Tensor] = []
    logits, state = model.forward(torch.tensor(heads, device=device), None)
    logits = logits[:, -1]
    while not bool(done.all()):
        mask, cpu = grammar.mask(done), logits.to("cpu")
        probs = torch.empty(cpu.shape)
        for (temperature, top_k), rows in groups.items():
            probs[rows] = filter_logits(cpu[rows], mask[rows], temperature, top_k)
        # torch.multinomial(p, 1) is argmax(p / q) with q ~ Exp(1) drawn like p: the same per-row draws, batched
        q = torch.cat([torch.empty(1, probs.shape[1]).exponential_(1, generator=g) for g in gens])
        nxt = torch.argmax(probs / q, dim=-1)
        live = ~done
        steps.append(torch.where(live, nxt, torch.full_like(nxt, -1)))
        grammar.advance(nxt, live)
        done = done | (grammar.bars_done >= n_bars)
        fractions = (grammar.bars_done.clamp(max=n_bars).float() / n_bars).tolist()
        for i, ask in enumerate(asks):
            if ask.on_progress is not None and (fractions[i] - reported[i] >= 0.05 or (done[i] and reported[i] < 1)):
                reported[i] = fractions[i]
                ask.on_progress(fractions[i])
        if not bool(done.all()):
            logits, state = model.step(nxt.to(device), state)
    cols = torch.stack(steps, 1).tolist()
    return [head + [t for t in row if t >= 0] + [vocab.eos] for head, row in zip(heads, cols, strict=True)]


def compose_batch(composer: Composer, asks: Sequence[Ask]) -> list[Composition]:
    """One piece per ask, sampled together; ``compose_batch(c, [a])[0]`` equals ``c.compose(a.seconds, ...)``.

    Raises:
        ValueError: the composer cannot batch (see ``can_batch``).
    """
    if getattr(composer, "batches_itself", False):
        return composer.compose_batch(asks)  # type: ignore[attr-defined]  # PolyComposer: its own batch path
    if not can_batch(composer):
        raise ValueError(f"{type(composer).__name__} ({composer.arch}) cannot sample several pieces in one batch")
    plans = [composer.plan(ask.seconds, ask.seed, ask.tempo) for ask in asks]
    ranges = [(PITCH_MIN - min(shift, 0), PITCH_MAX - max(shift, 0)) for _, shift, _, _ in plans]
    rows = sample_rows(
        composer.model,
        composer.vocab,
        [p[0] for p in plans],
        [p[2] for p in plans],
        asks,
        ranges,
        prefix=composer.style_meta.get("prefix", []),
        device=composer.device,
    )
    return [
        dataclasses.replace(
            composer._finish(ids, meter, qpm, shift, ask.seed),
            seconds=planned_seconds(ask.seconds, ask.tempo, bars, meter, qpm),
        )
        for ids, (meter, shift, bars, qpm), ask in zip(rows, plans, asks, strict=True)
    ]
