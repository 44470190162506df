"""Tiny polyphonic pieces and a tiny piano checkpoint (random weights) so the poly tests run in seconds."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from models.poly.tokens import PolyNote, PolyPiece


def make_piece(seed: int = 0, bars: int = 8, meter: str = "4/4") -> PolyPiece:
    """Melody in eighths over a bass in half notes and a chord on each beat: ~2.5 pitches per onset."""
    rng = random.Random(seed)
    bar = {"4/4": 48, "3/4": 36, "12/8": 72}[meter]
    notes = []
    for b in range(bars):
        root = rng.choice((48, 53, 55, 57))
        for t in range(0, bar, 24):
            notes.append(PolyNote(b * bar + t, 24, root, 70))
        for t in range(0, bar, 12):
            notes.append(PolyNote(b * bar + t, 12, root + 16, 62))
        for t in range(0, bar, 6):
            notes.append(PolyNote(b * bar + t, 6, rng.choice((72, 74, 76, 77, 79, 81)), 92))
    return PolyPiece(f"p{seed}", meter, bars, sorted(notes, key=lambda n: (n.start, n.pitch)))


@pytest.fixture
def tiny_piano(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A checkpoint dir with random-weight ``piano-lstm`` and ``piano-wavenet`` poly models, served as shipped."""
    directory = write_tiny_piano(tmp_path / "ckpt")
    monkeypatch.setenv("TUNESMITH_CHECKPOINT_DIR", str(directory))
    return directory


def write_tiny_piano(directory: Path) -> Path:
    """Random-weight ``piano-lstm`` and ``piano-wavenet`` poly checkpoints in ``directory``."""
    from models.core.checkpoint import save_checkpoint
    from models.poly.tokens import PolyVocab
    from models.tokenlm.registry import build_model

    vocab = PolyVocab()
    configs = {
        "lstm": {"embed": 16, "hidden": 32, "layers": 1, "dropout": 0.0},
        "wavenet": {"channels": 16, "skip": 16, "layers": 3, "blocks": 1, "dropout": 0.0},
    }
    for arch, args in configs.items():
        args = {"vocab_size": len(vocab), **args}
        model = build_model(arch, args)
        meta = {
            "arch": arch,
            "args": args,
            "vocab": vocab.tokens,
            "representation": "poly",
            "style": "piano",
            "name": "piano",
            "date": "2026-12-05",
            "styles": {
                "piano": {
                    "prefix": ["S:keyboard"],
                    "meters": {"4/4": 0.8, "3/4": 0.2},
                    "grid": [0, 3, 6, 9],
                    "min_dur": 3,
                    "pitch_range": [36, 96],
                }
            },
        }
        save_checkpoint(model, meta, directory, "piano", arch)
    return directory
