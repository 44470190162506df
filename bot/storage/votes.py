"""Votes and rankings: one vote per user per track (changeable, or taken back), tallies, /top and /info."""

from __future__ import annotations

import time
from dataclasses import dataclass

from bot.storage.db import Database
from bot.storage.store import Track

PERIODS = {"day": 24 * 3600, "week": 7 * 24 * 3600, "month": 30 * 24 * 3600, "all": None}


@dataclass(frozen=True)
class Tally:
    """Votes on one track."""

    up: int = 0
    down: int = 0

    @property
    def score(self) -> int:
        return self.up - self.down


@dataclass(frozen=True)
class Summary:
    """A user's tracks and the votes they received, for /info."""

    tracks: int
    up: int
    down: int
    best: tuple[Track, Tally] | None


def cast(db: Database, track_id: str, user_id: str, value: int, now: float | None = None) -> tuple[Tally, int]:
    """Record ``user_id``'s vote (+1 or -1) on a track: the same vote again takes it back, the other one
    replaces it. Returns the new tally and the user's vote now (+1, -1 or 0)."""
    if value not in (1, -1):
        raise ValueError("a vote is +1 or -1")
    now = time.time() if now is None else now
    with db.transaction():
        old = db.one("SELECT value FROM votes WHERE track_id = ? AND user_id = ?", (track_id, user_id))
        if old is not None and int(old["value"]) == value:
            db.execute("DELETE FROM votes WHERE track_id = ? AND user_id = ?", (track_id, user_id))
            mine = 0
        else:
            db.execute(
                "INSERT INTO votes (track_id, user_id, value, voted_at) VALUES (?, ?, ?, ?)"
                " ON CONFLICT (track_id, user_id) DO UPDATE SET value = excluded.value,"
                " voted_at = excluded.voted_at",
                (track_id, user_id, value, now),
            )
            mine = value
        return tallies(db, [track_id])[track_id], mine


def tallies(db: Database, track_ids: list[str]) -> dict[str, Tally]:
    """Up and down votes for each of ``track_ids`` (zero when none)."""
    out = {track_id: Tally() for track_id in track_ids}
    if not track_ids:
        return out
    marks = ", ".join("?" * len(track_ids))
    rows = db.rows(
        "SELECT track_id, SUM(CASE WHEN value > 0 THEN 1 ELSE 0 END) AS up,"
        f" SUM(CASE WHEN value < 0 THEN 1 ELSE 0 END) AS down FROM votes WHERE track_id IN ({marks})"
        " GROUP BY track_id",
        track_ids,
    )
    for row in rows:
        out[row["track_id"]] = Tally(int(row["up"] or 0), int(row["down"] or 0))
    return out


def top(
    db: Database, style: str | None, period: str, limit: int = 10, now: float | None = None
) -> list[tuple[Track, Tally]]:
    """The best-voted finished tracks (score, then up votes, then newest), optionally of one style and made
    within ``period`` (day, week, month or all)."""
    span = PERIODS[period]
    since = 0.0 if span is None else (time.time() if now is None else now) - span
    where, params = ["t.status = ?", "t.created_at >= ?"], ["done", since]
    if style:
        where.append("t.style = ?")
        params.append(style)
    rows = db.rows(
        "SELECT t.*, SUM(CASE WHEN v.value > 0 THEN 1 ELSE 0 END) AS up,"
        " SUM(CASE WHEN v.value < 0 THEN 1 ELSE 0 END) AS down, SUM(v.value) AS score"
        f" FROM tracks t JOIN votes v ON v.track_id = t.id WHERE {' AND '.join(where)}"
        " GROUP BY t.id ORDER BY score DESC, up DESC, t.created_at DESC LIMIT ?",
        [*params, limit],
    )
    return [(Track.from_row(r), Tally(int(r["up"] or 0), int(r["down"] or 0))) for r in rows]


def summary(db: Database, user_id: str) -> Summary:
    """How many tracks ``user_id`` made, the votes they received, and their best-voted track."""
    made = db.one("SELECT COUNT(*) AS n FROM tracks WHERE user_id = ? AND status = ?", (user_id, "done"))
    votes = db.one(
        "SELECT SUM(CASE WHEN v.value > 0 THEN 1 ELSE 0 END) AS up,"
        " SUM(CASE WHEN v.value < 0 THEN 1 ELSE 0 END) AS down FROM votes v"
        " JOIN tracks t ON t.id = v.track_id WHERE t.user_id = ?",
        (user_id,),
    )
    best_row = db.one(
        "SELECT t.*, SUM(v.value) AS score FROM tracks t JOIN votes v ON v.track_id = t.id"
        " WHERE t.user_id = ? GROUP BY t.id ORDER BY score DESC, t.created_at DESC LIMIT 1",
        (user_id,),
    )
    assert made is not None  # COUNT(*) always gives one row
    best = None
    if best_row is not None:
        track = Track.from_row(best_row)
        best = (track, tallies(db, [track.id])[track.id])
    return Summary(int(made["n"]), int(votes["up"] or 0) if votes else 0, int(votes["down"] or 0) if votes else 0, best)


def training_tracks(db: Database, style: str, threshold: int, limit: int) -> list[dict[str, object]]:
    """Finished tracks of ``style`` with a net score of at least ``threshold``, best first, as
    ``{"track_id", "score"}`` for a fine-tune from votes (the worker weights each by its score)."""
    rows = db.rows(
        "SELECT t.id AS track_id, SUM(v.value) AS score FROM tracks t JOIN votes v ON v.track_id = t.id"
        " WHERE t.status = ? AND t.style = ? GROUP BY t.id HAVING SUM(v.value) >= ?"
        " ORDER BY score DESC, t.created_at DESC LIMIT ?",
        ("done", style, threshold, limit),
    )
    return [{"track_id": r["track_id"], "score": int(r["score"])} for r in rows]
