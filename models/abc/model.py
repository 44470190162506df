"""The folk-rnn-style ABC LSTM: corpus tokens, the frozen split, and training to a ``<style>-abc`` checkpoint.

The network is :class:`models.tokenlm.lstm.MelodyLSTM` (embedding → stacked LSTM → logits) over the ABC tokens of
:mod:`models.abc.tokens`, one model per style: the styles' checkpoints stay independent (one can be retrained
or fine-tuned without touching the others) and each gets the whole ~1.4 MB fp16 budget.
"""

from __future__ import annotations

import logging
import math
import statistics
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import torch

from models.abc.corpus import AbcVocab, build_vocab, corpus_abc_tunes
from models.abc.syntax import AbcError
from models.abc.tokens import tokenize
from models.core.checkpoint import save_checkpoint
from models.core.data import SPLITS_DIR, hash_split, lm_chunks
from models.core.trainer import Trainer, TrainerConfig
from models.music.styles import Style
from models.tokenlm.lstm import LSTMConfig, MelodyLSTM
from models.tokenlm.train import TrainConfig, heldout_nll, lm_loss

log = logging.getLogger(__name__)

ARCH = "abc"
ABC_ARGS = {"embed": 64, "hidden": 224, "layers": 2, "dropout": 0.2}  # ≈0.7 M params, ≈1.4 MB in fp16
TINY_ABC_ARGS = {"embed": 16, "hidden": 32, "layers": 1, "dropout": 0.0}


def _lr_factor(progress: float) -> float:
    """Learning-rate multiplier: linear warm-up over the first 5 % of training, then cosine decay to 2 %."""
    if progress < 0.05:
        return 0.1 + 0.9 * progress / 0.05
    return 0.02 + 0.98 * 0.5 * (1 + math.cos(math.pi * min(1.0, (progress - 0.05) / 0.95)))


def build_abc_model(args: dict) -> MelodyLSTM:
    """A MelodyLSTM from checkpoint args (``vocab_size`` included)."""
    return MelodyLSTM(LSTMConfig(**args))


def load_abc_corpus(style: Style) -> tuple[dict[str, list[str]], Counter]:
    """Tune id → tokens for every tune of the style that tokenizes, and why the others were dropped."""
    dropped: Counter[str]
    tunes, dropped = {}, Counter()
    for tune in corpus_abc_tunes(style):
        try:
            tunes[tune.tune_id] = tokenize(tune.text)
        except AbcError as exc:
            dropped[str(exc).split(" '")[0][:40]] += 1
    return tunes, dropped


def abc_split(style: str, tune_ids: list[str], directory: Path = SPLITS_DIR) -> dict[str, list[str]]:
    """Train/valid/test ids: held out as in ``models/splits/<style>.json`` when it exists, by the same
    sha1 rule (:func:`models.core.data.hash_split`) for tunes it does not list, so every architecture holds out
    the same tunes. The file is only read, never written."""
    import json

    path = directory / f"{style}.json"
    frozen = json.loads(path.read_text()) if path.exists() else {"valid": [], "test": []}
    held = {i: part for part in ("valid", "test") for i in frozen[part]}
    out: dict[str, list[str]] = {"train": [], "valid": [], "test": []}
    for tune_id in tune_ids:
        out[held.get(tune_id) or hash_split(tune_id)].append(tune_id)
    return out


def _encode_all(vocab: AbcVocab, tunes: list[list[str]]) -> tuple[list[list[int]], int]:
    seqs, oov = [], 0
    for toks in tunes:
        try:
            seqs.append(vocab.encode(toks))
        except AbcError:
            oov += 1
    return seqs, oov


