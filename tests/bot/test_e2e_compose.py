"""End to end: the real bot (`tunesmith bot`) and the real worker (`tunesmith worker`, the shipped model,
FluidSynth) against a real redis-server and the loopback fake of Discord's REST API and gateway."""

from __future__ import annotations

import io
import time
from pathlib import Path

import pretty_midi
import pytest

from tests.fakes import driver
from tests.fakes.stack import Stack, user
from worker.contract.tracks import compose_queue

pytestmark = pytest.mark.slow
MAGIC = {".ogg": b"OggS", ".mid": b"MThd", ".png": b"\x89PNG"}


def _assert_refused(stack: Stack, options: dict[str, str], *needles: str) -> None:
    inter = stack.fake.inject_slash("compose", options, user=user("refused"))
    rec = stack.wait(driver.is_callback(inter), 3.0)
    assert rec.status == 200 and rec.json["type"] == 4, rec.json
    assert rec.json["data"]["flags"] == 64, "refusals must be ephemeral"
    for needle in needles:
        assert needle in rec.json["data"]["content"], rec.json["data"]["content"]


def test_compose_irish_30s_end_to_end(real_stack: Stack) -> None:
    started = time.monotonic()
    stack, fake = real_stack, real_stack.fake

    # Bad requests: an ephemeral type-4 answer that says what is allowed, and nothing enqueued.
    _assert_refused(stack, {"style": "irish", "length": "30h"}, "30h", "between 5s and 300s")
    _assert_refused(stack, {"style": "nosuchstyle", "length": "30s"}, "Unknown style `nosuchstyle`", "irish")
    _assert_refused(stack, {"style": "irish", "length": "30s", "instrument": "kazoo"}, "Unknown instrument", "flute")
    _assert_refused(stack, {"style": "irish", "length": "30s", "tempo": 500}, "tempo must lie between 40 and 240")
    _assert_refused(
        stack,
        {"style": "irish", "length": "30s", "arrangement": "orchestra"},
        "Unknown arrangement `orchestra`",
        "band",
        "melody",
    )
    _assert_refused(stack, {"style": "irish", "length": "30s", "instrument": "drums"}, "drum kit can't play")
    _assert_refused(
        stack, {"style": "irish", "length": "30s", "key": "H lydian"}, "Can't read the key `H lydian`", "D dorian"
    )
    _assert_refused(stack, {"style": "irish", "length": "30s", "meter": "7/8"}, "has no `7/8` tunes", "6/8")
    assert compose_queue(stack.redis).count == 0
    assert not stack.db_rows("SELECT id FROM tracks WHERE user_id = ?", (user("refused")["id"],))

    # The real thing: defer within 3 s, then one follow-up with audio, MIDI and piano roll, and the buttons.
    inter = fake.inject_slash("compose", {"style": "irish", "length": "30s"}, user=user("composer"))
    defer = stack.wait(driver.is_callback(inter), 3.0)
    latency = defer.time - inter.time
    assert defer.status == 200 and defer.json == {"type": 5} and latency < 3.0
    post = stack.wait(driver.is_followup(inter), 240)
    assert post.status == 200, post
    by_suffix = {Path(f.filename).suffix: f for f in post.files}
    audio = by_suffix.get(".ogg") or by_suffix.get(".mp3")
    assert audio is not None and {".mid", ".png"} <= set(by_suffix), [f.filename for f in post.files]
    for upload in (audio, by_suffix[".mid"], by_suffix[".png"]):
        magic = MAGIC.get(Path(upload.filename).suffix)
        assert len(upload.data) > 0 and (magic is None or upload.data.startswith(magic)), upload.filename
    assert len(audio.data) > 10_000, "30 s of audio should not be tiny"

    embed = post.json["embeds"][0]
    fields = driver.embed_fields(post)
    assert "irish" in (embed["title"] + fields["Style"]).lower() and fields["Style"] == "irish"
    assert {"Architecture", "Length", "Seed", "Tempo", "Track"} <= set(fields)
    track = fields["Track"].strip("`")
    assert float(fields["Length"].split()[0]) == pytest.approx(30.0, abs=1.0)
    assert stack.redis.hget(f"rq:job:{track}", "status") == b"finished"
    assert embed["image"]["url"] == f"attachment://{track}.png"
    # The band arrangement (the default): one named MIDI track per part, drums on channel 10, and the embed says so.
    midi = pretty_midi.PrettyMIDI(io.BytesIO(by_suffix[".mid"].data))
    assert [(i.name, i.is_drum) for i in midi.instruments] == [
        ("melody", False),
        ("chords", False),
        ("bass", False),
        ("percussion", True),
    ]
    assert all(i.notes for i in midi.instruments)
    assert fields["Arrangement"].startswith("band · ") and "percussion" in fields["Arrangement"]
    assert [(e, label) for e, label, _ in driver.buttons(driver.message_of(fake, post))] == [
        ("👍", "0"),
        ("👎", "0"),
        ("🔁", "Reroll"),
        ("➕", "30s"),
        ("🎼", "Harmonize"),
        ("📄", "Score"),
        ("📦", "Files"),
        ("🎚️", "Stems"),
        ("🎲", "Vary (subtle)"),
        ("🌀", "Vary (strong)"),
    ]
    stack.wait(lambda r: driver.is_edit(inter)(r) and "is ready" in r.json["content"], 5)
    assert stack.db_rows("SELECT status, message_id FROM tracks WHERE id = ?", (track,)) == [
        ("done", post.response["id"])
    ]
    edits = [r.json["content"] for r in fake.find(driver.is_edit(inter))]
    assert edits and edits[-1] == f"✅ Track `{track}` is ready.", edits
    assert not fake.find(lambda r: r.status == 404 and r.method != "WS"), "the bot made an unmodelled call"
    print(
        f"\ndefer latency {latency * 1000:.1f} ms; follow-up {post.time - inter.time:.1f} s after the "
        f"command; whole test {time.monotonic() - started:.1f} s; edits: {len(edits)}"
    )


