"""The composition factory used by the worker: which styles are served, and the composer for a style and arch."""

from __future__ import annotations

from pathlib import Path

from models.compose.types import Composer
from models.core import catalog
from models.music.styles import STYLES, Style, resolve_style, style_from_def


def available_styles(checkpoint_dir: Path | None = None) -> dict[str, dict]:
    """Styles that have at least one checkpoint: name → plain dict of ``worker.contract.tracks.StyleInfo`` fields.

    Plain dicts keep ``models`` free of any dependency on ``worker`` (dependencies point worker → models).
    """
    out = {}
    found = catalog.entries(checkpoint_dir)  # read the checkpoints' metadata once (every compose job asks)
    defined = {
        e.style_def["name"]: style_from_def(e.style_def) for e in found if e.style_def and e.style_def.get("name")
    }
    for name, arches in catalog.served(found=found).items():
        style = STYLES.get(name) or defined.get(name)
        if style is None:
            continue
        default = style.default_arch if style.default_arch in arches else arches[0]
        out[name] = {
            "name": name,
            "arches": arches,
            "default_arch": default,
            "description": style.description,
            "tempo_range": style.tempo_range,
            "meters": style_meters(found, name),
            "modes": [] if _piano(found, name) else style_modes(style, arches),
        }
    return out


TOKEN_ARCHES = ("lstm", "wavenet", "gan")
MIN_METER_SHARE = 0.01  # meters rarer than this in a style's tunes are not offered


def style_meters(found: list[catalog.Entry], name: str) -> list[str]:
    """The meters a style's token models learnt (at least 1% of its tunes), most common first."""
    from models.music.tokens import METERS

    weights: dict[str, float] = {}
    for entry in found:
        if entry.arch in TOKEN_ARCHES and name in entry.styles and entry.representation == "melody":
            for meter, share in (entry.styles[name].get("meters") or {}).items():
                if meter in METERS and float(share) >= MIN_METER_SHARE:
                    weights[meter] = max(weights.get(meter, 0.0), float(share))
    return sorted(weights, key=lambda m: -weights[m])


def _piano(found: list[catalog.Entry], name: str) -> bool:
    """Whether a piano (models.poly) model serves ``name``: it takes no chosen key or meter."""
    return any(e.representation == "poly" and name in e.styles for e in found)


def style_modes(style: Style, arches: list[str]) -> list[str]:
    """The modes a key may ask for: all four for a melody style with a token model, major and minor for a
    chorale melody (Coconet harmonizes it), none without a token model."""
    from models.music.keys import MODES

    if not any(a in TOKEN_ARCHES for a in arches):
        return []
    return list(MODES) if style.voices == 1 else ["major", "minor"]


def load_composer(style: str, arch: str, device: str = "cpu", checkpoint_dir: Path | None = None) -> Composer:
    """The composer for ``style`` and ``arch``: token models (lstm, wavenet, gan), the ABC model, or Coconet.

    Raises:
        LookupError: no checkpoint serves that pair; KeyError: unknown style.
    """
    if arch == "coconet":
        from models.coconet.compose import CoconetComposer

        return CoconetComposer(style, device=device, checkpoint_dir=checkpoint_dir)
    if arch == "abc":
        from models.abc.compose import AbcComposer

        return AbcComposer(style, device=device, checkpoint_dir=checkpoint_dir)
    if resolve_style(style, checkpoint_dir).voices > 1:
        from models.compose.harmonized import HarmonizedComposer

        return HarmonizedComposer(style, arch, device=device, checkpoint_dir=checkpoint_dir)
    entry = catalog.find(resolve_style(style, checkpoint_dir).name, arch, checkpoint_dir)
    if entry.representation == "poly":  # read with the catalog's metadata, not again
        from models.poly.compose import PolyComposer

        return PolyComposer(style, arch, device=device, checkpoint_dir=checkpoint_dir)
    from models.tokenlm.composer import TokenComposer

    return TokenComposer(style, arch, device=device, checkpoint_dir=checkpoint_dir)
