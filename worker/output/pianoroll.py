"""Draws a composition as a piano-roll PNG (time in seconds against pitch) with matplotlib's Agg backend."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.collections import PolyCollection
from matplotlib.figure import Figure

if TYPE_CHECKING:  # pragma: no cover
    from models.compose.types import Composition
    from models.music.melody import Note

WIDTH_PX, HEIGHT_PX, DPI = 1200, 400, 100
_NAMES = ("C", "C♯", "D", "E♭", "E", "F", "F♯", "G", "A♭", "A", "B♭", "B")
_NATURALS = {0, 2, 4, 5, 7, 9, 11}


def note_name(pitch: int) -> str:
    """Scientific pitch name of a MIDI number, e.g. 60 → "C4", 70 → "B♭4"."""
    return f"{_NAMES[pitch % 12]}{pitch // 12 - 1}"


def _pitch_ticks(low: int, high: int) -> list[int]:
    span = high - low
    if span <= 16:
        return list(range(low, high + 1))
    if span <= 36:
        return [p for p in range(low, high + 1) if p % 12 in _NATURALS]
    return [p for p in range(low, high + 1) if p % 12 in (0, 7)]


def _box(note: Note) -> list[tuple[float, float]]:
    return [(note.start, note.pitch - 0.42), (note.end, note.pitch - 0.42), (note.end, note.pitch + 0.42),
            (note.start, note.pitch + 0.42)]


def draw_pianoroll(composition: Composition, path: Path | str) -> Path:
    """Write a ~1200×400 px PNG of the composition's notes, bar lines and a title; returns ``path``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    seconds = max(float(composition.seconds), 1e-3)
    notes = composition.notes
    pitches = [n.pitch for n in notes] or [60]
    low, high = min(pitches) - 2, max(pitches) + 2

    fig = Figure(figsize=(WIDTH_PX / DPI, HEIGHT_PX / DPI), dpi=DPI)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    ax.set_facecolor("#fbfaf7")
    for pitch in range(low, high + 1):  # shade the black keys, like a piano roll
        if pitch % 12 not in _NATURALS:
            ax.axhspan(pitch - 0.5, pitch + 0.5, color="#efece6", lw=0, zorder=0)

    if composition.bars > 0:
        bar_s = seconds / composition.bars
        for i in range(composition.bars + 1):
            ax.axvline(i * bar_s, color="#b8b2a7", lw=0.8 if i % 4 else 1.4, zorder=1)
        step = max(1, composition.bars // 16)
        ax.set_xticks([i * bar_s for i in range(0, composition.bars, step)], minor=False)
        ax.set_xticklabels([f"bar {i + 1}\n{i * bar_s:.1f}s" for i in range(0, composition.bars, step)],
                           fontsize=7)

    parts = getattr(composition, "parts", None) or []
    if len(parts) > 1:  # a polyphonic piece: one colour per voice, with a legend
        for i, (name, _program, part_notes) in enumerate(parts):
            ax.add_collection(PolyCollection([_box(n) for n in part_notes], facecolors=f"C{i % 10}",
                                             edgecolors="#1d2b3a", linewidths=0.3, alpha=0.85, zorder=2,
                                             label=str(name)))
        ax.legend(loc="upper right", fontsize=7, ncols=min(len(parts), 6), framealpha=0.8)
    else:  # one voice, shaded by velocity
        shades = [min(1.0, max(0.25, n.velocity / 127)) for n in notes]
        ax.add_collection(PolyCollection([_box(n) for n in notes], array=shades, cmap="viridis",
                                         clim=(0.0, 1.0), edgecolors="#1d2b3a", linewidths=0.4, zorder=2))

    ticks = _pitch_ticks(low, high)
    ax.set_yticks(ticks)
    ax.set_yticklabels([note_name(p) for p in ticks], fontsize=7)
    ax.set_xlim(0, seconds)
    ax.set_ylim(low - 0.5, high + 0.5)
    ax.set_xlabel("time (s)", fontsize=8)
    ax.tick_params(axis="x", labelsize=7)
    ax.set_title(
        f"{composition.style} · {composition.arch} · seed {composition.seed} · "
        f"{composition.tempo_qpm:.0f} qpm · {composition.meter} · {composition.bars} bars · {seconds:.1f}s",
        fontsize=10,
    )
    fig.tight_layout(pad=0.6)
    fig.savefig(path, format="png", dpi=DPI)
    return path
