"""What every part of the web playground shares: the delivery states it records, the user id a web client stands
for, and PlaygroundState (its Redis connection, the bot's store, the styles the workers offer, track lookup)."""

from __future__ import annotations

import asyncio
import hashlib
from pathlib import Path
from typing import TYPE_CHECKING

from bot.poster import DEFAULT_JOB_S
from bot.storage.quotas import Limits
from bot.storage.store import Store, Track
from bot.web.errors import WebError, check_track_id
from worker.contract.tracks import ComposeRequest, StyleInfo

if TYPE_CHECKING:  # pragma: no cover
    from redis import Redis

WEB_STATE = "web"  # deliveries the playground follows itself (the bot's poster only takes "pending" ones)
QUEUING = "web-new"  # recorded, not yet enqueued: not followed yet (its job does not exist for a moment)
SETTLING = "web-settling"  # claimed by one playground process while it records the outcome
WEB_GUILD = "web"  # every web client together counts as one "server" for the guild-wide caps


def user_for(client_id: str) -> str:
    """The user id a web client's cookie stands for (the cookie itself is never stored)."""
    return "web:" + hashlib.sha256(client_id.encode()).hexdigest()[:24]


class PlaygroundState:
    """The playground's state: a Redis connection, the bot's store, the styles the workers offer."""

    def __init__(
        self,
        store: Store,
        redis: Redis,
        data_dir: Path,
        limits: Limits | None = None,
        *,
        extend_s: float = 30.0,
        poll_s: float = 0.5,
        refresh_s: float = 3.0,
        job_wait_s: float = 3600.0,
    ) -> None:
        self.store = store
        self.redis = redis
        self.data_dir = Path(data_dir)
        self.limits = limits or Limits()
        self.extend_s = extend_s
        self.poll_s = poll_s
        self.refresh_s = refresh_s
        self.job_wait_s = job_wait_s
        self.styles: dict[str, StyleInfo] = {}
        self.features: dict[str, str] = {}
        self.workers = 0
        self.job_s = DEFAULT_JOB_S
        self._reaped_at = float("-inf")
        self._task: asyncio.Task[None] | None = None

    # --- looking tracks up ---------------------------------------------------------------------------------
    async def track(self, track_id: str) -> Track:
        track = await asyncio.to_thread(self.store.track, check_track_id(track_id))
        if track is None:
            raise WebError(404, f"No track `{track_id}` in the records.")
        return track

    async def finished_track(self, track_id: str) -> Track:
        track = await self.track(track_id)
        if track.result is None:
            raise WebError(409, f"Track `{track_id}` is not finished.")
        return track

    @staticmethod
    def can_vary() -> bool:
        return {"vary", "parent"} <= set(ComposeRequest.__dataclass_fields__)
