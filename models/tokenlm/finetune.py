"""Fine-tuning a token model (lstm, wavenet, gan) on uploaded or voted tunes into a new checkpoint version."""

from __future__ import annotations

import hashlib
import logging
import math
import statistics
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import torch

from models.core import catalog, versions
from models.core.checkpoint import load_metadata, load_weights, save_checkpoint
from models.core.data import encode_tunes, lm_chunks
from models.core.trainer import Trainer, TrainerConfig
from models.music.melody import Tune
from models.music.styles import STYLES, resolve_style
from models.music.tokens import Vocab
from models.tokenlm.registry import build_model
from models.tokenlm.train import heldout_nll, lm_loss

log = logging.getLogger(__name__)

FINETUNE_ARCHES = ("lstm", "wavenet", "gan")
StepFn = Callable[[int, int, float], None]


class Cancelled(RuntimeError):
    """The run was cancelled; nothing was written."""


class FinetuneError(ValueError):
    """A fine-tune that cannot run as asked; the message says why."""


@dataclass
class FinetuneConfig:
    """Optimisation settings; the defaults fit 20 MIDI files in well under 5 minutes on 2 CPU cores."""

    steps: int = 300
    batch: int = 16
    seq_len: int = 128
    lr: float = 1e-3
    warmup: int = 20
    eval_every: int = 50
    max_minutes: float = 4.0
    seed: int = 0
    device: str = "cpu"


@dataclass
class Source:
    """Tunes from one uploaded file or one voted track; ``weight`` copies of them go into training."""

    name: str
    tunes: list[Tune]
    qpm: float = 120.0
    program: int = 0
    key: int = 0  # the tonic the tunes were in before normalisation (semitones above C)
    weight: int = 1
    heldout_ok: bool = True  # voted tracks are the model's own output: never scored as held-out data
    meters: Counter = field(default_factory=Counter)


