"""End to end with the real worker: votes from several users (one changes their mind), counts kept across a
bot restart, and the reroll, extend and harmonize buttons of a message posted before that restart."""

from __future__ import annotations

import io
import time

import pretty_midi
import pytest

from tests.fakes import discord_payloads as P
from tests.fakes import driver
from tests.fakes.discord_server import Interaction
from tests.fakes.discord_server import Recorded as Rec
from tests.fakes.stack import Stack, user

pytestmark = pytest.mark.slow


def _labels(components: list[dict]) -> dict[str, str]:
    return {(b.get("emoji") or {}).get("name", ""): b.get("label", "") for b in components[0]["components"]}


def _new_track(stack: Stack, message: dict, emoji: str, who: str, row: int = 0) -> tuple[Interaction, Rec]:
    """Click a track-making button: it defers (a new "thinking" message), then posts the new track."""
    inter, callback = stack.click(message, driver.button(message, emoji, row), user(who))
    assert callback.json == {"type": 5}, callback.json
    return inter, stack.wait(lambda r: driver.is_followup(inter)(r) and r.status == 200, 90)


def test_votes_survive_a_restart_and_old_buttons_still_work(real_stack: Stack) -> None:
    stack, fake = real_stack, real_stack.fake
    _, post = stack.compose({"style": "irish", "length": "10s", "seed": 5}, user("alice"))
    message = driver.message_of(fake, post)
    track = driver.embed_fields(post)["Track"].strip("`")
    up, down = driver.button(message, "👍"), driver.button(message, "👎")

    click, callback = stack.click(message, up, user("bob"))
    vote_ms = (callback.time - click.time) * 1000
    assert callback.json["type"] == 7 and _labels(callback.json["data"]["components"])["👍"] == "1"
    stack.click(message, up, user("carol"))
    _, callback = stack.click(message, down, user("carol"))  # carol changes her mind
    assert _labels(callback.json["data"]["components"]) == {
        "👍": "1",
        "👎": "1",
        "🔁": "Reroll",
        "➕": "30s",
        "🎼": "Harmonize",
    }
    _, own = stack.click(message, up, user("alice"))
    assert own.json["type"] == 4 and own.json["data"]["flags"] == 64 and "own track" in own.json["data"]["content"]
    assert sorted(stack.db_rows("SELECT value FROM votes WHERE track_id = ?", (track,))) == [(-1,), (1,)]

    stack.restart_bot()

    _, callback = stack.click(message, up, user("dave"))  # a button on a message from before the restart
    assert _labels(callback.json["data"]["components"])["👍"] == "2"
    assert _labels(callback.json["data"]["components"])["👎"] == "1"
    top = fake.inject_slash("top", {"style": "irish", "period": "day"}, user=user("erin"))
    listing = stack.wait(driver.is_callback(top), 5).json["data"]["embeds"][0]["description"]
    assert f"`{track}`" in listing and "👍 2 👎 1" in listing

    started = time.monotonic()
    _, rerolled = _new_track(stack, message, "🔁", "bob")
    fields = driver.embed_fields(rerolled)
    assert fields["Style"] == "irish" and fields["Seed"] != "5" and fields["Track"].strip("`") != track
    assert float(fields["Length"].split()[0]) == pytest.approx(10.0, abs=1.0)

    _, extended = _new_track(stack, message, "➕", "carol")
    fields = driver.embed_fields(extended)
    assert float(fields["Length"].split()[0]) == pytest.approx(40.0, abs=4.0)
    assert f"Track `{track}` continued" in extended.json["embeds"][0]["description"]

    _, harmonized = _new_track(stack, message, "🎼", "dave")
    midi = next(f for f in harmonized.files if f.filename.endswith(".mid"))
    assert len(pretty_midi.PrettyMIDI(io.BytesIO(midi.data)).instruments) == 4
    assert f"track `{track}`" in harmonized.json["embeds"][0]["description"]
    emojis = [e for e, _, _ in driver.buttons(driver.message_of(fake, harmonized))]
    assert emojis == ["👍", "👎", "🔁", "📄", "📦", "🎚️", "🎲", "🌀"], (
        "four voices: neither extend nor harmonize again, but a score, files, stems and Gibbs variations"
    )
    print(f"\nvote round trip {vote_ms:.1f} ms; reroll+extend+harmonize {time.monotonic() - started:.1f} s")


