"""The database on SQLite: migrations, reservations under quotas, the exactly-once claim, votes, rankings,
and that everything survives reopening the file. PostgreSQL: the placeholder translation and clear errors."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from bot.storage import votes
from bot.storage.db import MIGRATIONS, Database, DatabaseError, sqlite_path
from bot.storage.quotas import Limits
from bot.storage.store import Delivery, Store
from worker.contract.tracks import ComposeRequest, ComposeResult

NOW = 1_800_000_000.0


def _store(path: Path) -> Store:
    db = Database(None, path)
    db.migrate()
    return Store(db)


def _delivery(n: int, user: str = "u1", guild: str = "g1", at: float = NOW) -> Delivery:
    return Delivery(
        id=f"d{n}",
        user_id=user,
        guild_id=guild,
        channel_id="c1",
        application_id="app",
        token=f"secret-token-{n}",
        interaction_id=f"i{n}",
        size_limit=10 << 20,
        created_at=at,
    )


def _req(n: int, style: str = "irish") -> ComposeRequest:
    return ComposeRequest(style, 30.0, arch="lstm", track_id=f"{n:032x}")


def _result(n: int, style: str = "irish") -> ComposeResult:
    return ComposeResult(
        f"{n:032x}",
        style,
        "lstm",
        1,
        30.0,
        120.0,
        15,
        {"audio": "x.ogg"},
        {"total_s": 2.0},
        tokens=[1, 2, 3],
        extendable=True,
    )


def _posted(store: Store, n: int, user: str = "u1", style: str = "irish", at: float = NOW) -> str:
    assert store.reserve(_delivery(n, user, at=at), [_req(n, style)], Limits(), now=at) is None
    assert store.claim(f"d{n}")
    store.finish(f"d{n}", "posted", results={f"{n:032x}": _result(n, style)}, message_id=f"m{n}", via="webhook")
    return f"{n:032x}"


def test_migrations_are_recorded_once(tmp_path: Path) -> None:
    db = Database(None, tmp_path)
    assert db.migrate() == [v for v, _, _ in MIGRATIONS] and db.migrate() == []
    assert [r["version"] for r in db.rows("SELECT version FROM schema_migrations")] == [v for v, _, _ in MIGRATIONS]
    assert sqlite_path(None, tmp_path) == tmp_path / "tunesmith.db"
    assert sqlite_path("sqlite:////var/x.db", tmp_path) == Path("/var/x.db")
    assert sqlite_path("sqlite:///x.db", tmp_path) == Path("x.db")
    assert sqlite_path("postgresql://u@h/db", tmp_path) is None


def test_reserve_enforces_the_in_flight_cap_and_records_nothing_when_refused(tmp_path: Path) -> None:
    store = _store(tmp_path)
    assert store.reserve(_delivery(1), [_req(1)], Limits(), now=NOW) is None
    assert store.reserve(_delivery(2), [_req(2)], Limits(), now=NOW) is None
    why = store.reserve(_delivery(3), [_req(3)], Limits(), now=NOW)
    assert why is not None and "2 track(s) in the works" in why and "`/queue`" in why
    assert store.delivery("d3") is None and store.track(_req(3).track_id) is None
    assert "at once is too many" in store.reserve(_delivery(4, "u2"), [_req(4), _req(5), _req(6)], Limits(), now=NOW)
    assert [t.id for t in store.pending_tracks("u1")] == [_req(1).track_id, _req(2).track_id]


def test_daily_cap_says_when_the_next_track_is_allowed(tmp_path: Path) -> None:
    store = _store(tmp_path)
    limits = Limits(user_inflight=0, user_daily=2)
    _posted(store, 1, at=NOW - 3600)
    _posted(store, 2, at=NOW - 60)
    why = store.reserve(_delivery(3), [_req(3)], limits, now=NOW)
    assert why is not None and f"<t:{int(NOW - 3600 + 86400)}:R>" in why
    assert store.reserve(_delivery(3), [_req(3)], limits, now=NOW - 3600 + 86400 + 1) is None
    guild = store.reserve(_delivery(4, "u9"), [_req(4)], Limits(guild_inflight=1), now=NOW + 86400)
    assert guild is not None and "This server" in guild


def test_claim_is_exactly_once_and_finish_forgets_the_token(tmp_path: Path) -> None:
    store = _store(tmp_path)
    store.reserve(_delivery(1), [_req(1), _req(2)], Limits(), now=NOW)
    store.set_message("d1", "777")
    assert [d.id for d in store.open_deliveries()] == ["d1"] and store.delivery("d1").message_id == "777"
    assert "secret-token" not in repr(store.delivery("d1"))
    assert store.claim("d1") and not store.claim("d1")
    assert [d.state for d in store.open_deliveries()] == ["posting"]
    store.finish(
        "d1",
        "posted",
        results={_req(1).track_id: _result(1)},
        reasons={_req(2).track_id: "boom"},
        message_id="888",
        via="channel",
    )
    assert store.open_deliveries() == [] and store.delivery("d1").token is None
    done, failed = store.delivery_tracks("d1")
    assert done.status == "done" and done.result.extendable and done.result.tokens == [] and done.message_id == "888"
    assert failed.status == "failed" and failed.reason == "boom" and failed.take == 1


def test_votes_change_toggle_and_rank(tmp_path: Path) -> None:
    store = _store(tmp_path)
    a, b = _posted(store, 1, "u1"), _posted(store, 2, "u2", style="scottish")
    db = store.db
    assert votes.cast(db, a, "v1", 1, now=NOW) == (votes.Tally(1, 0), 1)
    assert votes.cast(db, a, "v2", 1, now=NOW) == (votes.Tally(2, 0), 1)
    assert votes.cast(db, a, "v2", -1, now=NOW) == (votes.Tally(1, 1), -1)  # changed
    assert votes.cast(db, a, "v2", -1, now=NOW) == (votes.Tally(1, 0), 0)  # taken back
    votes.cast(db, b, "v1", 1, now=NOW)
    votes.cast(db, b, "v3", 1, now=NOW)
    assert [t.id for t, _ in votes.top(db, None, "all")] == [b, a]
    assert [t.id for t, _ in votes.top(db, "irish", "all")] == [a]
    assert votes.top(db, None, "day", now=NOW + 2 * 86400) == []
    assert votes.tallies(db, [a, b, "none"]) == {a: votes.Tally(1, 0), b: votes.Tally(2, 0), "none": votes.Tally()}
    mine = votes.summary(db, "u2")
    assert (mine.tracks, mine.up, mine.down) == (1, 2, 0) and mine.best[0].id == b


def test_everything_survives_reopening(tmp_path: Path) -> None:
    store = _store(tmp_path)
    a = _posted(store, 1)
    votes.cast(store.db, a, "v1", 1, now=NOW)
    store.reserve(_delivery(2), [_req(2)], Limits(), now=NOW)
    store.db.close()
    again = _store(tmp_path)
    assert again.track(a).result.seconds == 30.0 and votes.tallies(again.db, [a])[a] == votes.Tally(1, 0)
    assert [d.id for d in again.open_deliveries()] == ["d2"] and again.delivery("d2").token == "secret-token-2"
    assert [t.id for t in again.find_tracks(a)] == [a] and len(again.find_tracks(a[:8])) == 2


def test_postgres_placeholders_and_url_errors(tmp_path: Path) -> None:
    db = Database.__new__(Database)
    db.dialect = "postgres"
    assert db.sql("SELECT * FROM t WHERE a = ? AND b = ?") == "SELECT * FROM t WHERE a = %s AND b = %s"
    with pytest.raises(DatabaseError, match="sqlite:, postgres://"):
        Database("mysql://u@h/db", tmp_path)
    try:
        import psycopg  # noqa: F401
    except ImportError:
        with pytest.raises(DatabaseError, match="psycopg"):
            Database("postgresql://u:pw@127.0.0.1:1/db", tmp_path)


def test_store_calls_are_fast(tmp_path: Path) -> None:
    store = _store(tmp_path)
    start = time.perf_counter()
    for n in range(20):
        store.reserve(_delivery(n, f"user{n}"), [_req(n)], Limits(), now=NOW)
    assert (time.perf_counter() - start) / 20 < 0.05  # reserve runs before the 3 s deadline


def test_a_version_1_database_gains_variations_and_known_styles(tmp_path: Path) -> None:
    """Migration 2 on a database made before it: old rows stay, variations link to parents, styles remembered."""
    from worker.contract.tracks import StyleInfo

    db = Database(None, tmp_path)
    statements = MIGRATIONS[0][2]
    db.execute(
        "CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL,"
        " applied_at DOUBLE PRECISION NOT NULL)"
    )
    for statement in statements:
        db.execute(statement)
    db.execute("INSERT INTO schema_migrations VALUES (1, 'old', 0)")
    db.execute(
        "INSERT INTO tracks (id, delivery_id, user_id, kind, style, seconds, request_json, status,"
        " created_at) VALUES ('old', 'd0', 'u0', 'compose', 'irish', 30, '{}', 'failed', 0)"
    )
    assert db.migrate() == [v for v, _, _ in MIGRATIONS][1:]
    assert db.one("SELECT id, vary FROM tracks WHERE id = 'old'") == {"id": "old", "vary": None}
    store = Store(db)
    parent = _posted(store, 1)
    child = ComposeRequest(
        "irish", 30.0, arch="lstm", track_id=f"{2:032x}", kind="vary", parent_id=parent, vary="strong"
    )
    assert store.reserve(_delivery(2), [child], Limits(), now=NOW) is None
    (found,) = store.variations(parent)
    assert found.id == child.track_id and found.request.vary == "strong" and store.variations(child.track_id) == []
    assert db.one("SELECT vary FROM tracks WHERE id = ?", (child.track_id,))["vary"] == "strong"
    info = StyleInfo("irish", ["lstm"], "lstm", meters=["6/8"], modes=["major"])
    store.remember_styles({"irish": info})
    store.remember_styles({"irish": info})
    assert store.known_styles() == {"irish": info}
