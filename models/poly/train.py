"""Pretrains a polyphonic token model (lstm or wavenet) on the poly corpus, resumably, under a time budget,
and writes the shipped checkpoint ``piano-<arch>`` (safetensors + JSON, representation "poly").

    PYTHONPATH=. nice -n 10 python -m models.poly.train --arch lstm --minutes 35

A resumable state (weights, optimiser, step, RNG) is saved every ``save_every`` steps in the cache directory,
so a killed run continues where it stopped; the time budget counts only the current run.
"""

from __future__ import annotations

import argparse
import hashlib
import logging
import math
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import torch

from models.core.checkpoint import SHIPPED_DIR, save_checkpoint
from models.core.data import lm_chunks
from models.core.trainer import Trainer, TrainerConfig
from models.eval.ngram import best_ngram
from models.music.corpus import cache_dir
from models.poly.corpus import SOURCES, load_corpus
from models.poly.tokens import PolyVocab, encode
from models.tokenlm.registry import build_model
from models.tokenlm.train import heldout_nll, lm_loss

log = logging.getLogger(__name__)

STYLE = "piano"
PIANO_PREFIX = ["S:keyboard"]
AUG_SHIFTS = (0, -3, -2, -1, 1, 2, 3)  # training copies transposed by these semitones (held-out data is not)
DEFAULT_ARGS = {
    "lstm": {"embed": 96, "hidden": 256, "layers": 2, "dropout": 0.15},
    "wavenet": {"channels": 64, "skip": 96, "layers": 8, "blocks": 2, "dropout": 0.1},
}


def file_split(piece_id: str) -> str:
    """'train', 'valid' or 'test' by a hash of the corpus file (chunks of one file stay together)."""
    bucket = int(hashlib.sha1(piece_id.split("#")[0].encode()).hexdigest(), 16) % 100
    return "test" if bucket < 5 else "valid" if bucket < 10 else "train"


def corpus_sequences(vocab: PolyVocab, *, cached_only: bool = False) -> tuple[dict[str, list[list[int]]], dict]:
    """Token sequences of the corpus per split, and facts about it for the metadata."""
    pieces = load_corpus(cached_only=cached_only)
    seqs: dict[str, list[list[int]]] = {"train": [], "valid": [], "test": [], "train_plain": []}
    meters: Counter[str] = Counter()
    for token, piece in pieces:
        part = file_split(piece.piece_id)
        try:
            for shift in AUG_SHIFTS if part == "train" else (0,):
                seqs[part].append(encode(piece.transposed(shift), vocab, token))
            if part == "train":
                seqs["train_plain"].append(seqs["train"][-len(AUG_SHIFTS)])
        except (ValueError, KeyError):
            continue
        if part == "train":
            meters[piece.meter] += piece.bars
    facts = {
        "pieces": len(pieces),
        "by_token": dict(Counter(t for t, _ in pieces)),
        "files": len({p.piece_id.split("#")[0] for _, p in pieces}),
        "tokens": {k: sum(map(len, v)) for k, v in seqs.items()},
        "meter_bars": dict(meters.most_common()),
    }
    return seqs, facts


def style_meta(meters: dict[str, float], grid: list[int], min_dur: int, prefix: list[str]) -> dict:
    return {"prefix": prefix, "meters": meters, "grid": grid, "min_dur": min_dur}


