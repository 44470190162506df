"""Sampling the ABC LSTM and composing pieces of an exact length from its tunes.

Sampling carries the LSTM's (h, c) state (one token per step, no prefix re-run), divides logits by a float
temperature, applies top-k, and draws from a seeded ``torch.Generator``, so a seed always gives the same ABC.
A small token grammar keeps the output well-formed (a length only after a note, ``>`` between notes,
``</s>`` only at a bar line and after 8 bars…); bar lengths are left to the model and checked when the tune
is played.
The header (``M:`` then ``K:``) is sampled at temperature 1 so low temperatures still vary meter and mode.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from pathlib import Path

import torch

from models import catalog
from models.abc_corpus import AbcVocab
from models.abc_model import ARCH, build_abc_model
from models.abc_play import render, tonic_key, transpose_tokens
from models.abc_syntax import AbcError, kind
from models.abc_tokens import detokenize
from models.checkpoint import load_metadata, load_weights
from models.generate import Composition, plan_length
from models.melody import tune_to_notes
from models.sampling import filter_logits
from models.styles import get_style

MAX_TOKENS = 1024
MAX_ATTEMPTS = 8
MIN_BARS = 8
_FOLLOW = {
    "start": {"meter"}, "meter": {"key"}, "key": {"pitch", "rest", "tuplet", "bar"},
    "pitch": {"dur", "broken", "tie", "pitch", "rest", "tuplet", "bar"},
    "pdur": {"broken", "tie", "pitch", "rest", "tuplet", "bar"},
    "rest": {"dur", "broken", "pitch", "rest", "tuplet", "bar"},
    "rdur": {"broken", "pitch", "rest", "tuplet", "bar"},
    "broken": {"pitch", "rest"}, "tie": {"pitch", "bar"}, "tuplet": {"pitch", "rest"},
    "bar": {"pitch", "rest", "tuplet", "ending", "eos"}, "ending": {"pitch", "rest", "tuplet"},
    "repeat_end": {"pitch", "rest", "tuplet", "ending", "eos"},  # after ``:|``, which ``|:`` may follow
}


class Grammar:
    """Boolean masks [V] of the tokens allowed after each kind of token."""

    def __init__(self, vocab: AbcVocab) -> None:
        kinds = ["eos" if i == vocab.eos else kind(t) for i, t in enumerate(vocab.tokens)]
        self.kinds = kinds
        self.masks = {state: torch.tensor([k in allowed for k in kinds]) for state, allowed in _FOLLOW.items()}
        self.repeat_end = vocab.index.get(":|", -1)
        if "|:" in vocab.index:  # ``:| |:`` is the one pair of bar lines in a row
            self.masks["repeat_end"][vocab.index["|:"]] = True

    def advance(self, state: str, token_id: int) -> str:
        k = self.kinds[token_id]
        if token_id == self.repeat_end:
            return "repeat_end"
        return ("pdur" if state == "pitch" else "rdur") if k == "dur" else k


@torch.no_grad()
def sample_ids(model, vocab: AbcVocab, generator: torch.Generator, *, temperature: float = 1.0, top_k: int = 0,
               max_tokens: int = MAX_TOKENS, min_bars: int = MIN_BARS, device: str = "cpu",
               grammar: Grammar | None = None, on_token: Callable[[int], None] | None = None,
               trace: list | None = None) -> list[int]:
    """One tune as token ids from ``<s>`` to ``</s>``; at ``max_tokens`` it is cut after its last bar line.

    ``</s>`` waits for ``min_bars`` bar lines, so the model cannot stop after a fragment.
    ``trace`` (a list) receives the logits [V] each step saw, for checking the cache against a recompute.
    """
    grammar = grammar or Grammar(vocab)
    ids, state, bars = [vocab.bos], "start", 0
    logits, hc = model(torch.tensor([[vocab.bos]], device=device), None)
    logits = logits[:, -1]  # [1, V]
    for _ in range(max_tokens):
        if trace is not None:
            trace.append(logits[0].cpu().clone())
        header = state in ("start", "meter")
        mask = grammar.masks[state]
        if bars < min_bars and mask[vocab.eos]:
            mask = mask.clone()
            mask[vocab.eos] = False
        probs = filter_logits(logits.cpu(), mask[None], 1.0 if header else temperature, 0 if header else top_k)
        token = int(torch.multinomial(probs, 1, generator=generator)[0, 0])
        ids.append(token)
        if token == vocab.eos:
            return ids
        state = grammar.advance(state, token)
        bars += grammar.kinds[token] == "bar"
        if on_token is not None:
            on_token(len(ids))
        logits, hc = model.step(torch.tensor([token], device=device), hc)
    last_bar = max((i for i, t in enumerate(ids) if grammar.kinds[t] == "bar"), default=0)  # ``:|`` included
    return ids[: last_bar + 1] + [vocab.eos]


class AbcComposer:
    """A style's ABC checkpoint; composes pieces of an exact length and hands back their ABC."""

    def __init__(self, style: str, device: str = "cpu", checkpoint_dir: Path | None = None,
                 arch: str = ARCH) -> None:
        self.style = get_style(style)
        entry = catalog.find(self.style.name, arch, checkpoint_dir)
        self.arch = arch
        self.device = device
        self.meta = load_metadata(entry.directory, entry.name, arch)
        self.vocab = AbcVocab(self.meta["vocab"])
        self.grammar = Grammar(self.vocab)
        self.model = load_weights(build_abc_model(self.meta["args"]), entry.directory, entry.name, arch, device)
        self.checkpoint = f"{entry.name}-{arch}@{self.meta.get('date', '?')}"

    def compose(self, seconds: float, *, seed: int, temperature: float = 1.0, top_k: int = 0,
                on_progress: Callable[[float], None] | None = None) -> Composition:
        """Sample a tune, play it round until exactly ``seconds`` (ending on a bar line); same seed, same piece.

        An unusable tune (no whole bars, or ABC music21 cannot read) is replaced by the next one drawn from
        the same seeded generator, at most ``MAX_ATTEMPTS`` times.

        Raises:
            RuntimeError: when no attempt gives a playable tune.
        """
        pc = random.Random(seed).choice(self.style.keys)
        gen = torch.Generator().manual_seed(seed)
        expected = max(64, int(self.meta.get("tokens", {}).get("median", 200) * 1.5))
        done = [0.0]

        def tick(n: int) -> None:
            frac = min(0.9, n / expected)
            if on_progress is not None and frac - done[0] >= 0.05:
                done[0] = frac
                on_progress(frac)

        for attempt in range(MAX_ATTEMPTS):
            ids = sample_ids(self.model, self.vocab, gen, temperature=temperature, top_k=top_k,
                             device=self.device, grammar=self.grammar, on_token=tick)
            tokens = self.vocab.decode(ids)
            meter, mode = tokens[1][2:], tokens[2][3:]
            bars, qpm = plan_length(seconds, meter, self.style.tempo_range)
            moved = transpose_tokens(tokens, tonic_key(pc, mode))
            try:
                tune, _ = render(moved, bars, tune_id=f"{self.style.name}-abc-{seed}")
            except AbcError:
                continue
            title = f"tunesmith {self.style.name} (seed {seed})"
            abc = detokenize(moved, title=title) + f"% {self.checkpoint}, temperature {temperature:g}, top-k {top_k}"
            abc += f", attempt {attempt + 1}\n% played {bars} bars at {qpm:.1f} qpm\n"
            if on_progress is not None:
                on_progress(1.0)
            return Composition(notes=tune_to_notes(tune, qpm), seconds=float(seconds), tempo_qpm=qpm,
                               bars=len(tune.bars), meter=meter, program=self.style.program, style=self.style.name,
                               arch=self.arch, seed=seed, tokens=ids, extra_files={"abc": abc},
                               transpose=pc if pc <= 6 else pc - 12)
        raise RuntimeError(f"no playable tune in {MAX_ATTEMPTS} attempts (seed {seed})")
