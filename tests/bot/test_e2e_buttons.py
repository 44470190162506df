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


def _new_track(stack: Stack, message: dict, emoji: str, who: str) -> tuple[Interaction, Rec]:
    """Click a track-making button: it defers (a new "thinking" message), then posts the new track."""
    inter, callback = stack.click(message, driver.button(message, emoji), user(who))
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
    assert _labels(callback.json["data"]["components"]) == {"👍": "1", "👎": "1", "🔁": "Reroll", "➕": "30s",
                                                            "🎼": "Harmonize"}
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
    assert emojis == ["👍", "👎", "🔁"], "four voices: neither extend nor harmonize again"
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
    for custom_id, needle in (("ts:u:not-a-track", "damaged or from an older version"),
                              ("ts:u:" + "0" * 32, "no finished track")):
        _, callback = stack.click(message, custom_id, user("grace"))
        assert callback.json["type"] == 4 and callback.json["data"]["flags"] == 64
        assert needle in callback.json["data"]["content"]
