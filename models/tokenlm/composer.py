"""The token-model composer (lstm, wavenet, gan): a loaded checkpoint that samples pieces of an exact length."""

from __future__ import annotations

import dataclasses
import random
from pathlib import Path

from models.compose.types import Composition, ProgressFn, plan_length, planned_seconds
from models.core import catalog
from models.core.checkpoint import load_metadata, load_weights
from models.music.melody import TICKS_PER_QUARTER, meter_ticks, tune_to_notes
from models.music.styles import resolve_style
from models.music.tokens import PITCH_MAX, PITCH_MIN, Vocab, decode
from models.tokenlm.gan import MelodyGAN
from models.tokenlm.registry import build_model
from models.tokenlm.sampling import Constraints, sample_bars


class TokenComposer:
    """A loaded token model (lstm, wavenet, gan) serving a style; samples pieces of an exact length."""

    can_extend = True
    can_vary = True
    can_harmonize = False

    def __init__(self, style: str, arch: str = "lstm", device: str = "cpu", checkpoint_dir: Path | None = None) -> None:
        self.style = resolve_style(style, checkpoint_dir)
        entry = catalog.find(self.style.name, arch, checkpoint_dir)
        self.arch = arch
        self.device = device
        self.meta = load_metadata(entry.directory, entry.name, arch)
        self.style_meta = entry.styles[self.style.name]
        self.vocab = Vocab(self.meta["vocab"])
        self.model = load_weights(build_model(arch, self.meta["args"]), entry.directory, entry.name, arch, device)
        version = f" v{self.meta['version']}" if "version" in self.meta else ""  # a fine-tuned version
        self.checkpoint = f"{entry.name}-{arch}{version}@{self.meta.get('date', '?')}"

    @property
    def can_batch(self) -> bool:
        """Pieces can share a batch unless the model draws noise of its own (the GAN: a piece would depend on
        its batch)."""
        return not hasattr(self.model, "reseed")

    def _meter(self, rng: random.Random) -> str:
        meters = self.style_meta.get("meters") or {"4/4": 1.0}
        return rng.choices(list(meters), weights=list(meters.values()))[0]

    def plan(
        self, seconds: float, seed: int, tempo: float | None = None, *, meter: str | None = None, key: str | None = None
    ) -> tuple[str, int, int, float]:
        """What ``seed`` decides before sampling: meter, transposition (semitones), whole bars and tempo; a
        chosen ``meter`` or ``key`` ("D dorian") replaces the seed's choice."""
        from models.music.keys import parse_key

        rng = random.Random(seed)
        drawn = self._meter(rng)
        meter = meter or drawn
        shift = rng.choice(self.style.keys)
        shift = shift if shift <= 6 else shift - 12
        if key:
            shift = parse_key(key).frame_shift()
        bars, qpm = plan_length(seconds, meter, self.style.tempo_range, tempo)
        return meter, shift, bars, qpm

    def compose(
        self,
        seconds: float,
        *,
        seed: int,
        temperature: float = 1.0,
        top_k: int = 0,
        tempo: float | None = None,
        on_progress: ProgressFn | None = None,
        key: str | None = None,
        meter: str | None = None,
        loop: bool = False,
    ) -> Composition:
        """Sample a piece that ends on a bar line, lasting exactly ``seconds`` (or whole bars at exactly
        ``tempo``, see ``plan_length``); same seed, same notes.

        ``key`` ("D dorian"): every note in the mode's scale, the first and last on its tonic; ``meter``: one of
        the style's meters; ``loop``: the last bar closes on the first note's pitch class, leading back into it.
        """
        meter, shift, bars, qpm = self.plan(seconds, seed, tempo, meter=meter, key=key)
        low, high = PITCH_MIN - min(shift, 0), PITCH_MAX - max(shift, 0)
        if isinstance(self.model, MelodyGAN):  # the one token model that draws noise of its own
            self.model.reseed(seed)
        ids = sample_bars(
            self.model,
            self.vocab,
            [meter],
            bars,
            seed=seed,
            temperature=temperature,
            top_k=top_k,
            device=self.device,
            pitch_range=(low, high),
            on_progress=on_progress,
            prefix=self.style_meta.get("prefix", []),
            constraints=[constraints_for(key, loop)],
        )[0]
        return dataclasses.replace(
            self._finish(ids, meter, qpm, shift, seed),
            seconds=planned_seconds(seconds, tempo, bars, meter, qpm),
            key=key or "",
            loop=loop,
        )

    def vary(
        self,
        tokens: list[int],
        meter: str,
        tempo_qpm: float,
        transpose: int,
        bars: list[int],
        *,
        seed: int,
        temperature: float = 1.0,
        top_k: int = 0,
        key: str | None = None,
        loop: bool = False,
        on_progress: ProgressFn | None = None,
    ) -> Composition:
        """The piece ``tokens`` with the 0-based ``bars`` re-sampled and every other bar kept token for token;
        each new bar is conditioned on all that comes before it (kept or new), and the grammar still holds the
        key and loop ending when the piece had them."""
        head, body = split_bars(tokens, self.vocab)
        chosen = set(bars)
        keep = [[] if i in chosen else bar for i, bar in enumerate(body)]
        low, high = PITCH_MIN - min(transpose, 0), PITCH_MAX - max(transpose, 0)
        if isinstance(self.model, MelodyGAN):
            self.model.reseed(seed)
        ids = sample_bars(
            self.model,
            self.vocab,
            [meter],
            len(body),
            seed=seed,
            temperature=temperature,
            top_k=top_k,
            device=self.device,
            pitch_range=(low, high),
            on_progress=on_progress,
            prime=[head],
            constraints=[constraints_for(key, loop)],
            keep=[keep],
        )[0]
        piece = self._finish(ids, meter, tempo_qpm, transpose, seed)
        return dataclasses.replace(piece, key=key or "", loop=loop)

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
        on_progress: ProgressFn | None = None,
    ) -> Composition:
        """Continue a piece (its tokens, meter, tempo, transposition) by about ``seconds`` of whole bars.

        The model reads the whole piece first, so the continuation follows on from it; the result holds the
        old bars followed by the new ones, at the same tempo.
        """
        bar_s = meter_ticks(meter) / TICKS_PER_QUARTER * 60.0 / tempo_qpm
        bars = max(1, round(seconds / bar_s))
        head = [t for t in tokens if t != self.vocab.eos]
        while head and head[-1] != self.vocab.bar:  # cut back to the last bar line
            head.pop()
        if isinstance(self.model, MelodyGAN):
            self.model.reseed(seed)
        low, high = PITCH_MIN - min(transpose, 0), PITCH_MAX - max(transpose, 0)
        ids = sample_bars(
            self.model,
            self.vocab,
            [meter],
            bars,
            seed=seed,
            temperature=temperature,
            top_k=top_k,
            device=self.device,
            pitch_range=(low, high),
            on_progress=on_progress,
            prime=[head],
        )[0]
        return self._finish(ids, meter, tempo_qpm, transpose, seed)

    def _finish(self, ids: list[int], meter: str, qpm: float, shift: int, seed: int) -> Composition:
        tune = decode(ids, self.vocab).transposed(shift)
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
            tokens=ids,
            transpose=shift,
        )


def constraints_for(key: str | None, loop: bool) -> Constraints | None:
    """The sampler's constraints for a chosen key (scale, tonic first and last) and/or a loop ending."""
    if not key and not loop:
        return None
    if not key:
        return Constraints(loop=True)
    from models.music.keys import parse_key

    parsed = parse_key(key)
    tonic = frozenset({parsed.frame_tonic()})
    return Constraints(scale=parsed.frame_scale(), start=tonic, end=None if loop else tonic, loop=loop)


def split_bars(tokens: list[int], vocab: Vocab) -> tuple[list[int], list[list[int]]]:
    """A piece's tokens → (head up to and including the meter token, each bar's tokens ending on ``<bar>``)."""
    ids = [t for t in tokens if t not in (vocab.eos, vocab.pad)]
    start = next((i + 1 for i, t in enumerate(ids) if vocab.kind(t) == "meter"), 0)
    head: list[int] = []
    bars: list[list[int]] = []
    bar: list[int] = []
    head = ids[:start]
    for t in ids[start:]:
        bar.append(t)
        if t == vocab.bar:
            bars.append(bar)
            bar = []
    return head, bars
