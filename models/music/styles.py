"""The style catalog: where each style's tunes come from in music21's corpus, its tempo and sound."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Style:
    """A style the models can be trained on and sampled in."""

    name: str
    description: str
    corpus_dirs: tuple[str, ...]
    tempo_range: tuple[float, float]  # quarter notes per minute
    program: int  # General MIDI program (0-based)
    default_arch: str = "lstm"
    keys: tuple[int, ...] = (0,)  # semitones above C to transpose generated tunes into
    voices: int = 1  # 4 for chorale styles: token models write the melody, Coconet the other three voices
    max_files: int | None = None  # cap on corpus files (None: all)


STYLES: dict[str, Style] = {
    "irish": Style(
        name="irish",
        description="Irish dance tunes: jigs, reels, hornpipes (O'Neill's 1850 and Ryan's Mammoth)",
        corpus_dirs=("oneills1850", "ryansMammoth"),
        tempo_range=(120.0, 160.0),
        program=40,  # violin, i.e. a fiddle
        keys=(2, 7, 9, 4),  # D, G, A, E: the fiddle's keys
    ),
    "folk": Style(
        name="folk",
        description="German and European folk songs (the Essen folk song collection)",
        corpus_dirs=("essenFolksong",),
        tempo_range=(90.0, 120.0),
        program=71,  # clarinet
        keys=(0, 2, 5, 7, 10),  # C, D, F, G, B-flat
    ),
    "scottish": Style(
        name="scottish",
        description="Scottish airs, strathspeys and marches (Aird's Airs)",
        corpus_dirs=("airdsAirs",),
        tempo_range=(80.0, 110.0),
        program=109,  # bagpipe
        keys=(9, 2, 7),  # A (the pipes' key), D, G
    ),
    "bach": Style(
        name="bach",
        description="Four-part Bach chorales: Coconet's Gibbs-sampled harmony, or an LSTM melody it harmonizes",
        corpus_dirs=("bach",),
        tempo_range=(60.0, 96.0),
        program=52,  # choir aahs
        default_arch="lstm",  # an LSTM soprano harmonized by Coconet: in key more often than Coconet alone
        keys=(0, 2, 7, 9, 10),  # C, D, G, A, B-flat
        voices=4,
    ),
    "piano": Style(
        name="piano",
        description="Polyphonic piano (melody, harmony and bass) learned from keyboard reductions of chorales, "
        "madrigals, string quartets and keyboard pieces; the base of /finetune for piano collections",
        corpus_dirs=(),  # models.poly.corpus reads its own sources
        tempo_range=(84.0, 112.0),
        program=0,  # acoustic grand piano
        keys=(0, 2, 7, 9, 5),  # C, D, G, A, F
    ),
    "palestrina": Style(
        name="palestrina",
        description="Four-voice Renaissance polyphony from Palestrina's masses, written by Coconet",
        corpus_dirs=("palestrina",),
        tempo_range=(60.0, 84.0),  # the half-note tactus, a quarter once durations are halved
        program=52,  # choir aahs
        default_arch="coconet",
        voices=4,
    ),
}


def get_style(name: str) -> Style:
    """Look up a style by name.

    Raises:
        KeyError: with the list of known styles.
    """
    try:
        return STYLES[name.strip().lower()]
    except KeyError:
        raise KeyError(f"unknown style {name!r}; styles: {', '.join(sorted(STYLES))}") from None


def style_from_def(data: dict) -> Style:
    """A Style from a fine-tuned checkpoint's ``style_def`` (a new style made from uploads)."""
    fields = {k: v for k, v in data.items() if k in Style.__dataclass_fields__}
    for key in ("corpus_dirs", "tempo_range", "keys"):
        if key in fields:
            fields[key] = tuple(fields[key])
    return Style(**fields)


def resolve_style(name: str, checkpoint_dir: Path | None = None) -> Style:
    """A built-in style, or a new one defined by a fine-tuned checkpoint (``/finetune pokemon``).

    Raises:
        KeyError: with the list of known styles.
    """
    from models.core import catalog

    key = name.strip().lower()
    if key in STYLES:
        return STYLES[key]
    found = catalog.entries(checkpoint_dir)
    for entry in found:
        if entry.style_def and entry.style_def.get("name") == key:
            return style_from_def(entry.style_def)
    known = sorted(set(STYLES) | {s for e in found if e.style_def for s in e.styles})
    raise KeyError(f"unknown style {name!r}; styles: {', '.join(known)}")
