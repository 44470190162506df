"""Evaluation of a fine-tuned piano style against the files held out of its uploads.

Figures: polyphony of composed pieces against the collection's; Yang & Lerch overlapped areas
(models.eval.metrics.relative_overlap: key-normalised pitch-class histogram, mean inter-onset interval, note-length
histogram) between composed and held-out pieces; held-out NLL of the model against the best smoothed n-gram
(models.eval.ngram) on the same tokens; the share of pieces with a run of 16 notes copied from the uploads; the
share of composed notes shorter than the collection's shortest common value; compose time for 30 s.
"""

from __future__ import annotations

import statistics
import time
from dataclasses import dataclass, field

from models.eval.metrics import Melody, relative_overlap
from models.eval.ngram import best_ngram
from models.poly.finetune import PolySource, collection_facts, split_poly
from models.poly.tokens import PolyPiece, PolyVocab, decode, encode, pieces_polyphony

RUN = 16


def melody_of(piece: PolyPiece) -> Melody:
    """All notes of a piece as models.eval.metrics reads them (quarter notes)."""
    notes = sorted(piece.notes, key=lambda n: (n.start, -n.pitch))
    return Melody(tuple(n.pitch for n in notes), tuple(n.start / 12 for n in notes), tuple(n.ticks / 12 for n in notes))


def note_runs(piece: PolyPiece, n: int = RUN) -> set[tuple]:
    """Every run of ``n`` consecutive notes (ordered by onset, then pitch) as (pitch, onset gap, length)."""
    notes = sorted(piece.notes, key=lambda x: (x.start, x.pitch))
    keys = [(x.pitch, x.start - (notes[i - 1].start if i else x.start), x.ticks) for i, x in enumerate(notes)]
    return {tuple(keys[i : i + n]) for i in range(len(keys) - n + 1)}


@dataclass
class PolyReport:
    """What models.poly.evaluate measures for one fine-tuned style/arch."""

    style: str
    arch: str
    pieces: int
    collection_polyphony: float
    composed_polyphony: float
    polyphony_ratio: float
    heldout_nll: float
    ngram_nll: float
    ngram_order: int
    nll_gain: float  # 1 - model / n-gram
    share_copied_16: float
    shortest_common_ticks: int
    share_shorter_composed: float
    share_shorter_collection: float
    compose_p50_s: float
    overlaps: dict = field(default_factory=dict)
    meters: dict = field(default_factory=dict)
    heldout_files: int = 0


def evaluate_style(
    style: str, arch: str, sources: list[PolySource], *, pieces: int = 20, seconds: float = 30.0, batch: int = 10
) -> PolyReport:
    """Compose ``pieces`` pieces of ``seconds`` with the serving ``style``/``arch`` and measure them against the
    uploads ``sources`` (split as the fine-tune split them)."""
    import torch

    from models.compose.factory import load_composer
    from models.poly.compose import PolyComposer
    from models.tokenlm.batched import Ask
    from models.tokenlm.train import heldout_nll

    composer = load_composer(style, arch)
    assert isinstance(composer, PolyComposer), f"{style}-{arch} is not a piano model"
    vocab: PolyVocab = composer.vocab
    train, held, names = split_poly(sources)
    facts = collection_facts([p for s in sources for p in s.pieces])
    prefix = list(composer.style_meta.get("prefix", []))
    token = prefix[0][2:] if prefix else None
    train_ids = [encode(p, vocab, token) for p in train]
    held_ids = [encode(p, vocab, token) for p in held]
    model_nll = heldout_nll(composer.model, held_ids)
    ngram, scores = best_ngram(train_ids, held_ids, len(vocab), orders=(2, 3, 4, 5, 6))
    order = min(scores, key=lambda k: scores[k])
    times, made = [], []
    with torch.inference_mode():
        composer.compose(seconds, seed=10_000)  # warm-up
        for seed in range(min(5, pieces)):  # single-piece latency, as a /compose job sees it
            start = time.perf_counter()
            composer.compose(seconds, seed=seed)
            times.append(time.perf_counter() - start)
        for first in range(0, pieces, batch):
            asks = [Ask(seconds, seed) for seed in range(first, min(pieces, first + batch))]
            made += composer.compose_batch(asks)
    generated = [decode(c.tokens, vocab, clip=False) for c in made]  # normalised key, as uploads are stored
    index: set[tuple] = set()
    for s in sources:
        for p in s.pieces:
            index |= note_runs(p)
    copied = sum(bool(note_runs(p) & index) for p in generated)
    min_dur = facts["min_dur"]
    gen_notes = [n for p in generated for n in p.notes]
    col_notes = [n for s in sources for p in s.pieces for n in p.notes]
    composed_poly = pieces_polyphony(generated)
    return PolyReport(
        style,
        arch,
        len(generated),
        facts["polyphony"],
        round(composed_poly, 3),
        round(composed_poly / max(facts["polyphony"], 1e-9), 3),
        round(model_nll, 4),
        round(scores[order], 4),
        order,
        round(1 - model_nll / scores[order], 4),
        round(copied / max(1, len(generated)), 3),
        min_dur,
        round(sum(n.ticks < min_dur for n in gen_notes) / max(1, len(gen_notes)), 4),
        round(sum(n.ticks < min_dur for n in col_notes) / max(1, len(col_notes)), 4),
        round(statistics.median(times), 3),
        relative_overlap([melody_of(p) for p in generated], [melody_of(p) for p in held]),
        facts["meters"],
        len(names),
    )
