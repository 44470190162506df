"""Sampling: reproducible for a seed, exact length at a bar line, no long runs of one pitch."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from models.compose.factory import available_styles
from models.compose.types import plan_length
from models.core.checkpoint import load_metadata, save_checkpoint
from models.music.melody import TICKS_PER_QUARTER, meter_ticks
from models.music.tokens import Vocab, decode
from models.tokenlm.composer import TokenComposer
from models.tokenlm.lstm import LSTMConfig, MelodyLSTM
from models.tokenlm.sampling import filter_logits, sample_bars


@pytest.fixture(scope="module")
def tiny_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    torch.manual_seed(1)
    vocab = Vocab()
    args = {"vocab_size": len(vocab), "embed": 8, "hidden": 16, "layers": 1, "dropout": 0.0}
    directory = tmp_path_factory.mktemp("ck")
    meta = {"arch": "lstm", "args": args, "vocab": vocab.tokens, "meters": {"6/8": 0.5, "4/4": 0.5}}
    save_checkpoint(MelodyLSTM(LSTMConfig(**args)), meta, directory, "irish", "lstm")
    return directory


@pytest.mark.parametrize("seconds,meter", [(30, "4/4"), (30, "6/8"), (7.5, "3/4"), (300, "2/4"), (5, "12/8")])
def test_plan_length_is_exact(seconds: float, meter: str) -> None:
    bars, qpm = plan_length(seconds, meter, (120, 160))
    assert bars >= 1
    assert bars * meter_ticks(meter) / TICKS_PER_QUARTER * 60 / qpm == pytest.approx(seconds)


def test_compose_is_reproducible_and_exact(tiny_dir: Path) -> None:
    composer = TokenComposer("irish", "lstm", checkpoint_dir=tiny_dir)
    seen = []
    a = composer.compose(30, seed=11, on_progress=seen.append)
    b = composer.compose(30, seed=11)
    c = composer.compose(30, seed=12)
    assert a.notes == b.notes and a.tokens == b.tokens
    assert a.tokens != c.tokens
    assert a.seconds == 30 and a.notes[-1].end <= 30 + 1e-9
    assert a.bars * meter_ticks(a.meter) / TICKS_PER_QUARTER * 60 / a.tempo_qpm == pytest.approx(30)
    assert seen and seen[-1] == 1.0
    assert len(decode(a.tokens, composer.vocab).bars) == a.bars


def test_batch_sampling_fills_every_bar_and_limits_repeats(tiny_dir: Path) -> None:
    composer = TokenComposer("irish", "lstm", checkpoint_dir=tiny_dir)
    # Push the model towards one pitch: the repetition guard must still break runs after 8.
    with torch.no_grad():
        composer.model.head.bias[composer.vocab.pitch_id(67)] += 50.0
    outs = sample_bars(composer.model, composer.vocab, ["6/8", "2/4", "4/4"], 6, seed=5, top_k=3)
    for ids, meter in zip(outs, ["6/8", "2/4", "4/4"], strict=True):
        tune = decode(ids, composer.vocab)
        assert len(tune.bars) == 6 and tune.meter == meter
        pitches = [e.pitch for e in tune.events()]
        longest = max(sum(1 for _ in g) for _, g in __import__("itertools").groupby(pitches))
        assert longest <= 8


def test_top_k_and_mask() -> None:
    logits = torch.tensor([[5.0, 4.0, 3.0, 2.0]])
    mask = torch.tensor([[True, True, True, False]])
    probs = filter_logits(logits, mask, temperature=1.0, top_k=2)
    assert probs[0, 2] == 0 and probs[0, 3] == 0 and probs[0, :2].sum() == pytest.approx(1.0)


def test_available_styles_and_metadata(tiny_dir: Path) -> None:
    styles = available_styles(tiny_dir)
    assert styles["irish"]["arches"] == ["lstm"]
    assert load_metadata(tiny_dir, "irish", "lstm")["arch"] == "lstm"


def test_shipped_checkpoint_metadata() -> None:
    from models.core.checkpoint import SHIPPED_DIR

    meta = load_metadata(SHIPPED_DIR, "irish", "lstm")
    for key in ("arch", "args", "vocab", "corpus", "split", "heldout_nll", "date"):
        assert key in meta
    assert meta["heldout_nll"]["test"] < 2.0  # nats/token; a uniform guess over the vocabulary is ~5.0


def test_extend_keeps_the_old_bars(tiny_dir: Path) -> None:
    composer = TokenComposer("irish", "lstm", checkpoint_dir=tiny_dir)
    first = composer.compose(20, seed=4)
    longer = composer.extend(first.tokens, first.meter, first.tempo_qpm, first.transpose, 10, seed=9)
    assert longer.bars > first.bars
    assert longer.seconds == pytest.approx(first.seconds + (longer.bars - first.bars) * first.seconds / first.bars)
    assert longer.notes[: len(first.notes) - 1] == first.notes[:-1]
    assert abs(longer.seconds - 30) <= first.seconds / first.bars


# --- issue 15: exact key, meter and loop endings, and variations that keep bars ---------------------------------
@pytest.mark.parametrize("key", ["D dorian", "A minor", "G mixolydian", "Bb major", "F# minor"])
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_a_chosen_key_is_honoured_exactly_even_by_a_random_model(tiny_dir: Path, key: str, seed: int) -> None:
    """Random weights draw anything: only the grammar keeps every note in the scale, first and last on the
    tonic, and the chosen meter."""
    from models.music.keys import parse_key

    composer = TokenComposer("irish", "lstm", checkpoint_dir=tiny_dir)
    piece = composer.compose(12, seed=seed, key=key, meter="6/8", temperature=2.0)
    parsed = parse_key(key)
    assert piece.meter == "6/8" and piece.key == key
    assert {n.pitch % 12 for n in piece.notes} <= parsed.scale()
    assert piece.notes[0].pitch % 12 == parsed.tonic == piece.notes[-1].pitch % 12
    assert piece.notes[0].start == 0.0 and piece.notes[-1].end == pytest.approx(piece.seconds)
    assert len(decode(piece.tokens, composer.vocab).bars) == piece.bars


@pytest.mark.parametrize("seed", range(6))
def test_a_loop_ends_on_its_first_pitch_class_and_fills_whole_bars(tiny_dir: Path, seed: int) -> None:
    composer = TokenComposer("irish", "lstm", checkpoint_dir=tiny_dir)
    piece = composer.compose(10, seed=seed, loop=True, temperature=2.0)
    assert piece.loop and piece.notes[-1].pitch % 12 == piece.notes[0].pitch % 12
    assert piece.notes[-1].end == pytest.approx(piece.seconds)
    assert len(decode(piece.tokens, composer.vocab).bars) == piece.bars


def test_a_variation_keeps_every_bar_it_was_not_asked_to_change(tiny_dir: Path) -> None:
    from models.tokenlm.composer import split_bars

    composer = TokenComposer("irish", "lstm", checkpoint_dir=tiny_dir)
    parent = composer.compose(20, seed=4, key="E minor", loop=True)
    chosen = [1, 4, 5]
    child = composer.vary(
        parent.tokens, parent.meter, parent.tempo_qpm, parent.transpose, chosen, seed=9, key="E minor", loop=True
    )
    old, new = split_bars(parent.tokens, composer.vocab)[1], split_bars(child.tokens, composer.vocab)[1]
    assert len(old) == len(new) == parent.bars
    assert all(old[i] == new[i] for i in range(len(old)) if i not in chosen)
    assert any(old[i] != new[i] for i in chosen)
    assert child.notes[-1].pitch % 12 == child.notes[0].pitch % 12 == 4  # the loop and the key still hold
    again = composer.vary(
        parent.tokens, parent.meter, parent.tempo_qpm, parent.transpose, chosen, seed=9, key="E minor", loop=True
    )
    assert again.tokens == child.tokens  # same seed, same variation
