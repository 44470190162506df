"""Grammar-masked batched sampling of polyphonic tokens with carried model state, a seed per piece,
temperature and top-k.

The grammar (PolyGrammar) is exactly what :mod:`models.poly.tokens` encodes: after a bar line, a position or
``<bar>`` (at most one empty bar in a row); after a position, a velocity; after a velocity, a pitch; after a
pitch, a duration no shorter than the style's shortest common value; after a duration, a higher pitch of the
same onset (at most MAX_GROUP), a later position on the style's onset grid, or ``<bar>``. Pitches keep to each
piece's range. Sampling stops each stream after its number of ``<bar>`` tokens, so a piece has an exact
number of whole bars and ends at a bar line.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch

from models.music.melody import meter_ticks
from models.poly.tokens import MAX_GROUP, PolyVocab
from models.tokenlm.sampling import StepModel, filter_logits

ProgressFn = Callable[[float], None]
GRID = (0, 3, 4, 6, 8, 9)  # positions in a quarter the grammar allows by default: sixteenths and triplet eighths

AFTER_BAR, WANT_VEL, WANT_PITCH, WANT_DUR, AFTER_DUR = range(5)


@dataclass(frozen=True)
class PolyAsk:
    """One piece of a batch: meter, bars, seed, sampling settings, pitch range and where progress goes."""

    meter: str
    bars: int
    seed: int
    temperature: float = 1.0
    top_k: int = 0
    pitch_range: tuple[int, int] = (21, 108)
    on_progress: ProgressFn | None = None


class PolyGrammar:
    """The token grammar for a batch of streams, on tensors."""

    def __init__(
        self,
        vocab: PolyVocab,
        asks: Sequence[PolyAsk],
        *,
        grid: Sequence[int] = GRID,
        min_dur: int = 1,
        max_group: int = MAX_GROUP,
        max_empty_bars: int = 1,
    ) -> None:
        self.vocab = vocab
        size = len(vocab)
        kinds = [vocab.kind(i) for i in range(size)]
        val = [int(vocab.value(i)) if k in ("pos", "pitch", "dur", "vel") else -1 for i, k in enumerate(kinds)]
        value = torch.tensor(val)
        self.is_pos = torch.tensor([k == "pos" for k in kinds])
        self.is_vel = torch.tensor([k == "vel" for k in kinds])
        self.is_pitch = torch.tensor([k == "pitch" for k in kinds])
        self.is_dur = torch.tensor([k == "dur" for k in kinds])
        self.is_bar = torch.zeros(size, dtype=torch.bool)
        self.is_bar[vocab.bar] = True
        self.pos_value = torch.where(self.is_pos, value, torch.full_like(value, -1))
        self.pitch_value = torch.where(self.is_pitch, value, torch.full_like(value, -1))
        self.dur_ok = self.is_dur & (value >= min_dur)
        if not bool(self.dur_ok.any()):
            self.dur_ok = self.is_dur.clone()
        on_grid = torch.tensor([v % 12 in set(grid) for v in val])
        bar_ticks = torch.tensor([meter_ticks(a.meter) for a in asks])[:, None]  # [B, 1]
        self.pos_ok = self.is_pos & on_grid & (self.pos_value < bar_ticks)  # [B, V]
        low = torch.tensor([a.pitch_range[0] for a in asks])[:, None]
        high = torch.tensor([a.pitch_range[1] for a in asks])[:, None]
        self.pitch_ok = self.is_pitch & (self.pitch_value >= low) & (self.pitch_value <= high)  # [B, V]
        self.max_group, self.max_empty = max_group, max_empty_bars
        batch = len(asks)
        self.phase = torch.full((batch,), AFTER_BAR)
        self.pos = torch.full((batch,), -1)
        self.last_pitch = torch.full((batch,), -1)
        self.in_group = torch.zeros(batch, dtype=torch.long)
        self.empty_run = torch.zeros(batch, dtype=torch.long)  # empty bars in a row so far
        self.bars_done = torch.zeros(batch, dtype=torch.long)

    def mask(self, done: torch.Tensor | None = None) -> torch.Tensor:
        """Allowed next tokens [B, V]; finished streams may only emit <pad>."""
        p = self.phase[:, None]
        open_ = (p == AFTER_BAR) | (p == AFTER_DUR)
        later_pos = self.pos_ok & (self.pos_value[None] > self.pos[:, None])
        higher = self.pitch_ok & (self.pitch_value[None] > self.last_pitch[:, None])
        bar_ok = self.is_bar[None] & ~((p == AFTER_BAR) & (self.empty_run[:, None] >= self.max_empty))
        mask = (open_ & (later_pos | bar_ok)) | ((p == AFTER_DUR) & higher & (self.in_group < self.max_group)[:, None])
        mask |= (p == WANT_VEL) & self.is_vel[None]
        mask |= (p == WANT_PITCH) & higher
        mask |= (p == WANT_DUR) & self.dur_ok[None]
        dead = ~mask.any(dim=1)  # e.g. no position left and an empty bar not allowed: close the bar
        mask[dead] = self.is_bar
        if done is not None:
            mask[done] = False
            mask[done, self.vocab.pad] = True
        return mask

    def advance(self, nxt: torch.Tensor, live: torch.Tensor) -> None:
        """Update the state with the tokens nxt [B] just emitted by the ``live`` [B] streams."""
        is_pos, is_vel, is_pitch, is_dur, is_bar = (
            t[nxt] for t in (self.is_pos, self.is_vel, self.is_pitch, self.is_dur, self.is_bar)
        )
        empty_bar = is_bar & (self.phase == AFTER_BAR)
        self.empty_run = torch.where(is_bar, torch.where(empty_bar, self.empty_run + 1, 0), self.empty_run)
        self.pos = torch.where(is_pos, self.pos_value[nxt], torch.where(is_bar, -1, self.pos))
        self.last_pitch = torch.where(
            is_pitch, self.pitch_value[nxt], torch.where(is_pos | is_bar, -1, self.last_pitch)
        )
        self.in_group = torch.where(is_pitch, self.in_group + 1, torch.where(is_pos, 0, self.in_group))
        phase = self.phase
        phase = torch.where(is_bar, AFTER_BAR, phase)
        phase = torch.where(is_pos, WANT_VEL, phase)
        phase = torch.where(is_vel, WANT_PITCH, phase)
        phase = torch.where(is_pitch, WANT_DUR, phase)
        phase = torch.where(is_dur, AFTER_DUR, phase)
        self.phase = torch.where(live, phase, self.phase)
        self.bars_done = self.bars_done + (is_bar & live).long()


@torch.no_grad()
def sample_poly(
    model: StepModel,
    vocab: PolyVocab,
    asks: Sequence[PolyAsk],
    *,
    prefix: Sequence[str] = (),
    grid: Sequence[int] = GRID,
    min_dur: int = 1,
    device: str = "cpu",
    prime: list[list[int]] | None = None,
) -> list[list[int]]:
    """Sample one piece per ask, together, as token ids ``<bos> prefix M:meter ... <eos>``.

    Each stream draws from its own seeded generator (``torch.multinomial`` as argmax of p / Exp(1) noise), so
    a piece sampled alone has exactly the tokens it has in any batch. ``prime`` replaces the heads (a piece
    to continue, ending on ``<bar>``).
    """
    gens = [torch.Generator().manual_seed(a.seed) for a in asks]
    grammar = PolyGrammar(vocab, asks, grid=grid, min_dur=min_dur)
    batch = len(asks)
    n_bars = torch.tensor([a.bars for a in asks])
    heads = prime or [[vocab.bos, *(vocab.index[t] for t in prefix), vocab.meter_id(a.meter)] for a in asks]
    if len({len(h) for h in heads}) != 1:
        raise ValueError("heads of one batch must have the same length")
    groups: dict[tuple[float, int], list[int]] = {}
    for i, a in enumerate(asks):
        groups.setdefault((a.temperature, a.top_k), []).append(i)
    done = n_bars <= 0
    reported = [-1.0] * batch
    steps: list[torch.Tensor] = []
    logits, state = model.forward(torch.tensor(heads, device=device), None)
    logits = logits[:, -1]
    while not bool(done.all()):
        mask, cpu = grammar.mask(done), logits.to("cpu").float()
        probs = torch.empty(cpu.shape)
        for (temperature, top_k), rows in groups.items():
            probs[rows] = filter_logits(cpu[rows], mask[rows], temperature, top_k)
        q = torch.cat([torch.empty(1, probs.shape[1]).exponential_(1, generator=g) for g in gens])
        nxt = torch.argmax(probs / q, dim=-1)
        live = ~done
        steps.append(torch.where(live, nxt, torch.full_like(nxt, -1)))
        grammar.advance(nxt, live)
        done = done | (grammar.bars_done >= n_bars)
        fractions = (grammar.bars_done.clamp(max=n_bars).float() / n_bars.clamp(min=1)).tolist()
        for i, a in enumerate(asks):
            if a.on_progress is not None and (fractions[i] - reported[i] >= 0.05 or (done[i] and reported[i] < 1)):
                reported[i] = fractions[i]
                a.on_progress(fractions[i])
        if not bool(done.all()):
            logits, state = model.step(nxt.to(device), state)
    cols = torch.stack(steps, 1).tolist() if steps else [[] for _ in asks]
    return [head + [t for t in row if t >= 0] + [vocab.eos] for head, row in zip(heads, cols, strict=True)]
