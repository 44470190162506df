"""Composing polyphonic piano music with a poly token model (lstm or wavenet): exact length in whole bars,
seeds, temperature/top-k, batching, continuation; the piece is written as right and left hand on a piano."""

from __future__ import annotations

import dataclasses
import random
from collections.abc import Callable, Sequence
from pathlib import Path

from models.compose.types import Composition, plan_length, planned_seconds
from models.core import catalog
from models.core.checkpoint import load_metadata, load_weights
from models.music.melody import TICKS_PER_QUARTER, Note, meter_ticks
from models.music.styles import resolve_style
from models.poly.sampling import GRID, PolyAsk, sample_poly
from models.poly.tokens import PITCH_MAX, PITCH_MIN, PolyVocab, decode, piece_to_notes
from models.tokenlm.registry import build_model

ProgressFn = Callable[[float], None]
SPLIT_PITCH = 60  # notes from middle C up go to the right hand's track
LEFT_HAND_SOFTER = 8  # velocity


def is_poly(meta: dict) -> bool:
    """Whether checkpoint metadata belongs to a polyphonic (models.poly) token model."""
    return meta.get("representation") == "poly"


def hands(notes: list[Note]) -> list[tuple[str, int, list[Note]]]:
    """Piano parts: right hand (from middle C up) and left hand (softer), both on GM program 0."""
    right = [n for n in notes if n.pitch >= SPLIT_PITCH]
    left = [
        dataclasses.replace(n, velocity=max(1, n.velocity - LEFT_HAND_SOFTER)) for n in notes if n.pitch < SPLIT_PITCH
    ]
    return [("piano right hand", 0, right), ("piano left hand", 0, left)]


class PolyComposer:
    """A loaded poly token model serving a piano style."""

    can_extend = True
    can_harmonize = False
    can_vary = False
    can_batch = True
    batches_itself = True  # models.tokenlm.batched hands it the whole batch (``compose_batch``)

    def __init__(self, style: str, arch: str = "lstm", device: str = "cpu", checkpoint_dir: Path | None = None) -> None:
        self.style = resolve_style(style, checkpoint_dir)
        entry = catalog.find(self.style.name, arch, checkpoint_dir)
        self.arch, self.device = arch, device
        self.meta = load_metadata(entry.directory, entry.name, arch)
        if not is_poly(self.meta):
            raise ValueError(f"{entry.name}-{arch} is not a polyphonic model")
        self.style_meta = entry.styles[self.style.name]
        self.vocab = PolyVocab(self.meta["vocab"])
        self.model = load_weights(build_model(arch, self.meta["args"]), entry.directory, entry.name, arch, device)
        version = f" v{self.meta['version']}" if "version" in self.meta else ""
        self.checkpoint = f"{entry.name}-{arch}{version}@{self.meta.get('date', '?')}"
        self.grid = tuple(self.style_meta.get("grid") or GRID)
        self.min_dur = int(self.style_meta.get("min_dur") or 1)
        self.pitch_range = tuple(self.style_meta.get("pitch_range") or (28, 100))

    def plan(self, seconds: float, seed: int, tempo: float | None = None) -> tuple[str, int, int, float]:
        """What ``seed`` decides before sampling: meter, transposition, whole bars and tempo (qpm)."""
        rng = random.Random(seed)
        meters = self.style_meta.get("meters") or {"4/4": 1.0}
        meter = rng.choices(list(meters), weights=list(meters.values()))[0]
        key = rng.choice(self.style.keys)
        bars, qpm = plan_length(seconds, meter, self.style.tempo_range, tempo)
        return meter, key if key <= 6 else key - 12, bars, qpm

    def _range(self, shift: int) -> tuple[int, int]:
        low, high = self.pitch_range
        return max(PITCH_MIN, low - shift), min(PITCH_MAX, high - shift)

    def compose_batch(self, asks: Sequence) -> list[Composition]:
        """One piece per ask (``models.tokenlm.batched.Ask``: seconds, seed, temperature, top_k, on_progress), sampled
        together; a piece has the same notes alone or in any batch."""
        plans = [self.plan(a.seconds, a.seed, getattr(a, "tempo", None)) for a in asks]
        polys = [
            PolyAsk(meter, bars, a.seed, a.temperature, a.top_k, self._range(shift), a.on_progress)
            for (meter, shift, bars, _), a in zip(plans, asks, strict=True)
        ]
        rows = sample_poly(
            self.model,
            self.vocab,
            polys,
            prefix=self.style_meta.get("prefix", []),
            grid=self.grid,
            min_dur=self.min_dur,
            device=self.device,
        )
        return [
            dataclasses.replace(
                self._finish(ids, meter, qpm, shift, a.seed),
                seconds=planned_seconds(a.seconds, getattr(a, "tempo", None), bars, meter, qpm),
            )
            for ids, (meter, shift, bars, qpm), a in zip(rows, plans, asks, strict=True)
        ]

    def compose(
        self,
        seconds: float,
        *,
        seed: int,
        temperature: float = 1.0,
        top_k: int = 0,
        tempo: float | None = None,
        on_progress: ProgressFn | None = None,
        **_: object,
    ) -> Composition:
        """A piece that ends on a bar line, exactly ``seconds`` long (or whole bars at exactly ``tempo``); same
        seed, same notes. Key, meter and loop controls are the melody models' (the contract refuses them here)."""
        from models.tokenlm.batched import Ask

        return self.compose_batch([Ask(seconds, seed, temperature, top_k, on_progress, tempo)])[0]

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
        """Continue a piece by about ``seconds`` of whole bars at its tempo and key."""
        bar_s = meter_ticks(meter) / TICKS_PER_QUARTER * 60.0 / tempo_qpm
        bars = max(1, round(seconds / bar_s))
        head = [t for t in tokens if t != self.vocab.eos]
        while head and head[-1] != self.vocab.bar:
            head.pop()
        ask = PolyAsk(meter, bars, seed, temperature, top_k, self._range(transpose), on_progress)
        ids = sample_poly(
            self.model, self.vocab, [ask], grid=self.grid, min_dur=self.min_dur, device=self.device, prime=[head]
        )[0]
        return self._finish(ids, meter, tempo_qpm, transpose, seed)

    def _finish(self, ids: list[int], meter: str, qpm: float, shift: int, seed: int) -> Composition:
        piece = decode(ids, self.vocab).transposed(shift)
        notes = piece_to_notes(piece, qpm)
        bar_s = meter_ticks(meter) / TICKS_PER_QUARTER * 60.0 / qpm
        return Composition(
            notes=notes,
            seconds=piece.bars * bar_s,
            tempo_qpm=qpm,
            bars=piece.bars,
            meter=meter,
            program=0,
            style=self.style.name,
            arch=self.arch,
            seed=seed,
            tokens=ids,
            parts=hands(notes),
            transpose=shift,
        )
