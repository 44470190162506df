"""The cog's pure parts: request validation from the cached styles, and autocomplete choices."""

from __future__ import annotations

import pytest

from bot.options import build_request, length_choices, style_choices
from worker.contract.tracks import BadRequest, StyleInfo

STYLES = {
    "irish": StyleInfo("irish", ["lstm", "gan"], "lstm", "Irish reels and jigs"),
    "scottish": StyleInfo("scottish", ["lstm"], "lstm", "Strathspeys " * 20),
    "baroque": StyleInfo("baroque", ["lstm"], "lstm"),
}


def test_valid_request_gets_defaults() -> None:
    request = build_request(" Irish ", "1m30s", STYLES, "42")
    assert request.style == "irish" and request.arch == "lstm" and request.seconds == 90.0
    assert request.user_id == "42" and len(request.track_id) == 32


@pytest.mark.parametrize(
    ("style", "length", "match"),
    [
        ("irish", "30h", "Can't read the length `30h`"),
        ("irish", "2s", "out of range"),
        ("irish", "10m", "out of range"),
        ("nosuchstyle", "30s", "Unknown style `nosuchstyle`. Styles: baroque, irish, scottish"),
    ],
)
def test_bad_requests_say_what_is_allowed(style: str, length: str, match: str) -> None:
    with pytest.raises(BadRequest, match=match):
        build_request(style, length, STYLES, "42")


def test_no_styles_cached_means_no_worker() -> None:
    with pytest.raises(BadRequest, match="No worker is online"):
        build_request("irish", "30s", {}, "42")


def test_style_choices_prefix_first_then_substring() -> None:
    assert [c.value for c in style_choices(STYLES, "")] == ["baroque", "irish", "scottish"]
    assert [c.value for c in style_choices(STYLES, "s")] == ["scottish", "irish"]
    assert [c.value for c in style_choices(STYLES, "IR")] == ["irish"]
    assert style_choices(STYLES, "zz") == []


def test_style_choice_labels_fit_discord_limits() -> None:
    many = {f"style{i:02d}": StyleInfo(f"style{i:02d}", ["lstm"], "lstm") for i in range(40)}
    assert len(style_choices(many, "")) == 25
    labels = {c.value: c.name for c in style_choices(STYLES, "")}
    assert labels["irish"] == "irish — Irish reels and jigs" and labels["baroque"] == "baroque"
    assert len(labels["scottish"]) == 100


def test_length_choices() -> None:
    assert [c.value for c in length_choices("")][:2] == ["15s", "30s"]
    assert length_choices("45")[0].value == "45"
    assert length_choices("30h")[0].value == "15s"


def test_arrangement_option_and_drum_kits() -> None:
    from bot.options import build_requests

    assert build_requests("irish", "30s", STYLES, "42")[0].arrangement == "band"
    assert build_requests("irish", "30s", STYLES, "42", arrangement=" Melody ")[0].arrangement == "melody"
    with pytest.raises(BadRequest, match="Unknown arrangement `orchestra`"):
        build_requests("irish", "30s", STYLES, "42", arrangement="orchestra")
    with pytest.raises(BadRequest, match="drum kit can't play the melody"):
        build_requests("irish", "30s", STYLES, "42", instrument="Drums")