def train_abc(
    style: Style,
    config: TrainConfig,
    out_dir: Path,
    *,
    args: dict | None = None,
    max_tunes: int | None = None,
    min_count: int = 3,
    corpus: dict[str, list[str]] | None = None,
) -> dict:
    """Train the ABC LSTM of ``style`` on its frozen split and write ``<style>-abc.safetensors`` + ``.json``.

    Tunes with a token seen fewer than ``min_count`` times in the training split are left out (counted in
    the metadata). ``corpus`` (tune id → tokens) replaces the music21 corpus, for tests.

    Returns:
        The checkpoint metadata, with held-out NLL in nats per token (valid: best epoch; test: that model).
    """
    torch.manual_seed(config.seed)
    args = dict(ABC_ARGS if args is None else args)
    dropped: Counter = Counter()
    if corpus is None:
        corpus, dropped = load_abc_corpus(style)
    ids = list(corpus)[:max_tunes] if max_tunes else list(corpus)
    split = abc_split(style.name, ids)
    vocab = build_vocab([corpus[i] for i in split["train"]], min_count)
    seqs, oov = {}, {}
    for part, part_ids in split.items():
        seqs[part], oov[part] = _encode_all(vocab, [corpus[i] for i in part_ids])
    args["vocab_size"] = len(vocab)
    model = build_abc_model(args).to(config.device)
    params = sum(p.numel() for p in model.parameters())
    gen = torch.Generator().manual_seed(config.seed)
    chunks, history = lm_chunks(seqs["train"], config.seq_len, vocab.pad), []  # [N, L+1]
    n_chunks = len(chunks)  # the same every epoch: the tunes are only reordered
    steps_per_epoch = math.ceil(n_chunks / config.batch)
    log.info(
        "%s/abc: %d params, vocab %d, %d train tunes, %d chunks of %d",
        style.name,
        params,
        len(vocab),
        len(seqs["train"]),
        n_chunks,
        config.seq_len,
    )

    def batch(step: int) -> torch.Tensor:  # each epoch chunks the training tunes in a new order
        nonlocal chunks
        i = step % steps_per_epoch * config.batch
        if i == 0:
            order = torch.randperm(len(seqs["train"]), generator=gen).tolist()
            chunks = lm_chunks([seqs["train"][j] for j in order], config.seq_len, vocab.pad)  # [N, L+1]
        return chunks[i : i + config.batch].to(config.device)  # [B, L+1]

    def end_epoch(t: Trainer) -> None:  # anneal over as many epochs as the time budget fits
        epoch, minutes, plan = t.step // steps_per_epoch, t.elapsed / 60, t.config.max_steps // steps_per_epoch
        train, valid = sum(t.losses[-steps_per_epoch:]) / steps_per_epoch, t.evals[-1][1]
        history.append(
            {"epoch": epoch, "train": round(train, 4), "valid": round(valid, 4), "minutes": round(minutes, 2)}
        )
        log.info("epoch %d/%d train %.4f valid %.4f nats/token", epoch, plan, train, valid)
        fits = max(epoch, min(config.epochs, epoch + int((config.max_minutes - minutes) / (minutes / epoch))))
        if fits != plan:
            log.info("time budget of %.1f min fits %d epochs: annealing by then", config.max_minutes, fits)
            t.config.max_steps = fits * steps_per_epoch

    budget = TrainerConfig(
        max_steps=config.epochs * steps_per_epoch,
        lr=config.lr,
        weight_decay=config.weight_decay,
        grad_clip=config.clip,
        eval_every=steps_per_epoch,
    )
    trainer = Trainer(
        model,
        budget,
        lambda m, b: lm_loss(m, b, vocab.pad),
        batch,
        eval_fn=lambda m: heldout_nll(m, seqs["valid"], config.device),
        scheduler=lambda opt: torch.optim.lr_scheduler.LambdaLR(opt, lambda s: _lr_factor(s / budget.max_steps)),
    )
    trainer.add_callback("on_eval", end_epoch)
    trainer.fit()
    step, best = trainer.step, trainer.best
    test = heldout_nll(model, seqs["test"], config.device)
    lengths = [len(s) for s in seqs["train"]]
    meta = {
        "arch": ARCH,
        "style": style.name,
        "args": args,
        "vocab": vocab.tokens,
        "corpus": {
            "music21_dirs": list(style.corpus_dirs),
            "tunes": len(ids) + sum(dropped.values()),
            "tokenized": len(ids),
            "dropped": dict(dropped),
            "encoded": {k: len(v) for k, v in seqs.items()},
            "oov_dropped": oov,
            "min_count": min_count,
        },
        "split": {
            "file": f"models/splits/{style.name}.json",
            "rule": "listed ids, else sha1(tune_id) % 100",
            **{k: len(v) for k, v in split.items()},
        },
        "heldout_nll": {"valid": round(best, 4), "test": round(test, 4), "unit": "nats/token"},
        "tokens": {
            "median": int(statistics.median(lengths)) if lengths else 0,
            "max": max(lengths, default=0),
            "normalisation": "tonic C (mode kept), L:1/8",
        },
        "train": {
            **config.__dict__,
            "steps": step,
            "epochs_run": len(history),
            "params": params,
            "schedule": "warm-up 5 %, cosine to 0.02 lr over the epochs that fit max_minutes",
            "minutes": round(trainer.elapsed / 60, 2),
            "history": history,
        },
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    save_checkpoint(model, meta, out_dir, style.name, ARCH)
    return meta


def main(argv: list[str] | None = None) -> int:
    """``python -m models.abc.model --style irish,folk,scottish --out DIR``: train, print held-out NLL."""
    import argparse

    parser = argparse.ArgumentParser(prog="python -m models.abc.model", description=main.__doc__)
    from models.core.checkpoint import SHIPPED_DIR

    parser.add_argument("--style", required=True, help="one style or a comma-separated list (one model each)")
    parser.add_argument("--out", type=Path, default=SHIPPED_DIR, help="checkpoint directory")
    parser.add_argument("--epochs", type=int, default=12)
    parser.add_argument("--max-minutes", type=float, default=30.0)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--seq-len", type=int, default=128)
    parser.add_argument("--lr", type=float, default=3e-3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--device", default="cpu", help="cpu, cuda or auto")
    parser.add_argument("--tiny", action="store_true", help="the test-suite's tiny model")
    parser.add_argument("--max-tunes", type=int, default=None)
    args, ignored = parser.parse_known_args(argv)  # ``tunesmith train --arch abc`` forwards its own options too
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    if ignored:
        log.info("ignoring options the ABC trainer does not use: %s", " ".join(ignored))
    torch.set_num_threads(args.threads)
    if args.device == "auto":
        args.device = "cuda" if torch.cuda.is_available() else "cpu"
    from models.music.styles import get_style

    for name in args.style.split(","):
        config = TrainConfig(
            epochs=args.epochs,
            max_minutes=args.max_minutes,
            batch=args.batch,
            seq_len=args.seq_len,
            lr=args.lr,
            seed=args.seed,
            device=args.device,
        )
        meta = train_abc(
            get_style(name), config, args.out, args=TINY_ABC_ARGS if args.tiny else ABC_ARGS, max_tunes=args.max_tunes
        )
        nll = meta["heldout_nll"]
        print(
            f"{name}/abc: held-out NLL valid {nll['valid']:.4f}, test {nll['test']:.4f} nats/token "
            f"({meta['train']['params']} params, vocab {len(meta['vocab'])}, {meta['train']['minutes']} min)"
            f" → {args.out}"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