def test_bad_clicks_are_answered_ephemerally(real_stack: Stack) -> None:
    stack, fake = real_stack, real_stack.fake
    _, post = stack.compose({"style": "irish", "length": "6s"}, user("frank"))
    message = dict(driver.message_of(fake, post))
    row = message["components"][0]
    damaged = {**row["components"][0], "custom_id": "ts:u:not-a-track"}
    unknown = {**row["components"][0], "custom_id": "ts:u:" + "0" * 32}
    message.update(id=P.snowflake(), components=[{"type": 1, "components": [damaged, unknown]}])
    fake.messages[message["id"]] = message  # as if an old version of the bot had posted it
    new = [(f"ts:{a}:" + "0" * 32, "no finished track") for a in "sftvw"]  # score, files, stems, vary
    new += [("ts:t:../../etc", "damaged"), (f"ts:w:{'a' * 31}", "damaged"), (f"ts:f:{'0' * 32}:9", "damaged")]
    message["components"].append({"type": 1, "components": [{**damaged, "custom_id": c} for c, _ in new[:5]]})
    message["components"].append({"type": 1, "components": [{**damaged, "custom_id": c} for c, _ in new[5:]]})
    for custom_id, needle in (
        ("ts:u:not-a-track", "damaged or from an older version"),
        ("ts:u:" + "0" * 32, "no finished track"),
        *new,
    ):
        _, callback = stack.click(message, custom_id, user("grace"))
        assert callback.json["type"] == 4 and callback.json["data"]["flags"] == 64
        assert needle in callback.json["data"]["content"]


def _files(rec: Rec) -> dict[str, bytes]:
    return {f.filename: f.data for f in rec.files}


def _output(stack: Stack, message: dict, emoji: str, who: str) -> Rec:
    """Click 📄, 📦 or 🎚️: the bot defers, a small worker job makes the files, and they come as a follow-up."""
    inter, callback = stack.click(message, driver.button(message, emoji, row=1), user(who))
    assert callback.json == {"type": 5}, callback.json
    return stack.wait(lambda r: driver.is_followup(inter)(r) and r.status == 200, 120)


