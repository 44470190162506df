"""Fine-tuning into versioned checkpoints: versions, activation, rollback, new styles served by the catalog."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from models.compose.factory import available_styles, load_composer
from models.core import catalog, versions
from models.music.melody import Event, Tune
from models.tokenlm.finetune import Cancelled, FinetuneConfig, FinetuneError, Source, finetune, split_sources

FAST = FinetuneConfig(steps=12, batch=4, seq_len=64, eval_every=6, warmup=2)


def tunes(n: int, seed: int, *, scale: tuple[int, ...] = (60, 62, 64, 65, 67, 69, 71, 72)) -> list[Tune]:
    rng = random.Random(seed)
    out = []
    for i in range(n):
        bars = [[Event(rng.choice(scale), 12) for _ in range(2)] + [Event(rng.choice(scale), 24)] for _ in range(8)]
        out.append(Tune(f"t{seed}-{i}", "4/4", bars, ""))
    return out


def sources(k: int = 3) -> list[Source]:
    return [Source(f"song{i}.mid", tunes(4, i), qpm=100.0 + 4 * i, program=0, key=7) for i in range(k)]


@pytest.fixture
def store(data_dir: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A data directory for the versions, with the shipped checkpoints as the base models."""
    monkeypatch.delenv("TUNESMITH_CHECKPOINT_DIR", raising=False)
    return data_dir


def test_versions_only_list_complete_runs_and_activation_is_checked(store: Path) -> None:
    version, path = versions.new_version("demo", "lstm")
    assert (version, path.name) == (1, "v0001")
    assert versions.list_versions("demo", "lstm") == []  # no metadata yet: unfinished
    (path / "demo-lstm.safetensors").write_bytes(b"x")
    (path / "demo-lstm.json").write_text('{"date": "2026-11-22", "finetune": {"by": "7", "steps_run": 5}}')
    assert versions.new_version("demo", "lstm")[0] == 2
    assert versions.list_versions("demo", "lstm") == [1]
    with pytest.raises(LookupError):
        versions.activate("demo", "lstm", 2)
    versions.activate("demo", "lstm", 1, by="7")
    assert versions.active_version("demo", "lstm") == 1
    assert versions.summary()["demo"]["lstm"]["versions"][0]["by"] == "7"
    versions.discard(path)  # the active version vanished: fall back to the shipped one, don't crash
    assert versions.active_version("demo", "lstm") == 0


def test_split_holds_out_whole_files_and_never_voted_tracks() -> None:
    srcs = sources(5) + [Source("track:abc", tunes(3, 9), weight=3, heldout_ok=False)]
    train, held = split_sources(srcs)
    held_ids = {t.tune_id for t in held}
    assert held and not held_ids & {t.tune_id for t in train}
    assert all(not tid.startswith("t9-") for tid in held_ids)
    assert sum(t.tune_id.startswith("t9-") for t in train) == 9  # weight 3 × 3 tunes
    assert split_sources(srcs) == (train, held)  # same uploads, same split


def test_new_style_is_served_only_once_activated_and_rollback_restores(store: Path) -> None:
    meta = finetune("pokemon", "lstm", "folk", sources(), FAST, by="42")
    assert meta["version"] == 1 and meta["finetune"]["steps_run"] == 12
    assert meta["finetune"]["heldout_nll_after"] is not None
    assert meta["style_def"]["keys"] == [7] and 88 <= meta["style_def"]["tempo_range"][0] < 104
    assert "pokemon" not in available_styles()  # written but not active yet
    versions.activate("pokemon", "lstm", 1)
    info = available_styles()["pokemon"]
    assert info["arches"] == ["lstm"] and info["default_arch"] == "lstm"
    piece = load_composer("pokemon", "lstm").compose(12.0, seed=3)
    assert piece.style == "pokemon" and abs(piece.seconds - 12.0) < 1e-6 and piece.notes
    second = finetune("pokemon", "lstm", "pokemon", sources(2), FAST, by="42")
    assert second["version"] == 2 and second["finetune"]["base"] == "pokemon-lstm"
    versions.activate("pokemon", "lstm", 2)
    assert catalog.find("pokemon", "lstm").directory.name == "v0002"
    versions.activate("pokemon", "lstm", 1)
    assert catalog.find("pokemon", "lstm").directory.name == "v0001"


def test_existing_style_version_beats_the_shipped_checkpoint_until_rolled_back(store: Path) -> None:
    shipped = catalog.find("scottish", "lstm").directory
    finetune("scottish", "lstm", "scottish", sources(2), FAST)
    versions.activate("scottish", "lstm", 1)
    assert catalog.find("scottish", "lstm").directory.name == "v0001"
    assert "style_def" not in versions.metadata("scottish", "lstm", 1)  # a built-in style keeps its definition
    versions.activate("scottish", "lstm", 0)
    assert catalog.find("scottish", "lstm").directory == shipped


def test_cancel_and_bad_requests_leave_nothing_behind(store: Path) -> None:
    with pytest.raises(Cancelled):
        finetune("pokemon", "lstm", "folk", sources(), FAST, should_stop=lambda: True)
    with pytest.raises(FinetuneError, match="fine-tuning works for"):
        finetune("pokemon", "abc", "irish", sources(), FAST)
    with pytest.raises(FinetuneError, match="too little"):
        finetune("pokemon", "lstm", "folk", [Source("a.mid", tunes(1, 1)[:1])], FAST)
    with pytest.raises(FinetuneError):
        finetune("pokemon", "lstm", "nosuchstyle", sources(), FAST)
    assert versions.list_versions("pokemon", "lstm") == [] and versions.summary() == {}
