"""Fine-tuning the polyphonic piano model on uploaded piano MIDI files into a new checkpoint version.

The collection decides the style: the meters it mostly uses (by bars), its median tempo, its keys, the onset
grid and shortest common note value it uses (the sampler's grammar keeps to them) and its pitch range.
"""

from __future__ import annotations

import hashlib
import logging
import statistics
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import torch

from models.core import catalog
from models.core.checkpoint import load_metadata, load_weights
from models.core.data import lm_chunks
from models.music.styles import STYLES, resolve_style
from models.poly.compose import is_poly
from models.poly.tokens import PolyPiece, PolyVocab, encode, pieces_polyphony
from models.tokenlm.finetune import Cancelled, FinetuneConfig, FinetuneError, fine_tuner, finetune_record, save_version
from models.tokenlm.registry import build_model
from models.tokenlm.train import heldout_nll

log = logging.getLogger(__name__)

POLY_ARCHES = ("lstm", "wavenet")
PIANO_BASE = "piano"
POLYPHONY_THRESHOLD = 1.3  # collections above this many pitches per onset learn piano, below it melody
METER_SHARE = 0.25  # meters with at least this share of the collection's bars are composed in
StepFn = Callable[[int, int, float], None]

__all__ = ["Cancelled", "FinetuneError", "PolySource", "collection_facts", "finetune_poly", "split_poly"]


@dataclass
class PolySource:
    """Pieces from one uploaded file or one voted track."""

    name: str
    pieces: list[PolyPiece]
    qpm: float = 120.0
    program: int = 0
    key: int = 0  # tonic before normalisation (semitones above C)
    weight: int = 1
    heldout_ok: bool = True
    polyphony: float = 0.0
    meters: Counter = field(default_factory=Counter)


