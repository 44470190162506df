"""Tracks, votes and pending deliveries in the database (blocking; the bot calls it via asyncio.to_thread)."""

from __future__ import annotations

import dataclasses
import json
import time
from dataclasses import dataclass, field
from typing import Any

from bot.storage.db import Database
from bot.storage.quotas import Limits, Usage, refusal
from worker.contract.tracks import ComposeRequest, ComposeResult, StyleInfo

DAY_S = 24 * 3600
OPEN_STATES = ("pending", "posting", "sending")  # sending: handed to Discord, not yet recorded as posted


@dataclass(frozen=True)
class Delivery:
    """Where and how a set of tracks (one, or two takes) is to be posted; survives bot restarts."""

    id: str
    user_id: str
    guild_id: str | None
    channel_id: str
    application_id: str
    token: str | None = field(repr=False)
    interaction_id: str
    size_limit: int
    created_at: float
    message_id: str | None = None
    state: str = "pending"


@dataclass(frozen=True)
class Track:
    """One track as the bot keeps it: what was asked, and what came back once it was made."""

    id: str
    delivery_id: str
    take: int
    user_id: str
    guild_id: str | None
    kind: str
    parent_id: str | None
    style: str
    request: ComposeRequest
    status: str
    created_at: float
    result: ComposeResult | None = None
    reason: str | None = None
    message_id: str | None = None

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> Track:
        result = json.loads(row["result_json"]) if row.get("result_json") else None
        return cls(
            id=row["id"],
            delivery_id=row["delivery_id"],
            take=int(row["take"]),
            user_id=row["user_id"],
            guild_id=row["guild_id"],
            kind=row["kind"],
            parent_id=row["parent_id"],
            style=row["style"],
            request=ComposeRequest.from_dict(json.loads(row["request_json"])),
            status=row["status"],
            created_at=float(row["created_at"]),
            result=ComposeResult.from_dict(result) if result else None,
            reason=row["reason"],
            message_id=row["message_id"],
        )