def split_sources(sources: list[Source]) -> tuple[list[Tune], list[Tune]]:
    """(train tunes, held-out tunes): about one file in five is held out, chosen by a hash of its name (so the
    same uploads always split the same way); with a single file, its last fifth of tunes."""
    eligible = [s for s in sources if s.heldout_ok and s.tunes]
    ranked = sorted(eligible, key=lambda s: hashlib.sha1(s.name.encode()).hexdigest())
    held_names = {s.name for s in ranked[: len(ranked) // 5 or (1 if len(ranked) >= 2 else 0)]}
    train, held = [], []
    for s in sources:
        if s.name in held_names:
            held += s.tunes
        else:
            train += s.tunes * max(1, s.weight)
    if not held and len(eligible) == 1 and len(eligible[0].tunes) >= 2:
        tunes = eligible[0].tunes
        cut = max(1, len(tunes) // 5)
        held, rest = tunes[-cut:], tunes[:-cut]
        train = [t for t in train if all(t is not h for h in held)] or rest
    return train, held


def style_definition(style: str, sources: list[Source], arch: str, base: str, by: str) -> dict:
    """A new style's definition from its uploads: tempo range around their median tempo, their commonest
    instrument and keys."""
    qpm = statistics.median([s.qpm for s in sources]) if sources else 120.0
    lo, hi = max(40.0, qpm * 0.88), min(240.0, qpm * 1.12)
    programs = Counter(s.program for s in sources)
    keys = [k for k, _ in Counter(s.key for s in sources).most_common(3)] or [0]
    return {
        "name": style,
        "description": f"Fine-tuned from {base} on {len(sources)} file(s) uploaded by {by or '?'}",
        "corpus_dirs": [],
        "tempo_range": [round(lo, 1), round(hi, 1)],
        "program": programs.most_common(1)[0][0] if programs else 0,
        "default_arch": arch,
        "keys": keys,
    }


def main_meters(counts: Counter, share: float = 0.25) -> dict[str, float]:
    """The meters a style composes in: those of at least ``share`` of the collection (what it mostly uses; a
    stray 3/4 file among 4/4 ones stays out), weighted; the commonest one when none reaches the share."""
    total = sum(counts.values()) or 1
    kept = {m: c for m, c in counts.most_common() if c / total >= share} or dict(counts.most_common(1))
    norm = sum(kept.values()) or 1
    return {m: round(c / norm, 4) for m, c in kept.items()}


def _schedule(step: int, config: FinetuneConfig) -> float:
    if step < config.warmup:
        return (step + 1) / config.warmup
    frac = (step - config.warmup) / max(1, config.steps - config.warmup)
    return 0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * min(1.0, frac)))


def finetune(
    style: str,
    arch: str,
    base: str,
    sources: list[Source],
    config: FinetuneConfig | None = None,
    *,
    by: str = "",
    root: Path | None = None,
    on_step: StepFn | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> dict:
    """Train ``base``'s ``arch`` checkpoint further on ``sources`` and write it as the next version of
    ``style``/``arch`` (not activated: the caller activates). Returns the metadata, with ``version``.

    Raises:
        FinetuneError: bad arch, base or too little data. Cancelled: ``should_stop`` said so.
    """
    config = config or FinetuneConfig()
    if arch not in FINETUNE_ARCHES:
        raise FinetuneError(f"fine-tuning works for {', '.join(FINETUNE_ARCHES)}, not {arch}")
    try:
        entry = catalog.find(base, arch)
        resolve_style(base)
    except (LookupError, KeyError) as exc:
        raise FinetuneError(str(exc.args[0])) from None
    meta_base = load_metadata(entry.directory, entry.name, arch)
    vocab = Vocab(meta_base["vocab"])
    prefix = list(entry.styles.get(base, {}).get("prefix", []))
    token_style = prefix[0][2:] if prefix and prefix[0].startswith("S:") else None
    train_tunes, held_tunes = split_sources(sources)
    train = encode_tunes(train_tunes, vocab, token_style)
    held = encode_tunes(held_tunes, vocab, token_style)
    if sum(len(s) for s in train) < 64:
        raise FinetuneError("too little music to learn from: upload a few more MIDI files (at least ~16 bars)")
    torch.manual_seed(config.seed)
    model = load_weights(build_model(arch, meta_base["args"]), entry.directory, entry.name, arch, config.device)
    before = round(heldout_nll(model, held, config.device), 4) if held else None
    chunks = lm_chunks(train, config.seq_len, vocab.pad)  # [N, L+1]
    trainer, history = fine_tuner(
        model,
        chunks,
        config,
        vocab.pad,
        (lambda m: round(heldout_nll(m, held, config.device), 4)) if held else None,
        baseline=before if before is not None else math.inf,  # kept only if it beats the base model's NLL
        on_step=on_step,
        should_stop=should_stop,
    )
    trainer.fit()
    step = trainer.step
    model.eval()
    after = round(heldout_nll(model, held, config.device), 4) if held else None
    meters = Counter(t.meter for t in train_tunes)
    meta = {k: v for k, v in meta_base.items() if k in ("arch", "args", "vocab")}
    meta.update(
        {
            "name": style,
            "style": style,
            "styles": {style: {"prefix": prefix, "meters": main_meters(meters)}},
            "corpus": {"uploads": [s.name for s in sources], "base_corpus": meta_base.get("corpus")},
            "split": {
                "train_tunes": len(train_tunes),
                "heldout_tunes": len(held_tunes),
                "method": "one file in five held out, by a hash of its name",
            },
            "heldout_nll": {"heldout_uploads": after, "unit": "nats/token"},
            "finetune": finetune_record(
                f"{entry.name}-{arch}", base, by, config, sources, trainer, history, before, after
            ),
            "date": datetime.now(UTC).isoformat(timespec="seconds"),
        }
    )
    if style not in STYLES:  # a new style: its tempo, instrument and keys come from the uploads
        meta["style_def"] = style_definition(style, [s for s in sources if s.heldout_ok] or sources, arch, base, by)
    version = save_version(model, meta, style, arch, root)
    log.info(
        "fine-tuned %s-%s v%d from %s: %d steps, held-out %s → %s nats/token",
        style,
        arch,
        version,
        entry.name,
        step,
        before,
        after,
    )
    return meta


def save_version(model: torch.nn.Module, meta: dict, style: str, arch: str, root: Path | None) -> int:
    """Write ``model`` as the next version of ``style``/``arch`` (not activated; a failed write leaves nothing);
    returns its number, also set in ``meta``."""
    version, path = versions.new_version(style, arch, root)
    try:
        meta["version"] = version
        save_checkpoint(model, meta, path, style, arch)
    except BaseException:
        versions.discard(path)
        raise
    return version


def finetune_record(
    base_name: str,
    base_style: str,
    by: str,
    config: FinetuneConfig,
    sources: Sequence[Any],
    trainer: Trainer,
    history: list[dict],
    before: float | None,
    after: float | None,
) -> dict:
    """The ``finetune`` block of a fine-tuned version's metadata (melody and piano alike): what it started from,
    who ran it, on which files and voted tracks, and the held-out NLL before and after."""
    return {
        "base": base_name,
        "base_style": base_style,
        "by": by,
        "steps_run": trainer.step,
        "config": asdict(config),
        "files": [s.name for s in sources if s.heldout_ok],
        "vote_tracks": sum(1 for s in sources if not s.heldout_ok),
        "heldout_nll_before": before,
        "heldout_nll_after": after,
        "minutes": round(trainer.elapsed / 60, 2),
        "history": history,
    }


def fine_tuner(
    model: torch.nn.Module,
    chunks: torch.Tensor,
    config: FinetuneConfig,
    pad: int,
    eval_fn: Callable[[torch.nn.Module], float] | None,
    *,
    baseline: float = math.inf,
    on_step: StepFn | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> tuple[Trainer, list[dict]]:
    """The Trainer of a fine-tune (melody and piano alike) on random chunks [N, L+1], and the history its
    progress callback fills: AdamW with warm-up and cosine decay, clip 1.0, scored every ``eval_every`` steps
    and at the last (not when the time budget cuts it short), cancelled when ``should_stop`` says so."""
    gen = torch.Generator().manual_seed(config.seed)
    history: list[dict] = []

    def batch(step: int) -> torch.Tensor:
        rows = torch.randint(len(chunks), (min(config.batch, len(chunks)),), generator=gen)
        return chunks[rows].to(config.device)  # [B, L+1]

    def cancel(t: Trainer) -> None:
        if should_stop is not None and should_stop():
            raise Cancelled(f"cancelled at step {t.step}")

    def record(t: Trainer) -> None:
        point: dict = {"step": t.step, "train": round(t.loss or 0.0, 4)}
        if t.evals and t.evals[-1][0] == t.step:
            point["valid"] = t.evals[-1][1]
        history.append(point)
        if on_step is not None:
            on_step(t.step, config.steps, t.loss or 0.0)

    budget = TrainerConfig(
        max_steps=config.steps,
        max_seconds=config.max_minutes * 60,
        lr=config.lr,
        weight_decay=1e-5,
        grad_clip=1.0,
        eval_every=config.eval_every,
        eval_at_timeout=False,
    )
    trainer = Trainer(
        model,
        budget,
        lambda m, b: lm_loss(m, b, pad),
        batch,
        eval_fn=eval_fn,
        scheduler=lambda opt: torch.optim.lr_scheduler.LambdaLR(opt, lambda s: _schedule(s, config)),
        baseline=baseline,
    )
    trainer.add_callback("on_batch_start", cancel)
    trainer.add_callback("on_batch_end", record)
    return trainer, history
