"""Delivery never loses a track and never posts it twice: the bot killed mid-job and restarted, a token that
expired while it was down, and a webhook that answers 401 / 50027 (the channel message replies instead)."""

from __future__ import annotations

import time

import pytest

from tests.fakes import discord_payloads as P
from tests.fakes import driver
from tests.fakes.stack import Stack, user

pytestmark = pytest.mark.slow


def _wait_finished(stack: Stack, *tracks: str, timeout: float = 90.0) -> None:
    deadline = time.monotonic() + timeout
    while any(stack.redis.hget(f"rq:job:{t}", "status") != b"finished" for t in tracks):
        assert time.monotonic() < deadline, [stack.redis.hget(f"rq:job:{t}", "status") for t in tracks]
        time.sleep(0.1)


def test_killed_mid_job_then_delivered_once_even_after_the_token_expired(real_stack: Stack) -> None:
    stack, fake = real_stack, real_stack.fake
    fresh = fake.inject_slash("compose", {"style": "irish", "length": "45s"}, user=user("henry"))
    stale = fake.inject_slash("compose", {"style": "irish", "length": "15s"}, user=user("iris"))
    stack.wait(driver.is_callback(fresh), 5)
    defer = stack.wait(driver.is_callback(stale), 5)
    first, second = stack.queued_track(user("henry")), stack.queued_track(user("iris"))
    status_at_kill: list[bytes | None] = []

    def while_down() -> None:
        status_at_kill.append(stack.redis.hget(f"rq:job:{second}", "status"))
        _wait_finished(stack, first, second)  # both jobs finish while no bot is running
        # Pretend the bot was down for 16 minutes: the second request's interaction token has expired.
        stack.db_execute("UPDATE deliveries SET created_at = created_at - 960 WHERE user_id = ?", (user("iris")["id"],))

    killed = time.monotonic()
    stack.restart_bot(kill=True, before_start=while_down)
    assert status_at_kill[0] in (b"queued", b"started"), "the bot should die while the job is still running"

    post = stack.wait(lambda r: driver.is_followup(fresh)(r) and r.status == 200, 30, since=killed)
    assert driver.embed_fields(post)["Track"] == f"`{first}`" and len(post.files) == 3
    channel = stack.wait(lambda r: driver.is_channel_post(P.CHANNEL_ID)(r) and r.status == 200 and
                         second in str(r.json), 30, since=killed)
    assert str(channel.json["message_reference"]["message_id"]) == defer.response["interaction"]["response_message_id"]
    assert channel.json["content"].startswith(f"<@{user('iris')['id']}>") and len(channel.files) == 3
    assert channel.json["components"], "the buttons come with the channel message too"
    assert not fake.find(lambda r: r.path.startswith("/webhooks/") and stale.token in r.path and r.time > killed), \
        "an expired token must not be used"
    assert stack.db_rows("SELECT state, posted_via, token FROM deliveries WHERE user_id = ?",
                         (user("iris")["id"],)) == [("posted", "channel", None)]

    stack.restart_bot()  # nothing is pending any more: nothing is posted again
    time.sleep(1.0)
    assert len(fake.find(lambda r: driver.is_followup(fresh)(r) and r.files)) == 1
    assert len(fake.find(lambda r: driver.is_channel_post(P.CHANNEL_ID)(r) and second in str(r.json))) == 1


def test_webhook_401_falls_back_to_a_channel_reply(real_stack: Stack) -> None:
    stack, fake = real_stack, real_stack.fake
    fake.fail_webhooks(401, 50027)
    try:
        inter = fake.inject_slash("compose", {"style": "irish", "length": "8s"}, user=user("jack"))
        defer = stack.wait(driver.is_callback(inter), 5)
        post = stack.wait(lambda r: driver.is_channel_post(P.CHANNEL_ID)(r) and r.status == 200 and r.files and
                          r.time > inter.time, 60)
    finally:
        fake.heal_webhooks()
    refused = fake.find(lambda r: r.path.startswith("/webhooks/") and inter.token in r.path)
    assert [r.status for r in refused] == [401], "a refused token is never used again (401s risk a ban)"
    reference = post.json["message_reference"]
    assert str(reference["message_id"]) == defer.response["interaction"]["response_message_id"]
    assert reference["fail_if_not_exists"] is False
    assert [str(u) for u in post.json["allowed_mentions"]["users"]] == [user("jack")["id"]]
    message = driver.message_of(fake, post)
    _, vote = stack.click(message, driver.button(message, "👍"), user("kate"))
    assert vote.json["type"] == 7  # the buttons of a channel message work like any others
