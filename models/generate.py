"""Composition API used by the worker: load a style's checkpoint once, sample pieces of an exact length."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from models.melody import Note

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
