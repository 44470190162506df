"""Trains Coconet on a four-voice corpus's frozen split and writes ``<style>-coconet`` checkpoint files.

python -m models.coconet.train --out /tmp/coconet_ck --max-minutes 12
python -m models.coconet.train --style palestrina --out /tmp/coconet_ck --max-minutes 40 --threads 1
"""

from __future__ import annotations

import argparse
import logging
import math
from collections import Counter
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import torch

from models.coconet.model import VOICES, Coconet, CoconetConfig, masked_loss, orderless_mask, to_arrays
from models.core.checkpoint import save_checkpoint
from models.core.trainer import Trainer, TrainerConfig
from models.music.chorales import VOICES as VOICE_NAMES
from models.music.chorales import Chorale, split_chorales
from models.music.grid_corpus import corpus_split, grid_corpus, load_grids

log = logging.getLogger(__name__)


@dataclass
class CoconetTrainConfig:
    """Optimisation settings; training stops at ``steps`` or ``max_minutes``, whichever comes first."""

    steps: int = 30000
    max_minutes: float = 12.0
    batch: int = 8
    crop: int = 64  # 16th steps per training example (4 bars of 4/4)
    lr: float = 2e-3
    weight_decay: float = 1e-4
    transpose: int = 6  # random transposition by up to ± this many semitones, kept within the pitch range
    voice_frac: float = 0.1  # share of examples whose mask erases whole voices (harmonisation)
    edge_frac: float = 0.25  # share of crops aligned with the start or the end of a chorale
    eval_every: int = 250
    valid_windows: int = 0  # evenly spaced valid windows scored every ``eval_every`` steps (0: all of them)
    eval_pieces: int = 8  # held-out pieces for the notewise/framewise NLL at the end (0: skip)
    eval_crop: int = 32
    seed: int = 0
    device: str = "cpu"


