"""Worker test fixtures: fabricated compositions, and a checkpoint directory (shipped, else a tiny one)."""

from __future__ import annotations

import os
import random
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from models.compose.types import Composition
from models.music.melody import Note


def make_composition(
    seconds: float = 8.0,
    *,
    qpm: float = 120.0,
    meter: str = "4/4",
    seed: int = 1,
    program: int = 40,
    rest_at_end: bool = False,
) -> Composition:
    """A plausible one-voice piece of eighth notes that fills whole bars of ``meter`` at ``qpm``."""
    num, den = (int(x) for x in meter.split("/"))
    bar_s = num * 4 / den * 60 / qpm
    bars = max(1, round(seconds / bar_s))
    eighth = 30 / qpm
    rng = random.Random(seed)
    total = bars * bar_s
    notes, t = [], 0.0
    while t + eighth <= total - (bar_s if rest_at_end else 0) + 1e-9:
        notes.append(Note(rng.choice([62, 64, 66, 67, 69, 71, 74, 76]), t, t + eighth, rng.randint(70, 100)))
        t += eighth
    return Composition(
        notes=notes,
        seconds=total,
        tempo_qpm=qpm,
        bars=bars,
        meter=meter,
        program=program,
        style="irish",
        arch="lstm",
        seed=seed,
    )


@pytest.fixture
def composition() -> Callable[..., Composition]:
    return make_composition


def _tiny_checkpoint(directory: Path) -> Path:
    import torch

    from models.core.checkpoint import save_checkpoint
    from models.music.tokens import Vocab
    from models.tokenlm.lstm import LSTMConfig, MelodyLSTM

    torch.manual_seed(1)
    vocab = Vocab()
    args = {"vocab_size": len(vocab), "embed": 8, "hidden": 16, "layers": 1, "dropout": 0.0}
    meta = {"arch": "lstm", "args": args, "vocab": vocab.tokens, "meters": {"6/8": 0.5, "4/4": 0.5}}
    save_checkpoint(MelodyLSTM(LSTMConfig(**args)), meta, directory, "irish", "lstm")
    return directory


@pytest.fixture(scope="session")
def checkpoint_dir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """Make sure an irish/lstm checkpoint is found: the shipped one if present, else a tiny random one,
    exported as TUNESMITH_CHECKPOINT_DIR for this process and the workers it starts."""
    from models.compose.factory import available_styles
    from models.core.checkpoint import SHIPPED_DIR

    directory = None
    if "lstm" not in available_styles().get("irish", {}).get("arches", []):
        directory = _tiny_checkpoint(tmp_path_factory.mktemp("checkpoints"))
    old = os.environ.get("TUNESMITH_CHECKPOINT_DIR")
    if directory is not None:
        os.environ["TUNESMITH_CHECKPOINT_DIR"] = str(directory)
    yield Path(os.environ.get("TUNESMITH_CHECKPOINT_DIR", "") or SHIPPED_DIR)
    if old is None:
        os.environ.pop("TUNESMITH_CHECKPOINT_DIR", None)
    else:
        os.environ["TUNESMITH_CHECKPOINT_DIR"] = old
