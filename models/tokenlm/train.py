"""Trains a style's autoregressive model on its frozen split and writes a shipped-format checkpoint."""

from __future__ import annotations

import logging
import math
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import torch
from torch import nn

from models.core.checkpoint import save_checkpoint
from models.core.data import encode_tunes, lm_chunks, load_or_freeze_split
from models.core.trainer import Trainer, TrainerConfig
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
            "_valid": encoded["valid"],
            "_test": encoded["test"],
        }
    model = build_model(arch, {"vocab_size": len(vocab), **args}).to(config.device)
    params = sum(p.numel() for p in model.parameters())
    chunks = lm_chunks(seqs["train"], config.seq_len, vocab.pad)  # [N, L+1]
    log.info(
        "%s-%s: %d params, %d train tunes, %d chunks of %d",
        name,
        arch,
        params,
        len(seqs["train"]),
        len(chunks),
        config.seq_len,
    )
    history = fit_lm(model, chunks, seqs["valid"], vocab, config)
    if arch == "gan" and gan_steps > 0:
        from models.tokenlm.gan import MelodyGAN
        from models.tokenlm.gan_train import adversarial_train

        assert isinstance(model, MelodyGAN)  # build_model("gan", ...)
        history.append(
            {
                "adversarial": adversarial_train(
                    model,
                    seqs["train"],
                    vocab,
                    steps=gan_steps,
                    device=config.device,
                    seed=config.seed,
                    max_minutes=max(1.0, config.max_minutes / 3),
                )[-5:]
            }
        )
    model.eval()
    for info in per_style.values():
        info["heldout_nll"] = {
            "valid": round(heldout_nll(model, info.pop("_valid"), config.device), 4),
            "test": round(heldout_nll(model, info.pop("_test"), config.device), 4),
        }
    meta = {
        "arch": arch,
        "name": name,
        "style": name,
        "styles": per_style,
        "args": {"vocab_size": len(vocab), **args},
        "vocab": vocab.tokens,
        "corpus": {
            "music21_dirs": sorted({d for s, _ in datasets.values() for d in s.corpus_dirs}),
            "tunes": sum(len(t) for _, t in datasets.values()),
        },
        "split": {k: len(v) for k, v in seqs.items()},
        "heldout_nll": {
            "valid": round(heldout_nll(model, seqs["valid"], config.device), 4),
            "test": round(heldout_nll(model, seqs["test"], config.device), 4),
            "unit": "nats/token",
        },
        "train": {**config.__dict__, "params": params, "history": history},
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    save_checkpoint(model, meta, out_dir, name, arch)
    return meta


def lm_loss(model: nn.Module, batch: torch.Tensor, pad: int) -> torch.Tensor:
    """Next-token cross-entropy of batch [B, L+1]: the loss over its targets, padding ignored."""
    logits, _ = model(batch[:, :-1])  # [B, L, V]
    return nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]), batch[:, 1:].reshape(-1), ignore_index=pad)


def fit_lm(
    model: nn.Module, chunks: torch.Tensor, valid: list[list[int]], vocab: Vocab, config: TrainConfig
) -> list[dict]:
    """Maximum-likelihood training on chunks [N, L+1] with AdamW and one-cycle LR, shuffled each epoch, scored
    after each; stops after the epoch that spends the time budget and keeps the best epoch."""
    per_epoch = math.ceil(len(chunks) / config.batch)
    total = config.epochs * per_epoch
    order, history = torch.arange(0), []

    def batch(step: int) -> torch.Tensor:
        nonlocal order
        if step % per_epoch == 0:
            order = torch.randperm(len(chunks))
        i = step % per_epoch * config.batch
        return chunks[order[i : i + config.batch]].to(config.device)  # [B, L+1]

    def end_epoch(t: Trainer) -> bool:
        epoch, train, valid_nll = t.step // per_epoch, sum(t.losses[-per_epoch:]) / per_epoch, t.evals[-1][1]
        history.append(
            {
                "epoch": epoch,
                "train": round(train, 4),
                "valid": round(valid_nll, 4),
                "minutes": round(t.elapsed / 60, 2),
            }
        )
        log.info("epoch %d train %.4f valid %.4f nats/token", epoch, train, valid_nll)
        if t.elapsed / 60 > config.max_minutes:
            log.info("stopping after %d epochs: time budget of %.1f min spent", epoch, config.max_minutes)
            return True
        return False

    trainer = Trainer(
        model,
        TrainerConfig(
            max_steps=total, lr=config.lr, weight_decay=config.weight_decay, grad_clip=config.clip, eval_every=per_epoch
        ),
        lambda m, b: lm_loss(m, b, vocab.pad),
        batch,
        eval_fn=lambda m: heldout_nll(m, valid, config.device),
        scheduler=lambda opt: torch.optim.lr_scheduler.OneCycleLR(opt, config.lr, total_steps=total),
    )
    trainer.add_callback("on_eval", end_epoch)
    trainer.fit()
    return history
