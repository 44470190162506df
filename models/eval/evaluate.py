"""``tunesmith evaluate``: held-out NLL beside an n-gram baseline, and metrics of generated pieces, for every
style × architecture with a checkpoint; writes EVALUATION.md.
"""

from __future__ import annotations

import logging
import re
import statistics
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from models.core import catalog
from models.core.data import encode_tunes, load_or_freeze_split
from models.eval.metrics import (
    CopyIndex,
    Melody,
    max_repeat_run,
    pitch_class_entropy,
    pitch_range,
    relative_overlap,
    scale_consistency,
)
from models.eval.ngram import best_ngram
from models.music.corpus import load_style_tunes
from models.music.melody import Tune, tune_to_notes
from models.music.styles import STYLES, Style
from models.music.tokens import Vocab

log = logging.getLogger(__name__)

# Extra NLL providers for architectures with tokens of their own: arch → fn(style, composer) → row fields.
NLL_PROVIDERS: dict[str, Callable[[Style, object], dict]] = {}
# Reference tunes for styles whose corpus is not a list of melodies (e.g. chorales): style → fn() → tunes.
TUNE_PROVIDERS: dict[str, Callable[[], list[Tune]]] = {}


@dataclass
class Row:
    """One style × architecture line of the evaluation."""

    style: str
    arch: str
    nll: float | None = None
    ngram_nll: float | None = None
    ngram_order: int | None = None
    scale_consistency: float = 0.0
    heldout_scale_consistency: float = 0.0
    pitch_class_entropy: float = 0.0
    pitch_range: float = 0.0
    max_repeat_run: int = 0
    longest_copied_ngram: int = 0
    share_copied_16: float = 0.0
    pieces: int = 0
    seconds_per_piece: float = 0.0
    extra: dict = field(default_factory=dict)


def _melodies(tunes: list[Tune]) -> list[Melody]:
    return [Melody.from_notes(tune_to_notes(t, 60.0), 60.0) for t in tunes]


def split_tunes(style: Style) -> dict[str, list[Tune]]:
    """The style's tunes by frozen split part."""
    tunes = TUNE_PROVIDERS[style.name]() if style.name in TUNE_PROVIDERS else load_style_tunes(style)
    split = load_or_freeze_split(style.name, tunes, write=False)
    by_id = {t.tune_id: t for t in tunes}
    return {part: [by_id[i] for i in ids] for part, ids in split.items()}


def token_nll(style: Style, composer, parts: dict[str, list[Tune]]) -> dict:
    """Held-out NLL of a token model and of the best n-gram on exactly the same tokens."""
    from models.tokenlm.train import heldout_nll

    vocab: Vocab = composer.vocab
    prefix = composer.style_meta.get("prefix", [])
    token = prefix[0][2:] if prefix else None
    seqs = {k: encode_tunes(v, vocab, token) for k, v in parts.items()}
    nll = heldout_nll(composer.model, seqs["test"], composer.device)
    key = (style.name, token, len(vocab))
    if key not in _NGRAMS:  # the n-gram depends only on the tokens, shared by lstm, wavenet and gan
        ngram, _ = best_ngram(seqs["train"], seqs["valid"], len(vocab))
        _NGRAMS[key] = (ngram.n, round(ngram.nll(seqs["test"]), 4))
    order, ngram_nll = _NGRAMS[key]
    return {"nll": round(nll, 4), "ngram_nll": ngram_nll, "ngram_order": order}


_NGRAMS: dict[tuple, tuple[int, float]] = {}


def evaluate_pair(
    style_name: str,
    arch: str,
    pieces: int = 20,
    seconds: float = 30.0,
    parts: dict[str, list[Tune]] | None = None,
    copy_index: CopyIndex | None = None,
) -> Row:
    """Evaluate one style × architecture."""
    from models.compose.factory import load_composer

    style = STYLES[style_name]
    composer = load_composer(style_name, arch)
    parts = parts or split_tunes(style)
    row = Row(style_name, arch)
    melody = getattr(composer, "melody", composer)  # a harmonized style: score its melody model
    if arch in NLL_PROVIDERS:
        fields = NLL_PROVIDERS[arch](style, composer)
    elif hasattr(melody, "vocab") and hasattr(melody, "style_meta"):
        fields = token_nll(style, melody, parts)
    else:
        fields = {}
    for key, value in fields.items():
        if hasattr(row, key):
            setattr(row, key, value)
        else:
            row.extra[key] = value
    generated, start = [], time.monotonic()
    for seed in range(pieces):
        comp = composer.compose(seconds, seed=seed)
        notes = comp.parts[0][2] if comp.parts else comp.notes
        generated.append(Melody.from_notes(notes, comp.tempo_qpm))
    row.seconds_per_piece = round((time.monotonic() - start) / max(pieces, 1), 3)
    held = _melodies(parts["test"])
    index = copy_index or CopyIndex(_melodies(parts["train"]))
    copied = [index.longest_copied(m) for m in generated]
    row.pieces = len(generated)
    row.scale_consistency = round(statistics.mean(scale_consistency(m) for m in generated), 4)
    row.heldout_scale_consistency = round(statistics.mean(scale_consistency(m) for m in held), 4)
    row.pitch_class_entropy = round(statistics.mean(pitch_class_entropy(m) for m in generated), 3)
    row.pitch_range = round(statistics.mean(pitch_range(m) for m in generated), 2)
    row.max_repeat_run = max(max_repeat_run(m) for m in generated)
    row.longest_copied_ngram = max(copied)
    row.share_copied_16 = round(sum(c >= 16 for c in copied) / len(copied), 3)
    row.extra.update(relative_overlap(generated, held))
    return row


