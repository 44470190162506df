"""Trains a style's autoregressive model on its frozen split and writes a shipped-format checkpoint."""

from __future__ import annotations

import logging
import math
import time
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import torch
from torch import nn

from models.checkpoint import save_checkpoint
from models.data import encode_tunes, lm_chunks, load_or_freeze_split
from models.melody import Tune
from models.registry import build_model
from models.styles import Style
from models.tokens import Vocab

log = logging.getLogger(__name__)


@dataclass
class TrainConfig:
    """Optimisation settings."""

    epochs: int = 20
    max_minutes: float = 30.0
    batch: int = 32
    seq_len: int = 256
    lr: float = 3e-3
    weight_decay: float = 1e-5
    clip: float = 1.0
    seed: int = 0
    device: str = "cpu"


@torch.no_grad()
def heldout_nll(model: nn.Module, seqs: list[list[int]], device: str = "cpu") -> float:
    """Mean NLL in nats per predicted token over whole sequences, each decoded from a fresh state."""
    model.eval()
    total, count = 0.0, 0
    for seq in seqs:
        ids = torch.tensor(seq, device=device)[None]  # [1, T]
        logits, _ = model(ids[:, :-1])  # [1, T-1, V]
        loss = nn.functional.cross_entropy(logits[0], ids[0, 1:], reduction="sum")
        total, count = total + float(loss), count + ids.shape[1] - 1
    return total / max(count, 1)


def train_tokens(
    style: Style,
    arch: str,
    tunes: list[Tune],
    args: dict,
    config: TrainConfig,
    out_dir: Path,
) -> dict:
    """Train ``arch`` on ``tunes`` (split by the style's frozen split) and save the checkpoint.

    Returns:
        The checkpoint metadata, including held-out NLL in nats per token.
    """
    torch.manual_seed(config.seed)
    vocab = Vocab()
    split = load_or_freeze_split(style.name, tunes)
    by_id = {t.tune_id: t for t in tunes}
    seqs = {part: encode_tunes([by_id[i] for i in ids], vocab) for part, ids in split.items()}
    model = build_model(arch, {"vocab_size": len(vocab), **args}).to(config.device)
    params = sum(p.numel() for p in model.parameters())
    chunks = lm_chunks(seqs["train"], config.seq_len, vocab.pad)  # [N, L+1]
    log.info("%s/%s: %d params, %d train tunes, %d chunks of %d", style.name, arch, params,
             len(seqs["train"]), len(chunks), config.seq_len)
    opt = torch.optim.AdamW(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    steps_per_epoch = math.ceil(len(chunks) / config.batch)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, config.lr, total_steps=config.epochs * steps_per_epoch)
    start, best, best_state, step, history = time.monotonic(), float("inf"), None, 0, []
    for epoch in range(config.epochs):
        model.train()
        order = torch.randperm(len(chunks))
        running = 0.0
        for i in range(0, len(chunks), config.batch):
            batch = chunks[order[i: i + config.batch]].to(config.device)  # [B, L+1]
            logits, _ = model(batch[:, :-1])  # [B, L, V]
            loss = nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]), batch[:, 1:].reshape(-1),
                                               ignore_index=vocab.pad)
            opt.zero_grad()
            loss.backward()
            nn.utils.clip_grad_norm_(model.parameters(), config.clip)
            opt.step()
            sched.step()
            step, running = step + 1, running + loss.item()
        valid = heldout_nll(model, seqs["valid"], config.device)
        history.append({"epoch": epoch + 1, "train": running / steps_per_epoch, "valid": valid})
        log.info("epoch %d train %.4f valid %.4f nats/token", epoch + 1, running / steps_per_epoch, valid)
        if valid < best:
            best, best_state = valid, {k: v.detach().clone() for k, v in model.state_dict().items()}
        if (time.monotonic() - start) / 60 > config.max_minutes:
            log.info("stopping after %d epochs: time budget of %.1f min spent", epoch + 1, config.max_minutes)
            break
    if best_state is not None:
        model.load_state_dict(best_state)
    test = heldout_nll(model, seqs["test"], config.device)
    meters = Counter(t.meter for t in (by_id[i] for i in split["train"]))
    meta = {
        "arch": arch,
        "style": style.name,
        "args": {"vocab_size": len(vocab), **args},
        "vocab": vocab.tokens,
        "corpus": {"music21_dirs": list(style.corpus_dirs), "tunes": len(tunes), "encoded": {
            k: len(v) for k, v in seqs.items()}},
        "split": {"file": f"models/splits/{style.name}.json", **{k: len(v) for k, v in split.items()}},
        "heldout_nll": {"valid": round(best, 4), "test": round(test, 4), "unit": "nats/token"},
        "meters": {m: c / sum(meters.values()) for m, c in meters.most_common()},
        "train": {**config.__dict__, "steps": step, "epochs_run": len(history), "params": params,
                  "minutes": round((time.monotonic() - start) / 60, 2), "history": history},
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    save_checkpoint(model, meta, out_dir, style.name, arch)
    return meta
