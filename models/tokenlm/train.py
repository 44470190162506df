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

from models.core.checkpoint import save_checkpoint
from models.core.data import encode_tunes, lm_chunks, load_or_freeze_split
from models.music.melody import Tune
from models.music.styles import Style
from models.music.tokens import Vocab
from models.tokenlm.registry import build_model

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
    name: str,
    arch: str,
    datasets: dict[str, tuple[Style, list[Tune]]],
    args: dict,
    config: TrainConfig,
    out_dir: Path,
    *,
    gan_steps: int = 300,
    freeze_split: bool = True,
) -> dict:
    """Train ``arch`` on the tunes of one or more styles, each tune led by its style token, and save the
    checkpoint ``<name>-<arch>`` that serves all of them. Each style uses its own frozen split.

    Returns:
        The checkpoint metadata, including held-out NLL in nats per token (overall and per style).
    """
    torch.manual_seed(config.seed)
    vocab = Vocab()
    seqs: dict[str, list[list[int]]] = {"train": [], "valid": [], "test": []}
    per_style: dict[str, dict] = {}
    for style_name, (style, tunes) in datasets.items():
        split = load_or_freeze_split(style_name, tunes, write=freeze_split)
        by_id = {t.tune_id: t for t in tunes}
        encoded = {part: encode_tunes([by_id[i] for i in ids], vocab, style_name) for part, ids in split.items()}
        for part in seqs:
            seqs[part] += encoded[part]
        meters = Counter(by_id[i].meter for i in split["train"])
        per_style[style_name] = {
            "prefix": [f"S:{style_name}"],
            "meters": {m: round(c / sum(meters.values()), 4) for m, c in meters.most_common()},
            "corpus": list(style.corpus_dirs),
            "split": {"file": f"models/splits/{style_name}.json", **{k: len(v) for k, v in split.items()}},
            "encoded": {k: len(v) for k, v in encoded.items()},
            "_valid": encoded["valid"], "_test": encoded["test"],
        }
    model = build_model(arch, {"vocab_size": len(vocab), **args}).to(config.device)
    params = sum(p.numel() for p in model.parameters())
    chunks = lm_chunks(seqs["train"], config.seq_len, vocab.pad)  # [N, L+1]
    log.info("%s-%s: %d params, %d train tunes, %d chunks of %d", name, arch, params, len(seqs["train"]),
             len(chunks), config.seq_len)
    history = fit_lm(model, chunks, seqs["valid"], vocab, config)
    if arch == "gan" and gan_steps > 0:
        from models.tokenlm.gan_train import adversarial_train

        history.append({"adversarial": adversarial_train(
            model, seqs["train"], vocab, steps=gan_steps, device=config.device, seed=config.seed,
            max_minutes=max(1.0, config.max_minutes / 3))[-5:]})
    model.eval()
    for info in per_style.values():
        info["heldout_nll"] = {"valid": round(heldout_nll(model, info.pop("_valid"), config.device), 4),
                               "test": round(heldout_nll(model, info.pop("_test"), config.device), 4)}
    meta = {
        "arch": arch,
        "name": name,
        "style": name,
        "styles": per_style,
        "args": {"vocab_size": len(vocab), **args},
        "vocab": vocab.tokens,
        "corpus": {"music21_dirs": sorted({d for s, _ in datasets.values() for d in s.corpus_dirs}),
                   "tunes": sum(len(t) for _, t in datasets.values())},
        "split": {k: len(v) for k, v in seqs.items()},
        "heldout_nll": {"valid": round(heldout_nll(model, seqs["valid"], config.device), 4),
                        "test": round(heldout_nll(model, seqs["test"], config.device), 4), "unit": "nats/token"},
        "train": {**config.__dict__, "params": params, "history": history},
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    save_checkpoint(model, meta, out_dir, name, arch)
    return meta


def lm_step(model: nn.Module, batch: torch.Tensor, opt: torch.optim.Optimizer,
            sched: torch.optim.lr_scheduler.LRScheduler, pad: int, clip: float) -> float:
    """One next-token training step on batch [B, L+1] (loss over targets, padding ignored); returns the loss."""
    logits, _ = model(batch[:, :-1])  # [B, L, V]
    loss = nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]), batch[:, 1:].reshape(-1),
                                       ignore_index=pad)
    opt.zero_grad()
    loss.backward()
    nn.utils.clip_grad_norm_(model.parameters(), clip)
    opt.step()
    sched.step()
    return loss.item()


def fit_lm(model: nn.Module, chunks: torch.Tensor, valid: list[list[int]], vocab: Vocab,
           config: TrainConfig) -> list[dict]:
    """Maximum-likelihood training on chunks [N, L+1] with AdamW and one-cycle LR; keeps the best epoch."""
    opt = torch.optim.AdamW(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    steps_per_epoch = math.ceil(len(chunks) / config.batch)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, config.lr, total_steps=config.epochs * steps_per_epoch)
    start, best, best_state, history = time.monotonic(), float("inf"), None, []
    for epoch in range(config.epochs):
        model.train()
        order = torch.randperm(len(chunks))
        running = 0.0
        for i in range(0, len(chunks), config.batch):
            batch = chunks[order[i: i + config.batch]].to(config.device)  # [B, L+1]
            running += lm_step(model, batch, opt, sched, vocab.pad, config.clip)
        valid_nll = heldout_nll(model, valid, config.device)
        history.append({"epoch": epoch + 1, "train": round(running / steps_per_epoch, 4), "valid": round(valid_nll, 4),
                        "minutes": round((time.monotonic() - start) / 60, 2)})
        log.info("epoch %d train %.4f valid %.4f nats/token", epoch + 1, running / steps_per_epoch, valid_nll)
        if valid_nll < best:
            best, best_state = valid_nll, {k: v.detach().clone() for k, v in model.state_dict().items()}
        if (time.monotonic() - start) / 60 > config.max_minutes:
            log.info("stopping after %d epochs: time budget of %.1f min spent", epoch + 1, config.max_minutes)
            break
    if best_state is not None:
        model.load_state_dict(best_state)
    return history
