"""Frozen train/valid/test splits by tune, and token batches for language-model training."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import torch

from models.music.melody import Tune
from models.music.tokens import EncodeError, Vocab, encode

SPLITS_DIR = Path(__file__).resolve().parents[1] / "splits"


def hash_split(tune_id: str, valid_pct: int = 5, test_pct: int = 5) -> str:
    """'train', 'valid' or 'test' from a stable hash of the tune id (independent of corpus order)."""
    bucket = int(hashlib.sha1(tune_id.encode()).hexdigest(), 16) % 100
    return "test" if bucket < test_pct else "valid" if bucket < test_pct + valid_pct else "train"


def load_or_freeze_split(
    style: str, tunes: list[Tune], directory: Path | None = None, *, write: bool = True
) -> dict[str, list[str]]:
    """The frozen split of ``style``: read from the repo, or made from hashes (and written there if ``write``)."""
    directory = directory or SPLITS_DIR
    path = directory / f"{style}.json"
    if path.exists():
        frozen = json.loads(path.read_text())
    else:
        frozen = {"method": "sha1(tune_id) % 100: <5 test, <10 valid, else train", "valid": [], "test": []}
        for tune in tunes:
            part = hash_split(tune.tune_id)
            if part != "train":
                frozen[part].append(tune.tune_id)
        if write:
            directory.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps(frozen, indent=0))
    held = {"valid": set(frozen["valid"]), "test": set(frozen["test"])}
    out: dict[str, list[str]] = {"train": [], "valid": [], "test": []}
    for tune in tunes:
        part = "valid" if tune.tune_id in held["valid"] else "test" if tune.tune_id in held["test"] else "train"
        out[part].append(tune.tune_id)
    return out


def encode_tunes(tunes: list[Tune], vocab: Vocab, style: str | None = None) -> list[list[int]]:
    """Encode tunes (with a style token when ``style`` is given), skipping those outside the vocabulary."""
    out = []
    for tune in tunes:
        try:
            out.append(encode(tune, vocab, style))
        except EncodeError:
            continue
    return out


def lm_chunks(seqs: list[list[int]], length: int, pad: int) -> torch.Tensor:
    """Concatenate sequences and cut them into rows of ``length + 1`` tokens → [N, length + 1]."""
    flat = [t for s in seqs for t in s]
    rows = max(1, (len(flat) - 1) // length)
    flat = flat + [pad] * (rows * length + 1 - len(flat))
    data = torch.tensor(flat[: rows * length + 1])
    return torch.stack([data[i * length : i * length + length + 1] for i in range(rows)])  # [N, L+1]
