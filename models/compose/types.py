"""The composition API's types: a Composition, the Composer protocol every model family implements, plan_length."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol, TypeGuard, runtime_checkable

from models.music.melody import TICKS_PER_QUARTER, Note, meter_ticks

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
    # Set by the arranger (models.arrange.piece): "band" or "melody", the key ("D dorian"), the chords
    # ({"start", "end" in seconds, "symbol", "roman"}), parts played on the drum channel, sections ("A8").
    arrangement: str = "melody"
    key: str = ""
    chords: list[dict] = field(default_factory=list)
    drum_parts: list[str] = field(default_factory=list)
    sections: list[str] = field(default_factory=list)
    arrangement_note: str = ""  # why a band arrangement fell back to the bare melody
    loop: bool = False  # the last bar leads back into the first (a ``key`` above may also be a chosen one)


def plan_length(
    seconds: float, meter: str, tempo_range: tuple[float, float], tempo: float | None = None
) -> tuple[int, float]:
    """Whole bars and a tempo (qpm) for a piece of about ``seconds``.

    Without ``tempo`` the bars last exactly ``seconds``: the tempo is the one nearest the middle of
    ``tempo_range`` that fits a whole number of bars; for very short lengths it may leave the range, since the
    length is the user's request and the tempo is ours. With ``tempo`` (the user's BPM) the tempo is exact and
    the piece is the whole number of bars nearest ``seconds`` (at least one): within half a bar of it.
    """
    bar_quarters = meter_ticks(meter) / TICKS_PER_QUARTER
    if tempo is not None:
        return max(1, round(seconds * float(tempo) / 60.0 / bar_quarters)), float(tempo)
    target = sum(tempo_range) / 2
    best: tuple[float, int, float] | None = None
    for bars in range(1, int(seconds * tempo_range[1] / 60 / bar_quarters) + 2):
        qpm = bars * bar_quarters * 60.0 / seconds
        penalty = abs(qpm - target) + (0 if tempo_range[0] <= qpm <= tempo_range[1] else 1000)
        if best is None or penalty < best[0]:
            best = (penalty, bars, qpm)
    assert best is not None
    return best[1], best[2]


@runtime_checkable
class Composer(Protocol):
    """What the worker needs of a model family: sample a piece of an exact length at a given tempo.

    Optional capabilities are declared, not probed: ``can_extend`` (``extend`` continues a piece's tokens),
    ``can_harmonize`` (``harmonize`` writes voices under a melody), ``can_vary`` (``vary`` re-samples chosen
    bars), ``can_batch`` (token models sample many
    pieces at once, ``models.tokenlm.batched``).
    """

    arch: str
    checkpoint: str
    can_extend: bool
    can_harmonize: bool
    can_vary: bool

    @property
    def can_batch(self) -> bool: ...  # read-only: token models derive it from their model

    def compose(
        self,
        seconds: float,
        *,
        seed: int,
        temperature: float = 1.0,
        top_k: int = 0,
        tempo: float | None = None,
        on_progress: ProgressFn | None = None,
    ) -> Composition:
        """A piece ending on a bar line: exactly ``seconds`` long at a tempo of the style's, or whole bars at
        exactly ``tempo`` qpm (see ``plan_length``); the same seed gives the same notes."""
        ...


class ExtendableComposer(Composer, Protocol):
    """A composer that declares ``can_extend``: ``extend`` continues a piece's tokens by about ``seconds``."""

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
        """The piece's old bars followed by new ones, at the same tempo; the same seed gives the same notes."""
        ...


def can_extend(composer: Composer) -> TypeGuard[ExtendableComposer]:
    """Whether ``composer`` declares that it can continue a piece (read from ``can_extend``, never probed)."""
    return composer.can_extend


def planned_seconds(seconds: float, tempo: float | None, bars: int, meter: str, qpm: float) -> float:
    """The length a composer reports: exactly the asked ``seconds`` when it chose the tempo, else its bars'."""
    return float(seconds) if tempo is None else bars * meter_ticks(meter) / TICKS_PER_QUARTER * 60.0 / qpm
