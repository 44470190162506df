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
    channel = stack.wait(
        lambda r: driver.is_channel_post(P.CHANNEL_ID)(r) and r.status == 200 and second in str(r.json),
        30,
        since=killed,
    )
    assert str(channel.json["message_reference"]["message_id"]) == defer.response["interaction"]["response_message_id"]
    assert channel.json["content"].startswith(f"<@{user('iris')['id']}>") and len(channel.files) == 3
    assert channel.json["components"], "the buttons come with the channel message too"
    assert not fake.find(lambda r: r.path.startswith("/webhooks/") and stale.token in r.path and r.time > killed), (
        "an expired token must not be used"
    )
    assert stack.db_rows(
        "SELECT state, posted_via, token FROM deliveries WHERE user_id = ?", (user("iris")["id"],)
    ) == [("posted", "channel", None)]

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
        post = stack.wait(
            lambda r: driver.is_channel_post(P.CHANNEL_ID)(r) and r.status == 200 and r.files and r.time > inter.time,
            60,
        )
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


def test_with_no_worker_online_compose_is_queued_and_starts_once_one_is_up(real_stack: Stack) -> None:
    """The first seconds after a restart: no worker is up and Redis has lost the styles it published. The bot
    still knows what this deployment serves (its database), queues the request durably, says it will start
    once a worker is up, and delivers it when one is."""
    from tests.fakes import processes
    from worker.contract.tracks import STYLES_KEY, compose_queue

    stack, fake = real_stack, real_stack.fake

    def everything_down() -> None:
        assert stack.worker is not None
        processes.stop(stack.worker)
        stack.worker = None  # not one of the processes that must stay alive, for now
        stack.redis.delete(STYLES_KEY)

    stack.restart_bot(before_start=everything_down)
    inter = fake.inject_slash("compose", {"style": "irish", "length": "6s", "key": "G major"}, user=user("early"))
    assert stack.wait(driver.is_callback(inter), 5).json == {"type": 5}
    said = stack.wait(
        lambda r: driver.is_edit(inter)(r) and "No worker is online right now" in (r.json or {}).get("content", ""), 10
    )
    assert "will start as soon as a worker is up" in said.json["content"]
    track = stack.queued_track(user("early"))
    assert compose_queue(stack.redis).count == 1 and not fake.find(driver.is_followup(inter))
    time.sleep(2.0)
    assert not fake.find(driver.is_followup(inter)), "nothing can be made while no worker is up"

    stack.worker = processes.spawn(stack.worker_args, stack.env, stack.tmp / "worker-again.log")
    post = stack.wait(lambda r: driver.is_followup(inter)(r) and r.status == 200, 120)
    assert driver.embed_fields(post)["Track"] == f"`{track}`" and driver.embed_fields(post)["Key"] == "G major"
    driver.wait_styles(fake, stack.procs, "irish")  # the stack is whole again for the tests after this one
