"""Seeded short runs of the five training loops, printed as JSON, to show a refactor computes the same thing.

    PYTHONPATH=$PWD python scripts/trainer_parity.py > after.json && diff before.json after.json

Every loss the runs compute (each cross-entropy/BCE call, training and held-out alike) is recorded at full
precision, with each loop's returned history and a sha256 of the final (best-restored) weights.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import sys
import tempfile
from pathlib import Path

import numpy as np
import torch
from torch.nn import functional as F

LOSSES: list[float] = []


def _recording(fn):  # noqa: ANN001, ANN202
    def wrapped(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
        out = fn(*args, **kwargs)
        LOSSES.append(float(out.detach().double().sum()))
        return out
    return wrapped


for _name in ("cross_entropy", "binary_cross_entropy_with_logits", "mse_loss"):
    setattr(F, _name, _recording(getattr(F, _name)))


def _digest(model: torch.nn.Module) -> str:
    h = hashlib.sha256()
    for k, v in sorted(model.state_dict().items()):
        h.update(k.encode() + v.detach().cpu().numpy().tobytes())
    return h.hexdigest()[:16]


def _run(fn) -> dict:  # noqa: ANN001
    LOSSES.clear()
    out = fn()
    return {**out, "losses": list(LOSSES)}


def _tunes(n: int, seed: int):  # noqa: ANN202
    from models.music.melody import Event, Tune

    rng = random.Random(seed)
    scale = (60, 62, 64, 65, 67, 69, 71, 72)
    return [Tune(f"t{seed}-{i}", "4/4", [[Event(rng.choice(scale), 12) for _ in range(2)]
                                        + [Event(rng.choice(scale), 24)] for _ in range(8)], "") for i in range(n)]


def fit_lm_run(dropout: float, layers: int, lr: float) -> dict:
    from models.core.data import encode_tunes, lm_chunks
    from models.music.tokens import Vocab
    from models.tokenlm.lstm import LSTMConfig, MelodyLSTM
    from models.tokenlm.train import TrainConfig, fit_lm

    vocab = Vocab()
    train, valid = encode_tunes(_tunes(12, 1), vocab, "irish"), encode_tunes(_tunes(3, 2), vocab, "irish")
    config = TrainConfig(epochs=4, batch=6, seq_len=24, lr=lr, seed=0)  # 5 batches an epoch: 20 steps
    torch.manual_seed(config.seed)
    model = MelodyLSTM(LSTMConfig(len(vocab), embed=8, hidden=16, layers=layers, dropout=dropout))
    chunks = lm_chunks(train, config.seq_len, vocab.pad)
    history = fit_lm(model, chunks, valid, vocab, config)
    return {"chunks": len(chunks), "history": [{k: v for k, v in h.items() if k != "minutes"} for h in history],
            "weights": _digest(model)}


def abc_run() -> dict:
    from models.abc.model import TINY_ABC_ARGS, train_abc
    from models.music.styles import get_style
    from models.tokenlm.train import TrainConfig
    from tests.models.abc.test_abc_model import corpus

    with tempfile.TemporaryDirectory() as out:
        config = TrainConfig(epochs=3, batch=8, seq_len=64, lr=1e-2, seed=0)
        meta = train_abc(get_style("irish"), config, Path(out), args=TINY_ABC_ARGS, corpus=corpus(), min_count=1,
                         max_tunes=30)
        from models.abc.model import build_abc_model
        from models.core.checkpoint import load_weights

        model = load_weights(build_abc_model(meta["args"]), Path(out), "irish", "abc", "cpu")
    return {"steps": meta["train"]["steps"], "heldout": meta["heldout_nll"],
            "history": [{k: v for k, v in h.items() if k != "minutes"} for h in meta["train"]["history"]],
            "weights": _digest(model)}


def coconet_run() -> dict:
    from models.coconet.train import CoconetTrainConfig, train_coconet
    from tests.models.music.test_palestrina import _pieces

    pieces = _pieces(6)
    split = {"train": [p.chorale_id for p in pieces[:4]], "valid": [pieces[4].chorale_id],
             "test": [pieces[5].chorale_id]}
    config = CoconetTrainConfig(steps=20, batch=2, crop=16, eval_every=4, eval_pieces=0, valid_windows=2, lr=0.1)
    with tempfile.TemporaryDirectory() as out:
        meta = train_coconet(Path(out), {"layers": 2, "channels": 4}, config, pieces, style="palestrina",
                             split=split)
        from models.coconet.model import Coconet, CoconetConfig
        from models.core.checkpoint import load_weights

        model = load_weights(Coconet(CoconetConfig(**meta["args"])), Path(out), "palestrina", "coconet", "cpu")
    return {"steps": meta["train"]["steps_run"], "heldout": meta["heldout_nll"],
            "history": [{k: v for k, v in h.items() if k != "minutes"} for h in meta["train"]["history"]],
            "weights": _digest(model)}


def finetune_run(cancel_at: int | None = None, lr: float = 0.1) -> dict:
    from models.core.checkpoint import load_weights, save_checkpoint
    from models.music.tokens import Vocab
    from models.tokenlm.finetune import Cancelled, FinetuneConfig, Source, finetune
    from models.tokenlm.lstm import LSTMConfig, MelodyLSTM

    with tempfile.TemporaryDirectory() as tmp:
        ck, data = Path(tmp) / "ck", Path(tmp) / "data"
        ck.mkdir(), data.mkdir()
        torch.manual_seed(1)
        vocab = Vocab()
        args = {"vocab_size": len(vocab), "embed": 8, "hidden": 16, "layers": 1, "dropout": 0.0}
        meta = {"arch": "lstm", "args": args, "vocab": vocab.tokens, "meters": {"6/8": 0.5, "4/4": 0.5}}
        save_checkpoint(MelodyLSTM(LSTMConfig(**args)), meta, ck, "irish", "lstm")
        os.environ["TUNESMITH_CHECKPOINT_DIR"], os.environ["TUNESMITH_DATA_DIR"] = str(ck), str(data)
        sources = [Source(f"song{i}.mid", _tunes(4, i), qpm=100.0 + 4 * i, key=7) for i in range(3)]
        config = FinetuneConfig(steps=20, batch=4, seq_len=64, eval_every=3, warmup=2, lr=lr)
        calls: list = []
        stop = (lambda: len(calls) >= cancel_at) if cancel_at is not None else None
        try:
            meta = finetune("pokemon", "lstm", "irish", sources, config, root=data,
                            on_step=lambda *a: calls.append(list(a)), should_stop=stop)
        except Cancelled as exc:
            return {"cancelled": str(exc), "on_step": calls, "written": sorted(p.name for p in data.rglob("*"))}
        ft = meta["finetune"]
        model = load_weights(MelodyLSTM(LSTMConfig(**args)), data / "styles" / "pokemon" / "lstm" / "v0001"
                             if (data / "styles").exists() else next(data.rglob("v0001")), "pokemon", "lstm", "cpu")
    return {"steps": ft["steps_run"], "before": ft["heldout_nll_before"], "after": ft["heldout_nll_after"],
            "history": ft["history"], "on_step": calls, "weights": _digest(model)}


def gan_run() -> dict:
    from models.music.tokens import Vocab
    from models.tokenlm.gan import GANConfig, MelodyGAN
    from models.tokenlm.gan_train import adversarial_train
    from tests.models.tokenlm.test_gan import _tunes as gan_tunes

    vocab = Vocab()
    torch.manual_seed(0)
    model = MelodyGAN(GANConfig(vocab_size=len(vocab), embed=8, noise=4, hidden=16, layers=1, disc_embed=8,
                                disc_hidden=8, dropout=0.1))
    history = adversarial_train(model, gan_tunes(vocab), vocab, steps=20, batch=2, length=12, lr=5e-3)
    return {"history": history, "weights": _digest(model)}


def main() -> int:
    torch.set_num_threads(1)
    np.set_printoptions(precision=17)
    runs = {
        "fit_lm tiny": lambda: fit_lm_run(0.0, 1, 0.05),
        "fit_lm dropout": lambda: fit_lm_run(0.3, 2, 0.3),
        "train_abc": abc_run,
        "train_coconet": coconet_run,
        "finetune": finetune_run,
        "finetune diverging": lambda: finetune_run(lr=30.0),  # no evaluation beats the base: nothing restored
        "finetune cancelled": lambda: finetune_run(cancel_at=5),
        "adversarial_train": gan_run,
    }
    only = set(sys.argv[1:])
    out = {name: _run(fn) for name, fn in runs.items() if not only or name in only}
    print(json.dumps(out, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
