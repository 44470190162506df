"""Piano-roll PNG: size, speed, and pictures of empty and wide pieces."""

from __future__ import annotations

import time
from dataclasses import replace
from pathlib import Path

from PIL import Image

from models.music.melody import Note
from tests.worker.conftest import make_composition
from worker.output.pianoroll import draw_pianoroll, note_name


def test_note_names() -> None:
    assert [note_name(p) for p in (60, 69, 70, 21, 108)] == ["C4", "A4", "B♭4", "A0", "C8"]


def test_png_size_and_speed(tmp_path: Path) -> None:
    piece = make_composition(30.0, qpm=140.0, meter="6/8")
    draw_pianoroll(piece, tmp_path / "warm.png")  # the first figure pays for font loading
    start = time.perf_counter()
    path = draw_pianoroll(piece, tmp_path / "roll.png")
    elapsed = time.perf_counter() - start
    with Image.open(path) as image:
        assert image.format == "PNG"
        assert image.size == (1200, 400)
        lo, hi = image.convert("L").getextrema()
        assert hi - lo > 100  # drawn, not blank
    assert elapsed < 2.0  # ~0.25 s on a quiet core; generous for a busy CI box


def test_empty_and_wide_pieces(tmp_path: Path) -> None:
    piece = make_composition(8.0)
    draw_pianoroll(replace(piece, notes=[]), tmp_path / "empty.png")
    wide = [Note(30, 0.0, 1.0), Note(100, 1.0, 2.0)]
    draw_pianoroll(replace(piece, notes=wide, bars=0), tmp_path / "wide.png")
    lower = [Note(n.pitch - 12, n.start, n.end) for n in piece.notes]
    draw_pianoroll(replace(piece, parts=[("upper", 0, piece.notes), ("lower", 0, lower)]), tmp_path / "parts.png")
    for name in ("empty", "wide", "parts"):
        assert (tmp_path / f"{name}.png").stat().st_size > 1000
