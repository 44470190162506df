"""Follows every pending delivery, resumed from the database when the bot starts: edits in the queue
position and an ETA, then sampling and rendering progress (throttled), then posts the result exactly once
(an atomic pending → posting claim) or reports the failure with the track id.

The database is the source of truth (an outbox): a pending track whose job Redis does not have (the bot
stopped between acknowledging and enqueueing, or Redis lost the write) is enqueued again from its row, same
id, same seed (``worker.contract.tracks.enqueue_tracks`` is idempotent). While it follows a job the poster also
looks for jobs whose worker died (``bot.tracking.reap_abandoned``), so that works with no worker left.

Posting is two steps: ``posting`` while the message is built (a bot that stops there posted nothing, and the
next one posts), then ``sending`` just before the message goes to Discord. A bot that stops while sending
cannot know whether Discord got it, so the next one never sends it again: it says the track is ready, with
its id, and that ``/track`` posts it."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from typing import TYPE_CHECKING

import discord
from redis.exceptions import RedisError
from rq.exceptions import NoSuchJobError

from bot import embeds, metrics
from bot.delivery import PermanentError, Sender, build_post
from bot.storage.store import Delivery, Track
from bot.tracking import JobSnapshot, reap_abandoned, snapshot
from worker.contract.faults import point
from worker.contract.logfmt import bind, user_hash
from worker.contract.tracks import enqueue_tracks, fetch_job

if TYPE_CHECKING:  # pragma: no cover
    from bot.client import TunesmithBot

log = logging.getLogger(__name__)

STATS_KEY = "tunesmith:stats:job_s"
DEFAULT_JOB_S = 20.0
RETRY_S = (2.0, 5.0, 15.0, 30.0, 60.0, 120.0)
REAP_S = 5.0  # while a job waits or runs, look this often for jobs whose worker died
MAX_REQUEUES = 3  # a job that keeps vanishing from Redis is enqueued again this often per bot run, then failed
VERBS = {"compose": "Composing", "extend": "Extending", "harmonize": "Harmonizing", "vary": "Varying"}


def look(redis: object, track_ids: list[str]) -> list[JobSnapshot]:
    """Snapshots of the tracks' jobs (blocking); a job Redis no longer has is "missing"."""
    out = []
    for track_id in track_ids:
        try:
            out.append(snapshot(fetch_job(redis, track_id)))  # type: ignore[arg-type]
        except NoSuchJobError:
            out.append(JobSnapshot(status="missing", reason="the job disappeared from the queue"))
        except (RedisError, OSError) as exc:
            log.warning("polling track %s failed: %s", track_id, exc)
            out.append(JobSnapshot(status="unknown"))
    return out


