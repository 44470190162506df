"""Torch-free melody data: bars of (pitch or rest, duration) events on a 12-ticks-per-quarter grid."""

from __future__ import annotations

from dataclasses import dataclass, field
from fractions import Fraction

TICKS_PER_QUARTER = 12  # divisible by 4 (sixteenths) and 3 (triplet eighths)


@dataclass(frozen=True)
class Event:
    """One note or rest; ``pitch`` is a MIDI number or None for a rest."""

    pitch: int | None
    ticks: int


@dataclass
class Tune:
    """A monophonic tune made of whole bars of one meter."""

    tune_id: str
    meter: str  # e.g. "6/8"
    bars: list[list[Event]] = field(default_factory=list)
    title: str = ""

    @property
    def bar_ticks(self) -> int:
        return meter_ticks(self.meter)

    def events(self) -> list[Event]:
        return [e for bar in self.bars for e in bar]

    def transposed(self, semitones: int) -> Tune:
        bars = [[Event(None if e.pitch is None else e.pitch + semitones, e.ticks) for e in bar] for bar in self.bars]
        return Tune(self.tune_id, self.meter, bars, self.title)

    def to_json(self) -> dict:
        return {
            "id": self.tune_id,
            "meter": self.meter,
            "title": self.title,
            "bars": [[[e.pitch, e.ticks] for e in bar] for bar in self.bars],
        }

    @classmethod
    def from_json(cls, data: dict) -> Tune:
        bars = [[Event(p, t) for p, t in bar] for bar in data["bars"]]
        return cls(data["id"], data["meter"], bars, data.get("title", ""))


@dataclass(frozen=True)
class Note:
    """A sounding note in seconds, ready for MIDI."""

    pitch: int
    start: float
    end: float
    velocity: int = 90


def meter_ticks(meter: str) -> int:
    """Length of one bar of ``meter`` in ticks."""
    num, den = (int(x) for x in meter.split("/"))
    return int(Fraction(num * 4, den) * TICKS_PER_QUARTER)


def quarters_to_ticks(quarters: float | Fraction) -> int | None:
    """Ticks for a music21 quarterLength, or None when it is off the grid."""
    ticks = Fraction(quarters).limit_denominator(96) * TICKS_PER_QUARTER
    return int(ticks) if ticks.denominator == 1 else None


def tune_to_notes(tune: Tune, qpm: float, *, velocity: int = 90) -> list[Note]:
    """Lay out a tune in seconds at ``qpm`` quarter notes per minute; accents the first beat of a bar."""
    sec_per_tick = 60.0 / qpm / TICKS_PER_QUARTER
    notes: list[Note] = []
    tick = 0
    for bar in tune.bars:
        bar_start = tick
        for event in bar:
            if event.pitch is not None:
                accent = 12 if tick == bar_start else 0
                notes.append(
                    Note(
                        event.pitch,
                        tick * sec_per_tick,
                        (tick + event.ticks) * sec_per_tick,
                        min(127, velocity + accent),
                    )
                )
            tick += event.ticks
    return notes


def tune_seconds(tune: Tune, qpm: float) -> float:
    """Duration of the tune in seconds at ``qpm``."""
    return len(tune.bars) * tune.bar_ticks / TICKS_PER_QUARTER * 60.0 / qpm
