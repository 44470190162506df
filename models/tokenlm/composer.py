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
from models.tokenlm.sampling import sample_bars


class TokenComposer:
    """A loaded token model (lstm, wavenet, gan) serving a style; samples pieces of an exact length."""

    can_extend = True
    can_harmonize = False

    def __init__(self, style: str, arch: str = "lstm", device: str = "cpu",
                 checkpoint_dir: Path | None = None) -> None:
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

    def plan(self, seconds: float, seed: int, tempo: float | None = None) -> tuple[str, int, int, float]:
        """What ``seed`` decides before sampling: meter, transposition (semitones), whole bars and tempo."""
        rng = random.Random(seed)
        meter = self._meter(rng)
        key = rng.choice(self.style.keys)
        bars, qpm = plan_length(seconds, meter, self.style.tempo_range, tempo)
        return meter, key if key <= 6 else key - 12, bars, qpm

    def compose(self, seconds: float, *, seed: int, temperature: float = 1.0, top_k: int = 0,
                tempo: float | None = None, on_progress: ProgressFn | None = None) -> Composition:
        """Sample a piece that ends on a bar line, lasting exactly ``seconds`` (or whole bars at exactly
        ``tempo``, see ``plan_length``); same seed, same notes."""
        meter, shift, bars, qpm = self.plan(seconds, seed, tempo)
        low, high = PITCH_MIN - min(shift, 0), PITCH_MAX - max(shift, 0)
        if isinstance(self.model, MelodyGAN):  # the one token model that draws noise of its own
            self.model.reseed(seed)
        ids = sample_bars(self.model, self.vocab, [meter], bars, seed=seed, temperature=temperature, top_k=top_k,
                          device=self.device, pitch_range=(low, high), on_progress=on_progress,
                          prefix=self.style_meta.get("prefix", []))[0]
        return dataclasses.replace(self._finish(ids, meter, qpm, shift, seed),
                                   seconds=planned_seconds(seconds, tempo, bars, meter, qpm))

    def extend(self, tokens: list[int], meter: str, tempo_qpm: float, transpose: int, seconds: float, *,
               seed: int, temperature: float = 1.0, top_k: int = 0,
               on_progress: ProgressFn | None = None) -> Composition:
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
        ids = sample_bars(self.model, self.vocab, [meter], bars, seed=seed, temperature=temperature, top_k=top_k,
                          device=self.device, pitch_range=(low, high), on_progress=on_progress, prime=[head])[0]
        return self._finish(ids, meter, tempo_qpm, transpose, seed)

    def _finish(self, ids: list[int], meter: str, qpm: float, shift: int, seed: int) -> Composition:
        tune = decode(ids, self.vocab).transposed(shift)
        bar_s = tune.bar_ticks / TICKS_PER_QUARTER * 60.0 / qpm
        return Composition(notes=tune_to_notes(tune, qpm), seconds=len(tune.bars) * bar_s, tempo_qpm=qpm,
                           bars=len(tune.bars), meter=meter, program=self.style.program, style=self.style.name,
                           arch=self.arch, seed=seed, tokens=ids, transpose=shift)
