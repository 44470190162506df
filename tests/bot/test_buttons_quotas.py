"""Pure parts: button custom_ids (round trip, ≤ 100 chars, tampering refused), the rows of buttons a track
gets, quota refusals with the time of the next chance, and the request options of /compose."""

from __future__ import annotations

import pytest

from bot.actions import extend_request, harmonize_request, reroll_request, vary_request
from bot.buttons import ButtonState, Card, message_track_ids, parse_custom_id, track_view
from bot.delivery import card_for
from bot.options import build_requests, instrument_program
from bot.storage.quotas import Limits, Usage, left, next_free, refusal
from bot.storage.store import Track
from worker.contract.tracks import BadRequest, ComposeRequest, ComposeResult, StyleInfo, validate_request

TRACK = "0123456789abcdef0123456789abcdef"
STYLES = {"irish": StyleInfo("irish", ["lstm", "gan"], "lstm", "jigs")}


@pytest.mark.parametrize(
    "state",
    [
        ButtonState("u", TRACK),
        ButtonState("d", TRACK),
        ButtonState("r", TRACK),
        ButtonState("x", TRACK, 30),
        ButtonState("h", TRACK),
        ButtonState("s", TRACK),
        ButtonState("f", TRACK),
        ButtonState("t", TRACK),
        ButtonState("v", TRACK),
        ButtonState("w", TRACK),
    ],
)
def test_custom_ids_round_trip_and_fit(state: ButtonState) -> None:
    assert parse_custom_id(state.custom_id) == state and len(state.custom_id) <= 100


@pytest.mark.parametrize(
    "custom_id",
    [
        "ts:u:xyz",
        f"ts:q:{TRACK}",
        f"ts:x:{TRACK}",
        f"ts:u:{TRACK}:30",
        f"ts:x:{TRACK}:9999",
        f"ts:u:{TRACK.upper()}",
        "",
        "other:thing",
        f"ts:u:{TRACK}/../../x",
        f"ts:s:{TRACK}:30",
        f"ts:v:{TRACK}:1",
    ],
)
def test_tampered_custom_ids_are_refused(custom_id: str) -> None:
    assert parse_custom_id(custom_id) is None


def test_track_view_rows_and_labels() -> None:
    view = track_view([Card(TRACK, 3, 1, 30, True, "A", vary=True), Card("f" * 32, 0, 0, None, False, "B")])
    rows = view.to_components()
    assert len(rows) == 4  # two rows per take: votes and new tracks, then score, files, stems and variations
    first = [(b.get("emoji", {}).get("name"), b.get("label")) for b in rows[0]["components"]]
    assert first == [("👍", "A · 3"), ("👎", "A · 1"), ("🔁", "Reroll"), ("➕", "30s"), ("🎼", "Harmonize")]
    second = [(b.get("emoji", {}).get("name"), b.get("label")) for b in rows[1]["components"]]
    assert second == [
        ("📄", "A · Score"),
        ("📦", "Files"),
        ("🎚️", "Stems"),
        ("🎲", "Vary (subtle)"),
        ("🌀", "Vary (strong)"),
    ]
    assert [b["custom_id"] for b in rows[2]["components"]] == [
        f"ts:u:{'f' * 32}",
        f"ts:d:{'f' * 32}",
        f"ts:r:{'f' * 32}",
    ]
    assert [b["custom_id"] for b in rows[3]["components"]] == [
        f"ts:s:{'f' * 32}",
        f"ts:f:{'f' * 32}",
        f"ts:t:{'f' * 32}",
    ]


def test_card_for_offers_what_the_track_can_do() -> None:
    melody = ComposeResult(TRACK, "irish", "lstm", 1, 30.0, 120.0, 15, {}, {}, extendable=True)
    assert card_for(melody, 30.0) == Card(TRACK, 0, 0, 30, True, "", score=True, vary=True)
    assert card_for(ComposeResult(**{**melody.to_dict(), "seconds": 290.0}), 30.0).extend_s is None
    chorale = ComposeResult(**{**melody.to_dict(), "voices": 4, "arch": "coconet", "extendable": False})
    assert card_for(chorale, 30.0) == Card(TRACK, 0, 0, None, False, "", score=True, vary=True)
    abc = ComposeResult(**{**melody.to_dict(), "arch": "abc"})
    assert card_for(abc, 30.0).vary is False and card_for(abc, 30.0).score is True
    band = ComposeResult(**{**melody.to_dict(), "arrangement": "band"})  # its melody varied, then arranged again
    assert card_for(band, 30.0).vary is True
    piano = ComposeResult(**{**melody.to_dict(), "arrangement": "band", "voices": 2})  # two hands: not varied
    assert card_for(piano, 30.0).vary is False


def _track(**result) -> Track:
    res = ComposeResult(TRACK, "irish", "lstm", 1, 30.0, 120.0, 15, {}, {}, extendable=True)
    req = ComposeRequest("irish", 30.0, arch="lstm", seed=5, temperature=0.8, track_id=TRACK, tempo=100.0)
    return Track(
        TRACK,
        "d",
        0,
        "u1",
        "g",
        "compose",
        None,
        "irish",
        req,
        "done",
        0.0,
        ComposeResult(**{**res.to_dict(), **result}),
    )


