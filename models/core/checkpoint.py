"""Checkpoints as safetensors weights plus a JSON metadata file (arch, args, vocab, corpus, split, NLL, date)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import TypeVar

import torch
from safetensors.torch import load_file, save_file
from torch import nn

SHIPPED_DIR = Path(__file__).resolve().parents[1] / "checkpoints"


def checkpoint_paths(directory: Path, style: str, arch: str) -> tuple[Path, Path]:
    """(weights, metadata) paths of a style/arch checkpoint in ``directory``."""
    stem = directory / f"{style}-{arch}"
    return stem.with_suffix(".safetensors"), stem.with_suffix(".json")


def save_checkpoint(model: nn.Module, meta: dict, directory: Path, style: str, arch: str, *, half: bool = True) -> Path:
    """Write weights (float16 by default, to keep shipped files small) and metadata atomically."""
    directory.mkdir(parents=True, exist_ok=True)
    weights, meta_path = checkpoint_paths(directory, style, arch)
    tensors = {
        k: (v.detach().to("cpu").half() if half and v.is_floating_point() else v.detach().to("cpu")).contiguous()
        for k, v in model.state_dict().items()
    }
    tmp_w, tmp_m = weights.with_suffix(".safetensors.tmp"), meta_path.with_suffix(".json.tmp")
    save_file(tensors, str(tmp_w), metadata={"arch": arch, "style": style})
    tmp_m.write_text(json.dumps(meta, indent=1, sort_keys=True))
    os.replace(tmp_w, weights)
    os.replace(tmp_m, meta_path)
    return weights


def load_metadata(directory: Path, style: str, arch: str) -> dict:
    """The JSON metadata of a checkpoint."""
    return json.loads(checkpoint_paths(directory, style, arch)[1].read_text())


ModuleT = TypeVar("ModuleT", bound=nn.Module)


def load_weights(model: ModuleT, directory: Path, style: str, arch: str, device: str = "cpu") -> ModuleT:
    """Load safetensors weights into ``model`` as float32 (safetensors never unpickles anything)."""
    weights, _ = checkpoint_paths(directory, style, arch)
    state = {k: (v.float() if v.is_floating_point() else v) for k, v in load_file(str(weights)).items()}
    model.load_state_dict(state)
    return model.to(torch.device(device)).eval()


def list_checkpoints(directory: Path) -> list[tuple[str, str]]:
    """(style, arch) pairs with both weights and metadata in ``directory``."""
    out = []
    for meta in sorted(directory.glob("*.json")):
        if meta.with_suffix(".safetensors").exists() and "-" in meta.stem:
            style, arch = meta.stem.rsplit("-", 1)
            out.append((style, arch))
    return out