def split_poly(sources: list[PolySource]) -> tuple[list[PolyPiece], list[PolyPiece], list[str]]:
    """(train pieces, held-out pieces, held-out file names): one file in five held out by a hash of its name;
    with a single file, its last fifth of pieces."""
    eligible = [s for s in sources if s.heldout_ok and s.pieces]
    ranked = sorted(eligible, key=lambda s: hashlib.sha1(s.name.encode()).hexdigest())
    held_names = {s.name for s in ranked[: len(ranked) // 5 or (1 if len(ranked) >= 2 else 0)]}
    train, held = [], []
    for s in sources:
        if s.name in held_names:
            held += s.pieces
        else:
            train += s.pieces * max(1, s.weight)
    if not held and len(eligible) == 1 and len(eligible[0].pieces) >= 2:
        pieces = eligible[0].pieces
        cut = max(1, len(pieces) // 5)
        held = pieces[-cut:]
        train = [p for p in train if all(p is not h for h in held)]
    return train, held, sorted(held_names)


def collection_facts(pieces: list[PolyPiece]) -> dict:
    """What a style keeps from its collection: meters by share of bars (those of at least METER_SHARE), onset
    grid (positions in a quarter used by ≥ 1% of onsets), shortest common note value (the shortest duration
    that ≥ 3% of notes have or are shorter than), pitch range (1st..99th percentile ± 2) and polyphony."""
    bars: Counter[str] = Counter()
    for p in pieces:
        bars[p.meter] += p.bars
    total = sum(bars.values()) or 1
    meters = {m: c / total for m, c in bars.most_common() if c / total >= METER_SHARE} or {bars.most_common(1)[0][0]: 1}
    norm = sum(meters.values())
    notes = [n for p in pieces for n in p.notes]
    residues = Counter(n.start % 12 for p in pieces for n in {(x.start, 0): x for x in p.notes}.values())
    onsets = sum(residues.values()) or 1
    grid = sorted({0} | {r for r, c in residues.items() if c / onsets >= 0.01})
    durations = sorted(n.ticks for n in notes)
    min_dur = durations[int(0.03 * (len(durations) - 1))] if durations else 3
    pitches = sorted(n.pitch for n in notes)
    lo = pitches[int(0.01 * (len(pitches) - 1))] - 2 if pitches else 36
    hi = pitches[int(0.99 * (len(pitches) - 1))] + 2 if pitches else 96
    return {
        "meters": {m: round(w / norm, 4) for m, w in meters.items()},
        "grid": grid,
        "min_dur": int(min_dur),
        "pitch_range": [int(max(21, lo)), int(min(108, hi))],
        "polyphony": round(pieces_polyphony(pieces), 3),
        "meter_bars": dict(bars.most_common()),
    }


def _style_def(style: str, sources: list[PolySource], arch: str, base: str, by: str) -> dict:
    qpms = [s.qpm for s in sources for _ in range(max(1, sum(p.bars for p in s.pieces)))]  # weighted by bars
    qpm = statistics.median(qpms) if qpms else 100.0
    lo, hi = max(40.0, qpm * 0.9), min(255.0, qpm * 1.1)
    keys = [k for k, _ in Counter(s.key for s in sources).most_common(3)] or [0]
    return {
        "name": style,
        "description": f"Piano, fine-tuned from {base} on {len(sources)} file(s) uploaded by {by or '?'}",
        "corpus_dirs": [],
        "tempo_range": [round(lo, 1), round(hi, 1)],
        "program": 0,
        "default_arch": arch,
        "keys": keys,
    }


def _nll(model: torch.nn.Module, seqs: list[list[int]], device: str, cap: int | None = None) -> float:
    return heldout_nll(model, [s[:cap] for s in seqs] if cap else seqs, device)


def finetune_poly(
    style: str,
    arch: str,
    base: str,
    sources: list[PolySource],
    config: FinetuneConfig | None = None,
    *,
    by: str = "",
    root: Path | None = None,
    on_step: StepFn | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> dict:
    """Train ``base``'s poly ``arch`` checkpoint further on ``sources`` and write the next version of
    ``style``/``arch`` (not activated). Returns the metadata, with ``version``.

    Raises:
        FinetuneError: bad arch or base, or too little music. Cancelled: ``should_stop`` said so.
    """
    config = config or FinetuneConfig(seq_len=256, max_minutes=8.0)
    if arch not in POLY_ARCHES:
        raise FinetuneError(f"piano fine-tuning works for {', '.join(POLY_ARCHES)}, not {arch}")
    try:
        entry = catalog.find(base, arch)
        resolve_style(base)
    except (LookupError, KeyError) as exc:
        raise FinetuneError(str(exc.args[0])) from None
    meta_base = load_metadata(entry.directory, entry.name, arch)
    if not is_poly(meta_base):
        raise FinetuneError(f"{base}/{arch} is not a piano (polyphonic) model")
    vocab = PolyVocab(meta_base["vocab"])
    prefix = list(entry.styles.get(base, {}).get("prefix", []))
    token = prefix[0][2:] if prefix and prefix[0].startswith("S:") else None
    train_pieces, held_pieces, held_names = split_poly(sources)
    train = [encode(p, vocab, token) for p in train_pieces if f"M:{p.meter}" in vocab.index]
    held = [encode(p, vocab, token) for p in held_pieces if f"M:{p.meter}" in vocab.index]
    if sum(len(s) for s in train) < 256:
        raise FinetuneError("too little music to learn from: upload a few more MIDI files (at least ~16 bars)")
    torch.manual_seed(config.seed)
    model = load_weights(build_model(arch, meta_base["args"]), entry.directory, entry.name, arch, config.device)
    quick = held[:48]  # periodic checks on a bounded sample; the final figure uses every held-out piece
    before = round(_nll(model, held, config.device), 4) if held else None
    chunks = lm_chunks(train, config.seq_len, vocab.pad)
    trainer, history = fine_tuner(
        model,
        chunks,
        config,
        vocab.pad,
        (lambda m: round(_nll(m, quick, config.device, 1024), 4)) if quick else None,
        on_step=on_step,
        should_stop=should_stop,
    )
    trainer.fit()  # restores the best evaluated state
    step = trainer.step
    model.eval()
    after = round(_nll(model, held, config.device), 4) if held else None
    if before is not None and after is not None and after > before:  # training made it worse: keep the base
        model = load_weights(build_model(arch, meta_base["args"]), entry.directory, entry.name, arch, config.device)
        after = before
    facts = collection_facts([p for s in sources if s.heldout_ok for p in s.pieces] or train_pieces)
    meta = {k: v for k, v in meta_base.items() if k in ("arch", "args", "vocab", "representation")}
    meta.update(
        {
            "name": style,
            "style": style,
            "styles": {
                style: {
                    "prefix": prefix,
                    "meters": facts["meters"],
                    "grid": facts["grid"],
                    "min_dur": facts["min_dur"],
                    "pitch_range": facts["pitch_range"],
                }
            },
            "collection": facts,
            "corpus": {
                "uploads": [s.name for s in sources],
                "base_corpus": meta_base.get("corpus", {}).get("music21_dirs"),
            },
            "split": {
                "train_pieces": len(train_pieces),
                "heldout_pieces": len(held_pieces),
                "heldout_files": held_names,
                "method": "one file in five held out, by a hash of its name",
            },
            "heldout_nll": {"heldout_uploads": after, "unit": "nats/token"},
            "finetune": finetune_record(
                f"{entry.name}-{arch}", base, by, config, sources, trainer, history, before, after
            ),
            "date": datetime.now(UTC).isoformat(timespec="seconds"),
        }
    )
    if style not in STYLES:
        meta["style_def"] = _style_def(style, [s for s in sources if s.heldout_ok] or sources, arch, base, by)
    version = save_version(model, meta, style, arch, root)
    log.info(
        "fine-tuned piano %s-%s v%d from %s: %d steps, held-out %s → %s nats/token",
        style,
        arch,
        version,
        entry.name,
        step,
        before,
        after,
    )
    return meta
