"""Following the web playground's deliveries: recovering those a stopped playground left, recording the results
(or failures) of those whose jobs have ended exactly once, and where a pending track is."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from typing import Any

from redis.exceptions import RedisError

from bot.embeds import STAGE_LABELS, progress_percent
from bot.poster import eta, look
from bot.storage.store import Track
from bot.tracking import reap_abandoned
from bot.web.state import QUEUING, SETTLING, WEB_STATE, PlaygroundState

log = logging.getLogger(__name__)


class Following(PlaygroundState):
    """Recording what the workers made of the playground's tracks."""

    def recover(self, stale_s: float = 60.0) -> int:
        """Deliveries a stopped playground left between recording and enqueuing, or between its claim and its
        record, go back to be followed (else their tracks would count as in flight for ever); returns how many."""
        return self.store.db.execute(
            "UPDATE deliveries SET state = ? WHERE state IN (?, ?) AND updated_at < ?",
            (WEB_STATE, SETTLING, QUEUING, time.time() - stale_s),
        )

    def _open_deliveries(self) -> list[str]:
        rows = self.store.db.rows("SELECT id FROM deliveries WHERE state = ? ORDER BY created_at", (WEB_STATE,))
        return [r["id"] for r in rows]

    async def settle(self, delivery_id: str) -> bool:
        """Record the results (or failures) of a delivery whose jobs have all ended, exactly once; True if
        the delivery is closed now."""
        delivery = await asyncio.to_thread(self.store.delivery, delivery_id)
        if delivery is None or delivery.state != WEB_STATE:
            return True
        tracks = await asyncio.to_thread(self.store.delivery_tracks, delivery_id)
        snaps = await asyncio.to_thread(look, self.redis, [t.id for t in tracks])
        if any(s.status == "started" for s in snaps) and time.monotonic() - self._reaped_at > 5.0:
            self._reaped_at = time.monotonic()
            with contextlib.suppress(RedisError, OSError):
                await asyncio.to_thread(reap_abandoned, self.redis)
        ended = all(s.finished or s.failed for s in snaps)
        late = time.time() - delivery.created_at > self.job_wait_s
        if not (ended or late):
            return False
        if not await asyncio.to_thread(self.store.claim, delivery_id, SETTLING, WEB_STATE):
            return True
        results = {t.id: s.result for t, s in zip(tracks, snaps, strict=True) if s.finished and s.result}
        reasons = {
            t.id: (s.reason or "no reason given") if ended else "it was not ready in time"
            for t, s in zip(tracks, snaps, strict=True)
            if t.id not in results
        }
        await asyncio.to_thread(
            self.store.finish,
            delivery_id,
            "posted" if results else "failed",
            results=results,
            reasons=reasons,
            via="web",
        )
        log.info("web delivery %s: %d done, %d failed", delivery_id, len(results), len(reasons))
        return True

    async def progress(self, track: Track) -> dict[str, Any]:
        """Where a pending track is: queue position, stage and percentage, and an estimated time left."""
        snap = (await asyncio.to_thread(look, self.redis, [track.id]))[0]
        if snap.finished or snap.failed:
            await self.settle(track.delivery_id)
            return {"status": "ending"}
        now = time.time()
        when = eta(snap, self.job_s, self.workers, now)
        stage = str(snap.progress.get("stage", "") or "")
        pct = progress_percent(snap.progress)
        label = (
            "waiting in the queue"
            if snap.waiting
            else STAGE_LABELS.get(stage.lower(), stage.replace("_", " ")) or "working"
        )
        return {
            "status": snap.status,
            "position": None if snap.position is None else snap.position + 1,
            "stage": label[:80],
            "percent": None if pct is None else round(pct, 1),
            "eta_s": None if when is None else max(0, round(when - now)),
            "workers": self.workers,
        }
