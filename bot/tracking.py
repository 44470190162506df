"""Reading an RQ job's state (blocking calls, run via asyncio.to_thread) and picking a track's files."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rq.exceptions import InvalidJobOperation, NoSuchJobError

from worker.contract.tracks import ComposeResult, compose_queue, job_progress

if TYPE_CHECKING:  # pragma: no cover
    from redis import Redis
    from rq.job import Job

log = logging.getLogger(__name__)

WAITING = frozenset({"queued", "deferred", "scheduled", "created", "ready_to_enqueue", "rate_limited"})
FAILED = frozenset({"failed", "stopped", "canceled", "missing"})
AUDIO_SUFFIXES = (".ogg", ".mp3", ".opus", ".m4a", ".flac", ".wav")
MIDI_SUFFIXES = (".mid", ".midi")
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".gif", ".webp")
SAFE_MESSAGES = frozenset({"BadRequest", "StorageError"})  # exceptions whose message is meant for users
REASONS = {"RenderError": "the worker could not render the audio (its synthesizer or soundfont failed)"}


@dataclass(frozen=True)
class JobSnapshot:
    """One look at a job: its status and whatever goes with it."""

    status: str
    position: int | None = None
    progress: dict[str, Any] = field(default_factory=dict)
    result: Any = None  # a ComposeResult for track jobs; what ``snapshot``'s ``parse`` made of it otherwise
    reason: str | None = None

    @property
    def waiting(self) -> bool:
        return self.status in WAITING

    @property
    def finished(self) -> bool:
        return self.status == "finished"

    @property
    def failed(self) -> bool:
        return self.status in FAILED


def failure_reason(exc_string: str | None) -> str | None:
    """A short, user-safe reason from an RQ exception string (never the traceback itself)."""
    lines = [line.strip() for line in (exc_string or "").strip().splitlines() if line.strip()]
    if not lines:
        return None
    last = lines[-1]
    name, _, message = last.partition(":")
    name = name.rsplit(".", 1)[-1].strip()
    if "Timeout" in name:
        return "the worker ran out of time"
    if "Abandoned" in name or "WorkHorseKilled" in name or "Shutdown" in name:
        return "the worker stopped unexpectedly"
    if name in SAFE_MESSAGES and message.strip():  # written for users (worker.contract.tracks, worker.jobs.tracks)
        return message.strip()[:200]
    if name in REASONS:
        return REASONS[name]
    return f"worker error: {name[:60]}" if name.isidentifier() else "worker error"


def snapshot(job: Job, parse: Callable[[dict[str, Any]], Any] = ComposeResult.from_dict) -> JobSnapshot:
    """Read the job's status, queue position, progress, and result or failure (blocking); a finished job's
    dict result goes through ``parse`` (a track job's ComposeResult by default)."""
    try:
        status = str(job.get_status(refresh=True).value)
    except (InvalidJobOperation, NoSuchJobError):
        return JobSnapshot(status="missing", reason="the job disappeared from the queue")
    if status in WAITING:
        return JobSnapshot(status=status, position=job.get_position())
    if status == "finished":
        value = job.return_value(refresh=True)
        if isinstance(value, ComposeResult):
            return JobSnapshot(status=status, result=value)
        if isinstance(value, dict):
            try:
                return JobSnapshot(status=status, result=parse(value))
            except TypeError as exc:
                log.warning("job %s returned a malformed result: %s", job.id, exc)
        return JobSnapshot(status="failed", reason="the worker returned no usable result")
    if status in FAILED:
        result = job.latest_result()
        exc_string = getattr(result, "exc_string", None)
        if exc_string:
            log.warning("job %s %s:\n%s", job.id, status, exc_string)
        return JobSnapshot(status=status, reason=failure_reason(exc_string) if status == "failed" else status)
    return JobSnapshot(status=status, progress=job_progress(job))


def reap_abandoned(redis: Redis) -> None:
    """Retry (once) or fail the compose jobs whose worker stopped renewing their lease (worker.jobs.lease), and
    requeue or fail those a worker took off the queue and died with before starting (worker.contract.claims), so no
    job looks "started" or "queued" for ever even when no worker is left to notice (blocking)."""
    from rq.registry import StartedJobRegistry

    from worker.contract import claims

    StartedJobRegistry(queue=compose_queue(redis)).cleanup()
    claims.reap(redis)


def _kind(path: Path) -> int:
    suffix = path.suffix.lower()
    for rank, suffixes in enumerate((AUDIO_SUFFIXES, MIDI_SUFFIXES, IMAGE_SUFFIXES)):
        if suffix in suffixes:
            return rank
    return 3


def pick_attachments(
    files: dict[str, str], *, data_dir: Path | None = None, size_limit: int | None = None
) -> tuple[list[Path], list[str]]:
    """Order a result's files audio, MIDI, picture; drop missing, empty or oversized ones.

    Relative paths are resolved against ``data_dir``. Returns the paths to attach and a
    human-readable note for each file left out.
    """
    keep: list[Path] = []
    skipped: list[str] = []
    for raw in files.values():
        path = Path(raw)
        if not path.is_absolute() and data_dir is not None:
            path = data_dir / path
        try:
            size = path.stat().st_size
        except OSError:
            skipped.append(f"{path.name} (missing)")
            continue
        if size == 0:
            skipped.append(f"{path.name} (empty)")
        elif size_limit is not None and size > size_limit:
            skipped.append(f"{path.name} ({size / 2**20:.1f} MiB is over the {size_limit / 2**20:.0f} MiB limit)")
        elif path not in keep:
            keep.append(path)
    keep.sort(key=lambda p: (_kind(p), p.name))
    return keep[:10], skipped + [f"{p.name} (more than 10 files)" for p in keep[10:]]
