"""The score, the ABC/MusicXML exports and the stems of a finished track on the page: made on demand by the
worker's outputs job (as the Discord 📄/📦/🎚️ buttons do), then served like the track's other files."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

from redis.exceptions import RedisError

from bot.storage.store import Track
from bot.web.errors import WebError
from bot.web.state import PlaygroundState
from worker.contract.tracks import OUTPUT_KINDS, enqueue_outputs, fetch_job

WAIT_S = 90.0  # how long the page's request waits for the job (a score takes a second or two)
POLL_S = 0.3
SIZE_LIMIT = 50 * 1024 * 1024  # a browser download has no attachment cap; stems are split past this
# The files the outputs job writes into a track's folder, by the kind the page downloads them as.
MADE = {"score": ".score.png", "pdf": ".score.pdf", "abc": ".abc", "musicxml": ".musicxml"}


def made_files(folder: Path, track_id: str) -> list[tuple[str, str, Path]]:
    """(kind, file name, path) of the outputs already made for ``track_id`` (names fixed here, never taken from a
    request); stems may be split into several zips."""
    out = [(kind, f"{track_id}{suffix}", folder / f"{track_id}{suffix}") for kind, suffix in MADE.items()]
    stems = sorted(folder.glob(f"{track_id}.stems*.zip"))
    out += [("stems" if i == 0 else f"stems-{i + 1}", p.name, p) for i, p in enumerate(stems)]
    return [(k, n, p) for k, n, p in out if p.is_file() and not p.is_symlink() and p.stat().st_size > 0]


class Outputs(PlaygroundState):
    """Runs the outputs job for a finished track and waits for it."""

    async def make_outputs(self, track_id: str, kind: Any) -> dict[str, Any]:
        """Make the ``score``, ``exports`` or ``stems`` of a finished track; returns {"kind", "ready"}.

        Raises:
            WebError: 400 for an unknown kind, 404 for an unknown track, 503 when the queue is down, 504 when no
            worker made it in time (it stays queued: asking again later finds the files).
        """
        if kind not in OUTPUT_KINDS:
            raise WebError(400, f"Make one of: {', '.join(OUTPUT_KINDS)}.")
        track: Track = await self.finished_track(track_id)
        try:
            job = await asyncio.to_thread(enqueue_outputs, self.redis, track.id, kind, SIZE_LIMIT)
        except (RedisError, OSError) as exc:
            raise WebError(503, "The queue is unreachable right now; please try again soon.") from exc
        deadline = time.monotonic() + WAIT_S
        while time.monotonic() < deadline:
            status, value = await asyncio.to_thread(self._look, job.id)
            if status == "finished":
                if isinstance(value, dict) and value.get("error"):
                    raise WebError(409, f"Sorry: {str(value['error'])[:300]}.")
                return {"kind": kind, "ready": True}
            if status in ("failed", "stopped", "canceled", "missing"):
                raise WebError(500, f"Making the {kind} of track `{track.id}` failed; please try again.")
            await asyncio.sleep(POLL_S)
        raise WebError(504, f"The {kind} of track `{track.id}` is not ready yet; ask again in a minute.")

    def _look(self, job_id: str) -> tuple[str, Any]:
        try:
            job = fetch_job(self.redis, job_id)
            status = str(getattr(job.get_status(refresh=True), "value", ""))
            return status, job.return_value() if status == "finished" else None
        except Exception:  # noqa: BLE001 - expired or Redis gone: reported as missing
            return "missing", None
