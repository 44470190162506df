"""Four-voice styles served by a token model: the token model writes the melody, Coconet the lower voices."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from models.coconet.compose import CoconetComposer
from models.compose.types import Composition, ProgressFn
from models.tokenlm.composer import TokenComposer


class HarmonizedComposer:
    """For four-voice styles: a token model writes the melody, Coconet writes alto, tenor and bass."""

    can_extend = False
    can_vary = False
    can_harmonize = False
    can_batch = False

    def __init__(self, style: str, arch: str, device: str = "cpu", checkpoint_dir: Path | None = None) -> None:
        self.melody = TokenComposer(style, arch, device=device, checkpoint_dir=checkpoint_dir)
        self.harmony = CoconetComposer(style, device=device, checkpoint_dir=checkpoint_dir)
        self.arch, self.checkpoint = arch, f"{self.melody.checkpoint}+{self.harmony.checkpoint}"

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
        """Sample the melody (first half of the progress), then harmonize it (second half)."""
        half = (lambda f: on_progress(0.5 * f)) if on_progress else None
        rest = (lambda f: on_progress(0.5 + 0.5 * f)) if on_progress else None
        tune = self.melody.compose(
            seconds,
            seed=seed,
            temperature=temperature,
            top_k=top_k,
            tempo=tempo,
            on_progress=half,
            key=key,
            meter=meter,
            loop=loop,
        )
        out = self.harmony.harmonize(tune.notes, tune.tempo_qpm, tune.meter, seed=seed, on_progress=rest)
        return dataclasses.replace(
            out, arch=self.arch, seconds=tune.seconds, tokens=tune.tokens, seed=seed, key=tune.key, loop=loop
        )
