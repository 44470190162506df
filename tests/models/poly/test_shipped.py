"""The shipped piano checkpoints: present, polyphonic, within the size budget, composing exact lengths."""

from __future__ import annotations

import pytest

from models.core.checkpoint import SHIPPED_DIR, load_metadata

BUDGET_BYTES = 25_000_000  # every shipped checkpoint together


def test_shipped_checkpoints_stay_within_the_budget() -> None:
    total = sum(p.stat().st_size for p in SHIPPED_DIR.glob("*.safetensors"))
    assert total <= BUDGET_BYTES, f"shipped checkpoints take {total / 1e6:.1f} MB"


@pytest.mark.parametrize("arch", ["lstm", "wavenet"])
def test_the_piano_model_composes_polyphonic_piano_music(arch: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TUNESMITH_CHECKPOINT_DIR", raising=False)
    meta = load_metadata(SHIPPED_DIR, "piano", arch)
    assert meta["representation"] == "poly" and meta["heldout_nll"]["test"] < 2.5
    from models.compose.factory import load_composer
    from models.poly.tokens import polyphony

    piece = load_composer("piano", arch).compose(12.0, seed=2)
    assert piece.seconds == 12.0 and piece.program == 0 and polyphony(piece.notes) > 1.3
