"""Grammar-constrained autoregressive sampling with carried state, temperature, top-k and a seed.

The grammar (BatchGrammar) masks tokens so that every bar is exactly full, which makes the piece's
length exact. A repetition guard masks a pitch after it has sounded ``max_repeat`` times in a row.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

import torch

from models.music.melody import meter_ticks
from models.music.tokens import MAX_TICKS, PITCH_MAX, PITCH_MIN, Vocab


class StepModel(Protocol):
    """A model that decodes one token at a time from a cache of its own."""

    def forward(self, ids: torch.Tensor, state: Any = None) -> tuple[torch.Tensor, Any]: ...

    def step(self, ids: torch.Tensor, state: Any) -> tuple[torch.Tensor, Any]: ...


class Masks:
    """Precomputed boolean masks [V] of the tokens the grammar allows in each situation."""

    def __init__(self, vocab: Vocab, pitch_range: tuple[int, int] = (PITCH_MIN, PITCH_MAX)) -> None:
        size = len(vocab)
        self.event = torch.zeros(size, dtype=torch.bool)
        self.event[vocab.rest] = True
        for p in range(max(pitch_range[0], PITCH_MIN), min(pitch_range[1], PITCH_MAX) + 1):
            self.event[vocab.pitch_id(p)] = True
        self.bar = torch.zeros(size, dtype=torch.bool)
        self.bar[vocab.bar] = True
        self.dur = torch.zeros(MAX_TICKS + 1, size, dtype=torch.bool)  # dur[r]: durations ≤ r
        for r in range(1, MAX_TICKS + 1):
            self.dur[r] = self.dur[r - 1]
            self.dur[r, vocab.dur_id(r)] = True


def filter_logits(logits: torch.Tensor, mask: torch.Tensor, temperature: float, top_k: int) -> torch.Tensor:
    """logits [B, V], mask [B, V] → probabilities [B, V] after masking, temperature and top-k."""
    scaled = (logits.float() / max(temperature, 1e-4)).masked_fill(~mask, float("-inf"))
    if top_k > 0:
        kth = torch.topk(scaled, min(top_k, scaled.shape[-1]), dim=-1).values[:, -1:]  # [B, 1]
        scaled = scaled.masked_fill(scaled < kth, float("-inf"))
    return torch.softmax(scaled, dim=-1)


class TokenTable:
    """Per-token lookup tensors [V] that let the grammar advance a whole batch at once."""

    def __init__(self, vocab: Vocab) -> None:
        kinds = [vocab.kind(i) for i in range(len(vocab))]
        self.is_pitch = torch.tensor([k == "pitch" for k in kinds])
        self.is_rest = torch.tensor([k == "<rest>" for k in kinds])
        self.is_bar = torch.tensor([k == "<bar>" for k in kinds])
        self.dur = torch.tensor([int(vocab.value(i)) if k == "dur" else 0 for i, k in enumerate(kinds)])


class BatchGrammar:
    """The bar grammar for a batch, on tensors: which tokens may come next, and how each token advances it.

    Every bar must be exactly full; a pitch is masked after sounding ``max_repeat`` times in a row.
    """

    def __init__(self, vocab: Vocab, meters: list[str], pitch_range: tuple[int, int] = (PITCH_MIN, PITCH_MAX),
                 max_repeat: int = 8) -> None:
        self.vocab, self.masks, self.table = vocab, Masks(vocab, pitch_range), TokenTable(vocab)
        self.max_repeat = max_repeat
        batch = len(meters)
        self.bar_ticks = torch.tensor([meter_ticks(m) for m in meters])  # [B]
        self.remaining = self.bar_ticks.clone()  # ticks left in the current bar, [B]
        self.want_dur = torch.zeros(batch, dtype=torch.bool)  # a duration must come next, [B]
        self.bars_done = torch.zeros(batch, dtype=torch.long)
        self.last = torch.full((batch,), -1)  # last pitch token, [B]
        self.run = torch.zeros(batch, dtype=torch.long)  # its repeat count, [B]

    def mask(self, done: torch.Tensor | None = None) -> torch.Tensor:
        """Allowed next tokens [B, V]; finished streams (``done`` [B]) may only emit <pad>."""
        m = self.masks
        mask = m.event.expand(len(self.remaining), -1).clone()  # [B, V]
        full = (self.remaining == 0) & ~self.want_dur
        mask[full] = m.bar
        mask[self.want_dur] = m.dur[self.remaining[self.want_dur].clamp(max=MAX_TICKS)]
        guard = ~self.want_dur & ~full & (self.run >= self.max_repeat)
        mask[guard, self.last[guard]] = False
        if done is not None:
            mask[done] = False
            mask[done, self.vocab.pad] = True
        return mask

    def advance(self, nxt: torch.Tensor, live: torch.Tensor | None = None) -> None:
        """Update the state with the tokens nxt [B] just emitted by the ``live`` [B] streams."""
        t = self.table
        is_pitch, is_rest, is_bar = t.is_pitch[nxt], t.is_rest[nxt], t.is_bar[nxt]
        self.remaining = torch.where(is_bar, self.bar_ticks, self.remaining - t.dur[nxt])
        self.want_dur = is_pitch | is_rest
        self.run = torch.where(is_pitch, torch.where(nxt == self.last, self.run + 1, torch.ones_like(self.run)),
                               torch.where(is_rest, torch.zeros_like(self.run), self.run))
        self.last = torch.where(is_pitch, nxt, torch.where(is_rest, torch.full_like(self.last, -1), self.last))
        self.bars_done = self.bars_done + (is_bar if live is None else is_bar & live).long()


@torch.no_grad()
def sample_bars(
    model: StepModel,
    vocab: Vocab,
    meters: list[str],
    n_bars: int,
    *,
    seed: int,
    temperature: float = 1.0,
    top_k: int = 0,
    device: str = "cpu",
    pitch_range: tuple[int, int] = (PITCH_MIN, PITCH_MAX),
    max_repeat: int = 8,
    on_progress: Callable[[float], None] | None = None,
    prefix: list[str] | None = None,
    prime: list[list[int]] | None = None,
) -> list[list[int]]:
    """Sample one piece of exactly ``n_bars`` whole bars per entry of ``meters`` (the batch), as token ids.

    The grammar runs on tensors for the whole batch, so 32 streams cost little more Python than one.
    Random draws happen on the CPU from a seeded generator, so a seed gives the same notes on any device
    whenever the model's logits agree. ``prefix`` holds extra conditioning tokens after ``<bos>``; ``prime``
    replaces the whole head per stream (a previous piece ending on ``<bar>``, to continue it).
    """
    gen = torch.Generator().manual_seed(seed)
    grammar = BatchGrammar(vocab, meters, pitch_range, max_repeat)
    batch = len(meters)
    heads = prime or [[vocab.bos, *(vocab.index[t] for t in prefix or []), vocab.meter_id(m)] for m in meters]
    if len({len(h) for h in heads}) != 1:
        raise ValueError("primes of one batch must have the same length")
    done = torch.zeros(batch, dtype=torch.bool)
    steps: list[torch.Tensor] = []
    logits, state = model.forward(torch.tensor(heads, device=device), None)
    logits = logits[:, -1]  # [B, V]
    reported = -1.0
    while not bool(done.all()):
        probs = filter_logits(logits.to("cpu"), grammar.mask(done), temperature, top_k)  # [B, V]
        nxt = torch.multinomial(probs, 1, generator=gen)[:, 0]  # [B]
        live = ~done
        steps.append(torch.where(live, nxt, torch.full_like(nxt, -1)))
        grammar.advance(nxt, live)
        done = done | (grammar.bars_done >= n_bars)
        if on_progress is not None:
            frac = float(grammar.bars_done.clamp(max=n_bars).sum()) / (n_bars * batch)
            if frac - reported >= 0.05 or bool(done.all()):
                reported = frac
                on_progress(frac)
        if not bool(done.all()):
            logits, state = model.step(nxt.to(device), state)
    cols = torch.stack(steps, 1).tolist() if steps else [[] for _ in meters]  # [B, steps]
    return [head + [t for t in row if t >= 0] + [vocab.eos] for head, row in zip(heads, cols, strict=True)]
