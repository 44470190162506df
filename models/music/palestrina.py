"""Palestrina's four-voice mass movements in music21's corpus, found by their Humdrum headers without parsing.

music21 ships 1,318 ``**kern`` files in ``corpus/palestrina``; a file's exclusive-interpretation line (the first
line starting ``**``) has one ``**kern`` token per voice, so the four-voice pieces are found by reading a few
header lines instead of parsing every score. The mass a movement belongs to (``!!!OPR``) groups the split, so
movements of one mass, which share their head motifs, never straddle train and test.
"""

from __future__ import annotations

from collections import Counter
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from models.music.chorales import Chorale

FOLDER = "palestrina"
SCALE = 0.5  # a Renaissance half note (the tactus) becomes a quarter: 4/2 → 4/4, eighths → 16ths
PROGRAM = 52  # General MIDI "choir aahs" (0-based)


def kern_header(path: Path) -> tuple[int, str]:
    """(number of ``**kern`` spines, the ``!!!OPR`` work title or "") from a Humdrum file's header."""
    work = ""
    with open(path, encoding="utf-8", errors="replace") as fh:
        for line in fh:
            if line.startswith("!!!OPR:"):
                work = line.split(":", 1)[1].strip()
            elif line.startswith("**"):
                return sum(token.strip() == "**kern" for token in line.split("\t")), work
    return 0, work


@cache
def _paths() -> dict[str, Path]:
    from models.music.chorales import corpus_paths

    return corpus_paths(FOLDER, (".krn",))


def spine_census() -> Counter:
    """Voices (``**kern`` spines) → number of Palestrina files with that many."""
    return Counter(kern_header(path)[0] for path in _paths().values())


def palestrina_files(voices: int = 4) -> list[str]:
    """Corpus paths (without extension) of the Palestrina pieces with exactly ``voices`` voices, sorted."""
    return sorted(rel for rel, path in _paths().items() if kern_header(path)[0] == voices)


def mass_of(chorale: Chorale) -> str:
    """The mass a movement (a parsed ``Chorale``) comes from, its split group; the piece id if the header has none."""
    path = _paths().get(chorale.chorale_id)
    return (kern_header(path)[1] if path else "") or chorale.chorale_id
