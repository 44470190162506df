"""Writing measured figures into a markdown file (BENCHMARKS.md) between markers, leaving the rest of it alone."""

from __future__ import annotations

from pathlib import Path


def replace_section(path: Path, start: str, end: str, section: str) -> None:
    """Put ``section`` (which begins with ``start`` and ends with ``end``) into the markdown file at ``path``:
    in place of the old one between the same markers, else at the end; the rest of the file stays."""
    text = path.read_text() if path.exists() else "# Benchmarks\n\n"
    if start in text:
        head, rest = text.split(start, 1)
        text = head + section + rest.split(end, 1)[1]
    else:
        text = text.rstrip() + "\n\n" + section + "\n"
    path.write_text(text)
