"""Draws a composition as a piano-roll PNG (time in seconds against pitch) with matplotlib's Agg backend."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.collections import LineCollection, PolyCollection
from matplotlib.figure import Figure

if TYPE_CHECKING:  # pragma: no cover
    from models.compose.types import Composition
    from models.music.melody import Note

WIDTH_PX, HEIGHT_PX, DPI = 1200, 400, 100
_NAMES = ("C", "C♯", "D", "E♭", "E", "F", "F♯", "G", "A♭", "A", "B♭", "B")
_NATURALS = {0, 2, 4, 5, 7, 9, 11}
# A band arrangement's parts (models.arrange.band): the melody stands out, the accompaniment recedes.
PART_COLOURS = {"melody": "#d1495b", "chords": "#3d7ab8", "bass": "#2e8b57", "percussion": "#6b6b6b"}
DRUM_LANE = 3  # semitone rows under the lowest pitch where the percussion is drawn as strokes


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
    return [
        (note.start, note.pitch - 0.42),
        (note.end, note.pitch - 0.42),
        (note.end, note.pitch + 0.42),
        (note.start, note.pitch + 0.42),
    ]


def draw_pianoroll(composition: Composition, path: Path | str) -> Path:
    """Write a ~1200×400 px PNG of the composition's notes, bar lines and a title; returns ``path``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    seconds = max(float(composition.seconds), 1e-3)
    notes = composition.notes
    drums = set(getattr(composition, "drum_parts", None) or [])
    parts = getattr(composition, "parts", None) or []
    pitches = (
        [n.pitch for name, _, part_notes in parts if name not in drums for n in part_notes]
        or [n.pitch for n in notes]
        or [60]
    )
    low, high = min(pitches) - 2, max(pitches) + 2
    lane = low - DRUM_LANE if drums else None
    if lane is not None:
        low = lane - 1

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
        ax.set_xticklabels([f"bar {i + 1}\n{i * bar_s:.1f}s" for i in range(0, composition.bars, step)], fontsize=7)

    if len(parts) > 1:  # a polyphonic piece: one colour per voice or part, with a legend
        for i, (name, _program, part_notes) in enumerate(parts):
            colour = PART_COLOURS.get(str(name), f"C{i % 10}")
            if name in drums and lane is not None:  # percussion: a stroke per hit, height by velocity
                segs = [
                    [(n.start, lane - 0.45 * n.velocity / 127), (n.start, lane + 0.45 * n.velocity / 127)]
                    for n in part_notes
                ]
                ax.add_collection(LineCollection(segs, colors=colour, linewidths=1.2, zorder=2, label=str(name)))
                continue
            melody = name == "melody"
            ax.add_collection(
                PolyCollection(
                    [_box(n) for n in part_notes],
                    facecolors=colour,
                    edgecolors="#1d2b3a",
                    linewidths=0.5 if melody else 0.3,
                    alpha=0.95 if melody else 0.75,
                    zorder=3 if melody else 2,
                    label=str(name),
                )
            )
        ax.legend(loc="upper right", fontsize=7, ncols=min(len(parts), 6), framealpha=0.8)
    else:  # one voice, shaded by velocity
        shades = [min(1.0, max(0.25, n.velocity / 127)) for n in notes]
        ax.add_collection(
            PolyCollection(
                [_box(n) for n in notes],
                array=shades,
                cmap="viridis",
                clim=(0.0, 1.0),
                edgecolors="#1d2b3a",
                linewidths=0.4,
                zorder=2,
            )
        )

    ticks = _pitch_ticks(low + 1 if lane is not None else low, high)
    if lane is not None:
        ticks = [lane] + [p for p in ticks if p > lane + 1]
    ax.set_yticks(ticks)
    ax.set_yticklabels(["perc." if p == lane else note_name(p) for p in ticks], fontsize=7)
    ax.set_xlim(0, seconds)
    ax.set_ylim(low - 0.5, high + 0.5)
    ax.set_xlabel("time (s)", fontsize=8)
    ax.tick_params(axis="x", labelsize=7)
    key = getattr(composition, "key", "")
    sections = "".join(s[0] for s in getattr(composition, "sections", None) or [])
    ax.set_title(
        f"{composition.style} · {composition.arch} · seed {composition.seed} · "
        f"{composition.tempo_qpm:.0f} qpm · {composition.meter} · {composition.bars} bars · {seconds:.1f}s"
        + (f" · {key}" if key else "")
        + (f" · form {sections}" if sections else ""),
        fontsize=10,
    )
    fig.tight_layout(pad=0.6)
    fig.savefig(path, format="png", dpi=DPI)
    return path
