"""Engraving with a real engraver: the track's MusicXML → Verovio (SVG) → cairosvg (PNG for Discord, PDF).

Verovio lays out the whole piece on one tall page (systems broken to the page width), so one PNG shows the
whole score; the PDF and SVG are the same page for printing or editing."""

from __future__ import annotations

import logging
import re
import threading
from pathlib import Path

log = logging.getLogger(__name__)

PAGE_WIDTH = 2100  # Verovio units (tenths of a millimetre at scale 100): about an A4 width
SCALE = 45
PNG_WIDTH = 1400  # pixels: readable in Discord's viewer, a few hundred KB
_lock = threading.Lock()  # Verovio's toolkit is not thread-safe; one per process is enough


class EngraveError(RuntimeError):
    """Verovio or cairosvg is missing, or could not lay out the score."""


_toolkit = None


def _tk():  # noqa: ANN202 - verovio.toolkit
    global _toolkit
    if _toolkit is None:
        try:
            import verovio
        except ImportError as exc:  # pragma: no cover - a dependency in pyproject
            raise EngraveError("Engraving needs Verovio: `pip install verovio`.") from exc
        verovio.enableLog(verovio.LOG_OFF)
        _toolkit = verovio.toolkit()
    return _toolkit


def musicxml_to_svg(musicxml: str) -> str:
    """One SVG page holding the whole score."""
    with _lock:
        tk = _tk()
        tk.setOptions(
            {
                "pageWidth": PAGE_WIDTH,
                "pageHeight": 60000,
                "adjustPageHeight": True,
                "scale": SCALE,
                "pageMarginLeft": 60,
                "pageMarginRight": 60,
                "pageMarginTop": 60,
                "pageMarginBottom": 60,
                "breaks": "auto",
                "footer": "none",
                "header": "auto",
                "svgViewBox": True,
            }
        )
        if not tk.loadData(musicxml):
            raise EngraveError("Verovio could not read the MusicXML")
        svg = tk.renderToSVG(1)
    if not svg or "<svg" not in svg:
        raise EngraveError("Verovio drew nothing")
    return svg


def svg_to_png(svg: str, out: Path, width: int = PNG_WIDTH) -> Path:
    """Rasterise on a white background (Discord's dark theme would hide black notes on transparency)."""
    import cairosvg

    cairosvg.svg2png(bytestring=svg.encode("utf-8"), write_to=str(out), output_width=width, background_color="white")
    return out


def svg_to_pdf(svg: str, out: Path) -> Path:
    import cairosvg

    cairosvg.svg2pdf(bytestring=svg.encode("utf-8"), write_to=str(out))
    return out


def engrave(musicxml: str, out_dir: Path, stem: str, *, pdf: bool = True) -> dict[str, Path]:
    """Write ``<stem>.score.png`` (and ``.svg``, ``.pdf``) into ``out_dir``; returns {"png", "svg", "pdf"}.

    Raises:
        EngraveError: the engraver is missing or failed.
    """
    svg = musicxml_to_svg(musicxml)
    svg = re.sub(r"<title>.*?</title>", "", svg, flags=re.S)
    out_dir.mkdir(parents=True, exist_ok=True)
    files = {"svg": out_dir / f"{stem}.score.svg", "png": out_dir / f"{stem}.score.png"}
    files["svg"].write_text(svg, encoding="utf-8")
    try:
        svg_to_png(svg, files["png"])
        if pdf:
            files["pdf"] = svg_to_pdf(svg, out_dir / f"{stem}.score.pdf")
    except Exception as exc:  # noqa: BLE001 - cairo missing or failing: one clear error
        raise EngraveError(f"could not rasterise the score: {exc}") from exc
    return files
