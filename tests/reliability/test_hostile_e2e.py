"""Hostile input through the real bot and worker processes: bad /compose options, tampered button custom_ids
(someone else's track, ids that do not exist, malformed ones) and a pickled job planted in Redis. Each gets a
clear ephemeral answer or a failed job, and changes nothing. Bot and worker log at DEBUG against a Redis with a
password: no log holds the bot token or that password (Fleet.check_logs)."""

from __future__ import annotations

import pickle
import time
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bot.actions import OUTDATED
from tests.fakes import discord_payloads as P
from tests.fakes import driver
from tests.fakes.stack import user
from tests.reliability.harness import STAND_IN, Fleet, until
from worker.contract.tracks import compose_queue

pytestmark = pytest.mark.slow

GENERIC = "Something went wrong on my side"


@pytest.fixture(scope="module")
def fleet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Fleet]:
    fleet = Fleet(
        tmp_path_factory.mktemp("hostile"),
        STAND_IN,
        password="redis-sekrit-pw",
        TUNESMITH_LOG_LEVEL="DEBUG",
        STAND_IN_STEP_S="0.05",
        STAND_IN_LOG_LEVEL="DEBUG",
    )
    try:
        yield fleet.start()
    finally:
        fleet.stop()


class _State:
    """Everything a request or a click could change: rows, the queue, the messages the fake holds."""

    def __init__(self, fleet: Fleet) -> None:
        self.fleet = fleet
        self.rows = self._rows()
        self.messages = repr(sorted(fleet.fake.messages.items()))
        self.ids = set(fleet.fake.messages)

    def _rows(self) -> tuple[Any, ...]:
        return (
            self.fleet.db_rows("SELECT * FROM votes ORDER BY track_id, user_id"),
            self.fleet.db_rows("SELECT id, user_id, status FROM tracks ORDER BY id"),
            self.fleet.db_rows("SELECT id, state FROM deliveries ORDER BY id"),
            self.fleet.redis.llen("rq:queue:compose"),
        )

    def unchanged(self) -> bool:
        """The same rows and queue, every earlier message as it was, and only ephemeral replies added."""
        messages = self.fleet.fake.messages
        added = [messages[i] for i in set(messages) - self.ids]
        before = repr(sorted((k, v) for k, v in messages.items() if k in self.ids))
        return self._rows() == self.rows and before == self.messages and all(m["flags"] & 64 for m in added)


def _ephemeral(fleet: Fleet, inter: Any) -> str:
    callback = fleet.wait(driver.is_callback(inter), 5)
    data = callback.json.get("data") or {}
    assert callback.json["type"] == 4 and data.get("flags") == 64, callback.json
    assert data["content"] and GENERIC not in data["content"], data["content"]
    return data["content"]


@pytest.mark.parametrize(
    ("options", "needle"),
    [
        ({"length": "30h"}, "Can't read the length"),
        ({"length": "-5s"}, "Can't read the length"),
        ({"length": "10000s"}, "out of range"),
        ({"style": "../../etc/passwd"}, "Unknown style"),
        ({"style": "@everyone"}, "Unknown style"),
        ({"arch": "gan"}, "has no `gan` model"),
        ({"seed": -1}, "seed"),
        ({"seed": 2**40}, "seed"),
        ({"temperature": 99.0}, "emperature"),
        ({"temperature": float("nan")}, "emperature"),
        ({"tempo": 1000}, "tempo"),
        ({"tempo": 1}, "tempo"),
        ({"instrument": "kazoo"}, "Unknown instrument"),
        ({"takes": 3}, "takes"),
        ({"length": "1" * 3000}, "out of range"),
        ({"key": "H lydian"}, "Can't read the key"),
        ({"key": "D dorian; DROP TABLE tracks"}, "Can't read the key"),
        ({"key": "\x00" * 50}, "Can't read the key"),
        ({"meter": "7/8"}, "has no `7/8` tunes"),
        ({"meter": "../../x"}, "tunes: meters"),
        ({"meter": "6/8" * 400}, "tunes: meters"),
    ],
)
def test_bad_options_are_refused_ephemerally_and_queue_nothing(fleet: Fleet, options: dict, needle: str) -> None:
    before = _State(fleet)
    inter = fleet.fake.inject_slash("compose", {"style": "irish", "length": "30s", **options}, user=user("mallory"))
    assert needle in _ephemeral(fleet, inter)
    assert before.unchanged()


