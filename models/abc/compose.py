"""Sampling the ABC LSTM and composing pieces of an exact length from its tunes.

Sampling carries the LSTM's (h, c) state (one token per step, no prefix re-run), divides logits by a float
temperature, applies top-k, and draws from a seeded ``torch.Generator``, so a seed always gives the same ABC.
A small token grammar keeps the output well-formed (a length only after a note, ``>`` between notes,
``</s>`` only at a bar line and after 8 bars…); bar lengths are left to the model and checked when the tune
is played.
The header (``M:`` then ``K:``) is sampled at temperature 1 so low temperatures still vary meter and mode.
"""

from __future__ import annotations

import dataclasses
import random
from collections.abc import Callable
from pathlib import Path

import torch

from models.abc.corpus import AbcVocab
from models.abc.model import ARCH, build_abc_model
from models.abc.play import render, tonic_key, transpose_tokens
from models.abc.syntax import AbcError, kind
from models.abc.tokens import detokenize
from models.compose.types import Composition, plan_length
from models.core import catalog
from models.core.checkpoint import load_metadata, load_weights
from models.music.melody import TICKS_PER_QUARTER, Tune, meter_ticks, tune_to_notes
from models.music.styles import get_style
from models.tokenlm.sampling import filter_logits

MAX_TOKENS = 1024
MAX_ATTEMPTS = 8
MIN_BARS = 8
_FOLLOW = {
    "start": {"meter"},
    "meter": {"key"},
    "key": {"pitch", "rest", "tuplet", "bar"},
    "pitch": {"dur", "broken", "tie", "pitch", "rest", "tuplet", "bar"},
    "pdur": {"broken", "tie", "pitch", "rest", "tuplet", "bar"},
    "rest": {"dur", "broken", "pitch", "rest", "tuplet", "bar"},
    "rdur": {"broken", "pitch", "rest", "tuplet", "bar"},
    "broken": {"pitch", "rest"},
    "tie": {"pitch", "bar"},
    "tuplet": {"pitch", "rest"},
    "bar": {"pitch", "rest", "tuplet", "ending", "eos"},
    "ending": {"pitch", "rest", "tuplet"},
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
def sample_ids(
    model,
    vocab: AbcVocab,
    generator: torch.Generator,
    *,
    temperature: float = 1.0,
    top_k: int = 0,
    max_tokens: int = MAX_TOKENS,
    min_bars: int = MIN_BARS,
    device: str = "cpu",
    grammar: Grammar | None = None,
    on_token: Callable[[int], None] | None = None,
    prime: list[int] | None = None,
    trace: list | None = None,
) -> list[int]:
    """One tune as token ids from ``<s>`` to ``</s>``; at ``max_tokens`` it is cut after its last bar line.

    ``</s>`` waits for ``min_bars`` bar lines, so the model cannot stop after a fragment. ``prime`` (ids
    ending inside a tune that starts with ``<s>``, e.g. the previous tune + ``<s> M:6/8 K:Cdor``) is read
    first and the tune is continued from its last ``<s>``. ``trace`` (a list) receives the logits [V] each
    step saw, for checking the cache against a recompute.
    """
    grammar = grammar or Grammar(vocab)
    prime = prime or [vocab.bos]
    ids = prime[max(i for i, t in enumerate(prime) if t == vocab.bos) :]
    state, bars = "start", 0
    for token in ids[1:]:
        state, bars = grammar.advance(state, token), bars + (grammar.kinds[token] == "bar")
    logits, hc = model(torch.tensor([prime], device=device), None)
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

    can_extend = True
    can_vary = False
    can_harmonize = False
    can_batch = False

    def __init__(self, style: str, device: str = "cpu", checkpoint_dir: Path | None = None, arch: str = ARCH) -> None:
        self.style = get_style(style)
        entry = catalog.find(self.style.name, arch, checkpoint_dir)
        self.arch = arch
        self.device = device
        self.meta = load_metadata(entry.directory, entry.name, arch)
        self.vocab = AbcVocab(self.meta["vocab"])
        self.grammar = Grammar(self.vocab)
        self.model = load_weights(build_abc_model(self.meta["args"]), entry.directory, entry.name, arch, device)
        self.checkpoint = f"{entry.name}-{arch}@{self.meta.get('date', '?')}"

    def compose(
        self,
        seconds: float,
        *,
        seed: int,
        temperature: float = 1.0,
        top_k: int = 0,
        tempo: float | None = None,
        on_progress: Callable[[float], None] | None = None,
    ) -> Composition:
        """Sample a tune, play it round until exactly ``seconds`` (ending on a bar line); same seed, same piece.

        An unusable tune (no whole bars, or ABC music21 cannot read) is replaced by the next one drawn from
        the same seeded generator, at most ``MAX_ATTEMPTS`` times. ``tokens`` of the result hold, per tune
        played, minus its number of bars and then its ids from ``<s>`` to ``</s>`` (what :meth:`extend` reads).

        Raises:
            RuntimeError: when no attempt gives a playable tune.
        """
        pc = random.Random(seed).choice(self.style.keys)
        plan: dict[str, float] = {}

        def bars_for(meter: str) -> int:
            plan["bars"], plan["qpm"] = plan_length(seconds, meter, self.style.tempo_range, tempo)
            return int(plan["bars"])

        played = [
            self._playable(
                torch.Generator().manual_seed(seed), pc, bars_for, temperature, top_k, on_progress, None, seed
            )
        ]
        piece = self._finish(played, plan["qpm"], pc, seed, temperature, top_k, on_progress)
        return piece if tempo is not None else dataclasses.replace(piece, seconds=float(seconds))

    def extend(
        self,
        tokens: list[int],
        meter: str,
        tempo_qpm: float,
        transpose: int,
        seconds: float,
        *,
        seed: int,
        temperature: float = 1.0,
        top_k: int = 0,
        on_progress: Callable[[float], None] | None = None,
    ) -> Composition:
        """Continue a piece (its ``tokens``, meter, tempo, transposition) with about ``seconds`` of a new tune.

        As in a set of folk tunes, the next tune keeps the meter and the key: the model reads the last tune,
        then ``<s>`` and its header, and goes on. The result holds the old bars followed by the new ones.

        Raises:
            ValueError: ``tokens`` do not come from this composer; RuntimeError: no playable new tune.
        """
        tunes: list[tuple[int, list[int]]] = []
        for token in tokens:
            if token < 0:
                tunes.append((-token, []))
            elif tunes:
                tunes[-1][1].append(token)
        if not tunes or any(len(ids) < 3 or ids[0] != self.vocab.bos for _, ids in tunes):
            raise ValueError("tokens are not an ABC piece of this model")
        pc = transpose % 12
        played = []
        for bars, ids in tunes:
            moved = transpose_tokens(self.vocab.decode(ids), tonic_key(pc, self.vocab.tokens[ids[2]][3:]))
            played.append((ids, moved, render(moved, bars, f"{self.style.name}-abc-{seed}")[0], 0))
        new_bars = max(1, round(seconds / (meter_ticks(meter) / TICKS_PER_QUARTER * 60.0 / tempo_qpm)))
        last = tunes[-1][1]
        prime = [*last[: last.index(self.vocab.eos) + 1], self.vocab.bos, self.vocab.index[f"M:{meter}"], last[2]]
        played.append(
            self._playable(
                torch.Generator().manual_seed(seed),
                pc,
                lambda _: new_bars,
                temperature,
                top_k,
                on_progress,
                prime,
                seed,
            )
        )
        return self._finish(played, tempo_qpm, pc, seed, temperature, top_k, on_progress)

    def _playable(
        self,
        gen: torch.Generator,
        pc: int,
        bars_for: Callable[[str], int],
        temperature: float,
        top_k: int,
        on_progress: Callable[[float], None] | None,
        prime: list[int] | None,
        seed: int,
    ) -> tuple[list[int], list[str], Tune, int]:
        """(ids, tokens moved to the key, rendered Tune, attempt) of the first playable tune drawn."""
        expected = max(64, int(self.meta.get("tokens", {}).get("median", 200) * 1.5))
        done = [0.0]

        def tick(n: int) -> None:
            frac = min(0.9, n / expected)
            if on_progress is not None and frac - done[0] >= 0.05:
                done[0] = frac
                on_progress(frac)

        for attempt in range(1, MAX_ATTEMPTS + 1):
            ids = sample_ids(
                self.model,
                self.vocab,
                gen,
                temperature=temperature,
                top_k=top_k,
                device=self.device,
                grammar=self.grammar,
                on_token=tick,
                prime=prime,
            )
            tokens = self.vocab.decode(ids)
            moved = transpose_tokens(tokens, tonic_key(pc, tokens[2][3:]))
            try:
                return ids, moved, render(moved, bars_for(tokens[1][2:]), f"{self.style.name}-abc-{seed}")[0], attempt
            except AbcError:
                continue
        raise RuntimeError(f"no playable tune in {MAX_ATTEMPTS} attempts (seed {seed})")

    def _finish(
        self,
        played: list[tuple[list[int], list[str], Tune, int]],
        qpm: float,
        pc: int,
        seed: int,
        temperature: float,
        top_k: int,
        on_progress: Callable[[float], None] | None,
    ) -> Composition:
        """The Composition of tunes played one after the other, with their ABC (one ``X:`` per tune)."""
        meter = played[0][2].meter
        tune = Tune(f"{self.style.name}-abc-{seed}", meter, [bar for *_, t, _ in played for bar in t.bars])
        texts = []
        for number, (_, moved, part, attempt) in enumerate(played, 1):
            title = f"tunesmith {self.style.name} " + (f"set, tune {number}" if len(played) > 1 else f"(seed {seed})")
            texts.append(
                detokenize(moved, title=title, number=number)
                + f"% played {len(part.bars)} bars at {qpm:.1f} qpm"
                + (f"; attempt {attempt}" if attempt else "")
                + "\n"
            )
        abc = "\n".join(texts) + f"% {self.checkpoint}, seed {seed}, temperature {temperature:g}, top-k {top_k}\n"
        if on_progress is not None:
            on_progress(1.0)
        bar_s = tune.bar_ticks / TICKS_PER_QUARTER * 60.0 / qpm
        return Composition(
            notes=tune_to_notes(tune, qpm),
            seconds=len(tune.bars) * bar_s,
            tempo_qpm=qpm,
            bars=len(tune.bars),
            meter=meter,
            program=self.style.program,
            style=self.style.name,
            arch=self.arch,
            seed=seed,
            tokens=[t for ids, _, part, _ in played for t in (-len(part.bars), *ids)],
            extra_files={"abc": abc},
            transpose=pc if pc <= 6 else pc - 12,
        )
