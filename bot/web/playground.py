"""What the web playground does, without HTTP: compose, reroll/extend/harmonize/vary, vote, follow progress,
and show tracks, on the bot's own database (quotas, votes) and queue (worker.contract.tracks). Blocking calls run
through asyncio.to_thread; every failure a user can fix is a WebError with a message for the page."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time

from redis.exceptions import RedisError

from bot.poster import STATS_KEY
from bot.web.composing import Composing
from bot.web.following import Following
from bot.web.outputs import Outputs
from bot.web.track_views import TrackViews
from worker.contract.tracks import StyleInfo, compose_queue, read_features, read_styles

log = logging.getLogger(__name__)


class Playground(Following, Composing, Outputs, TrackViews):
    """The playground: its state (bot.web.state), what it starts (composing), follows (following) and shows
    (track_views), and the background task that refreshes what the workers offer and records finished tracks."""

    # --- background: what the workers offer, and recording finished tracks -------------------------------
    async def start(self) -> None:
        await asyncio.to_thread(self.recover)
        await self.refresh()
        self._task = asyncio.create_task(self._forever(), name="playground")

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def refresh(self) -> bool:
        """Reload the styles, features and worker count; keep the old ones if Redis is unreachable."""

        def read() -> tuple[dict[str, StyleInfo], dict[str, str], int, float]:
            from rq import Worker

            job_s = self.redis.get(STATS_KEY)
            return (
                read_styles(self.redis),
                read_features(self.redis),
                Worker.count(connection=self.redis, queue=compose_queue(self.redis)),
                float(job_s) if job_s else self.job_s,
            )

        try:
            self.styles, self.features, self.workers, self.job_s = await asyncio.to_thread(read)
        except (RedisError, OSError, ValueError, TypeError) as exc:
            log.warning("could not read what the workers offer: %s", exc)
            return False
        return True

    async def _forever(self) -> None:
        last_refresh = time.monotonic()
        while True:
            await asyncio.sleep(self.poll_s)
            try:
                if time.monotonic() - last_refresh >= self.refresh_s:
                    last_refresh = time.monotonic()
                    await self.refresh()
                for delivery_id in await asyncio.to_thread(self._open_deliveries):
                    await self.settle(delivery_id)
            except Exception:  # noqa: BLE001 - keep following; the next round retries
                log.exception("following the playground's tracks failed")