def test_tampered_buttons_answer_clearly_and_change_nothing(fleet: Fleet) -> None:
    first, mine = fleet.compose({"style": "irish", "length": "10s"}, user("alice"))
    second, theirs = fleet.compose({"style": "irish", "length": "10s"}, user("bob"))
    for inter in (first, second):  # the poster's last word: "✅ ready" in the deferred reply
        fleet.wait(lambda r, i=inter: driver.is_edit(i)(r) and "✅" in str((r.json or {}).get("content")), 10)
    alice_track = driver.embed_fields(mine)["Track"].strip("`")
    bob_track = driver.embed_fields(theirs)["Track"].strip("`")
    template = driver.message_of(fleet.fake, theirs)["components"][0]["components"][0]
    tampered = {
        f"ts:u:{alice_track}": "own track",
        f"ts:d:{alice_track}": "own track",
        f"ts:x:{bob_track}:999": "cannot continue",
        f"ts:x:{bob_track}:0": "cannot continue",
        f"ts:r:{'f' * 32}": "no finished track",
        f"ts:h:{bob_track}": "Harmonizing needs",
        f"ts:u:{bob_track.upper()}": OUTDATED,
        f"ts:u:{bob_track}:5": OUTDATED,
        f"ts:q:{bob_track}": OUTDATED,
        f"ts:u:{bob_track}\n": OUTDATED,
        f"ts:u:../../{bob_track[:20]}": OUTDATED,
        "ts:" + "€" * 97: OUTDATED,
        f"ts:v:{'f' * 32}": "no finished track",
        f"ts:s:{'f' * 32}": "no finished track",
        f"ts:w:{bob_track}:75": OUTDATED,
        f"ts:t:{bob_track[:31]}": OUTDATED,
        f"ts:f:{bob_track}:1": OUTDATED,
    }
    forged = dict(driver.message_of(fleet.fake, theirs), id=P.snowflake())
    rows = [list(tampered)[i : i + 5] for i in range(0, len(tampered), 5)]
    forged["components"] = [{"type": 1, "components": [{**template, "custom_id": c} for c in row]} for row in rows]
    fleet.fake.messages[forged["id"]] = forged  # as if bob's message carried these buttons
    before = _State(fleet)
    for custom_id, needle in tampered.items():
        inter = fleet.fake.inject_click(forged, custom_id, user=user("alice"))
        assert needle in _ephemeral(fleet, inter), custom_id
    time.sleep(0.5)
    assert before.unchanged(), "a refused click changes no vote, track, queue or message"

    # Acting on someone else's track never changes it: bob's reroll of alice's track is bob's new track.
    message = driver.message_of(fleet.fake, mine)
    inter, callback = fleet.click(message, driver.button(message, "🔁"), user("bob"))
    assert callback.json == {"type": 5}
    post = fleet.wait(lambda r: driver.is_followup(inter)(r) and r.status == 200 and bool(r.files), 30)
    new = driver.embed_fields(post)["Track"].strip("`")
    assert fleet.db_rows("SELECT user_id FROM tracks WHERE id = ?", (new,)) == [(user("bob")["id"],)]
    assert fleet.db_rows("SELECT user_id, status FROM tracks WHERE id = ?", (alice_track,)) == [
        (user("alice")["id"], "done")
    ]


class _Planted:
    """Unpickling this would create ``path``: the proof that something unpickled job data."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def __reduce__(self) -> tuple[Any, tuple[str]]:
        import os

        return os.mkdir, (str(self.path),)


def test_a_pickled_job_is_never_unpickled_and_the_worker_goes_on(fleet: Fleet) -> None:
    marker = fleet.tmp / "unpickled"
    job = compose_queue(fleet.redis).enqueue("worker.jobs.compose", {"style": "irish", "seconds": 10.0})
    data = zlib.decompress(fleet.redis.hget(job.key, "data"))
    assert data.startswith(b'["worker.jobs.compose"'), "job arguments travel as JSON"
    planted = compose_queue(fleet.redis).enqueue(
        "worker.jobs.compose", {"style": "irish", "seconds": 10.0}, at_front=True
    )
    fleet.redis.hset(planted.key, "data", zlib.compress(pickle.dumps((_Planted(marker), None, (), {}))))
    until(lambda: fleet.job_status(planted.id) in ("failed", "finished"), 20, "the planted job to be handled")
    assert fleet.job_status(planted.id) == "failed" and not marker.exists()
    until(lambda: fleet.job_status(job.id) == "finished", 20, "the next job")
    assert all(proc.poll() is None for proc in fleet.procs)
    assert "unhandled exception" not in (fleet.tmp / "worker0.log").read_text(), "the work loop never stopped"
    _, post = fleet.compose({"style": "irish", "length": "10s"}, user("carol"))
    assert post.files


def test_a_worker_that_cannot_reach_redis_does_not_print_the_password(fleet: Fleet) -> None:
    """Its complaint goes to stderr, past the log redactor; the log check at teardown covers this file too."""
    from tests.fakes import processes
    from worker.cli.redis_server import free_port

    env = {**fleet.env, "REDIS_URL": f"redis://:{fleet.password}@127.0.0.1:{free_port()}/0"}
    proc = processes.spawn([*STAND_IN], env, fleet.tmp / "unreachable-worker.log")
    try:
        assert proc.wait(30) == 1
    finally:
        processes.stop(proc)
    text = (fleet.tmp / "unreachable-worker.log").read_text()
    assert "is unreachable" in text and fleet.password not in text, text
