"""Piano fine-tuning into versioned checkpoints and composing piano music from them."""

from __future__ import annotations

from pathlib import Path

import pytest

from models.compose.factory import available_styles, load_composer
from models.poly.compose import PolyComposer
from models.poly.finetune import PolySource, collection_facts, finetune_poly, split_poly
from models.poly.tokens import polyphony
from models.tokenlm.finetune import FinetuneConfig, FinetuneError
from tests.benchmarks.piano_collection import compound
from tests.models.poly.conftest import make_piece

FAST = FinetuneConfig(steps=8, batch=4, seq_len=64, eval_every=4, warmup=2)


def sources(k: int = 5) -> list[PolySource]:
    return [PolySource(f"song{i}.mid", [make_piece(i), make_piece(100 + i)], qpm=150.0, key=2) for i in range(k)]


def test_split_holds_out_whole_files() -> None:
    srcs = sources(5) + [PolySource("track:x", [make_piece(99)], heldout_ok=False)]
    train, held, names = split_poly(srcs)
    assert len(names) == 1 and len(held) == 2 and len(train) == 9
    assert not {p.piece_id for p in held} & {p.piece_id for p in train} - {"p99"}


def test_collection_facts_follow_what_the_collection_mostly_uses() -> None:
    pieces = [make_piece(i) for i in range(8)] + [make_piece(9, meter="3/4")] + [compound(make_piece(10))]
    facts = collection_facts(pieces)
    assert list(facts["meters"]) == ["4/4"]  # 3/4 and 12/8 hold under a quarter of the bars
    assert facts["min_dur"] == 6 and facts["grid"] == [0, 6]
    assert 2.0 < facts["polyphony"] < 3.5


def test_finetune_makes_a_piano_style_that_composes_piano(data_dir: Path, tiny_piano: Path) -> None:
    meta = finetune_poly("pokemon", "lstm", "piano", sources(), FAST, by="7")
    assert meta["version"] == 1 and meta["representation"] == "poly"
    assert meta["style_def"]["program"] == 0 and meta["style_def"]["tempo_range"] == [135.0, 165.0]
    assert meta["styles"]["pokemon"]["meters"] == {"4/4": 1.0} and meta["styles"]["pokemon"]["min_dur"] == 6
    assert meta["finetune"]["heldout_nll_after"] <= meta["finetune"]["heldout_nll_before"]
    from models.core.versions import activate

    activate("pokemon", "lstm", 1)
    assert "pokemon" in available_styles()
    composer = load_composer("pokemon", "lstm")
    assert isinstance(composer, PolyComposer)
    piece = composer.compose(10.0, seed=3, top_k=40)
    assert piece.seconds == 10.0 and piece.program == 0 and len(piece.parts) == 2
    assert [p[0] for p in piece.parts] == ["piano right hand", "piano left hand"]
    assert all(n.end - n.start >= 6 * 60 / piece.tempo_qpm / 12 - 1e-6 for n in piece.notes)
    assert polyphony(piece.notes) >= 1.0
    again = composer.compose(10.0, seed=3, top_k=40)
    assert again.notes == piece.notes
    longer = composer.extend(piece.tokens, piece.meter, piece.tempo_qpm, piece.transpose, 5.0, seed=4)
    assert longer.bars > piece.bars


def test_batched_pieces_equal_pieces_alone(tiny_piano: Path) -> None:
    from models.tokenlm.batched import Ask, can_batch, compose_batch

    composer = load_composer("piano", "wavenet")
    assert can_batch(composer)
    asks = [Ask(6.0, 1), Ask(9.0, 2, temperature=0.8, top_k=10)]
    batch = compose_batch(composer, asks)
    assert [p.notes for p in batch] == [
        composer.compose(a.seconds, seed=a.seed, temperature=a.temperature, top_k=a.top_k).notes for a in asks
    ]


def test_bad_requests(data_dir: Path, tiny_piano: Path) -> None:
    with pytest.raises(FinetuneError, match="piano fine-tuning works for"):
        finetune_poly("x", "gan", "piano", sources(), FAST)
    with pytest.raises(FinetuneError, match="too little music"):
        finetune_poly("x", "lstm", "piano", [PolySource("a.mid", [make_piece(1, bars=1)])], FAST)


def test_melody_styles_also_keep_to_the_meters_the_collection_mostly_uses() -> None:
    from collections import Counter

    from models.tokenlm.finetune import main_meters

    assert main_meters(Counter({"4/4": 70, "3/4": 20, "6/8": 10})) == {"4/4": 1.0}
    assert main_meters(Counter({"6/8": 50, "4/4": 40, "3/4": 10})) == {"6/8": 0.5556, "4/4": 0.4444}


def test_copy_runs_and_metric_views() -> None:
    from models.poly.evaluate import melody_of, note_runs

    piece = make_piece(5, bars=2)
    runs = note_runs(piece)
    assert runs and all(len(r) == 16 for r in runs)
    moved = note_runs(piece.transposed(2))
    assert not runs & moved  # a transposed copy is a different run (uploads and output share one key)
    m = melody_of(piece)
    assert len(m.pitches) == len(piece.notes) and m.onsets == tuple(sorted(m.onsets))
