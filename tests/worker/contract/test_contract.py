"""The job contract: lengths, validation messages, styles in Redis, JSON (not pickle) on the queue."""

from __future__ import annotations

import json
import zlib

import pytest

from worker.contract.controls import check_arrangement
from worker.contract.tracks import (
    COMPOSE_JOB,
    MAX_SECONDS,
    MIN_SECONDS,
    BadRequest,
    ComposeRequest,
    ComposeResult,
    StyleInfo,
    enqueue_compose,
    fetch_job,
    parse_length,
    publish_styles,
    read_styles,
    validate_request,
)

STYLES = {
    "irish": StyleInfo("irish", ["lstm", "gpt"], "lstm", "jigs and reels", (120.0, 160.0)),
    "bach": StyleInfo("bach", ["lstm"], "lstm", "chorales", (70.0, 100.0)),
}


@pytest.mark.parametrize(
    "text,seconds",
    [
        ("30s", 30.0),
        ("30", 30.0),
        ("1m30s", 90.0),
        (" 45 sec ", 45.0),
        ("2m", 120.0),
        ("5", 5.0),
        ("300s", 300.0),
        (30, 30.0),
    ],
)
def test_parse_length_accepts(text: str | int, seconds: float) -> None:
    assert parse_length(text) == seconds


@pytest.mark.parametrize("text", ["30h", "abc", "-5s", "0", "10000s", "", "4s", "1m-3s", "5m1s"])
def test_parse_length_rejects_with_the_allowed_range(text: str) -> None:
    with pytest.raises(BadRequest) as info:
        parse_length(text)
    assert f"{MIN_SECONDS:g}s and {MAX_SECONDS:g}s" in str(info.value)


def test_validate_request_lists_styles_and_arches() -> None:
    with pytest.raises(BadRequest, match=r"Unknown style `nosuch`\. Styles: bach, irish\."):
        validate_request(ComposeRequest("nosuch", 30), STYLES)
    with pytest.raises(BadRequest, match="Architectures: lstm"):
        validate_request(ComposeRequest("bach", 30, arch="gpt"), STYLES)
    with pytest.raises(BadRequest, match="No worker is online"):
        validate_request(ComposeRequest("irish", 30), {})
    ok = validate_request(ComposeRequest(" Irish ", 30), STYLES)
    assert (ok.style, ok.arch) == ("irish", "lstm")


@pytest.mark.parametrize(
    "change,message",
    [
        ({"temperature": 9.0}, "Temperature"),
        ({"top_k": -1}, "top_k"),
        ({"seed": -1}, "seed"),
        ({"seconds": 301}, "out of range"),
    ],
)
def test_validate_request_settings(change: dict, message: str) -> None:
    with pytest.raises(BadRequest, match=message):
        validate_request(ComposeRequest(**{"style": "irish", "seconds": 30, **change}), STYLES)


def test_styles_round_trip_through_redis(redis_conn) -> None:
    publish_styles(redis_conn, STYLES)
    assert read_styles(redis_conn) == STYLES
    assert StyleInfo.from_dict(json.loads(json.dumps(STYLES["irish"].__dict__))) == STYLES["irish"]


def test_jobs_travel_as_json(redis_conn) -> None:
    request = ComposeRequest("irish", 30.0, seed=7, user_id="42")
    job = enqueue_compose(redis_conn, request)
    assert job.id == request.track_id
    raw = redis_conn.hget(f"rq:job:{job.id}", "data")
    func, _instance, args, _kwargs = json.loads(zlib.decompress(raw))  # JSON, never a pickle
    assert func == COMPOSE_JOB and args == [request.to_dict()]
    again = fetch_job(redis_conn, job.id)
    assert ComposeRequest.from_dict(again.args[0]) == request


def test_result_round_trip() -> None:
    result = ComposeResult("t1", "irish", "lstm", 7, 30.0, 140.0, 35, {"midi": "/x.mid"}, {"total_s": 1.0})
    assert ComposeResult.from_dict(json.loads(json.dumps(result.to_dict()))) == result


@pytest.mark.parametrize(
    ("changes", "match"),
    [
        ({"tempo": 20.0}, "tempo must lie between 40 and 240"),
        ({"instrument": 128}, "General MIDI program"),
        ({"kind": "remix"}, "Unknown kind"),
        ({"kind": "extend"}, "needs the id of the track"),
        ({"kind": "extend", "parent_id": "../x"}, "needs the id of the track"),
        ({"arrangement": "orchestra"}, "Unknown arrangement `orchestra`: use `band`"),
        ({"arrangement": None}, "Unknown arrangement"),
        ({"instrument": 118}, "A drum can't play the melody of a band arrangement"),
    ],
)
def test_track_options_are_validated(changes: dict, match: str) -> None:
    with pytest.raises(BadRequest, match=match):
        validate_request(ComposeRequest("irish", 30.0, **changes), STYLES)


def test_harmonize_needs_no_style_model_and_uses_coconet() -> None:
    request = validate_request(ComposeRequest("Folk", 30.0, kind="harmonize", parent_id="abc"), {})
    assert request.arch == "coconet" and request.style == "folk"
    extend = validate_request(ComposeRequest("irish", 30.0, kind="extend", parent_id="abc", tempo=90.0), STYLES)
    assert extend.arch == "lstm" and extend.tempo == 90.0


def test_arrangements() -> None:
    assert validate_request(ComposeRequest("irish", 30.0), STYLES).arrangement == "band"  # the default
    bare = ComposeRequest("irish", 30.0, arrangement="melody", instrument=118)  # a taiko may play a bare line
    assert validate_request(bare, STYLES).instrument == 118
    with pytest.raises(BadRequest, match="coconet.*no bare melody"):
        check_arrangement("melody", "coconet", None)
    check_arrangement("band", "coconet", None)  # a chorale's band is its four voices
    check_arrangement("band", "coconet", None, kind="harmonize")
    result = ComposeResult(
        "t1",
        "irish",
        "lstm",
        7,
        30.0,
        140.0,
        35,
        {},
        {},
        parts=[{"name": "melody"}],
        arrangement="band",
        key="D dorian",
        chords=[{"start": 0.0, "end": 1.0, "symbol": "Dm", "roman": "i"}],
    )
    assert ComposeResult.from_dict(json.loads(json.dumps(result.to_dict()))) == result
