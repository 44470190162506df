"""Property tests over every /compose option, button custom_ids and track ids, through the pure validation
code: anything a user can type is either a valid request (every field in range, JSON-clean) or a BadRequest
with a short message; nothing else ever escapes, and nothing unsafe reaches a job or a file name."""

from __future__ import annotations

import json
import math
import re
import time

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from bot.buttons import ACTIONS, parse_custom_id
from bot.options import INSTRUMENTS, build_requests, instrument_program
from worker.contract.ids import is_track_id_prefix
from worker.contract.tracks import (
    KEY_ARCHES,
    MAX_SECONDS,
    MAX_TEMPO,
    MIN_SECONDS,
    MIN_TEMPO,
    BadRequest,
    ComposeRequest,
    StyleInfo,
    parse_length,
    validate_request,
)
from worker.jobs.tracks import check_track_id

STYLES = {
    "irish": StyleInfo(
        "irish", ["lstm", "wavenet"], "lstm", meters=["6/8", "2/2"], modes=["major", "minor", "dorian", "mixolydian"]
    ),
    "bach": StyleInfo("bach", ["coconet"], "coconet", meters=["4/4"]),
}
HEX32 = re.compile(r"^[0-9a-f]{32}$")
RUN = settings(max_examples=300, deadline=None)

texts = st.one_of(
    st.text(max_size=60),
    st.from_regex(r"\s*-?\d{0,6}(\.\d{0,3})?\s*(h|m|s|ms|min|sec|e3)?\s*", fullmatch=True),
    st.sampled_from(
        [
            "30h",
            "-5s",
            "10000s",
            "1e3",
            "nan",
            "inf",
            "-inf",
            "0",
            "4.999s",
            "300.0001",
            "1m30s",
            "５s",
            "30s; DROP TABLE tracks",
            "../../etc/passwd",
            "\x00",
            "@everyone",
        ]
    ),
)
numbers = st.one_of(st.none(), st.integers(-(2**70), 2**70), st.floats(allow_nan=True, allow_infinity=True))
small_ints = st.one_of(st.integers(-5, 5), st.integers(-(2**64), 2**64))


def _refusal_is_clear(exc: BadRequest) -> None:
    text = str(exc)
    assert 0 < len(text) <= 400 and "Traceback" not in text, text


@RUN
@given(text=texts)
@example("30h")
@example("-5s")
@example("10000s")
@example("nan")
@example("1" * 5000 + "x")
def test_any_length_text_parses_in_range_or_is_refused(text: str) -> None:
    started = time.perf_counter()
    try:
        seconds = parse_length(text)
    except BadRequest as exc:
        _refusal_is_clear(exc)
        assert text[:41] not in str(exc) or len(text) <= 40, "echoes at most 40 characters of the input"
    else:
        assert MIN_SECONDS <= seconds <= MAX_SECONDS and math.isfinite(seconds)
    assert time.perf_counter() - started < 0.05, "no pathological regex backtracking"


@RUN
@given(value=st.one_of(st.integers(-(2**70), 2**70), st.floats(allow_nan=True, allow_infinity=True)))
def test_any_length_number_is_in_range_or_refused(value: float) -> None:
    try:
        seconds = parse_length(value)
    except BadRequest as exc:
        _refusal_is_clear(exc)
    else:
        assert MIN_SECONDS <= seconds <= MAX_SECONDS


