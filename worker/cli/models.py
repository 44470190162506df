"""Command-line entry points for the model side: ``tunesmith train`` and ``tunesmith styles``."""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

# Architecture sizes of the shipped checkpoints; ``--tiny`` gives the configs the test-suite uses.
SHIPPED_ARGS: dict[str, dict] = {
    "lstm": {"embed": 128, "hidden": 320, "layers": 2, "dropout": 0.25},
    "wavenet": {"channels": 96, "skip": 128, "layers": 8, "blocks": 2, "dropout": 0.1},
    "gan": {"embed": 96, "noise": 32, "hidden": 256, "layers": 2, "disc_embed": 64, "disc_hidden": 128, "dropout": 0.2},
}
TINY_ARGS: dict[str, dict] = {
    "lstm": {"embed": 16, "hidden": 32, "layers": 1, "dropout": 0.0},
    "wavenet": {"channels": 16, "skip": 16, "layers": 4, "blocks": 1, "dropout": 0.0},
    "gan": {"embed": 16, "noise": 4, "hidden": 32, "layers": 1, "disc_embed": 8, "disc_hidden": 8, "dropout": 0.0},
}


def train_main(argv: list[str] | None = None) -> int:
    """``tunesmith train --style irish --arch lstm``: train on the frozen split, print held-out NLL."""
    from models.core.checkpoint import SHIPPED_DIR
    from models.music.corpus import load_style_tunes
    from models.music.styles import get_style
    from models.tokenlm.train import TrainConfig, train_tokens

    parser = argparse.ArgumentParser(prog="tunesmith train", description=train_main.__doc__)
    parser.add_argument("--style", required=True, help="a style, or several joined by commas (one model for all)")
    parser.add_argument("--name", default=None, help="checkpoint name (default: the style, or 'melody')")
    parser.add_argument("--gan-steps", type=int, default=300, help="adversarial steps after MLE pre-training")
    parser.add_argument("--arch", default="lstm")
    parser.add_argument("--epochs", type=int, default=TrainConfig.epochs)
    parser.add_argument("--max-minutes", type=float, default=TrainConfig.max_minutes)
    parser.add_argument("--batch", type=int, default=TrainConfig.batch)
    parser.add_argument("--seq-len", type=int, default=TrainConfig.seq_len)
    parser.add_argument("--lr", type=float, default=TrainConfig.lr)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--device", default="auto", help="cpu, cuda or auto")
    parser.add_argument("--out", type=Path, default=SHIPPED_DIR, help="checkpoint directory")
    parser.add_argument("--tiny", action="store_true", help="a tiny model on a few tunes (for tests)")
    parser.add_argument("--max-tunes", type=int, default=None, help="train on the first N tunes only")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    try:
        styles = [get_style(name) for name in args.style.split(",") if name.strip()]
    except KeyError as exc:
        print(f"error: {exc.args[0]}", file=sys.stderr)
        return 1
    name = args.name or (styles[0].name if len(styles) == 1 else "melody")
    arch_args = (TINY_ARGS if args.tiny else SHIPPED_ARGS).get(
        args.arch, {} if args.arch in ("coconet", "abc") else None
    )
    if arch_args is None:
        known = ", ".join([*SHIPPED_ARGS, "coconet", "abc"])
        print(f"error: unknown architecture {args.arch!r}; architectures: {known}", file=sys.stderr)
        return 1
    import torch

    device = ("cuda" if torch.cuda.is_available() else "cpu") if args.device == "auto" else args.device
    if args.arch in ("coconet", "abc"):
        return _forward_train(args, argv or [])
    datasets = {}
    for style in styles:
        if style.voices > 1:  # chorales: the token models learn the soprano line; Coconet adds the rest
            from models.music.grid_corpus import soprano_tunes

            tunes = soprano_tunes()
        else:
            tunes = load_style_tunes(style)
        datasets[style.name] = (style, tunes[: args.max_tunes] if args.max_tunes else tunes)
    config = TrainConfig(
        epochs=args.epochs,
        max_minutes=args.max_minutes,
        batch=args.batch,
        seq_len=args.seq_len,
        lr=args.lr,
        seed=args.seed,
        device=device,
    )
    meta = train_tokens(
        name,
        args.arch,
        datasets,
        arch_args,
        config,
        args.out,
        gan_steps=args.gan_steps,
        freeze_split=not args.max_tunes,
    )
    nll = meta["heldout_nll"]
    print(
        f"{name}-{args.arch}: held-out NLL valid {nll['valid']:.4f}, test {nll['test']:.4f} nats/token "
        f"({meta['train']['params']} params) → {args.out}"
    )
    for style_name, info in meta["styles"].items():
        print(f"  {style_name}: valid {info['heldout_nll']['valid']:.4f}, test {info['heldout_nll']['test']:.4f}")
    return 0


