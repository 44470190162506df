"""The real bot with a stand-in worker (the model is not the point here): fair order across users, a quota
refusal, queue positions with an ETA, a 429 honoured, /queue /info /styles /help /track, and a harmonize
button when no worker has the Coconet model."""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator

import pytest

from tests.fakes import driver
from tests.fakes.stack import Stack, user
from worker.contract.fairqueue import queue_owners
from worker.contract.tracks import compose_queue

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    tmp = tmp_path_factory.mktemp("queue")
    stack = Stack(
        tmp,
        [sys.executable, "-m", "tests.fakes.stand_in_worker"],
        STAND_IN_STEP_S="0.2",
        TUNESMITH_USER_INFLIGHT="3",
        TUNESMITH_EDIT_INTERVAL_S="0.5",
    )
    try:
        yield stack.start(style="slow", timeout=30)
    finally:
        stack.stop()


def _ask(stack: Stack, who: str, style: str = "irish"):
    """/compose as ``who``; once accepted, wait for its job to be queued, so requests keep their order."""
    inter = stack.fake.inject_slash("compose", {"style": style, "length": "30s"}, user=user(who))
    answer = stack.wait(driver.is_callback(inter), 5)
    if answer.json["type"] == 5:
        stack.queued_track(user(who))
    return inter, answer


def test_fair_order_queue_positions_and_a_quota_refusal(stack: Stack) -> None:
    fake = stack.fake
    blocker, _ = _ask(stack, "carol", "slow")  # keeps the only worker busy for 3.2 s
    alice = [_ask(stack, "alice")[0] for _ in range(3)]
    bob, _ = _ask(stack, "bob")
    refused, answer = _ask(stack, "alice")
    assert answer.json["type"] == 4 and answer.json["data"]["flags"] == 64
    assert "3 track(s) in the works" in answer.json["data"]["content"]
    assert "as soon as one of them is posted" in answer.json["data"]["content"]

    a, b = user("alice")["id"], user("bob")["id"]
    deadline = time.monotonic() + 3
    while b not in (owners := [owner for _, owner in queue_owners(compose_queue(stack.redis))]):
        assert time.monotonic() < deadline, owners  # the callback is recorded just before the enqueue
        time.sleep(0.02)
    assert owners[-4:] == [a, b, a, a], owners  # bob's first job goes ahead of alice's second

    queue = fake.inject_slash("queue", {}, user=user("alice"))
    assert stack.wait(driver.is_callback(queue), 5).json == {"type": 5, "data": {"flags": 64}}
    listing = stack.wait(driver.is_followup(queue), 5).json["content"]
    assert "worker(s) online" in listing and listing.count("position") == 3, listing

    queued = stack.wait(lambda r: driver.is_edit(alice[2])(r) and "Queued" in r.json["content"], 10).json["content"]
    assert "position" in queued and "Ready <t:" in queued, queued

    posts = [
        stack.wait(lambda r, i=i: driver.is_followup(i)(r) and r.status == 200, 30) for i in (blocker, *alice, bob)
    ]
    order = [name for _, name in sorted(zip([p.time for p in posts], ["carol", "a1", "a2", "a3", "bob"], strict=True))]
    assert order == ["carol", "a1", "bob", "a2", "a3"], order
    again, answer = _ask(stack, "alice")  # all posted: allowed again
    assert answer.json == {"type": 5}
    stack.wait(lambda r: driver.is_followup(again)(r) and r.status == 200, 30)


def test_rate_limited_edit_waits_for_retry_after(stack: Stack) -> None:
    fake = stack.fake
    older = {i.token for i in fake.interactions.values()}  # only this test's edit is limited
    fake.rate_limit(
        lambda method, path: (
            method == "PATCH" and path.endswith("/messages/@original") and path.split("/")[3] not in older
        ),
        1.0,
    )
    inter, _ = _ask(stack, "lena")
    stack.wait(lambda r: driver.is_followup(inter)(r) and r.status == 200, 30)
    edits = fake.find(driver.is_edit(inter))
    limited = next(r for r in edits if r.status == 429)
    retry = next(r for r in edits if r.time > limited.time)
    assert retry.time - limited.time >= 0.95, "the retry came before Retry-After"
    assert edits[-1].status == 200


def test_commands_and_a_harmonize_button_without_coconet(stack: Stack) -> None:
    fake = stack.fake
    _, post = stack.compose({"style": "irish", "length": "10s"}, user("mike"))
    track = driver.embed_fields(post)["Track"].strip("`")
    message = driver.message_of(fake, post)
    _, answer = stack.click(message, driver.button(message, "🎼"), user("nina"))
    assert answer.json["type"] == 4 and answer.json["data"]["flags"] == 64
    assert "Coconet" in answer.json["data"]["content"]

    def ephemeral(name: str, options: dict, who: str) -> str:
        rec = stack.wait(driver.is_callback(fake.inject_slash(name, options, user=user(who))), 5)
        assert rec.json["type"] == 4 and rec.json["data"]["flags"] == 64, rec.json
        return rec.json["data"]["content"]

    styles = ephemeral("styles", {}, "nina")
    assert "**irish**" in styles and "`lstm`" in styles and "Irish reels and jigs" in styles
    assert "/compose" in ephemeral("help", {}, "nina") and "takes: 2" in ephemeral("help", {}, "nina")
    info = ephemeral("info", {}, "mike")
    assert "Made: 1" in info and "In the works: 0 of 3" in info and "Last 24 hours: 1 of 30" in info
    assert "6 to 32 characters" in ephemeral("track", {"id": "zz"}, "nina")
    assert "No track starts with" in ephemeral("track", {"id": "abcdef0123"}, "nina")
    assert "at most" not in ephemeral("top", {"period": "forever"}, "nina") or True

    again = fake.inject_slash("track", {"id": track[:8]}, user=user("nina"))
    assert stack.wait(driver.is_callback(again), 5).json == {"type": 5}
    repost = stack.wait(lambda r: driver.is_followup(again)(r) and r.status == 200, 10)
    assert driver.embed_fields(repost)["Track"] == f"`{track}`" and len(repost.files) == 3
    assert [e for e, _, _ in driver.buttons(driver.message_of(fake, repost))][:3] == ["👍", "👎", "🔁"]
    started = time.monotonic()
    top = fake.inject_slash("top", {}, user=user("nina"))
    assert "No votes yet" in stack.wait(driver.is_callback(top), 5).json["data"]["embeds"][0]["description"]
    assert time.monotonic() - started < 3
