"""Form: plan a piece as parts at bar lines (AABB for dance tunes, phrase patterns for songs and airs), copy
the bars of repeated parts, and end the last phrase on a held tonic."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass

from models.music.melody import Note

# Section patterns per kind of tune; each pass through a pattern is played twice before new parts come.
PATTERNS = {"dance": "AABB", "song": "AABC", "air": "ABAC"}


@dataclass(frozen=True)
class Section:
    """A part: a letter and its bars [start, start + length)."""

    label: str
    start: int
    length: int

    @property
    def end(self) -> int:
        return self.start + self.length


def part_length(bars: int, kind: str) -> int:
    """Bars per part: 8 for long dance tunes, 4 for shorter ones and for song phrases, less for tiny pieces."""
    if kind == "dance" and bars >= 32:
        return 8
    if bars >= 12:
        return 4
    return 2 if bars >= 6 else bars


def plan(bars: int, kind: str = "dance") -> list[Section]:
    """Sections covering exactly ``bars`` bars; the remainder lengthens the last section (a coda)."""
    if bars <= 0:
        return []
    size = part_length(bars, kind)
    pattern = PATTERNS.get(kind, PATTERNS["air"])
    count = max(1, bars // size)
    letters = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
    out, distinct = [], len(set(pattern))
    for i in range(count):
        rnd = i // len(pattern)  # every two passes of the pattern bring new parts (a set of tunes)
        letter = letters[(rnd // 2 * distinct + "ABCD".index(pattern[i % len(pattern)])) % len(letters)]
        out.append(Section(letter, i * size, size))
    last = out[-1]
    out[-1] = Section(last.label, last.start, bars - last.start)
    return out


def ties(sections: Sequence[Section]) -> dict[int, int]:
    """Bar → earlier bar it repeats. The last bar of a repeat of four or more bars keeps its own notes (a
    second-time ending, so repeats vary slightly), and the final section's last bar is left to the cadence."""
    first: dict[str, Section] = {}
    out: dict[int, int] = {}
    for k, sec in enumerate(sections):
        src = first.setdefault(sec.label, sec)
        if src is sec:
            continue
        n = min(sec.length, src.length)
        if n >= 4 or k == len(sections) - 1:
            n -= 1
        for i in range(n):
            out[sec.start + i] = src.start + i
    return out


def repeat_bars(notes: Sequence[Note], bar_s: float, tie: dict[int, int]) -> list[Note]:
    """The melody with each tied bar replaced by a copy of its source bar (notes shifted by whole bars)."""
    by_bar: dict[int, list[Note]] = {}
    for n in notes:
        by_bar.setdefault(int(n.start / bar_s + 1e-6), []).append(n)
    out: list[Note] = []
    for bar in sorted(set(by_bar) | set(tie)):
        if bar in tie:
            shift = (bar - tie[bar]) * bar_s
            out += [dataclasses.replace(n, start=n.start + shift, end=n.end + shift) for n in by_bar.get(tie[bar], [])]
        else:
            out += by_bar.get(bar, [])
    out.sort(key=lambda n: (n.start, n.pitch))
    return [
        dataclasses.replace(n, end=min(n.end, nxt.start)) if n.end > nxt.start + 1e-9 else n
        for n, nxt in zip(out, out[1:], strict=False)
    ] + out[-1:]


def cadence(notes: Sequence[Note], tonic_pc: int, cut: float, end: float) -> list[Note]:
    """End on the tonic: notes from ``cut`` (seconds) on become one tonic held to ``end``, nearest the last
    note before ``cut`` (or the first removed one)."""
    kept = [n for n in notes if n.start < cut - 1e-9]
    gone = [n for n in notes if n.start >= cut - 1e-9]
    ref = kept[-1] if kept else (gone[0] if gone else None)
    if ref is None:
        return list(notes)
    near = [p for p in range(ref.pitch - 6, ref.pitch + 7) if p % 12 == tonic_pc]
    pitch = min(near, key=lambda p: abs(p - ref.pitch))
    kept = [dataclasses.replace(n, end=min(n.end, cut)) for n in kept]
    return kept + [Note(pitch, cut, end, ref.velocity)]
