"""Which checkpoint serves which style and architecture, read from the checkpoints' JSON metadata.

A checkpoint ``<name>-<arch>`` serves the styles listed in its metadata's ``styles`` (one model conditioned
on a style token can serve several); a checkpoint named after a style (``irish-lstm``) serves that style
and wins over a shared one, so a fine-tuned style can override the shipped model.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from models.checkpoint import SHIPPED_DIR, list_checkpoints, load_metadata


@dataclass(frozen=True)
class Entry:
    """One checkpoint and the styles it serves: style → {"meters": {meter: weight}, "prefix": [tokens]}."""

    name: str
    arch: str
    directory: Path
    styles: dict[str, dict] = field(default_factory=dict)


def default_checkpoint_dir() -> Path:
    """``TUNESMITH_CHECKPOINT_DIR`` if set, else the checkpoints shipped in the package."""
    env = os.environ.get("TUNESMITH_CHECKPOINT_DIR")
    return Path(env) if env else SHIPPED_DIR


def entries(directory: Path | None = None) -> list[Entry]:
    """Every checkpoint in ``directory`` with the styles it serves."""
    directory = directory or default_checkpoint_dir()
    out = []
    for name, arch in list_checkpoints(directory):
        meta = load_metadata(directory, name, arch)
        styles = meta.get("styles") or {meta.get("style", name): {"meters": meta.get("meters", {}), "prefix": []}}
        out.append(Entry(name, arch, directory, styles))
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
    return sorted(found, key=lambda e: e.name != style)[0]


def served(directory: Path | None = None) -> dict[str, list[str]]:
    """style → sorted architectures that can compose it."""
    out: dict[str, set[str]] = {}
    for entry in entries(directory):
        for style in entry.styles:
            out.setdefault(style, set()).add(entry.arch)
    return {style: sorted(arches) for style, arches in sorted(out.items())}
