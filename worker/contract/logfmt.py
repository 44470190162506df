"""Structured logging for the bot and the workers: JSON lines or text, with the track id on every line (torch-free).

``log_context(track_id=..., kind=..., user=user_hash(uid))`` (or ``bind`` inside an asyncio task) puts fields in
a context variable; a filter copies them onto every record logged meanwhile, from any logger (RQ's included),
and the formatter writes them. ``TUNESMITH_LOG_FORMAT`` picks ``text`` (default) or ``json``. Secrets never
reach a line: the Discord token's value and passwords in URLs are masked in every message (worker.contract.redact).
Nothing here reads the environment: the bot's and the worker's settings pass the format and the secrets in.
"""

from __future__ import annotations

import contextlib
import contextvars
import hashlib
import json
import logging
import re
import sys
from collections.abc import Iterable, Iterator, Mapping
from datetime import UTC, datetime
from types import MappingProxyType
from typing import IO, Any

from worker.contract.redact import Redactor

LOG_FORMAT_ENV = "TUNESMITH_LOG_FORMAT"
FORMATS = ("text", "json")
_context: contextvars.ContextVar[Mapping[str, str]] = contextvars.ContextVar(
    "tunesmith_log_context", default=MappingProxyType({})
)
_ANSI_RE = re.compile(r"\x1b\[[0-9;]*m")


def user_hash(user_id: object) -> str:
    """A short, stable stand-in for a Discord user id in logs (the id itself is not logged with it)."""
    return hashlib.sha256(f"tunesmith-user:{user_id}".encode()).hexdigest()[:12] if user_id else ""


def current() -> dict[str, str]:
    """The fields now attached to log lines."""
    return dict(_context.get())


def bind(**fields: object) -> None:
    """Attach ``fields`` (None values are dropped) for the rest of the current task or thread's context."""
    _context.set({**_context.get(), **{k: str(v) for k, v in fields.items() if v is not None and v != ""}})


@contextlib.contextmanager
def log_context(**fields: object) -> Iterator[None]:
    """Attach ``fields`` to every log line emitted inside the ``with`` block, then restore the previous ones."""
    token = _context.set({**_context.get(), **{k: str(v) for k, v in fields.items() if v is not None and v != ""}})
    try:
        yield
    finally:
        _context.reset(token)


class ContextFilter(logging.Filter):
    """Copies the context fields onto each record (as ``record.ctx``), so any formatter can show them."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.ctx = current()
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line: ts, level, logger, msg, the context fields, and exc when there is one."""

    def __init__(self, redact: Redactor | None = None) -> None:
        super().__init__()
        self.redact = redact or Redactor([])

    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "msg": self.redact(_ANSI_RE.sub("", record.getMessage())),
        }
        out.update(getattr(record, "ctx", None) or current())
        if record.exc_info:
            out["exc"] = self.redact(self.formatException(record.exc_info))
        return json.dumps(out, ensure_ascii=False)


class TextFormatter(logging.Formatter):
    """The usual text line, with the context fields appended as ``[track_id=… kind=…]``."""

    def __init__(self, redact: Redactor | None = None) -> None:
        super().__init__("%(asctime)s %(levelname)-7s %(name)s: %(message)s")
        self.redact = redact or Redactor([])

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        ctx = getattr(record, "ctx", None) or current()
        if ctx:
            head, sep, tail = line.partition("\n")
            line = head + " [" + " ".join(f"{k}={v}" for k, v in ctx.items()) + "]" + sep + tail
        return self.redact(line)


def log_format(env: Mapping[str, str]) -> str:
    """``TUNESMITH_LOG_FORMAT`` in ``env``: ``text`` (default) or ``json``.

    Raises:
        ValueError: any other value.
    """
    value = env.get(LOG_FORMAT_ENV, "").strip().lower() or "text"
    if value not in FORMATS:
        raise ValueError(f"{LOG_FORMAT_ENV} must be one of {', '.join(FORMATS)}, got {value!r}")
    return value


def setup_logging(
    level: str | int = "INFO", fmt: str | None = None, stream: IO[str] | None = None, *, secrets: Iterable[str] = ()
) -> logging.Handler:
    """Replace the root logger's handlers with one that writes ``fmt`` (``text``, the default, or ``json``, as
    the settings read ``TUNESMITH_LOG_FORMAT``) to ``stream`` (stderr), masking ``secrets``; returns it. An
    unknown format falls back to text with a warning."""
    chosen = (fmt or "").strip().lower() or "text"
    problem = ""
    if chosen not in FORMATS:
        chosen, problem = "text", f"{LOG_FORMAT_ENV} must be one of {', '.join(FORMATS)}, got {chosen!r}"
    redact = Redactor(s.strip() for s in secrets)
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(JsonFormatter(redact) if chosen == "json" else TextFormatter(redact))
    handler.addFilter(ContextFilter())
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level if isinstance(level, int) else getattr(logging, str(level).upper(), logging.INFO))
    if problem:
        logging.getLogger(__name__).warning("%s; logging as text", problem)
    return handler


def job_fields(job: Any) -> dict[str, str]:
    """What to attach while an RQ track job runs: its track id, kind, style, arch and the user's hash."""
    try:
        request = job.args[0] if job.args and isinstance(job.args[0], dict) else {}
    except Exception:  # noqa: BLE001 - undecodable arguments: RQ fails the job itself; log its id at least
        request = {}
    return {
        k: str(v)
        for k, v in (
            ("track_id", job.id),
            ("kind", request.get("kind") or "compose"),
            ("style", request.get("style")),
            ("arch", request.get("arch")),
            ("user", user_hash(request.get("user_id"))),
        )
        if v
    }