def train(
    arch: str,
    minutes: float,
    *,
    steps: int = 20_000,
    batch: int = 16,
    seq_len: int = 256,
    lr: float = 2e-3,
    out_dir: Path = SHIPPED_DIR,
    save_every: int = 100,
    seed: int = 0,
    threads: int = 1,
    cached_only: bool = False,
) -> dict:
    torch.set_num_threads(threads)
    torch.manual_seed(seed)
    vocab = PolyVocab()
    seqs, facts = corpus_sequences(vocab, cached_only=cached_only)
    args = {"vocab_size": len(vocab), **DEFAULT_ARGS[arch]}
    model = build_model(arch, args)
    params = sum(p.numel() for p in model.parameters())
    chunks = lm_chunks(seqs["train"], seq_len, vocab.pad)
    trainer = Trainer(  # the one training step every family uses (models.core.trainer): AdamW, clip 1.0
        model,
        TrainerConfig(max_steps=steps, lr=lr, weight_decay=1e-5, grad_clip=1.0),
        lambda m, batch: lm_loss(m, batch, vocab.pad),
        scheduler=lambda opt: torch.optim.lr_scheduler.LambdaLR(
            opt, lambda s: min(1.0, (s + 1) / 200) * (0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * min(1.0, s / steps))))
        ),
    )
    opt, sched = trainer.optimizer, trainer.scheduler
    assert sched is not None
    resume = cache_dir() / f"poly-train-{arch}.pt"
    step, history, best, best_state = 0, [], math.inf, None
    gen = torch.Generator().manual_seed(seed)
    if resume.exists():
        state = torch.load(resume, weights_only=True)
        model.load_state_dict(state["model"])
        opt.load_state_dict(state["opt"])
        sched.load_state_dict(state["sched"])
        step, history, best, best_state = state["step"], state["history"], state["best"], state["best_state"]
        gen.set_state(state["gen"])
        log.info("resumed %s at step %d", arch, step)
    log.info("poly-%s: %d params, %d train chunks of %d, facts %s", arch, params, len(chunks), seq_len, facts)
    valid = [s[:1500] for s in seqs["valid"]]
    start = time.monotonic()
    while step < steps and (time.monotonic() - start) / 60 < minutes:
        model.train()
        rows = torch.randint(len(chunks), (batch,), generator=gen)
        loss = float(trainer.train_step(chunks[rows]) or 0.0)
        step += 1
        if step % save_every == 0:
            v = heldout_nll(model, valid)
            history.append(
                {
                    "step": step,
                    "train": round(loss, 4),
                    "valid": round(v, 4),
                    "minutes": round((time.monotonic() - start) / 60, 2),
                }
            )
            log.info("%s step %d train %.4f valid %.4f", arch, step, loss, v)
            if v < best:
                best, best_state = v, {k: t.detach().clone() for k, t in model.state_dict().items()}
            resume.parent.mkdir(parents=True, exist_ok=True)
            torch.save(
                {
                    "model": model.state_dict(),
                    "opt": opt.state_dict(),
                    "sched": sched.state_dict(),
                    "step": step,
                    "history": history,
                    "best": best,
                    "best_state": best_state,
                    "gen": gen.get_state(),
                },
                resume.with_suffix(".tmp"),
            )
            resume.with_suffix(".tmp").replace(resume)
    if best_state is not None:
        model.load_state_dict(best_state)
    model.eval()
    test_nll = heldout_nll(model, seqs["test"])
    valid_nll = heldout_nll(model, seqs["valid"])
    _, ngram_scores = best_ngram(seqs["train_plain"], seqs["valid"], len(vocab), orders=(3, 5))
    meter_bars = facts["meter_bars"]
    total = sum(meter_bars.values()) or 1
    common = {m: c for m, c in meter_bars.items() if c / total >= 0.1}  # the corpus's main meters (4/4, 3/4)
    meters = {m: round(c / sum(common.values()), 4) for m, c in common.items()}
    meta = {
        "arch": arch,
        "name": STYLE,
        "style": STYLE,
        "representation": "poly",
        "args": args,
        "vocab": vocab.tokens,
        "styles": {STYLE: style_meta(meters, [0, 3, 4, 6, 8, 9], 3, PIANO_PREFIX)},
        "corpus": {"music21_dirs": sorted(SOURCES), **facts},
        "split": {
            "method": f"sha1(corpus file) % 100: <5 test, <10 valid; train copies transposed by {list(AUG_SHIFTS)}",
            **{k: len(v) for k, v in seqs.items()},
        },
        "heldout_nll": {
            "valid": round(valid_nll, 4),
            "test": round(test_nll, 4),
            "unit": "nats/token",
            "ngram_valid_by_order": ngram_scores,
            "ngram_fit_on": "untransposed train pieces",
        },
        "train": {
            "steps": step,
            "batch": batch,
            "seq_len": seq_len,
            "lr": lr,
            "params": params,
            "history": history,
            "threads": threads,
        },
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    save_checkpoint(model, meta, out_dir, STYLE, arch)
    log.info("wrote %s-%s: valid %.4f test %.4f nats/token (n-gram %s)", STYLE, arch, valid_nll, test_nll, ngram_scores)
    return meta


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--arch", default="lstm", choices=sorted(DEFAULT_ARGS))
    parser.add_argument("--minutes", type=float, default=35.0)
    parser.add_argument("--steps", type=int, default=20_000)
    parser.add_argument("--out", type=Path, default=SHIPPED_DIR)
    parser.add_argument("--cached-only", action="store_true", help="use only corpus files parsed already")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    train(args.arch, args.minutes, steps=args.steps, out_dir=args.out, cached_only=args.cached_only)


if __name__ == "__main__":
    main()
