"""The bot's database: SQLite by default (a file in the data directory), PostgreSQL by DATABASE_URL, and a
versioned ``schema_migrations`` table. SQL is written once, portably, with ``?`` placeholders."""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

# Portable SQL only: TEXT / INTEGER / BIGINT / DOUBLE PRECISION, ON CONFLICT upserts, no AUTOINCREMENT.
MIGRATIONS: list[tuple[int, str, list[str]]] = [
    (
        1,
        "tracks, votes and pending deliveries",
        [
            """CREATE TABLE tracks (
            id TEXT PRIMARY KEY, delivery_id TEXT NOT NULL, take INTEGER NOT NULL DEFAULT 0,
            user_id TEXT NOT NULL, guild_id TEXT, channel_id TEXT, kind TEXT NOT NULL, parent_id TEXT,
            style TEXT NOT NULL, arch TEXT, seconds DOUBLE PRECISION NOT NULL, request_json TEXT NOT NULL,
            result_json TEXT, status TEXT NOT NULL, reason TEXT, message_id TEXT,
            created_at DOUBLE PRECISION NOT NULL, finished_at DOUBLE PRECISION)""",
            "CREATE INDEX tracks_user ON tracks (user_id, created_at)",
            "CREATE INDEX tracks_guild ON tracks (guild_id, created_at)",
            "CREATE INDEX tracks_delivery ON tracks (delivery_id)",
            "CREATE INDEX tracks_status ON tracks (status)",
            """CREATE TABLE votes (
            track_id TEXT NOT NULL, user_id TEXT NOT NULL, value INTEGER NOT NULL,
            voted_at DOUBLE PRECISION NOT NULL, PRIMARY KEY (track_id, user_id))""",
            """CREATE TABLE deliveries (
            id TEXT PRIMARY KEY, user_id TEXT NOT NULL, guild_id TEXT, channel_id TEXT NOT NULL,
            application_id TEXT NOT NULL, token TEXT, interaction_id TEXT NOT NULL, message_id TEXT,
            size_limit BIGINT NOT NULL, state TEXT NOT NULL, created_at DOUBLE PRECISION NOT NULL,
            updated_at DOUBLE PRECISION NOT NULL, posted_message_id TEXT, posted_via TEXT)""",
            "CREATE INDEX deliveries_state ON deliveries (state)",
        ],
    ),
    # Issue 15. Numbers 3 and 4 are left to the web playground (issue 16) and issue 11.
    (
        2,
        "variations linked to their parents, and the styles last served",
        [
            "ALTER TABLE tracks ADD COLUMN vary TEXT",
            "CREATE INDEX tracks_parent ON tracks (parent_id, created_at)",
            """CREATE TABLE known_styles (
            name TEXT PRIMARY KEY, info_json TEXT NOT NULL, seen_at DOUBLE PRECISION NOT NULL)""",
        ],
    ),
]


class DatabaseError(RuntimeError):
    """The database URL is unusable; the message says what to do."""


def sqlite_path(url: str | None, data_dir: Path) -> Path | None:
    """The SQLite file for DATABASE_URL (``sqlite:////abs/path``, ``sqlite:///rel/path`` as in SQLAlchemy, or
    ``sqlite:path``; unset: the data directory's ``tunesmith.db``); None when the URL names another database."""
    if not url:
        return data_dir / "tunesmith.db"
    if url.startswith("sqlite:"):
        rest = url[len("sqlite:") :]
        return Path(rest[3:] if rest.startswith("///") else rest).expanduser()
    return None


class Database:
    """One connection shared by the bot's threads behind a lock; ``?`` placeholders become ``%s`` for
    PostgreSQL. Every public method is blocking: call it through ``asyncio.to_thread``."""

    def __init__(self, url: str | None, data_dir: Path) -> None:
        self._lock = threading.RLock()
        path = sqlite_path(url, data_dir)
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            self.dialect = "sqlite"
            self.conn: Any = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False, timeout=10)
            for pragma in ("journal_mode=WAL", "synchronous=NORMAL", "busy_timeout=10000"):
                self.conn.execute(f"PRAGMA {pragma}")
            self.where = str(path)
        elif url and url.startswith(("postgres://", "postgresql://")):
            try:
                import psycopg
            except ImportError:
                raise DatabaseError(
                    "DATABASE_URL names PostgreSQL: install its driver with `.venv/bin/pip install 'psycopg[binary]'`"
                ) from None
            self.dialect = "postgres"
            self.conn = psycopg.connect(url, autocommit=True)
            self.where = "PostgreSQL"
        else:
            raise DatabaseError("DATABASE_URL must start with sqlite:, postgres:// or postgresql://")

    def sql(self, text: str) -> str:
        """``text`` in this database's placeholder style."""
        return text.replace("?", "%s") if self.dialect == "postgres" else text

    def execute(self, text: str, params: Sequence[Any] = ()) -> int:
        """Run one statement; returns the number of rows it changed."""
        with self._lock:
            cur = self.conn.execute(self.sql(text), tuple(params))
            return cur.rowcount

    def rows(self, text: str, params: Sequence[Any] = ()) -> list[dict[str, Any]]:
        """The rows of a query as dicts keyed by column name."""
        with self._lock:
            cur = self.conn.execute(self.sql(text), tuple(params))
            names = [d[0] for d in cur.description or ()]
            return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]

    def one(self, text: str, params: Sequence[Any] = ()) -> dict[str, Any] | None:
        found = self.rows(text, params)
        return found[0] if found else None

    @contextmanager
    def transaction(self) -> Iterator[Database]:
        """Statements inside run atomically (SQLite takes the write lock at once)."""
        with self._lock:
            self.conn.execute("BEGIN IMMEDIATE" if self.dialect == "sqlite" else "BEGIN")
            try:
                yield self
            except BaseException:
                self.conn.execute("ROLLBACK")
                raise
            self.conn.execute("COMMIT")

    def migrate(self) -> list[int]:
        """Apply the migrations not yet recorded in ``schema_migrations``; returns the versions applied."""
        self.execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL,"
            " applied_at DOUBLE PRECISION NOT NULL)"
        )
        done = {row["version"] for row in self.rows("SELECT version FROM schema_migrations")}
        applied = []
        for version, name, statements in MIGRATIONS:
            if version in done:
                continue
            with self.transaction():
                for statement in statements:
                    self.execute(statement)
                self.execute(
                    "INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)",
                    (version, name, time.time()),
                )
            log.info("database migrated to version %d (%s)", version, name)
            applied.append(version)
        return applied

    def close(self) -> None:
        with self._lock:
            self.conn.close()