@RUN
@given(
    style=st.one_of(texts, st.sampled_from(["irish", "IRISH ", " bach", "Irish"])),
    length=st.one_of(texts, st.sampled_from(["30s", "5", "300", "2m"])),
    arch=st.one_of(st.none(), texts, st.sampled_from(["lstm", "WaveNet", "coconet", "gan", ""])),
    seed=numbers,
    temperature=numbers,
    tempo=numbers,
    instrument=st.one_of(st.none(), texts, st.sampled_from([*INSTRUMENTS, "PIANO", " flute ", "drums"])),
    takes=small_ints,
    arrangement=st.one_of(st.none(), texts, st.sampled_from(["band", "melody", " Band ", "MELODY", ""])),
    key=st.one_of(
        st.none(),
        texts,
        st.sampled_from(["D dorian", "f#m", "Bb mix", "C lydian", "H", "D dorian\n", "♭", "E♭ minor", "A" * 500]),
    ),
    meter=st.one_of(st.none(), texts, st.sampled_from(["6/8", " 2/2 ", "4/4", "7/8", "6/0", "1e9/8"])),
    loop=st.one_of(st.booleans(), st.sampled_from([0, 1, "yes", None])),
)
@example(
    style="irish",
    length="30s",
    arch=None,
    seed=None,
    temperature=None,
    tempo=None,
    instrument=None,
    takes=1,
    arrangement=None,
    key="D dorian",
    meter="6/8",
    loop=True,
)
def test_every_compose_option_gives_a_valid_request_or_a_clear_refusal(
    style: str,
    length: str,
    arch: str | None,
    seed: object,
    temperature: object,
    tempo: object,
    instrument: str | None,
    takes: int,
    arrangement: str | None,
    key: str | None,
    meter: str | None,
    loop: object,
) -> None:
    try:
        requests = build_requests(
            style,
            length,
            STYLES,
            "42",
            arch=arch,
            seed=seed,  # type: ignore[arg-type]
            temperature=temperature,
            tempo=tempo,
            instrument=instrument,  # type: ignore[arg-type]
            takes=takes,
            arrangement=arrangement,
            key=key,
            meter=meter,
            loop=loop,
        )  # type: ignore[arg-type]
    except BadRequest as exc:
        _refusal_is_clear(exc)
        return
    assert len(requests) == takes in (1, 2)
    assert len({r.track_id for r in requests}) == takes
    for req in requests:
        info = STYLES[req.style]
        assert req.arch in info.arches and MIN_SECONDS <= req.seconds <= MAX_SECONDS
        assert 0.05 <= req.temperature <= 3.0 and req.user_id == "42" and HEX32.match(req.track_id)
        assert req.seed is None or (type(req.seed) is int and 0 <= req.seed < 2**31)
        assert req.tempo is None or MIN_TEMPO <= req.tempo <= MAX_TEMPO
        assert req.instrument is None or 0 <= req.instrument <= 127
        assert req.arrangement in ("band", "melody")
        assert req.key is None or (req.arch in KEY_ARCHES and req.key.split()[1] in info.modes and len(req.key) < 16)
        assert req.meter is None or req.meter in info.meters
        assert isinstance(req.loop, bool) and req.kind == "compose" and req.vary is None
        json.dumps(req.to_dict(), allow_nan=False)  # the job's arguments are plain JSON: no NaN, no objects
        assert validate_request(ComposeRequest.from_dict(json.loads(json.dumps(req.to_dict()))), STYLES) == req


@RUN
@given(name=st.one_of(st.none(), texts))
def test_instruments_are_a_fixed_list(name: str | None) -> None:
    try:
        program = instrument_program(name)
    except BadRequest as exc:
        _refusal_is_clear(exc)
    else:
        assert program is None or program in INSTRUMENTS.values()


@RUN
@given(
    custom_id=st.one_of(
        st.text(max_size=110), st.from_regex(r"ts:[udrxhqsftvwz]:[0-9a-fA-F]{30,34}(:-?\d{0,5})?", fullmatch=True)
    )
)
@example("ts:s:" + "a" * 32)
@example("ts:v:" + "a" * 32 + ":25")
@example("ts:t:" + "a" * 32 + "\n")
@example("ts:u:" + "a" * 32)
@example("ts:x:" + "a" * 32 + ":999")
@example("ts:u:" + "a" * 32 + ":5")
@example("ts:u:" + "A" * 32)
@example("ts:x:" + "a" * 32)
@example("ts:u:" + "a" * 32 + "\n")
def test_a_custom_id_is_ours_exactly_or_rejected(custom_id: str) -> None:
    """Whatever arrives as a custom_id, the parsed state re-encodes to exactly the same string (so nothing
    beyond a known action on a well-formed track id, and a number for extend, gets through)."""
    state = parse_custom_id(custom_id)
    if state is None:
        return
    assert state.custom_id == custom_id and state.action in ACTIONS and HEX32.match(state.track_id)
    assert (state.arg is not None) == (state.action == "x") and (state.arg is None or 0 <= state.arg <= 999)


