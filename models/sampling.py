"""Grammar-constrained autoregressive sampling with carried state, temperature, top-k and a seed.

The grammar (models.tokens.Grammar) masks tokens so that every bar is exactly full, which makes the piece's
length exact. A repetition guard masks a pitch after it has sounded ``max_repeat`` times in a row.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

import torch

from models.melody import meter_ticks
from models.tokens import MAX_TICKS, PITCH_MAX, PITCH_MIN, Grammar, Vocab


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
) -> list[list[int]]:
    """Sample one piece of exactly ``n_bars`` whole bars per entry of ``meters`` (the batch), as token ids.

    Random draws happen on the CPU from a seeded generator, so a seed gives the same notes on any device
    whenever the model's logits agree.
    """
    gen = torch.Generator().manual_seed(seed)
    masks = Masks(vocab, pitch_range)
    batch = len(meters)
    grammars = [Grammar(meter_ticks(m)) for m in meters]
    out = [[vocab.bos, vocab.meter_id(m)] for m in meters]
    runs = [(None, 0)] * batch  # (last pitch token, how many times in a row)
    prime = torch.tensor(out, device=device)  # [B, 2]
    logits, state = model.forward(prime, None)
    logits = logits[:, -1]  # [B, V]
    done = [False] * batch
    reported = -1.0
    while not all(done):
        mask = torch.zeros(batch, len(vocab), dtype=torch.bool)
        for b, g in enumerate(grammars):
            what, limit = g.allowed()
            if done[b]:
                mask[b, vocab.pad] = True
            elif what == "bar":
                mask[b] = masks.bar
            elif what == "dur":
                mask[b] = masks.dur[limit]
            else:
                mask[b] = masks.event
                last, count = runs[b]
                if last is not None and count >= max_repeat:
                    mask[b, last] = False
        probs = filter_logits(logits.to("cpu"), mask, temperature, top_k)  # [B, V]
        nxt = torch.multinomial(probs, 1, generator=gen)[:, 0]  # [B]
        for b in range(batch):
            if done[b]:
                continue
            tok = int(nxt[b])
            out[b].append(tok)
            grammars[b].advance(tok, vocab)
            kind = vocab.kind(tok)
            if kind == "pitch":
                runs[b] = (tok, runs[b][1] + 1 if runs[b][0] == tok else 1)
            elif kind == "<rest>":
                runs[b] = (None, 0)
            if grammars[b].bars_done >= n_bars:
                done[b] = True
                out[b].append(vocab.eos)
        if on_progress is not None:
            frac = sum(min(g.bars_done, n_bars) for g in grammars) / (n_bars * batch)
            if frac - reported >= 0.05 or all(done):
                reported = frac
                on_progress(frac)
        if not all(done):
            logits, state = model.step(nxt.to(device), state)
    return out
