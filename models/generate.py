"""Composition API used by the worker: load a style's checkpoint once, sample pieces of an exact length."""

from __future__ import annotations

import dataclasses
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from models.core import catalog
from models.core.checkpoint import load_metadata, load_weights
from models.music.melody import TICKS_PER_QUARTER, Note, meter_ticks, tune_to_notes
from models.music.styles import STYLES, resolve_style, style_from_def
from models.music.tokens import PITCH_MAX, PITCH_MIN, Vocab, decode
from models.tokenlm.registry import build_model
from models.tokenlm.sampling import sample_bars

ProgressFn = Callable[[float], None]


@dataclass
class Composition:
    """A sampled piece: notes in seconds, exactly ``seconds`` long, ending at a bar line."""

    notes: list[Note]
    seconds: float
    tempo_qpm: float
    bars: int
    meter: str
    program: int
    style: str
    arch: str
    seed: int
    tokens: list[int] = field(default_factory=list)
    extra_files: dict[str, str] = field(default_factory=dict)  # e.g. {"abc": "X:1..."} for the ABC model
    # Polyphonic pieces: one (name, GM program, notes) per voice; ``notes`` then holds all of them.
    parts: list[tuple[str, int, list[Note]]] = field(default_factory=list)
    transpose: int = 0  # semitones the model's C-normalised tokens were moved by


def plan_length(seconds: float, meter: str, tempo_range: tuple[float, float]) -> tuple[int, float]:
    """Whole bars and a tempo (qpm) such that the bars last exactly ``seconds``.

    The tempo is the one nearest the middle of ``tempo_range`` that fits a whole number of bars; for very
    short lengths it may leave the range, since the length is the user's request and the tempo is ours.
    """
    bar_quarters = meter_ticks(meter) / TICKS_PER_QUARTER
    target = sum(tempo_range) / 2
    best: tuple[float, int, float] | None = None
    for bars in range(1, int(seconds * tempo_range[1] / 60 / bar_quarters) + 2):
        qpm = bars * bar_quarters * 60.0 / seconds
        penalty = abs(qpm - target) + (0 if tempo_range[0] <= qpm <= tempo_range[1] else 1000)
        if best is None or penalty < best[0]:
            best = (penalty, bars, qpm)
    assert best is not None
    return best[1], best[2]


def available_styles(checkpoint_dir: Path | None = None) -> dict[str, dict]:
    """Styles that have at least one checkpoint: name → plain dict of ``worker.contract.tracks.StyleInfo`` fields.

    Plain dicts keep ``models`` free of any dependency on ``worker`` (dependencies point worker → models).
    """
    out = {}
    found = catalog.entries(checkpoint_dir)  # read the checkpoints' metadata once (every compose job asks)
    defined = {e.style_def["name"]: style_from_def(e.style_def) for e in found
               if e.style_def and e.style_def.get("name")}
    for name, arches in catalog.served(found=found).items():
        style = STYLES.get(name) or defined.get(name)
        if style is None:
            continue
        default = style.default_arch if style.default_arch in arches else arches[0]
        out[name] = {"name": name, "arches": arches, "default_arch": default,
                     "description": style.description, "tempo_range": style.tempo_range}
    return out


class Composer:
    """A loaded token model (lstm, wavenet, gan) serving a style; samples pieces of an exact length."""

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

    def _meter(self, rng: random.Random) -> str:
        meters = self.style_meta.get("meters") or {"4/4": 1.0}
        return rng.choices(list(meters), weights=list(meters.values()))[0]

    def plan(self, seconds: float, seed: int) -> tuple[str, int, int, float]:
        """What ``seed`` decides before sampling: meter, transposition (semitones), whole bars and tempo."""
        rng = random.Random(seed)
        meter = self._meter(rng)
        key = rng.choice(self.style.keys)
        bars, qpm = plan_length(seconds, meter, self.style.tempo_range)
        return meter, key if key <= 6 else key - 12, bars, qpm

    def compose(self, seconds: float, *, seed: int, temperature: float = 1.0, top_k: int = 0,
                on_progress: ProgressFn | None = None) -> Composition:
        """Sample a piece lasting exactly ``seconds`` that ends on a bar line; same seed, same notes."""
        meter, shift, bars, qpm = self.plan(seconds, seed)
        low, high = PITCH_MIN - min(shift, 0), PITCH_MAX - max(shift, 0)
        if hasattr(self.model, "reseed"):
            self.model.reseed(seed)
        ids = sample_bars(self.model, self.vocab, [meter], bars, seed=seed, temperature=temperature, top_k=top_k,
                          device=self.device, pitch_range=(low, high), on_progress=on_progress,
                          prefix=self.style_meta.get("prefix", []))[0]
        return dataclasses.replace(self._finish(ids, meter, qpm, shift, seed), seconds=float(seconds))

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
        if hasattr(self.model, "reseed"):
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


class HarmonizedComposer:
    """For four-voice styles: a token model writes the melody, Coconet writes alto, tenor and bass."""

    def __init__(self, style: str, arch: str, device: str = "cpu", checkpoint_dir: Path | None = None) -> None:
        from models.coconet.compose import CoconetComposer

        self.melody = Composer(style, arch, device=device, checkpoint_dir=checkpoint_dir)
        self.harmony = CoconetComposer(style, device=device, checkpoint_dir=checkpoint_dir)
        self.arch, self.checkpoint = arch, f"{self.melody.checkpoint}+{self.harmony.checkpoint}"

    def compose(self, seconds: float, *, seed: int, temperature: float = 1.0, top_k: int = 0,
                on_progress: ProgressFn | None = None) -> Composition:
        """Sample the melody (first half of the progress), then harmonize it (second half)."""
        half = (lambda f: on_progress(0.5 * f)) if on_progress else None
        rest = (lambda f: on_progress(0.5 + 0.5 * f)) if on_progress else None
        tune = self.melody.compose(seconds, seed=seed, temperature=temperature, top_k=top_k, on_progress=half)
        out = self.harmony.harmonize(tune.notes, tune.tempo_qpm, tune.meter, seed=seed, on_progress=rest)
        return dataclasses.replace(out, arch=self.arch, seconds=tune.seconds, tokens=tune.tokens, seed=seed)


def load_composer(style: str, arch: str, device: str = "cpu", checkpoint_dir: Path | None = None):
    """The composer for ``style`` and ``arch``: token models (lstm, wavenet, gan), the ABC model, or Coconet.

    Raises:
        LookupError: no checkpoint serves that pair; KeyError: unknown style.
    """
    if arch == "coconet":
        from models.coconet.compose import CoconetComposer

        return CoconetComposer(style, device=device, checkpoint_dir=checkpoint_dir)
    if arch == "abc":
        from models.abc.compose import AbcComposer

        return AbcComposer(style, device=device, checkpoint_dir=checkpoint_dir)
    entry = catalog.find(resolve_style(style, checkpoint_dir).name, arch, checkpoint_dir)
    if load_metadata(entry.directory, entry.name, arch).get("representation") == "poly":
        from models.poly.compose import PolyComposer

        return PolyComposer(style, arch, device=device, checkpoint_dir=checkpoint_dir)
    if resolve_style(style, checkpoint_dir).voices > 1:
        return HarmonizedComposer(style, arch, device=device, checkpoint_dir=checkpoint_dir)
    return Composer(style, arch, device=device, checkpoint_dir=checkpoint_dir)
