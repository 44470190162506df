"""Which checkpoint serves which style and architecture, read from the checkpoints' JSON metadata.

A checkpoint ``<name>-<arch>`` serves the styles listed in its metadata's ``styles`` (one model conditioned
on a style token can serve several); a checkpoint named after a style (``irish-lstm``) serves that style
and wins over a shared one, and an active fine-tuned version (``models.core.versions``) wins over the shipped
checkpoint, so a fine-tune goes live for every worker when its version is activated.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from models.core import versions
from models.core.checkpoint import SHIPPED_DIR, list_checkpoints, load_metadata


@dataclass(frozen=True)
class Entry:
    """One checkpoint and the styles it serves: style → {"meters": {meter: weight}, "prefix": [tokens]}."""

    name: str
    arch: str
    directory: Path
    styles: dict[str, dict] = field(default_factory=dict)
    style_def: dict | None = None  # a fine-tuned new style's definition (models.music.styles.Style fields)
    representation: str = "melody"  # "poly" for the piano models (models.poly), whose tokens are not melodies


def default_checkpoint_dir() -> Path:
    """``TUNESMITH_CHECKPOINT_DIR`` if set, else the checkpoints shipped in the package."""
    env = os.environ.get("TUNESMITH_CHECKPOINT_DIR")
    return Path(env) if env else SHIPPED_DIR


def _entry(directory: Path, name: str, arch: str) -> Entry:
    meta = load_metadata(directory, name, arch)
    styles = meta.get("styles") or {meta.get("style", name): {"meters": meta.get("meters", {}), "prefix": []}}
    return Entry(name, arch, directory, styles, meta.get("style_def"), str(meta.get("representation") or "melody"))


def entries(directory: Path | None = None) -> list[Entry]:
    """Every checkpoint with the styles it serves: those in ``directory`` if given; else the active fine-tuned
    versions in the data directory first (``models.core.versions``), then the shipped ones."""
    out = []
    if directory is None:
        for style, arch, path in versions.active_dirs():
            try:
                out.append(_entry(path, style, arch))
            except (OSError, ValueError):  # a version removed under our feet: the next call won't see it
                continue
    directory = directory or default_checkpoint_dir()
    out += [_entry(directory, name, arch) for name, arch in list_checkpoints(directory)]
    return out


def find(style: str, arch: str, directory: Path | None = None) -> Entry:
    """The checkpoint that serves ``style`` with ``arch``.

    Raises:
        LookupError: naming the architectures the style does have.
    """
    found = [e for e in entries(directory) if e.arch == arch and style in e.styles]
    if not found:
        arches = sorted({e.arch for e in entries(directory) if style in e.styles})
        raise LookupError(f"no {arch} model for style {style!r}; architectures: {', '.join(arches) or 'none'}")
    return sorted(found, key=lambda e: e.name != style)[0]  # stable: a fine-tuned version beats the shipped one


def served(directory: Path | None = None, *, found: list[Entry] | None = None) -> dict[str, list[str]]:
    """style → sorted architectures that can compose it (of ``found``, when the caller has listed them)."""
    out: dict[str, set[str]] = {}
    for entry in entries(directory) if found is None else found:
        for style in entry.styles:
            out.setdefault(style, set()).add(entry.arch)
    return {style: sorted(arches) for style, arches in sorted(out.items())}
