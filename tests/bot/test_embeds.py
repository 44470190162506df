"""Pure formatting: lengths, progress lines, failure texts and the track embed."""

from __future__ import annotations

import pytest

from bot import embeds
from worker.contract.tracks import ComposeResult


def _result(**kw: object) -> ComposeResult:
    base = dict(
        track_id="abc123",
        style="irish",
        arch="lstm",
        seed=42,
        seconds=30.04,
        tempo_qpm=112.4,
        bars=14,
        files={},
        timings={"sample_s": 0.5, "render_s": 1.0, "total_s": 1.8},
        device="cpu",
    )
    return ComposeResult(**{**base, **kw})


@pytest.mark.parametrize(
    ("seconds", "text"), [(30, "30s"), (90, "1m30s"), (60, "1m"), (12.5, "12.5s"), (0, "0s"), (29.99, "30s")]
)
def test_format_seconds(seconds: float, text: str) -> None:
    assert embeds.format_seconds(seconds) == text


@pytest.mark.parametrize(
    ("progress", "pct"),
    [
        ({"fraction": 0.5}, 50.0),
        ({"percent": 30}, 30.0),
        ({"step": 3, "total": 4}, 75.0),
        ({"fraction": 1.7}, 100.0),
        ({"stage": "loading"}, None),
        ({"step": 1, "total": 0}, None),
        ({}, None),
    ],
)
def test_progress_percent(progress: dict, pct: float | None) -> None:
    assert embeds.progress_percent(progress) == pct


def test_progress_text_queued_shows_position() -> None:
    text = embeds.progress_text("t1", "irish", 30, status="queued", position=2)
    assert "position 3" in text and "t1" in text and "irish" in text and "30s" in text


def test_progress_text_running_shows_stage_and_bar() -> None:
    text = embeds.progress_text(
        "t1", "irish", 30, status="started", progress={"stage": "sampling", "fraction": 0.4, "stage_fraction": 0.5}
    )
    assert "Composing notes" in text and "40%" in text and "▰▰▰▰▱" in text


def test_progress_text_unknown_stage_is_shown_plainly() -> None:
    text = embeds.progress_text("t1", "irish", 30, status="started", progress={"stage": "tuning_fiddles"})
    assert "Tuning fiddles" in text and "%" not in text


def test_failure_and_timeout_texts_name_the_track() -> None:
    assert "abc123" in embeds.failure_text("abc123", "the worker ran out of time")
    assert "ran out of time" in embeds.failure_text("abc123", "the worker ran out of time")
    assert "abc123" in embeds.timeout_text("abc123", 840) and "14m" in embeds.timeout_text("abc123", 840)


def test_track_embed_shows_the_facts() -> None:
    embed = embeds.track_embed(_result(), image_filename="abc123.png", requested_by="Alice")
    fields = {f.name: f.value for f in embed.fields}
    assert fields["Style"] == "irish" and fields["Architecture"] == "lstm" and fields["Seed"] == "42"
    assert fields["Length"] == "30.0 s (14 bars)" and fields["Tempo"] == "112 BPM"
    assert "abc123" in fields["Track"]
    assert "Irish" in embed.title and embed.image.url == "attachment://abc123.png"
    assert "Alice" in embed.footer.text and "1.8 s" in embed.footer.text
    assert len(embed) <= 6000


def test_track_embed_without_image_or_timings() -> None:
    embed = embeds.track_embed(_result(timings={}))
    assert embed.image.url is None and embed.footer.text == "made on cpu"