@RUN
@given(
    track_id=st.one_of(st.text(max_size=80), st.sampled_from(["../x", "..", "a/b", "x\x00", "a" * 65, "ok-_1", "ab\n"]))
)
def test_track_ids_are_safe_file_names_or_refused(track_id: str) -> None:
    try:
        safe = check_track_id(track_id)
    except BadRequest:
        return
    assert safe == track_id and "/" not in safe and safe not in (".", "..") and 1 <= len(safe) <= 64
    assert re.fullmatch(r"[A-Za-z0-9_-]+", safe)


@pytest.mark.parametrize("typed", ["abc123", "ABCDEF", "0" * 33, "../..", "12345", "`deadbeef`", ""])
def test_track_command_ids(typed: str) -> None:
    cleaned = typed.strip().strip("`").lower()
    assert is_track_id_prefix(cleaned) == (6 <= len(cleaned) <= 32 and all(c in "0123456789abcdef" for c in cleaned))


@RUN
@given(
    parent=st.one_of(st.none(), texts, st.sampled_from(["0" * 32, "../x", "a" * 65])),
    vary=st.one_of(st.none(), texts, st.sampled_from(["subtle", "strong", "SUBTLE", ""])),
    kind=st.sampled_from(["compose", "vary", "extend", "harmonize", "evil"]),
    arch=st.sampled_from([None, "lstm", "coconet", "abc"]),
    key=st.one_of(st.none(), st.sampled_from(["D dorian", "x"])),
)
def test_variation_requests_are_valid_or_refused(
    parent: str | None, vary: str | None, kind: str, arch: str | None, key: str | None
) -> None:
    request = ComposeRequest("irish", 30.0, arch=arch, kind=kind, parent=parent, vary=vary, key=key)
    try:
        req = validate_request(request, STYLES)
    except BadRequest as exc:
        _refusal_is_clear(exc)
        return
    if req.kind == "vary":
        assert req.vary in ("subtle", "strong") and req.parent_id == parent and HEX_OR_ID.fullmatch(parent or "")
        assert req.key is None
    else:
        assert req.vary is None


HEX_OR_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")


@RUN
@given(
    request=st.one_of(
        st.fixed_dictionaries(
            {
                "track_id": st.one_of(texts, st.sampled_from(["../../etc/passwd", "a" * 32, ""])),
                "kind": st.one_of(texts, st.sampled_from(["score", "exports", "stems"])),
                "size_limit": st.one_of(numbers, texts, st.booleans()),
            }
        ),
        st.lists(st.integers(), max_size=2),
        st.none(),
        st.text(max_size=10),
    )
)
def test_the_outputs_job_refuses_or_answers_for_any_request(request: object, tmp_path_factory) -> None:
    """Whatever reaches the outputs job: a BadRequest, or an answer naming no file outside the track's folder."""
    import os

    from worker.jobs.outputs_job import outputs

    old = os.environ.get("TUNESMITH_DATA_DIR")
    os.environ["TUNESMITH_DATA_DIR"] = str(tmp_path_factory.getbasetemp() / "hostile-outputs")
    try:
        answer = outputs(request)  # type: ignore[arg-type]
    except BadRequest as exc:
        _refusal_is_clear(exc)
        return
    finally:
        if old is None:
            os.environ.pop("TUNESMITH_DATA_DIR", None)
        else:
            os.environ["TUNESMITH_DATA_DIR"] = old
    assert answer["files"] == {} and "not on this worker" in answer["error"]  # no such track: nothing written


@RUN
@given(typed=st.one_of(texts, st.text(max_size=200)), style=st.sampled_from([None, "irish", "bach"]))
def test_key_and_meter_autocomplete_offer_only_the_styles_own(typed: str, style: str | None) -> None:
    from bot.options import key_choices, meter_choices

    info = STYLES.get(style) if style else None
    keys, meters = key_choices(info, typed), meter_choices(info, typed)
    assert len(keys) <= 25 and len(meters) <= 25
    modes = info.modes if info else ["major", "minor", "dorian", "mixolydian"]
    assert all(c.value.split()[1] in modes and len(c.name) <= 100 for c in keys)
    assert all(c.value in (info.meters if info else []) for c in meters)
    if style == "bach":
        assert keys == []  # its coconet model can't follow a key: nothing to offer