def _forward_train(args: argparse.Namespace, argv: list[str]) -> int:
    """``--arch coconet`` and ``--arch abc`` have trainers of their own with their own options."""
    if args.arch == "coconet":
        from models.coconet.train import main as coconet_main

        shipped = ["--channels", "32", "--dilations", "1,2,4,8", "--crop", "128", "--valid-windows", "192"]
        extra = ["--layers", "4", "--channels", "8", "--steps", "20", "--eval-pieces", "0"] if args.tiny else shipped
        return coconet_main(
            [
                "--out",
                str(args.out),
                "--style",
                args.style,
                "--max-minutes",
                str(args.max_minutes),
                "--seed",
                str(args.seed),
                *extra,
            ]
        )
    from models.abc.model import main as abc_main

    return abc_main([a for a in argv if a not in ("--arch", "abc")])


def styles_main(argv: list[str] | None = None) -> int:
    """``tunesmith styles [--json]``: the styles with a checkpoint, their architectures and tempo."""
    from models.compose.factory import available_styles

    parser = argparse.ArgumentParser(prog="tunesmith styles", description=styles_main.__doc__)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    styles = available_styles()
    if args.json:
        print(json.dumps(styles, indent=1))
        return 0
    for name, info in styles.items():
        low, high = info["tempo_range"]
        print(f"{name:10s} {'/'.join(info['arches']):20s} {low:g}-{high:g} qpm  {info['description']}")
    return 0


def evaluate_main(argv: list[str] | None = None) -> int:
    """``tunesmith evaluate [--json]``: NLL vs n-gram and piece metrics for every style × arch → EVALUATION.md."""
    import dataclasses

    from models.eval.evaluate import evaluate_all, targets, write_markdown
    from models.eval.providers import register

    parser = argparse.ArgumentParser(prog="tunesmith evaluate", description=evaluate_main.__doc__)
    parser.add_argument("--json", action="store_true", help="print the rows as a JSON list")
    parser.add_argument("--pieces", type=int, default=20, help="generated pieces per style × arch")
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--style", action="append", help="only these styles (repeatable)")
    parser.add_argument("--arch", action="append", help="only these architectures (repeatable)")
    parser.add_argument("--out", type=Path, default=Path("EVALUATION.md"))
    parser.add_argument(
        "--arrangement",
        action="store_true",
        help="only the arranger: its harmony beside a naive baseline and Bach's, and the form",
    )
    parser.add_argument("--chorales", type=int, default=None, help="with --arrangement: at most this many")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", stream=sys.stderr)
    import torch

    torch.set_grad_enabled(False)
    torch.set_num_threads(1)  # token-by-token sampling: one thread is fastest
    command = "tunesmith evaluate" + (" " + " ".join(argv) if argv else "")
    if args.arrangement:
        from models.eval.arrangement import run

        found = run(args.out, command, pieces=args.pieces, chorales=args.chorales)
        print(json.dumps(found, indent=1, default=str) if args.json else args.out.read_text())
        return 0
    register()
    rows = evaluate_all(args.pieces, args.seconds, args.style, args.arch)
    write_markdown(rows, args.out, command)
    if args.json:
        print(json.dumps([{**dataclasses.asdict(r), "targets": targets(r)} for r in rows], indent=1))
    else:
        print(args.out.read_text())
    return 0