def test_button_requests() -> None:
    again = reroll_request(_track())
    assert again.seed is None and again.track_id != TRACK and again.tempo == 100.0 and again.temperature == 0.8
    more = extend_request(_track(), 30)
    assert (more.kind, more.parent_id, more.seconds, more.arch) == ("extend", TRACK, 30.0, "lstm")
    with pytest.raises(BadRequest, match="at most 300s"):
        extend_request(_track(seconds=290.0), 30)
    with pytest.raises(BadRequest, match="cannot continue"):
        extend_request(_track(extendable=False), 30)
    assert harmonize_request(_track()).kind == "harmonize"
    with pytest.raises(BadRequest, match="several voices"):
        harmonize_request(_track(voices=4))
    subtle = vary_request(_track(loop=True), "subtle")
    assert (subtle.kind, subtle.parent_id, subtle.parent, subtle.vary, subtle.arch, subtle.loop) == (
        "vary",
        TRACK,
        TRACK,
        "subtle",
        "lstm",
        True,
    )
    assert validate_request(subtle, STYLES).kind == "vary"
    with pytest.raises(BadRequest, match="cannot make variations"):
        vary_request(_track(arch="abc"), "strong")


def test_message_track_ids_reads_the_buttons() -> None:
    class Row:
        def __init__(self, ids: list[str]) -> None:
            self.children = [type("B", (), {"custom_id": i})() for i in ids]

    message = type(
        "M", (), {"components": [Row([f"ts:u:{TRACK}", f"ts:r:{TRACK}"]), Row([f"ts:u:{'e' * 32}"]), Row(["junk"])]}
    )()
    assert message_track_ids(message) == [TRACK, "e" * 32]


def test_refusals_say_when() -> None:
    limits = Limits(user_inflight=2, user_daily=3, guild_inflight=5, guild_daily=100)
    assert refusal(limits, Usage(1, [1.0]), 1, 10.0) is None
    assert "in the works" in refusal(limits, Usage(2, [1.0, 2.0]), 1, 10.0)
    assert "fewer takes" in refusal(Limits(user_inflight=1), Usage(), 2, 10.0)
    daily = refusal(limits, Usage(0, [100.0, 200.0, 300.0]), 1, 400.0)
    assert "<t:86500:R>" in daily
    assert "This server" in refusal(limits, Usage(0, [], 5, []), 1, 1.0)
    assert refusal(Limits(0, 0, 0, 0), Usage(99, [1.0] * 99, 99, [1.0] * 99), 2, 5.0) is None
    assert next_free([100.0, 200.0, 300.0], 3, 2) == 200.0 + 86400 and next_free([], 1, 2) is None
    assert "1 of 2 at once" in left(limits, Usage(1, [50.0]), 60.0)[0]


def test_compose_options() -> None:
    first, second = build_requests("irish", "30s", STYLES, "42", seed=7, tempo=90, instrument="Flute", takes=2)
    assert (first.seed, second.seed) == (7, 8) and first.track_id != second.track_id
    assert first.instrument == second.instrument == 73 and first.tempo == 90.0 and second.arch == "lstm"
    assert len(build_requests("irish", "30s", STYLES, "42")) == 1
    for kwargs, match in [
        ({"takes": 3}, "1 or 2"),
        ({"instrument": "kazoo"}, "Unknown instrument"),
        ({"tempo": 500}, "tempo"),
        ({"temperature": 9.0}, "Temperature"),
        ({"arch": "gpt"}, "no `gpt` model"),
        ({"seed": -1}, "seed"),
    ]:
        with pytest.raises(BadRequest, match=match):
            build_requests("irish", "30s", STYLES, "42", **kwargs)
    assert instrument_program(None) is None and instrument_program(" violin ") == 40


def test_exact_controls_are_checked_against_the_style() -> None:
    styles = {
        "irish": StyleInfo(
            "irish",
            ["lstm", "abc"],
            "lstm",
            "jigs",
            meters=["6/8", "2/2"],
            modes=["major", "minor", "dorian", "mixolydian"],
        ),
        "bach": StyleInfo("bach", ["lstm", "coconet"], "lstm", meters=["4/4", "3/4"], modes=["major", "minor"]),
    }
    (req,) = build_requests("irish", "30s", styles, "42", key="d DOR", meter="6/8", tempo=132, loop=True)
    assert (req.key, req.meter, req.tempo, req.loop) == ("D dorian", "6/8", 132.0, True)
    assert build_requests("irish", "30s", styles, "42", key="  ", meter="")[0].key is None
    for style, kwargs, match in [
        ("irish", {"key": "H major"}, "Can't read the key"),
        ("irish", {"meter": "7/8"}, "meters 6/8, 2/2"),
        ("bach", {"key": "D dorian"}, "no dorian tunes: modes major, minor"),
        ("irish", {"arch": "abc", "key": "D"}, "can't follow a chosen key"),
        ("irish", {"arch": "abc", "loop": True}, "can't write a seamless loop"),
        ("bach", {"arch": "coconet", "meter": "4/4"}, "can't follow a chosen meter"),
    ]:
        with pytest.raises(BadRequest, match=match):
            build_requests(style, "30s", styles, "42", **kwargs)


def test_key_and_meter_autocomplete_offer_only_what_the_style_supports() -> None:
    from bot.options import key_choices, meter_choices

    bach = StyleInfo("bach", ["lstm"], "lstm", meters=["4/4", "3/4"], modes=["major", "minor"])
    keys = [c.value for c in key_choices(bach, "")]
    assert keys and all(k.endswith((" major", " minor")) for k in keys)
    assert [c.value for c in key_choices(bach, "d")][:2] == ["D major", "D minor"]
    assert key_choices(StyleInfo("palestrina", ["coconet"], "coconet"), "") == []
    assert [c.value for c in meter_choices(bach, "")] == ["4/4", "3/4"]
    assert [c.value for c in meter_choices(bach, "3")] == ["3/4"]
