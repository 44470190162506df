"""Composer for Coconet styles (Bach chorales, Palestrina): four voices of an exact length, or a melody harmonised."""

from __future__ import annotations

import math
import random
from pathlib import Path

import numpy as np
import torch

from models.coconet.model import Coconet, CoconetConfig, _generator, generate, gibbs, harmonize, to_classes, to_midi
from models.compose.types import Composition, ProgressFn, plan_length, planned_seconds
from models.core.checkpoint import load_metadata, load_weights
from models.music.chorales import PROGRAM, STEPS_PER_QUARTER, TICKS_PER_STEP, grid_to_parts, notes_to_voice
from models.music.melody import Note, meter_ticks

ARCH = "coconet"
DEFAULT_STEPS = 32  # Gibbs rounds; each is one forward pass over the whole canvas (≈0.1 s for 30 s on 1 CPU)
TEMPO_RANGE = (60.0, 96.0)  # used when the style catalog has no entry for the style
SOPRANO_RANGE = (57, 81)  # MIDI range of the chorales' soprano lines (checkpoints may store their own)


def load_coconet(
    style: str = "bach", device: str = "cpu", checkpoint_dir: Path | None = None
) -> tuple[Coconet, dict, str]:
    """(model in eval mode, metadata, checkpoint name) of the checkpoint serving ``style`` with Coconet."""
    from models.core import catalog

    entry = catalog.find(style, ARCH, checkpoint_dir)
    meta = load_metadata(entry.directory, entry.name, ARCH)
    model = load_weights(Coconet(CoconetConfig(**meta["args"])), entry.directory, entry.name, ARCH, device)
    return model, meta, entry.name


def fit_soprano(pitch: np.ndarray, low: int = SOPRANO_RANGE[0], high: int = SOPRANO_RANGE[1]) -> tuple[np.ndarray, int]:
    """Move a melody (MIDI [T], -1 rests) by whole octaves into the soprano range, folding stray notes by
    octaves; returns (moved melody, semitones moved by, ignoring the folded notes)."""
    sounding = pitch[pitch >= 0]
    if not sounding.size:
        return pitch.copy(), 0
    best = min(
        range(-48, 49, 12),
        key=lambda s: (int(((sounding + s < low) | (sounding + s > high)).sum()), abs(float(sounding.mean()) + s - 69)),
    )
    out = np.where(pitch >= 0, pitch + best, -1)
    while ((out >= 0) & (out < low)).any() or (out > high).any():
        out = np.where((out >= 0) & (out < low), out + 12, np.where(out > high, out - 12, out))
    return out, best