def test_two_takes_side_by_side(real_stack: Stack) -> None:
    options = {"style": "irish", "length": "15s", "seed": 41, "takes": 2, "tempo": 100, "instrument": "flute"}
    inter, post = real_stack.compose(options, user("ab-tester"))
    assert len(post.json["embeds"]) == 2 and len(post.files) == 6
    titles = [e["title"] for e in post.json["embeds"]]
    assert titles[0].startswith("Take A") and titles[1].startswith("Take B")
    seeds = [driver.embed_fields(post, i)["Seed"] for i in (0, 1)]
    assert seeds == ["41", "42"] and "Two takes" in post.json["content"]
    assert all(driver.embed_fields(post, i)["Tempo"] == "100 BPM" for i in (0, 1))
    midi = next(f for f in post.files if f.filename.endswith(".mid"))
    assert pretty_midi.PrettyMIDI(__import__("io").BytesIO(midi.data)).instruments[0].program == 73
    rows = driver.message_of(real_stack.fake, post)["components"]
    assert (
        len(rows) == 4 and rows[0]["components"][0]["label"] == "A · 0" and rows[2]["components"][0]["label"] == "B · 0"
    )  # two rows a take: votes and new tracks, then score, files, stems and variations
    assert rows[1]["components"][0]["label"] == "A · Score" and rows[3]["components"][0]["label"] == "B · Score"
    tracks = [driver.embed_fields(post, i)["Track"].strip("`") for i in (0, 1)]
    assert {
        r[0] for r in real_stack.db_rows("SELECT delivery_id FROM tracks WHERE id IN (?, ?)", tuple(tracks))
    } and len(set(tracks)) == 2


def test_audio_over_the_size_limit_is_reencoded_smaller(real_stack: Stack) -> None:
    limit = 100_000
    inter = real_stack.fake.inject_slash(
        "compose", {"style": "irish", "length": "30s"}, user=user("tight"), size_limit=limit
    )
    post = real_stack.wait(lambda r: driver.is_followup(inter)(r) and r.status == 200, 60)
    audio = [f for f in post.files if f.filename.endswith(".ogg")]
    assert len(audio) == 1 and audio[0].filename.endswith("k.ogg"), [f.filename for f in post.files]
    assert 5_000 < len(audio[0].data) <= limit and audio[0].data.startswith(b"OggS")
    assert all(len(f.data) <= limit for f in post.files)