class Store:
    """All of the bot's reads and writes, each one a short statement or transaction."""

    def __init__(self, db: Database) -> None:
        self.db = db

    # --- reserving and delivering -------------------------------------------------------------------------
    def usage(self, user_id: str, guild_id: str | None, now: float) -> Usage:
        """What the user and the guild have in flight and made in the last 24 hours (failures not counted)."""

        def count(column: str, value: str) -> tuple[int, list[float]]:
            open_ = self.db.one(
                f"SELECT COUNT(*) AS n FROM tracks WHERE {column} = ? AND status = ?", (value, "pending")
            )
            times = self.db.rows(
                f"SELECT created_at FROM tracks WHERE {column} = ? AND created_at >= ?"
                " AND status <> ? ORDER BY created_at",
                (value, now - DAY_S, "failed"),
            )
            assert open_ is not None  # COUNT(*) always gives one row
            return int(open_["n"]), [float(r["created_at"]) for r in times]

        user_open, user_day = count("user_id", user_id)
        guild_open, guild_day = count("guild_id", guild_id) if guild_id else (0, [])
        return Usage(user_inflight=user_open, user_day=user_day, guild_inflight=guild_open, guild_day=guild_day)

    def reserve(
        self,
        delivery: Delivery,
        requests: list[ComposeRequest],
        limits: Limits,
        now: float | None = None,
        *,
        state: str = "pending",
    ) -> str | None:
        """Check the quotas and record the delivery and its tracks in one transaction.

        ``state`` is the delivery's first state: "pending" ones are the bot's to post; the web playground
        (bot.web) records its own in states of its own ("web-new", "web", …), which the bot's poster never
        picks up.

        Returns None when reserved, else the refusal to show the user (nothing is recorded then).
        """
        now = time.time() if now is None else now
        with self.db.transaction():
            why = refusal(limits, self.usage(delivery.user_id, delivery.guild_id, now), len(requests), now)
            if why is not None:
                return why
            self.db.execute(
                "INSERT INTO deliveries (id, user_id, guild_id, channel_id, application_id, token, interaction_id,"
                f" message_id, size_limit, state, created_at, updated_at) VALUES ({_marks(12)})",
                (
                    delivery.id,
                    delivery.user_id,
                    delivery.guild_id,
                    delivery.channel_id,
                    delivery.application_id,
                    delivery.token,
                    delivery.interaction_id,
                    delivery.message_id,
                    delivery.size_limit,
                    state,
                    now,
                    now,
                ),
            )
            for take, req in enumerate(requests):
                self.db.execute(
                    "INSERT INTO tracks (id, delivery_id, take, user_id, guild_id, channel_id, kind, parent_id, style,"
                    f" arch, seconds, request_json, status, created_at, vary) VALUES ({_marks(15)})",
                    (
                        req.track_id,
                        delivery.id,
                        take,
                        delivery.user_id,
                        delivery.guild_id,
                        delivery.channel_id,
                        req.kind,
                        req.parent_id,
                        req.style,
                        req.arch,
                        req.seconds,
                        json.dumps(req.to_dict()),
                        "pending",
                        now,
                        req.vary,
                    ),
                )
        return None

    def set_message(self, delivery_id: str, message_id: str | None) -> None:
        """Remember the deferred response's message id (the channel fallback replies to it)."""
        self.db.execute(
            "UPDATE deliveries SET message_id = ?, updated_at = ? WHERE id = ?", (message_id, time.time(), delivery_id)
        )

    def forget_token(self, delivery_id: str) -> None:
        """Drop an interaction token Discord no longer accepts."""
        self.db.execute("UPDATE deliveries SET token = NULL, updated_at = ? WHERE id = ?", (time.time(), delivery_id))

    def open_deliveries(self) -> list[Delivery]:
        """Deliveries not yet posted or given up, oldest first."""
        rows = self.db.rows(
            f"SELECT * FROM deliveries WHERE state IN ({_marks(len(OPEN_STATES))}) ORDER BY created_at", OPEN_STATES
        )
        return [_delivery(r) for r in rows]

    def delivery(self, delivery_id: str) -> Delivery | None:
        row = self.db.one("SELECT * FROM deliveries WHERE id = ?", (delivery_id,))
        return _delivery(row) if row else None

    def delivery_tracks(self, delivery_id: str) -> list[Track]:
        rows = self.db.rows("SELECT * FROM tracks WHERE delivery_id = ? ORDER BY take", (delivery_id,))
        return [Track.from_row(r) for r in rows]

    def claim(self, delivery_id: str, to_state: str = "posting", from_state: str = "pending") -> bool:
        """Move a delivery from ``from_state`` to ``to_state`` atomically; True for exactly one caller."""
        return (
            self.db.execute(
                "UPDATE deliveries SET state = ?, updated_at = ? WHERE id = ? AND state = ?",
                (to_state, time.time(), delivery_id, from_state),
            )
            == 1
        )

    def finish(
        self,
        delivery_id: str,
        state: str,
        *,
        results: dict[str, ComposeResult] | None = None,
        reasons: dict[str, str] | None = None,
        message_id: str | None = None,
        via: str | None = None,
    ) -> None:
        """Record the outcome: results or failure reasons per track, where it was posted; forget the token."""
        now = time.time()
        with self.db.transaction():
            for track_id, result in (results or {}).items():
                data = {k: v for k, v in result.to_dict().items() if k != "tokens"}
                self.db.execute(
                    "UPDATE tracks SET status = ?, result_json = ?, message_id = ?, finished_at = ? WHERE id = ?",
                    ("done", json.dumps(data), message_id, now, track_id),
                )
            for track_id, reason in (reasons or {}).items():
                self.db.execute(
                    "UPDATE tracks SET status = ?, reason = ?, finished_at = ? WHERE id = ?",
                    ("failed", reason, now, track_id),
                )
            self.db.execute(
                "UPDATE deliveries SET state = ?, token = NULL, posted_message_id = ?, posted_via = ?,"
                " updated_at = ? WHERE id = ?",
                (state, message_id, via, now, delivery_id),
            )

    # --- reading tracks -----------------------------------------------------------------------------------
    def track(self, track_id: str) -> Track | None:
        row = self.db.one("SELECT * FROM tracks WHERE id = ?", (track_id,))
        return Track.from_row(row) if row else None

    def find_tracks(self, prefix: str, limit: int = 2) -> list[Track]:
        """Tracks whose id starts with ``prefix`` (a hex string; checked by the caller)."""
        rows = self.db.rows(
            "SELECT * FROM tracks WHERE id >= ? AND id < ? ORDER BY id LIMIT ?", (prefix, prefix + "~", limit)
        )
        return [Track.from_row(r) for r in rows]

    def recent_tracks(self, limit: int = 10, style: str | None = None) -> list[Track]:
        """The newest finished tracks (of one style, or any), newest first."""
        if style is None:
            rows = self.db.rows(
                "SELECT * FROM tracks WHERE status = ? ORDER BY created_at DESC LIMIT ?", ("done", limit)
            )
        else:
            rows = self.db.rows(
                "SELECT * FROM tracks WHERE status = ? AND style = ? ORDER BY created_at DESC LIMIT ?",
                ("done", style, limit),
            )
        return [Track.from_row(r) for r in rows]

    def variations(self, track_id: str, limit: int = 10) -> list[Track]:
        """The variations made of a track (newest last), finished or not."""
        rows = self.db.rows(
            "SELECT * FROM tracks WHERE parent_id = ? AND kind = ? ORDER BY created_at LIMIT ?",
            (track_id, "vary", limit),
        )
        return [Track.from_row(r) for r in rows]

    # --- the styles last served (a request for one is queued even while no worker is online) -------------
    def remember_styles(self, styles: dict[str, StyleInfo]) -> None:
        """Record the styles the workers publish; those no longer published are kept (a worker may be down)."""
        now = time.time()
        for name, info in styles.items():
            self.db.execute(
                "INSERT INTO known_styles (name, info_json, seen_at) VALUES (?, ?, ?) ON CONFLICT (name)"
                " DO UPDATE SET info_json = excluded.info_json, seen_at = excluded.seen_at",
                (name, json.dumps(dataclasses.asdict(info)), now),
            )

    def known_styles(self) -> dict[str, StyleInfo]:
        """The styles some worker of this deployment has served."""
        out = {}
        for row in self.db.rows("SELECT name, info_json FROM known_styles"):
            try:
                out[row["name"]] = StyleInfo.from_dict(json.loads(row["info_json"]))
            except (TypeError, ValueError):
                continue
        return out

    def pending_tracks(self, user_id: str | None = None) -> list[Track]:
        """Tracks still being made (of one user, or everyone's), oldest first."""
        if user_id is None:
            rows = self.db.rows("SELECT * FROM tracks WHERE status = ? ORDER BY created_at", ("pending",))
        else:
            rows = self.db.rows(
                "SELECT * FROM tracks WHERE status = ? AND user_id = ? ORDER BY created_at", ("pending", user_id)
            )
        return [Track.from_row(r) for r in rows]


def _delivery(row: dict[str, Any]) -> Delivery:
    return Delivery(
        id=row["id"],
        user_id=row["user_id"],
        guild_id=row["guild_id"],
        channel_id=row["channel_id"],
        application_id=row["application_id"],
        token=row["token"],
        interaction_id=row["interaction_id"],
        size_limit=int(row["size_limit"]),
        created_at=float(row["created_at"]),
        message_id=row["message_id"],
        state=row["state"],
    )


def _marks(n: int) -> str:
    return ", ".join("?" * n)