class CoconetComposer:
    """A four-voice style's Coconet: ``compose`` writes four voices from scratch, ``harmonize`` writes the three
    lower voices under a given melody. The same seed gives the same notes."""

    arch = ARCH
    can_extend = False
    can_vary = True
    can_harmonize = True
    can_batch = False

    def __init__(
        self, style: str = "bach", device: str = "cpu", checkpoint_dir: Path | None = None, steps: int = DEFAULT_STEPS
    ) -> None:
        from models.music.styles import STYLES

        self.model, self.meta, name = load_coconet(style, device, checkpoint_dir)
        self.style = style
        self.device = device
        self.steps = steps
        known = STYLES.get(style)
        self.tempo_range = known.tempo_range if known else TEMPO_RANGE
        self.program = known.program if known else PROGRAM
        self.checkpoint = f"{name}-{ARCH}@{self.meta.get('date', '?')}"

    def _meter(self, rng: random.Random) -> str:
        meters = self.meta.get("meters") or {"4/4": 1.0}
        return rng.choices(list(meters), weights=list(meters.values()))[0]

    def _composition(
        self, pitch: torch.Tensor, onset: torch.Tensor, qpm: float, meter: str, seed: int, transpose: int = 0
    ) -> Composition:
        parts = grid_to_parts(pitch.numpy(), onset.numpy(), qpm, program=self.program)
        notes = sorted((n for _, _, ns in parts for n in ns), key=lambda n: (n.start, -n.pitch))
        steps, bar = pitch.shape[-1], meter_ticks(meter) // TICKS_PER_STEP
        return Composition(
            notes=notes,
            seconds=steps * 60.0 / qpm / STEPS_PER_QUARTER,
            tempo_qpm=qpm,
            bars=steps // bar,
            meter=meter,
            program=self.program,
            style=self.style,
            arch=ARCH,
            seed=seed,
            parts=parts,
            transpose=transpose,
        )

    def compose(
        self,
        seconds: float,
        *,
        seed: int,
        temperature: float = 1.0,
        top_k: int = 0,
        tempo: float | None = None,
        on_progress: ProgressFn | None = None,
        steps: int | None = None,
        loop: bool = False,
        **_: object,
    ) -> Composition:
        """Four voices of whole bars of a training meter: exactly ``seconds`` at a tempo in the style's range, or
        at exactly ``tempo`` (see ``plan_length``).

        ``loop``: the last beat repeats the first chord and the rest of the last bar is Gibbs re-sampled around
        it, so the end leads back into the start.
        """
        meter = self._meter(random.Random(seed))
        bars, qpm = plan_length(seconds, meter, self.tempo_range, tempo)
        length = bars * meter_ticks(meter) // TICKS_PER_STEP
        half = (lambda f: on_progress(0.8 * f)) if on_progress and loop else on_progress
        pitch, onset = generate(
            self.model,
            length,
            seed=seed,
            steps=self.steps if steps is None else steps,
            temperature=temperature,
            top_k=top_k,
            on_progress=half,
        )
        if loop:
            bar = meter_ticks(meter) // TICKS_PER_STEP
            beat = STEPS_PER_QUARTER
            pitch[:, -beat:] = pitch[:, :1]
            onset[:, -beat:] = False
            onset[:, -beat] = pitch[:, -beat] >= 0
            free = torch.zeros((1, 4, length), dtype=torch.bool)
            free[:, :, max(0, length - bar) : length - beat] = True
            pitch, onset = self._resample(
                pitch,
                onset,
                free,
                seed + 1,
                temperature,
                top_k,
                (lambda f: on_progress(0.8 + 0.2 * f)) if on_progress else None,
            )
        piece = self._composition(pitch, onset, qpm, meter, seed)
        piece.seconds = planned_seconds(seconds, tempo, bars, meter, qpm)
        piece.loop = loop
        return piece

    def _resample(
        self,
        pitch: torch.Tensor,
        onset: torch.Tensor,
        free: torch.Tensor,
        seed: int,
        temperature: float,
        top_k: int,
        on_progress: ProgressFn | None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Gibbs re-sampling of the ``free`` cells [1, 4, T] of a MIDI grid (pitch [4, T], -1 rests), the others
        clamped; returns the new (pitch, onset) grids."""
        cfg = self.model.config
        device = next(self.model.parameters()).device
        clamped = pitch.clamp(min=-1).long().clone()
        for _ in range(10):  # fold notes outside the model's range by octaves (rests stay -1)
            clamped = torch.where(clamped > cfg.pitch_high, clamped - 12, clamped)
            clamped = torch.where((clamped >= 0) & (clamped < cfg.pitch_low), clamped + 12, clamped)
        classes = to_classes(clamped.to(device), cfg)[None]
        struck = onset.bool().to(device)[None]
        new_pitch, new_onset = gibbs(
            self.model,
            classes,
            struck,
            free.to(device),
            steps=self.steps,
            generator=_generator(seed, device),
            temperature=temperature,
            top_k=top_k,
            on_progress=on_progress,
        )
        return to_midi(new_pitch[0], cfg).cpu(), new_onset[0].cpu()

    def vary(
        self,
        parts: list[list[Note]],
        tempo_qpm: float,
        meter: str,
        bars: list[int],
        *,
        seed: int,
        temperature: float = 1.0,
        top_k: int = 0,
        on_progress: ProgressFn | None = None,
        loop: bool = False,
    ) -> Composition:
        """Four voices (soprano first, notes in seconds) with the 0-based ``bars`` Gibbs re-sampled in every
        voice and the rest clamped: each new bar fits the kept music on both sides."""
        bar = meter_ticks(meter) // TICKS_PER_STEP
        end = max((n.end for voice in parts for n in voice), default=0.0) * tempo_qpm / 60.0 * STEPS_PER_QUARTER
        length = max(1, math.ceil(round(end, 6) / bar)) * bar
        grids = [notes_to_voice(voice, tempo_qpm, length) for voice in (parts + [[]] * 4)[:4]]
        pitch = torch.from_numpy(np.stack([g[0] for g in grids]))
        onset = torch.from_numpy(np.stack([g[1] for g in grids]))
        free = torch.zeros((1, 4, length), dtype=torch.bool)
        for b in bars:
            free[:, :, b * bar : (b + 1) * bar] = True
        if loop:
            free[:, :, length - STEPS_PER_QUARTER :] = False
        pitch, onset = self._resample(pitch, onset, free, seed, temperature, top_k, on_progress)
        piece = self._composition(pitch, onset, tempo_qpm, meter, seed)
        piece.loop = loop
        return piece

    def harmonize(
        self,
        melody_notes: list[Note],
        tempo_qpm: float,
        meter: str,
        *,
        seed: int,
        temperature: float = 1.0,
        top_k: int = 0,
        on_progress: ProgressFn | None = None,
        steps: int | None = None,
    ) -> Composition:
        """Alto, tenor and bass under ``melody_notes`` (seconds at ``tempo_qpm``; the top line of chords).

        The melody is quantised to 16ths, padded with rest to a whole bar, moved by octaves into the soprano
        range (``Composition.transpose`` says by how much) and kept exactly as the soprano.
        """
        bar = meter_ticks(meter) // TICKS_PER_STEP
        end = max((n.end for n in melody_notes), default=0.0) * tempo_qpm / 60.0 * STEPS_PER_QUARTER
        length = max(1, math.ceil(round(end, 6) / bar)) * bar
        soprano, struck = notes_to_voice(melody_notes, tempo_qpm, length)
        soprano, shift = fit_soprano(soprano, *self.meta.get("soprano_range", SOPRANO_RANGE))
        pitch, onset = harmonize(
            self.model,
            torch.from_numpy(soprano),
            torch.from_numpy(struck),
            seed=seed,
            steps=self.steps if steps is None else steps,
            temperature=temperature,
            top_k=top_k,
            on_progress=on_progress,
        )
        return self._composition(pitch, onset, tempo_qpm, meter, seed, transpose=shift)