def test_exact_controls_score_exports_stems_variations_and_lineage(real_stack: Stack) -> None:
    """What a musician takes away: a loop in an exact key, meter and BPM; its engraved score, ABC, MusicXML,
    MIDI and stems from the buttons; subtle and strong variations linked to it, with their own votes."""
    import zipfile

    from models.music.keys import parse_key

    stack, fake = real_stack, real_stack.fake
    choices = fake.inject_autocomplete("compose", {"style": "irish", "length": "", "key": "d"}, focused="key")
    keys = [c["value"] for c in stack.wait(driver.is_callback(choices), 5).json["data"]["choices"]]
    assert keys[:4] == ["D major", "D minor", "D dorian", "D mixolydian"]
    choices = fake.inject_autocomplete("compose", {"style": "irish", "length": "", "meter": ""}, focused="meter")
    meters = [c["value"] for c in stack.wait(driver.is_callback(choices), 5).json["data"]["choices"]]
    assert "6/8" in meters and "7/8" not in meters

    _, post = stack.compose(
        {"style": "irish", "length": "12s", "key": "e DOR", "meter": "6/8", "tempo": 132, "loop": True, "seed": 3},
        user("musician"),
    )
    fields = driver.embed_fields(post)
    assert (fields["Key"], fields["Meter"], fields["Tempo"]) == ("E dorian", "6/8", "132 BPM")
    assert "(loop)" in post.json["embeds"][0]["title"] and "seamless loop" in post.json["embeds"][0]["description"]
    track = fields["Track"].strip("`")
    midi = pretty_midi.PrettyMIDI(io.BytesIO(next(f.data for f in post.files if f.filename.endswith(".mid"))))
    notes = midi.instruments[0].notes
    assert {n.pitch % 12 for n in notes} <= parse_key("E dorian").scale() and notes[0].pitch % 12 == 4
    assert notes[-1].pitch % 12 == notes[0].pitch % 12  # the loop leads back into its start
    assert midi.get_tempo_changes()[1][0] == pytest.approx(132.0, abs=0.01)
    message = driver.message_of(fake, post)

    started = time.monotonic()
    score = _output(stack, message, "📄", "fan")
    score_s = time.monotonic() - started
    files = _files(score)
    assert files[f"{track}.score.png"].startswith(b"\x89PNG") and files[f"{track}.score.pdf"].startswith(b"%PDF")
    assert "E dorian · 6/8 · 132 BPM" in score.json["content"]
    exported = _files(_output(stack, message, "📦", "fan"))
    assert "K:Edor" in exported[f"{track}.abc"].decode() and "M:6/8" in exported[f"{track}.abc"].decode()
    assert b"<score-partwise" in exported[f"{track}.musicxml"] and exported[f"{track}.mid"].startswith(b"MThd")
    stems = _files(_output(stack, message, "🎚️", "fan"))
    with zipfile.ZipFile(io.BytesIO(stems[f"{track}.stems.zip"])) as zf:
        names = zf.namelist()  # one stem per part of the band: melody, chords, bass, percussion
        assert names[0] == "01-melody.ogg" and len(names) == 4 and all(zf.read(n).startswith(b"OggS") for n in names)
    started = time.monotonic()
    again = _output(stack, message, "📄", "fan2")  # made once: the second click posts the same files at once
    assert _files(again)[f"{track}.score.png"] == files[f"{track}.score.png"] and time.monotonic() - started < 5

    inter, callback = stack.click(message, driver.button(message, "🎲", row=1), user("fan"))
    assert callback.json == {"type": 5}
    subtle = stack.wait(lambda r: driver.is_followup(inter)(r) and r.status == 200 and bool(r.json.get("embeds")), 90)
    child = driver.embed_fields(subtle)
    assert child["Parent"] == f"`{track}`" and child["Key"] == "E dorian" and child["Meter"] == "6/8"
    assert f"subtle variation of track `{track}`" in subtle.json["embeds"][0]["description"]
    child_id = child["Track"].strip("`")
    _, strong = _new_track(stack, message, "🌀", "fan2", row=1)
    assert "strong variation" in strong.json["embeds"][0]["description"]
    assert stack.db_rows("SELECT parent_id, vary, kind FROM tracks WHERE id = ?", (child_id,)) == [
        (track, "subtle", "vary")
    ]

    child_message = driver.message_of(fake, subtle)
    stack.click(child_message, driver.button(child_message, "👍"), user("critic"))  # votes are per track
    looked = fake.inject_slash("track", {"id": track[:8], "score": True}, user=user("critic"))
    assert stack.wait(driver.is_callback(looked), 5).json["type"] == 5
    shown = stack.wait(lambda r: driver.is_followup(looked)(r) and r.status == 200, 60)
    assert f"`{child_id[:8]}` (subtle, 👍 1 👎 0)" in shown.json["content"]
    assert f"{track}.score.png" in _files(shown)
    looked = fake.inject_slash("track", {"id": child_id}, user=user("critic"))
    shown = stack.wait(lambda r: driver.is_followup(looked)(r) and r.status == 200, 60)
    assert f"subtle variation of track `{track}`" in shown.json["content"]
    print(f"\nscore posted {score_s:.1f} s after the click")