def eta(snap: JobSnapshot, job_s: float, workers: int, now: float) -> float | None:
    """When a job should be done: its share of the queue ahead of it, or the rest of its own progress."""
    if snap.waiting and snap.position is not None:
        return now + (snap.position // max(1, workers) + 1.5) * job_s
    fraction = snap.progress.get("fraction")
    if snap.status == "started" and isinstance(fraction, int | float):
        return now + max(1.0, (1.0 - float(fraction)) * job_s)
    return None


class Poster:
    """One task per open delivery; ``resume`` picks them all up after a restart."""

    def __init__(self, bot: TunesmithBot) -> None:
        self.bot = bot
        self.sender = Sender(bot)
        self.tasks: dict[str, asyncio.Task[None]] = {}
        self.posting: set[str] = set()  # deliveries between their claim and their record: let them finish
        self.job_s = DEFAULT_JOB_S
        self._reaped_at = float("-inf")

    async def resume(self) -> int:
        """Follow every delivery left open by a previous run; returns how many."""
        deliveries = await asyncio.to_thread(self.bot.store.open_deliveries)
        with contextlib.suppress(RedisError, OSError, ValueError):
            stored = await asyncio.to_thread(self.bot.redis.get, STATS_KEY)
            self.job_s = float(stored or DEFAULT_JOB_S)
        for delivery in deliveries:
            self.follow(delivery.id)
        if deliveries:
            log.info("resumed %d pending deliver%s", len(deliveries), "y" if len(deliveries) == 1 else "ies")
        return len(deliveries)

    def follow(self, delivery_id: str) -> None:
        if delivery_id not in self.tasks:
            self.tasks[delivery_id] = asyncio.create_task(self._run(delivery_id), name=f"delivery-{delivery_id}")

    async def close(self, grace_s: float = 15.0) -> None:
        """Stop following; a post already under way may finish first (else it would count as lost)."""
        busy = [t for d, t in self.tasks.items() if d in self.posting]
        for delivery_id, task in list(self.tasks.items()):
            if delivery_id not in self.posting:
                task.cancel()
        if busy:
            await asyncio.wait(busy, timeout=grace_s)
        for task in list(self.tasks.values()):
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task

    async def _run(self, delivery_id: str) -> None:
        try:
            await self._follow(delivery_id)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("following delivery %s failed", delivery_id)
        finally:
            self.tasks.pop(delivery_id, None)

    async def _follow(self, delivery_id: str) -> None:
        store, settings = self.bot.store, self.bot.settings
        delivery = await asyncio.to_thread(store.delivery, delivery_id)
        tracks = await asyncio.to_thread(store.delivery_tracks, delivery_id)
        if delivery is None or not tracks:
            return
        bind(
            delivery=delivery.id,
            track_id=",".join(t.id for t in tracks),
            kind=tracks[0].kind,
            user=user_hash(delivery.user_id),
        )  # this task's lines
        if delivery.state == "sending":  # the bot stopped while sending: never post twice
            await self._recover(delivery, tracks)
            return
        if delivery.state == "posting":  # the bot stopped before sending anything: post it now
            await asyncio.to_thread(store.claim, delivery.id, "pending", "posting")
        last_edit, last_text, attempt, requeued = float("-inf"), "", 0, 0
        while True:
            snaps = await asyncio.to_thread(look, self.bot.redis, [t.id for t in tracks])
            missing = [t for t, s in zip(tracks, snaps, strict=True) if s.status == "missing"]
            if missing and requeued < MAX_REQUEUES and await self._requeue(missing):
                requeued += 1
                continue
            if not all(s.finished or s.failed for s in snaps):
                await self._reap()
            now = time.time()
            if all(s.finished or s.failed for s in snaps):
                if await self._deliver(delivery, tracks, snaps):
                    return
                await asyncio.sleep(RETRY_S[min(attempt, len(RETRY_S) - 1)])
                attempt += 1
                if attempt > 8:
                    await self._give_up(delivery, tracks, snaps)
                    return
                continue
            if now - delivery.created_at > settings.job_wait_s:
                await self._time_out(delivery, tracks, now - delivery.created_at)
                return
            text = self.progress(tracks, snaps, now)
            if text and text != last_text and time.monotonic() - last_edit >= settings.edit_interval_s:
                await self.sender.edit_status(delivery, text)
                last_edit, last_text = time.monotonic(), text
            await asyncio.sleep(settings.poll_interval_s)

    async def _requeue(self, tracks: list[Track]) -> bool:
        """Enqueue the tracks' jobs again from their rows (same ids, seeds and settings); False if Redis failed."""
        try:
            await asyncio.to_thread(enqueue_tracks, self.bot.redis, [t.request for t in tracks])
        except (RedisError, OSError) as exc:
            log.warning("could not enqueue %s again: %s", ", ".join(t.id for t in tracks), exc)
            return False
        log.warning("the job of %s was not in Redis: enqueued again from the database", ", ".join(t.id for t in tracks))
        return True

    async def _reap(self) -> None:
        """At most every REAP_S, requeue, retry or fail the jobs whose worker died (shared by all deliveries)."""
        if time.monotonic() - self._reaped_at < REAP_S:
            return
        self._reaped_at = time.monotonic()
        try:
            await asyncio.to_thread(reap_abandoned, self.bot.redis)
        except (RedisError, OSError) as exc:
            log.warning("looking for abandoned jobs failed: %s", exc)

    def progress(self, tracks: list[Track], snaps: list[JobSnapshot], now: float) -> str:
        """The status text for the tracks still being made (one paragraph per take)."""
        parts = []
        for i, (track, snap) in enumerate(zip(tracks, snaps, strict=True)):
            if snap.status == "unknown" or snap.finished or snap.failed:
                continue
            when = eta(snap, self.job_s, self.bot.workers_online, now)
            text = embeds.progress_text(
                track.id,
                track.style,
                track.request.seconds,
                status=snap.status,
                position=snap.position,
                progress=snap.progress,
                eta=round(when / 5) * 5 if when else None,
                verb=VERBS.get(track.kind, "Composing"),
                workers=self.bot.workers_online,
            )
            parts.append(f"**Take {'AB'[i]}** · {text}" if len(tracks) > 1 else text)
        return "\n".join(parts)

    async def _deliver(self, delivery: Delivery, tracks: list[Track], snaps: list[JobSnapshot]) -> bool:
        """Post (or report) once; False to retry later after a transient failure."""
        if not await asyncio.to_thread(self.bot.store.claim, delivery.id):
            return True  # another poster got there first
        self.posting.add(delivery.id)
        try:
            return await self._post(delivery, tracks, snaps)
        finally:
            self.posting.discard(delivery.id)

    async def _post(self, delivery: Delivery, tracks: list[Track], snaps: list[JobSnapshot]) -> bool:
        store = self.bot.store
        results = {t.id: s.result for t, s in zip(tracks, snaps, strict=True) if s.finished and s.result}
        reasons = {
            t.id: s.reason or "no reason given" for t, s in zip(tracks, snaps, strict=True) if t.id not in results
        }
        if not results:
            log.info("delivery %s failed: %s", delivery.id, reasons)
            await asyncio.to_thread(store.claim, delivery.id, "sending", "posting")
            await self.sender.tell(delivery, "\n".join(embeds.failure_text(t, r) for t, r in reasons.items()))
            await asyncio.to_thread(store.finish, delivery.id, "failed", reasons=reasons)
            return True
        notes = [f"⚠️ Take {'AB'[i]} failed ({reasons[t.id]})." for i, t in enumerate(tracks) if t.id in reasons]
        try:
            post = await build_post(
                self.bot, list(results.values()), user_id=delivery.user_id, size_limit=delivery.size_limit, notes=notes
            )
        except OSError as exc:
            log.warning("preparing delivery %s failed (%s); will retry", delivery.id, exc)
            await asyncio.to_thread(store.claim, delivery.id, "pending", "posting")
            return False
        point("mid_post")
        await asyncio.to_thread(store.claim, delivery.id, "sending", "posting")
        try:
            message_id, via = await self.sender.post(delivery, post)
        except PermanentError as exc:
            log.error("delivery %s cannot be posted: %s", delivery.id, exc)
            await asyncio.to_thread(store.finish, delivery.id, "undeliverable", results=results, reasons=reasons)
            return True
        except (discord.HTTPException, OSError) as exc:
            log.warning("posting delivery %s failed (%s); will retry", delivery.id, exc)
            await asyncio.to_thread(store.claim, delivery.id, "pending", "sending")
            return False
        point("after_post")
        await asyncio.to_thread(
            store.finish, delivery.id, "posted", results=results, reasons=reasons, message_id=message_id, via=via
        )
        log.info("posted %s via %s (message %s)", ", ".join(results), via, message_id)
        metrics.observe_delivery(tracks[0].kind, time.time() - delivery.created_at)
        await self.sender.edit_status(delivery, embeds.done_text(*results))
        await self._learn(results.values())
        return True

    async def _learn(self, results: object) -> None:
        """Keep a running average of how long a job takes, for the ETAs."""
        for result in results:  # type: ignore[attr-defined]
            total = result.timings.get("total_s")
            if isinstance(total, int | float) and total > 0:
                self.job_s = 0.8 * self.job_s + 0.2 * float(total)
        with contextlib.suppress(RedisError, OSError):
            await asyncio.to_thread(self.bot.redis.set, STATS_KEY, f"{self.job_s:.3f}")

    async def _recover(self, delivery: Delivery, tracks: list[Track]) -> None:
        """A delivery left ``sending``: record it; say it is ready (or failed) in the deferred response only,
        an edit, so that nothing new appears twice whether or not Discord got the first message."""
        snaps = await asyncio.to_thread(look, self.bot.redis, [t.id for t in tracks])
        results = {t.id: s.result for t, s in zip(tracks, snaps, strict=True) if s.finished and s.result}
        if not results:
            reasons = {t.id: s.reason or "no reason given" for t, s in zip(tracks, snaps, strict=True)}
            await asyncio.to_thread(self.bot.store.finish, delivery.id, "failed", reasons=reasons)
            await self.sender.edit_status(delivery, "\n".join(embeds.failure_text(t, r) for t, r in reasons.items()))
            return
        await asyncio.to_thread(self.bot.store.finish, delivery.id, "posted", results=results, via="unknown")
        ids = ", ".join(f"`{t.id}`" for t in tracks)
        await self.sender.edit_status(
            delivery, f"✅ Ready: {ids}. If the track is not posted below, `/track` with its id posts it."
        )

    async def _give_up(self, delivery: Delivery, tracks: list[Track], snaps: list[JobSnapshot]) -> None:
        results = {t.id: s.result for t, s in zip(tracks, snaps, strict=True) if s.finished and s.result}
        if await asyncio.to_thread(self.bot.store.claim, delivery.id, "undeliverable"):
            await asyncio.to_thread(self.bot.store.finish, delivery.id, "undeliverable", results=results)
        log.error("gave up posting delivery %s; its tracks can be posted with /track", delivery.id)

    async def _time_out(self, delivery: Delivery, tracks: list[Track], waited: float) -> None:
        if not await asyncio.to_thread(self.bot.store.claim, delivery.id, "failed"):
            return
        for track in tracks:
            with contextlib.suppress(Exception):
                job = await asyncio.to_thread(fetch_job, self.bot.redis, track.id)
                await asyncio.to_thread(job.cancel)
        log.warning("gave up on delivery %s after %.0fs", delivery.id, waited)
        reasons = {t.id: "timed out" for t in tracks}
        await asyncio.to_thread(self.bot.store.finish, delivery.id, "failed", reasons=reasons)
        await self.sender.tell(delivery, "\n".join(embeds.timeout_text(t.id, waited) for t in tracks))
