"""Bach chorales on a 16th grid: real-chorale round trip, held vs repeated notes, the frozen split, tunes."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from models.music.chorales import (
    SPLIT_PATH,
    VOICES,
    Chorale,
    chorale_to_tune,
    fix_onsets,
    freeze_split,
    grid_to_parts,
    notes_to_voice,
    parse_chorale,
    split_chorales,
    voice_to_notes,
)


@pytest.fixture(scope="module")
def bwv269() -> Chorale:
    chorale = parse_chorale("bach/bwv269", [1])
    assert isinstance(chorale, Chorale)
    return chorale


def test_real_chorale_grid(bwv269: Chorale) -> None:
    assert bwv269.pitch.shape == bwv269.onset.shape == (4, 63 * 4)  # 63 quarters
    assert bwv269.meter == "3/4" and bwv269.key_sharps == 1 and bwv269.bar_starts[:3] == [0, 4, 16]
    sounding = bwv269.pitch[bwv269.pitch >= 0]
    assert 36 <= sounding.min() and sounding.max() <= 81
    means = [bwv269.pitch[v][bwv269.pitch[v] >= 0].mean() for v in range(4)]
    assert means == sorted(means, reverse=True)  # S, A, T, B top to bottom
    assert (bwv269.onset == fix_onsets(bwv269.pitch, bwv269.onset)).all()


def test_round_trip_through_notes(bwv269: Chorale) -> None:
    qpm = 84.0
    parts = grid_to_parts(bwv269.pitch, bwv269.onset, qpm)
    assert [name for name, _, _ in parts] == list(VOICES)
    for v, (_, program, notes) in enumerate(parts):
        assert 0 <= program < 128
        pitch, onset = notes_to_voice(notes, qpm, bwv269.pitch.shape[1])
        assert (pitch == bwv269.pitch[v]).all() and (onset == bwv269.onset[v]).all()


def test_repeated_note_stays_two_notes(bwv269: Chorale) -> None:
    first, second = voice_to_notes(bwv269.pitch[0], bwv269.onset[0], 60.0)[:2]  # soprano opens G4 G4
    assert first.pitch == second.pitch == 67 and first.end == pytest.approx(second.start) == pytest.approx(1.0)
    pitch = np.array([60, 60, 60, 60, -1, 62])
    struck = voice_to_notes(pitch, np.array([1, 0, 1, 0, 0, 0], dtype=bool), 60.0)
    assert [(n.pitch, n.start, n.end) for n in struck] == [(60, 0.0, 0.5), (60, 0.5, 1.0), (62, 1.25, 1.5)]
    held = voice_to_notes(pitch, np.array([1, 0, 0, 0, 0, 0], dtype=bool), 60.0)
    assert [(n.pitch, n.end) for n in held] == [(60, 1.0), (62, 1.5)]  # a held cell after a rest is a strike


def test_soprano_tune_whole_bars(bwv269: Chorale) -> None:
    tune = chorale_to_tune(bwv269)
    assert tune is not None and tune.meter == "3/4"
    assert all(sum(e.ticks for e in bar) == 36 for bar in tune.bars)
    assert tune.bars[0][0].pitch == 67 + 5  # G major → C major (shift within -5..+6), pickup bar dropped


def _chorale(i: int, soprano: list[int]) -> Chorale:
    pitch = np.array([soprano, [55] * 4, [48] * 4, [40] * 4])
    return Chorale(f"bach/x{i:03d}", [i], "4/4", 0, "major", [0], pitch, np.ones((4, 4), dtype=bool))


def test_split_deterministic_and_by_chorale(tmp_path: Path) -> None:
    chorales = [_chorale(i, [60 + i % 20, 62, 64, 65 + i // 20]) for i in range(100)]
    twin = _chorale(100, [61 + 5, 62 + 5, 64 + 5, 65 + 5])  # chorale 1's melody transposed: same group
    chorales.append(twin)
    a = freeze_split(chorales, tmp_path / "a.json")
    b = freeze_split(list(reversed(chorales)), tmp_path / "b.json")
    assert a == b and json.loads((tmp_path / "a.json").read_text())["test"] == a["test"]
    ids = [i for part in a.values() for i in part]
    assert sorted(ids) == sorted(c.chorale_id for c in chorales)  # each chorale in exactly one part
    assert 55 <= len(a["train"]) <= 66 and 15 <= len(a["test"]) <= 25
    part_of = {i: k for k, v in a.items() for i in v}
    assert part_of["bach/x001"] == part_of["bach/x100"]
    assert [len(v) for v in split_chorales(chorales, a).values()] == [len(v) for v in a.values()]


def test_shipped_split_is_frozen() -> None:
    frozen = json.loads(SPLIT_PATH.read_text())
    sizes = {k: len(frozen[k]) for k in ("train", "valid", "test")}
    assert sum(sizes.values()) > 350 and 0.55 < sizes["train"] / sum(sizes.values()) < 0.65
    assert not set(frozen["train"]) & set(frozen["test"]) and not set(frozen["valid"]) & set(frozen["test"])