def random_batch(
    data: list[tuple[np.ndarray, np.ndarray]],
    batch: int,
    crop: int,
    rng: np.random.Generator,
    classes: int,
    transpose: int = 0,
    edge_frac: float = 0.0,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Random crops, randomly transposed within range: (class ids [B, 4, crop], onsets [B, 4, crop])."""
    pitch = np.zeros((batch, VOICES, crop), dtype=np.int64)
    onset = np.zeros((batch, VOICES, crop), dtype=bool)
    for b in range(batch):
        p, o = data[rng.integers(len(data))]
        span = max(0, p.shape[1] - crop)
        u = rng.random()
        start = 0 if u < edge_frac / 2 else span if u < edge_frac else int(rng.integers(span + 1))
        cp, co = p[:, start : start + crop], o[:, start : start + crop]
        sounding = cp[cp > 0]
        if transpose and sounding.size:
            low, high = max(-transpose, 1 - int(sounding.min())), min(transpose, classes - 1 - int(sounding.max()))
            cp = np.where(cp > 0, cp + int(rng.integers(low, high + 1)), 0)
        pitch[b, :, : cp.shape[1]], onset[b, :, : co.shape[1]] = cp, co
    return torch.from_numpy(pitch), torch.from_numpy(onset)


def windows(data: list[tuple[np.ndarray, np.ndarray]], crop: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Every non-overlapping ``crop`` window of every piece: ([N, 4, crop], [N, 4, crop]). Pieces shorter than
    ``crop`` are left out unless all of them are (then each is one short window)."""
    ps, os_ = [], []
    for p, o in [(p, o) for p, o in data if p.shape[1] >= crop] or data:
        for s in range(0, max(1, p.shape[1] - crop + 1), crop):
            ps.append(p[:, s : s + crop])
            os_.append(o[:, s : s + crop])
    return torch.from_numpy(np.stack(ps)), torch.from_numpy(np.stack(os_))


@torch.no_grad()
def masked_nll(
    model: Coconet,
    data: list[tuple[np.ndarray, np.ndarray]],
    crop: int = 64,
    draws: int = 2,
    seed: int = 0,
    device: str = "cpu",
    max_windows: int = 0,
) -> dict[str, float]:
    """Held-out orderless-NADE loss in nats per erased cell (fixed windows and seeded masks): an estimate of
    the notewise NLL averaged over single random orderings (an upper bound on the M-ordering ensemble's).
    ``max_windows`` > 0 scores that many evenly spaced windows only."""
    model.eval()
    pitch, onset = windows(data, crop)  # [N, 4, crop] each
    if 0 < max_windows < len(pitch):
        keep = torch.from_numpy(np.unique(np.linspace(0, len(pitch) - 1, max_windows).round().astype(np.int64)))
        pitch, onset = pitch[keep], onset[keep]
    gen = torch.Generator().manual_seed(seed)
    sums = {"pitch": 0.0, "onset": 0.0}
    for _ in range(draws):
        for i in range(0, len(pitch), 64):
            p, o = pitch[i : i + 64], onset[i : i + 64]
            mask = orderless_mask(tuple(p.shape), gen)
            _, parts = masked_loss(
                *model.predict(p.to(device), o.to(device), mask.to(device)), p.to(device), o.to(device), mask.to(device)
            )
            for k in sums:
                sums[k] += parts[k] * len(p)
    out = {k: v / (draws * len(pitch)) for k, v in sums.items()}
    return {"total": out["pitch"] + out["onset"], **out}


def train_coconet(
    out_dir: Path,
    args: dict | None = None,
    config: CoconetTrainConfig | None = None,
    chorales: list[Chorale] | None = None,
    *,
    style: str = "bach",
    split: dict[str, list[str]] | None = None,
) -> dict:
    """Train a Coconet on the train part of the style's frozen split (or ``split``), keep the best weights on
    valid, write the checkpoint ``<style>-coconet`` into ``out_dir`` and return its metadata (held-out NLLs)."""
    from models.coconet.eval import evaluate

    config = config or CoconetTrainConfig()
    torch.manual_seed(config.seed)
    model_cfg = CoconetConfig(**(args or {}))
    spec = grid_corpus(style)
    chorales = chorales if chorales is not None else load_grids(style)
    split = split if split is not None else corpus_split(style, chorales)
    parts = split_chorales(chorales, split)
    data = {k: to_arrays(v, model_cfg) for k, v in parts.items()}
    model = Coconet(model_cfg).to(config.device)
    params = sum(p.numel() for p in model.parameters())
    log.info("coconet: %d params, %s %s pieces", params, {k: len(v) for k, v in data.items()}, style)
    rng, gen = np.random.default_rng(config.seed), torch.Generator().manual_seed(config.seed)
    history: list[dict] = []
    valid: dict[str, float] = {}

    def batch(step: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        pitch, onset = random_batch(
            data["train"], config.batch, config.crop, rng, model_cfg.classes, config.transpose, config.edge_frac
        )
        mask = orderless_mask(tuple(pitch.shape), gen, config.voice_frac)
        return pitch.to(config.device), onset.to(config.device), mask.to(config.device)

    def loss(model: Coconet, b: tuple[torch.Tensor, torch.Tensor, torch.Tensor]) -> torch.Tensor:
        pitch, onset, mask = b
        return masked_loss(*model.predict(pitch, onset, mask), pitch, onset, mask)[0]

    def score(model: Coconet) -> float:
        valid.update(masked_nll(model, data["valid"], device=config.device, max_windows=config.valid_windows))
        return valid["total"]

    def anneal(t: Trainer) -> None:  # cosine decay over whichever budget runs out first
        for group in t.optimizer.param_groups:
            group["lr"] = config.lr * 0.5 * (1 + math.cos(math.pi * t.progress))

    def report(t: Trainer) -> None:
        running = t.losses[t.evals[-2][0] if len(t.evals) > 1 else 0 :]  # since the last evaluation
        history.append(
            {
                "step": t.step,
                "train": float(np.mean(running)),
                "valid": valid["total"],
                "minutes": round(t.elapsed / 60, 2),
            }
        )
        log.info(
            "step %d train %.4f valid %.4f (pitch %.4f onset %.4f) nats/cell",
            t.step,
            np.mean(running),
            valid["total"],
            valid["pitch"],
            valid["onset"],
        )

    trainer = Trainer(
        model,
        TrainerConfig(
            max_steps=config.steps,
            max_seconds=config.max_minutes * 60,
            lr=config.lr,
            weight_decay=config.weight_decay,
            eval_every=config.eval_every,
        ),
        loss,
        batch,
        eval_fn=score,
    )  # the last step is always scored, whichever budget ended it
    trainer.add_callback("on_batch_start", anneal)
    trainer.add_callback("on_eval", report)
    trainer.fit()
    step, train_minutes = trainer.step, round(trainer.elapsed / 60, 2)
    model.eval()
    heldout: dict = {
        "unit": "nats per cell (masked: orderless loss; notewise) / per frame (framewise)",
        "valid_masked": masked_nll(model, data["valid"], device=config.device),
        "test_masked": masked_nll(model, data["test"], device=config.device),
    }
    if config.eval_pieces:
        for key, middle in (("test_eval", False), ("test_eval_middle", True)):
            heldout[key] = evaluate(
                model,
                data["test"],
                max_pieces=config.eval_pieces,
                crop=config.eval_crop,
                device=config.device,
                middle=middle,
            )
    meters = Counter(c.meter for c in parts["train"])
    top = np.concatenate([c.pitch[0][c.pitch[0] >= 0] for c in parts["train"]])  # the top voice's notes
    import music21

    meta = {
        "arch": "coconet",
        "style": style,
        "args": model_cfg.to_dict(),
        "vocab": {
            "grid": "16th note",
            "voices": list(VOICE_NAMES),
            "classes": model_cfg.classes,
            "pitch_low": model_cfg.pitch_low,
            "pitch_high": model_cfg.pitch_high,
            "cell": "class 0 = rest, k = MIDI pitch_low + k - 1; plus an onset flag (struck/held)",
        },
        "corpus": {
            "music21": music21.__version__,
            "dirs": [style],
            "chorales": len(chorales),
            "duration_scale": spec.scale,
            "voices_sorted_by_pitch": spec.sort_voices,
        },
        "split": {
            "file": f"models/splits/{style}.json",
            "grouped": spec.grouped,
            **{k: len(v) for k, v in data.items()},
        },
        "soprano_range": [int(np.percentile(top, 1)), int(np.percentile(top, 99))],
        "heldout_nll": heldout,
        "meters": {m: c / sum(meters.values()) for m, c in meters.most_common() if m in ("4/4", "3/4")},
        "train": {**asdict(config), "steps_run": step, "params": params, "minutes": train_minutes, "history": history},
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    save_checkpoint(model, meta, out_dir, style, "coconet")
    return meta


def main(argv: list[str] | None = None) -> int:
    """``python -m models.coconet.train --out DIR [--style S]``: train, evaluate, write S-coconet.{safetensors,json}."""
    import json

    parser = argparse.ArgumentParser(prog="coconet_train", description=main.__doc__)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--style", default="bach", help="a four-voice corpus: bach or palestrina")
    for name in ("layers", "channels", "pitch_low", "pitch_high"):
        parser.add_argument("--" + name.replace("_", "-"), type=int, default=getattr(CoconetConfig, name))
    parser.add_argument("--dilations", default="", help="time dilations cycled over the convs, e.g. 1,2,4,8")
    parser.add_argument("--threads", type=int, default=1)
    for name, value in asdict(CoconetTrainConfig()).items():
        parser.add_argument("--" + name.replace("_", "-"), type=type(value), default=value)
    ns = vars(parser.parse_args(argv))
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    torch.set_num_threads(ns.pop("threads"))
    out, style = ns.pop("out"), ns.pop("style")
    args = {name: ns.pop(name) for name in ("layers", "channels", "pitch_low", "pitch_high")}
    args["dilations"] = [int(d) for d in ns.pop("dilations").split(",") if d.strip()]
    meta = train_coconet(out, args, CoconetTrainConfig(**ns), style=style)
    print(
        json.dumps(
            {
                "heldout_nll": meta["heldout_nll"],
                "params": meta["train"]["params"],
                "steps": meta["train"]["steps_run"],
                "minutes": meta["train"]["minutes"],
            },
            indent=1,
        )
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