def evaluate_all(
    pieces: int = 20, seconds: float = 30.0, styles: list[str] | None = None, arches: list[str] | None = None
) -> list[Row]:
    """Evaluate every served style × architecture (optionally filtered)."""
    rows = []
    for style_name, served in catalog.served().items():
        if style_name not in STYLES or (styles and style_name not in styles) or not STYLES[style_name].corpus_dirs:
            continue  # styles without corpus dirs (piano) have their own evaluation: models.poly.evaluate
        parts = split_tunes(STYLES[style_name])
        index = CopyIndex(_melodies(parts["train"]))
        for arch in served:
            if arches and arch not in arches:
                continue
            log.info("evaluating %s/%s", style_name, arch)
            rows.append(evaluate_pair(style_name, arch, pieces, seconds, parts, index))
    return rows


def targets(row: Row) -> dict[str, bool | None]:
    """The issue's quality targets for one row (None where not applicable)."""
    return {
        "nll_10pct_below_ngram": None if row.nll is None or row.ngram_nll is None else row.nll <= 0.9 * row.ngram_nll,
        "scale_within_0.05": abs(row.scale_consistency - row.heldout_scale_consistency) <= 0.05,
        "no_repeat_over_8": row.max_repeat_run <= 8,
        "copy16_in_under_5pct": row.share_copied_16 <= 0.05,
    }


def _row_lines(r: Row) -> tuple[str, str | None]:
    """A row's table line and its "Other likelihoods" line (None when it has no likelihoods of its own)."""
    met = " ".join(("✅" if v else "❌") + k for k, v in targets(r).items() if v is not None)
    oa = " / ".join(str(r.extra.get(k, "–")) for k in ("oa_pch", "oa_ioi", "oa_note_length"))
    line = (
        f"| {r.style} | {r.arch} | {r.nll if r.nll is not None else '–'} | "
        f"{r.ngram_nll if r.ngram_nll is not None else '–'} ({r.ngram_order or '–'}) | "
        f"{r.scale_consistency} ({r.heldout_scale_consistency}) | {r.pitch_class_entropy} | "
        f"{r.pitch_range} | "
        f"{r.max_repeat_run} | {r.longest_copied_ngram} | {r.share_copied_16:.0%} | {oa} | "
        f"{r.seconds_per_piece} | {met} |"
    )
    if not any(k.endswith("_nll") for k in r.extra):
        return line, None
    return line, f"- {r.style}/{r.arch}: " + ", ".join(
        f"{k} = {v}" for k, v in r.extra.items() if not k.startswith("oa_")
    )


def read_rows(path: Path) -> dict[tuple[str, str], tuple[str, str | None, str]]:
    """(style, arch) → (table line, "Other likelihoods" line or None, command that produced it) of a written file."""
    if not path.exists():
        return {}
    text = path.read_text()
    main = re.search(r"Produced by `([^`]+)`", text)
    by: dict[str, str] = {
        pair: cmd
        for pairs, cmd in re.findall(r"^Rows for (.+) by `([^`]+)`\.$", text, re.M)
        for pair in pairs.split(", ")
    }
    tables = {(m[1], m[2]): m[0] for m in re.finditer(r"^\| ([\w-]+) \| ([\w-]+) \|.*$", text, re.M) if m[1] != "style"}
    others = {(m[1], m[2]): m[0] for m in re.finditer(r"^- ([\w-]+)/([\w-]+): .*$", text, re.M)}
    return {
        pair: (line, others.get(pair), by.get("/".join(pair), main[1] if main else "?"))
        for pair, line in tables.items()
    }


def write_markdown(rows: list[Row], path: Path, command: str, *, served: dict[str, list[str]] | None = None) -> None:
    """EVALUATION.md: one table of rows, the targets met, and the commands that produced them.

    Rows already in ``path`` for pairs that are still ``served`` (default: by the catalog) but not in ``rows``
    are kept with their command, so ``tunesmith evaluate --style S`` refreshes S's rows and leaves the others.
    """
    entries = read_rows(path)
    if entries:
        served = catalog.served() if served is None else served
        entries = {pair: e for pair, e in entries.items() if pair[1] in served.get(pair[0], [])}
    for r in rows:
        entries[(r.style, r.arch)] = (*_row_lines(r), command)
    entries = dict(sorted(entries.items()))
    commands = Counter(cmd for _, _, cmd in entries.values())
    main = commands.most_common(1)[0][0] if commands else command
    lines = ["# Evaluation", "", f"Produced by `{main}` on this repository's shipped checkpoints."]
    for cmd in commands:
        if cmd != main:
            lines.append(f"Rows for {', '.join('/'.join(p) for p, e in entries.items() if e[2] == cmd)} by `{cmd}`.")
    lines += [
        "",
        "NLL in nats per token on each style's frozen test split; the n-gram is the best order (2–6, chosen on "
        "the valid split) of interpolated Kneser-Ney-style absolute discounting on the same tokens. "
        "Piece metrics over generated 30 s pieces (seeds 0…N-1), compared with the held-out tunes.",
        "",
        "| style | arch | NLL | n-gram NLL (order) | scale cons. (held-out) | PC entropy | range | max repeat |"
        " longest copy | ≥16 copied | OA pch / ioi / len | s/piece | targets |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    lines += [table for table, _, _ in entries.values()]
    extras = [other for _, other, _ in entries.values() if other]
    if extras:
        lines += ["", "## Other likelihoods", "", *extras]
    old = path.read_text() if path.exists() else ""
    start, end = "<!-- arrangement:start -->", "<!-- arrangement:end -->"
    if start in old and end in old:  # the arranger's section (tunesmith evaluate --arrangement) stays
        lines += ["", start + old.split(start, 1)[1].split(end, 1)[0] + end]
    path.write_text("\n".join(lines) + "\n")
