"""Grammar-constrained autoregressive sampling with carried state, temperature, top-k and a seed.

The grammar (BatchGrammar) masks tokens so that every bar is exactly full, which makes the piece's
length exact. A repetition guard masks a pitch after it has sounded ``max_repeat`` times in a row.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

import torch

from models.music.melody import meter_ticks
from models.music.tokens import MAX_TICKS, PITCH_MAX, PITCH_MIN, Vocab


class StepModel(Protocol):
    """A model that decodes one token at a time from a cache of its own."""

    def forward(self, ids: torch.Tensor, state: Any = None) -> tuple[torch.Tensor, Any]: ...

    def step(self, ids: torch.Tensor, state: Any) -> tuple[torch.Tensor, Any]: ...


@dataclass(frozen=True)
class Constraints:
    """Exact musical controls for one stream, in the model's (C-normalised) pitch frame.

    ``scale``: the pitch classes any note may have; ``start``: those of the first note; ``end``: those of the
    note that ends the last bar; ``loop``: the last note has the first note's pitch class, so the piece leads
    back into its start. The grammar enforces them, so they hold for every sample, not just most.
    """

    scale: frozenset[int] | None = None
    start: frozenset[int] | None = None
    end: frozenset[int] | None = None
    loop: bool = False


def _pcs(pcs: frozenset[int] | None) -> torch.Tensor:
    out = torch.zeros(12, dtype=torch.bool)
    for pc in pcs if pcs is not None else range(12):
        out[pc % 12] = True
    return out


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
        self.pc = torch.tensor([int(vocab.value(i)) % 12 if k == "pitch" else 0 for i, k in enumerate(kinds)])


class BatchGrammar:
    """The bar grammar for a batch, on tensors: which tokens may come next, and how each token advances it.

    Every bar must be exactly full; a pitch is masked after sounding ``max_repeat`` times in a row.
    """

    def __init__(
        self,
        vocab: Vocab,
        meters: list[str],
        pitch_range: tuple[int, int] = (PITCH_MIN, PITCH_MAX),
        max_repeat: int = 8,
        n_bars: int | None = None,
        constraints: list[Constraints | None] | None = None,
    ) -> None:
        self.vocab, self.masks, self.table = vocab, Masks(vocab, pitch_range), TokenTable(vocab)
        self.max_repeat = max_repeat
        batch = len(meters)
        self.n_bars = n_bars
        cons = list(constraints or [None] * batch)
        self.constrained = any(c is not None for c in cons)
        if self.constrained:
            t = self.table
            blank = Constraints()
            filled: list[Constraints] = [c or blank for c in cons]
            scale = torch.stack([_pcs(c.scale) for c in filled])  # [B, 12]
            self.event_ok = self.masks.event[None, :] & (~t.is_pitch | scale[:, t.pc])[:, :]  # [B, V]
            start = torch.stack([_pcs(c.start) for c in filled])
            self.has_start = torch.tensor([c.start is not None for c in filled])
            self.start_ok = self.event_ok & t.is_pitch & start[:, t.pc]  # [B, V]
            self.end_pc = torch.stack([_pcs(c.end) for c in filled])  # [B, 12]
            self.has_end = torch.tensor([c.end is not None for c in filled])
            self.loop = torch.tensor([c.loop for c in filled])
            self.started = torch.zeros(batch, dtype=torch.bool)
            self.on_target = torch.zeros(batch, dtype=torch.bool)  # the last note's pitch class may end the piece
        self.bar_ticks = torch.tensor([meter_ticks(m) for m in meters])  # [B]
        self.remaining = self.bar_ticks.clone()  # ticks left in the current bar, [B]
        self.want_dur = torch.zeros(batch, dtype=torch.bool)  # a duration must come next, [B]
        self.bars_done = torch.zeros(batch, dtype=torch.long)
        self.last = torch.full((batch,), -1)  # last pitch token, [B]
        self.run = torch.zeros(batch, dtype=torch.long)  # its repeat count, [B]

    def mask(self, done: torch.Tensor | None = None) -> torch.Tensor:
        """Allowed next tokens [B, V]; finished streams (``done`` [B]) may only emit <pad>."""
        m = self.masks
        if self.constrained:
            mask = self.event_ok.clone()  # [B, V]
        else:
            mask = m.event.expand(len(self.remaining), -1).clone()  # [B, V]
        full = (self.remaining == 0) & ~self.want_dur
        mask[full] = m.bar
        mask[self.want_dur] = m.dur[self.remaining[self.want_dur].clamp(max=MAX_TICKS)]
        event = ~self.want_dur & ~full
        if self.constrained:
            first = event & ~self.started & self.has_start
            mask[first] = self.start_ok[first]
            if self.n_bars is not None:
                final = (self.bars_done == self.n_bars - 1) & self.has_end
                t = self.table
                last_slot = final & event & (self.remaining == 1)  # the last tick: only a closing note fits
                mask[last_slot] &= t.is_pitch & self.end_pc[last_slot][:, t.pc]
                open_ = final & self.want_dur & ~self.on_target  # any other note must leave room for one
                mask[open_] = m.dur[(self.remaining[open_] - 1).clamp(min=0, max=MAX_TICKS)]
        fallback = mask.clone()
        guard = event & (self.run >= self.max_repeat)
        mask[guard, self.last[guard]] = False
        empty = ~mask.any(-1)
        mask[empty] = fallback[empty]  # the repetition guard never leaves a stream without a token
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
        self.run = torch.where(
            is_pitch,
            torch.where(nxt == self.last, self.run + 1, torch.ones_like(self.run)),
            torch.where(is_rest, torch.zeros_like(self.run), self.run),
        )
        self.last = torch.where(is_pitch, nxt, torch.where(is_rest, torch.full_like(self.last, -1), self.last))
        if self.constrained:
            first = is_pitch & ~self.started & self.loop  # a loop must end on its first note's pitch class
            if bool(first.any()):
                self.end_pc[first] = torch.nn.functional.one_hot(t.pc[nxt[first]], 12).bool()
                self.has_end = self.has_end | first
            self.started = self.started | is_pitch
            hit = self.end_pc[torch.arange(len(nxt)), t.pc[nxt]]
            self.on_target = torch.where(is_pitch | is_rest, is_pitch & hit, self.on_target)
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
    constraints: list[Constraints | None] | None = None,
    keep: list[list[list[int]] | None] | None = None,
) -> list[list[int]]:
    """Sample one piece of exactly ``n_bars`` whole bars per entry of ``meters`` (the batch), as token ids.

    The grammar runs on tensors for the whole batch, so 32 streams cost little more Python than one.
    Random draws happen on the CPU from a seeded generator, so a seed gives the same notes on any device
    whenever the model's logits agree. ``prefix`` holds extra conditioning tokens after ``<bos>``; ``prime``
    replaces the whole head per stream (a previous piece ending on ``<bar>``, to continue it). ``constraints``
    (per stream) hold an exact key or loop ending; ``keep`` (per stream, per bar) gives the tokens of bars to
    keep as they are (each ending on ``<bar>``), ``[]`` for bars to sample: a variation re-samples the others,
    each conditioned on everything before it.
    """
    gen = torch.Generator().manual_seed(seed)
    grammar = BatchGrammar(vocab, meters, pitch_range, max_repeat, n_bars=n_bars, constraints=constraints)
    kept = list(keep or [None] * len(meters))
    cursor = [0] * len(meters)
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
        for b, bars in enumerate(kept):  # a kept bar is fed to the model as it was, token by token
            bar = int(grammar.bars_done[b])
            if bars is not None and not bool(done[b]) and bar < len(bars) and bars[bar]:
                nxt[b] = bars[bar][cursor[b]]
                cursor[b] = 0 if int(nxt[b]) == vocab.bar else cursor[b] + 1
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
