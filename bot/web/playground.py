"""What the web playground does, without HTTP: compose, reroll/extend/harmonize/vary, vote, follow progress,
and show tracks, on the bot's own database (quotas, votes) and queue (worker.contract.tracks). Blocking calls run
through asyncio.to_thread; every failure a user can fix is a WebError with a message for the page."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import hashlib
import logging
import re
import time
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path, PurePath
from typing import TYPE_CHECKING, Any

from redis.exceptions import RedisError

from bot.actions import extend_request, harmonize_request, reroll_request
from bot.embeds import STAGE_LABELS, progress_percent
from bot.poster import DEFAULT_JOB_S, STATS_KEY, eta, look
from bot.storage import votes
from bot.storage.quotas import DAY_S, Limits, Usage
from bot.storage.store import Delivery, Store, Track
from bot.tracking import AUDIO_SUFFIXES, IMAGE_SUFFIXES, reap_abandoned
from bot.web.forms import form_fields, parse_compose
from worker.contract.ids import is_new_track_id, new_track_id
from worker.contract.tracks import (
    BadRequest,
    ComposeRequest,
    StyleInfo,
    compose_queue,
    enqueue_tracks,
    read_features,
    read_styles,
    validate_request,
)

if TYPE_CHECKING:  # pragma: no cover
    from redis import Redis

log = logging.getLogger(__name__)

WEB_STATE = "web"  # deliveries the playground follows itself (the bot's poster only takes "pending" ones)
QUEUING = "web-new"  # recorded, not yet enqueued: not followed yet (its job does not exist for a moment)
SETTLING = "web-settling"  # claimed by one playground process while it records the outcome
WEB_GUILD = "web"  # every web client together counts as one "server" for the guild-wide caps
FILE_NAME_RE = re.compile(r"^[A-Za-z0-9_-][A-Za-z0-9_.-]{0,127}$")
FACTS = ("key", "arrangement", "meter", "voices", "parts", "chords", "loop")  # shown when the result has them
FILE_LABELS = {
    "audio": "Audio",
    "midi": "MIDI",
    "abc": "ABC",
    "musicxml": "MusicXML",
    "mxl": "MusicXML",
    "xml": "MusicXML",
    "image": "Piano roll",
    "pianoroll": "Piano roll",
    "score": "Score",
    "stems": "Stems",
    "pdf": "Score (PDF)",
}
VARY_STRENGTHS = ("subtle", "strong")
LIST_LIMIT = 12


class WebError(Exception):
    """A request the playground refuses: ``status`` is the HTTP status, the message is for the page."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def user_for(client_id: str) -> str:
    """The user id a web client's cookie stands for (the cookie itself is never stored)."""
    return "web:" + hashlib.sha256(client_id.encode()).hexdigest()[:24]


def web_text(text: str, now: float | None = None) -> str:
    """A quota refusal written for Discord, reworded for the page (Discord timestamps become clock times)."""
    now = time.time() if now is None else now

    def clock(match: re.Match[str]) -> str:
        at = int(match[1])
        minutes = max(1, round((at - now) / 60))
        span = f"{minutes} min" if minutes < 90 else f"{minutes / 60:.1f} h"
        return f"at {datetime.fromtimestamp(at, UTC):%H:%M} UTC (in {span})"

    text = re.sub(r"<t:(\d+):R>", clock, text)
    text = text.replace("; `/queue` shows where they are", "").replace("This server", "The playground")
    return text.replace("been posted", "finished").replace("is posted", "is finished")


def check_track_id(track_id: str) -> str:
    if not is_new_track_id(track_id):
        raise WebError(404, "No such track: a track id is 32 hexadecimal characters.")
    return track_id


class Playground:
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

    # --- background: what the workers offer, and recording finished tracks -------------------------------
    async def start(self) -> None:
        await asyncio.to_thread(self.recover)
        await self.refresh()
        self._task = asyncio.create_task(self._forever(), name="playground")

    def recover(self, stale_s: float = 60.0) -> int:
        """Deliveries a stopped playground left between recording and enqueuing, or between its claim and its
        record, go back to be followed (else their tracks would count as in flight for ever); returns how many."""
        return self.store.db.execute(
            "UPDATE deliveries SET state = ? WHERE state IN (?, ?) AND updated_at < ?",
            (WEB_STATE, SETTLING, QUEUING, time.time() - stale_s),
        )

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

    # --- starting tracks ----------------------------------------------------------------------------------
    async def compose(self, user_id: str, form: Any) -> list[str]:
        """Queue the tracks of a compose form; returns their ids.

        Raises:
            WebError: 400 for a bad form (nothing queued), 429 over a quota, 503 when Redis or the DB fails.
        """
        try:
            requests = parse_compose(form, self.styles, user_id)
        except BadRequest as exc:
            raise WebError(400, str(exc)) from None
        return await self.launch(user_id, requests)

    async def act(self, user_id: str, track_id: str, action: str, body: Mapping[str, Any]) -> list[str]:
        """Reroll, extend, harmonize or vary a finished track (as the Discord buttons do)."""
        track = await self.finished_track(track_id)
        try:
            if action == "reroll":
                request = reroll_request(track)
            elif action == "extend":
                request = extend_request(track, self._extend_seconds(body.get("seconds")))
            elif action == "harmonize":
                if "harmonize" not in self.features:
                    raise WebError(409, "Harmonizing needs the Coconet chorale model, and no worker has it yet.")
                request = harmonize_request(track)
            elif action == "vary":
                request = self.vary_request(track, body.get("strength", "subtle"))
            else:
                raise WebError(404, "Unknown action.")
            request = validate_request(request, self.styles)
        except BadRequest as exc:
            raise WebError(400, str(exc)) from None
        return await self.launch(user_id, [request])

    def _extend_seconds(self, value: Any) -> int:
        if value is None:
            return int(self.extend_s)
        if isinstance(value, bool) or not isinstance(value, int) or not 5 <= value <= 120:
            raise BadRequest("Extend by a whole number of seconds between 5 and 120.")
        return value

    @staticmethod
    def can_vary() -> bool:
        return {"vary", "parent"} <= set(ComposeRequest.__dataclass_fields__)

    def vary_request(self, track: Track, strength: Any) -> ComposeRequest:
        """A variation of ``track`` (issue 15's ``parent``/``vary`` request fields), when the contract has them."""
        if not self.can_vary():
            raise WebError(409, "This version of the workers cannot make variations yet.")
        if strength not in VARY_STRENGTHS:
            raise BadRequest(f"A variation is {' or '.join(VARY_STRENGTHS)}.")
        return ComposeRequest(
            **{
                **track.request.to_dict(),
                "seed": None,
                "track_id": new_track_id(),
                "kind": "compose",
                "parent": track.id,
                "vary": strength,
            }
        )

    async def launch(self, user_id: str, requests: list[ComposeRequest]) -> list[str]:
        """Check the quotas and record the tracks (one transaction), then enqueue them fairly."""
        requests = [dataclasses.replace(r, user_id=user_id) for r in requests]
        now = time.time()
        delivery = Delivery(
            id=uuid.uuid4().hex,
            user_id=user_id,
            guild_id=WEB_GUILD,
            channel_id="web",
            application_id="web",
            token=None,
            interaction_id=uuid.uuid4().hex,
            size_limit=0,
            created_at=now,
        )
        try:
            refusal = await asyncio.to_thread(self.store.reserve, delivery, requests, self.limits, now, state=QUEUING)
        except Exception:  # noqa: BLE001 - any database failure gets the same answer
            log.exception("could not record a web request")
            raise WebError(503, "The database is unreachable right now; please try again soon.") from None
        if refusal is not None:
            raise WebError(429, web_text(refusal, now))
        try:
            await asyncio.to_thread(enqueue_tracks, self.redis, requests)
        except (RedisError, OSError) as exc:
            log.error("could not enqueue %s: %s", ", ".join(r.track_id for r in requests), exc)
            await asyncio.to_thread(self.store.claim, delivery.id, SETTLING, QUEUING)
            await asyncio.to_thread(
                self.store.finish,
                delivery.id,
                "failed",
                reasons={r.track_id: "the queue was unreachable" for r in requests},
            )
            raise WebError(503, "The composing queue is unreachable right now; please try again soon.") from None
        await asyncio.to_thread(self.store.claim, delivery.id, WEB_STATE, QUEUING)  # followed from now on
        log.info("web: queued %s (%s %s)", ", ".join(r.track_id for r in requests), requests[0].kind, requests[0].style)
        return [r.track_id for r in requests]

    # --- votes --------------------------------------------------------------------------------------------
    async def vote(self, user_id: str, track_id: str, value: Any) -> dict[str, int]:
        """Cast (or take back, or change) ``user_id``'s vote; returns ``{"up", "down", "mine"}``."""
        if type(value) is not int or value not in (1, -1):  # not True, not 1.0
            raise WebError(400, "A vote is 1 (👍) or -1 (👎).")
        track = await self.finished_track(track_id)
        if track.user_id == user_id:
            raise WebError(403, "You can't vote on your own track, but others can.")
        cap = self.limits.guild_daily
        if cap and await asyncio.to_thread(self.web_votes_today) >= cap:
            raise WebError(
                429, f"The playground's visitors have cast their {cap} votes for the last 24 hours; try again later."
            )
        tally, mine = await asyncio.to_thread(votes.cast, self.store.db, track.id, user_id, value)
        return {"up": tally.up, "down": tally.down, "mine": mine}

    def web_votes_today(self, now: float | None = None) -> int:
        """Votes web visitors cast in the last 24 hours. A cookie is free to drop, so one vote per cookie alone
        would let anyone stuff the ballot (and /top, and fine-tunes from votes); all web visitors together get
        the per-server daily cap, as for tracks."""
        since = (time.time() if now is None else now) - DAY_S
        row = self.store.db.one(
            "SELECT COUNT(*) AS n FROM votes WHERE user_id LIKE ? AND voted_at >= ?", ("web:%", since)
        )
        return int(row["n"]) if row else 0

    # --- reading ------------------------------------------------------------------------------------------
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

    def options(self) -> dict[str, Any]:
        """What the page's form offers: the controls, the styles the workers publish, and what they can do."""
        return {
            "fields": [f.to_dict() for f in form_fields()],
            "styles": [
                {
                    "name": s.name,
                    "arches": list(s.arches),
                    "default_arch": s.default_arch,
                    "description": s.description,
                    "tempo_range": list(s.tempo_range),
                }
                for s in sorted(self.styles.values(), key=lambda s: s.name)
            ],
            "workers": self.workers,
            "actions": {
                "reroll": True,
                "extend": True,
                "harmonize": "harmonize" in self.features,
                "vary": self.can_vary(),
            },
            "extend_s": int(self.extend_s),
            "vary": list(VARY_STRENGTHS),
        }

    def _my_vote(self, track_id: str, user_id: str) -> int:
        row = self.store.db.one("SELECT value FROM votes WHERE track_id = ? AND user_id = ?", (track_id, user_id))
        return int(row["value"]) if row else 0

    async def view(self, track_id: str, user_id: str) -> dict[str, Any]:
        """Everything the page shows about one track (no file paths, no other user's id)."""
        track = await self.track(track_id)

        def load() -> tuple[votes.Tally, int]:
            return votes.tallies(self.store.db, [track.id])[track.id], self._my_vote(track.id, user_id)

        tally, mine = await asyncio.to_thread(load)
        return self.describe(track, tally, mine, user_id)

    def describe(self, track: Track, tally: votes.Tally, mine: int, user_id: str) -> dict[str, Any]:
        req, result = track.request, track.result
        out: dict[str, Any] = {
            "id": track.id,
            "kind": track.kind,
            "parent_id": track.parent_id,
            "style": track.style,
            "status": track.status,
            "reason": track.reason,
            "created_at": track.created_at,
            "arch": req.arch,
            "seconds": req.seconds,
            "own": track.user_id == user_id,
            "votes": {"up": tally.up, "down": tally.down, "mine": mine},
            "request": {
                k: v
                for k, v in req.to_dict().items()
                if k in ("tempo", "instrument", "temperature", "seed", "arrangement", "key", "meter", "loop", "vary")
                and v is not None
            },
            "files": [],
            "audio": None,
            "images": [],
            "facts": {},
            "actions": {},
        }
        if result is None:
            return out
        out.update(
            arch=result.arch,
            seconds=result.seconds,
            seed=result.seed,
            tempo_qpm=result.tempo_qpm,
            bars=result.bars,
            device=result.device,
        )
        facts = {name: getattr(result, name) for name in FACTS if getattr(result, name, None) not in (None, "", [])}
        out["facts"] = facts
        for kind, name, path in self.files(track):
            url = f"/files/{track.id}/{kind}"
            suffix = path.suffix.lower()
            label = FILE_LABELS.get(kind, kind.replace("_", " ").replace("-", " ").capitalize())
            if suffix in AUDIO_SUFFIXES and out["audio"] is None:
                out["audio"] = {"url": url, "type": _MEDIA_TYPES.get(suffix, "")}
            if suffix in IMAGE_SUFFIXES or suffix == ".svg":
                out["images"].append({"kind": kind, "label": label, "url": url})
            out["files"].append(
                {"kind": kind, "name": name, "label": label, "size": path.stat().st_size, "url": url + "?download=1"}
            )
        out["actions"] = {
            "reroll": True,
            "extend": bool(result.extendable),
            "harmonize": result.voices == 1 and "harmonize" in self.features,
            "vary": self.can_vary(),
            "vote": track.user_id != user_id,
        }
        return out

    def files(self, track: Track) -> list[tuple[str, str, Path]]:
        """(kind, file name, path) of each file recorded for a finished track that exists on this disk. Only
        the recorded file's base name is used, inside the track's own directory: nothing a request holds
        ever becomes part of a path."""
        if track.result is None:
            return []
        folder = self.data_dir / "tracks" / check_track_id(track.id)
        out = []
        for kind, recorded in sorted(track.result.files.items()):
            name = PurePath(str(recorded)).name
            if not FILE_NAME_RE.fullmatch(name) or not re.fullmatch(r"[A-Za-z0-9_-]{1,32}", kind):
                continue
            path = folder / name
            if path.is_file() and not path.is_symlink():
                out.append((kind, name, path))
        return out

    async def file(self, track_id: str, kind: str) -> tuple[str, Path]:
        """The (name, path) of one of a finished track's files.

        Raises:
            WebError: 404 for an unknown track or a kind of file the track does not have.
        """
        track = await self.track(track_id)
        for k, name, path in await asyncio.to_thread(self.files, track):
            if k == kind:
                return name, path
        raise WebError(404, f"Track `{track_id}` has no `{kind[:20]}` file.")

    async def lists(
        self, which: str, user_id: str, style: str | None = None, period: str = "all"
    ) -> list[dict[str, Any]]:
        """The recent or the top-voted finished tracks, as the page's list rows."""
        if style is not None and style not in self.styles:
            style = None
        if which == "top":
            if period not in votes.PERIODS:
                raise WebError(400, f"The period is one of: {', '.join(votes.PERIODS)}.")
            pairs = await asyncio.to_thread(votes.top, self.store.db, style, period, LIST_LIMIT)
        elif which == "recent":

            def load() -> list[tuple[Track, votes.Tally]]:
                tracks = self.store.recent_tracks(LIST_LIMIT, style)
                tallies = votes.tallies(self.store.db, [t.id for t in tracks])
                return [(t, tallies[t.id]) for t in tracks]

            pairs = await asyncio.to_thread(load)
        else:
            raise WebError(404, "The lists are `recent` and `top`.")
        return [
            {
                "id": t.id,
                "style": t.style,
                "kind": t.kind,
                "arch": t.result.arch if t.result else t.request.arch,
                "seconds": t.result.seconds if t.result else t.request.seconds,
                "created_at": t.created_at,
                "up": tally.up,
                "down": tally.down,
                "own": t.user_id == user_id,
            }
            for t, tally in pairs
        ]

    async def quota(self, user_id: str) -> dict[str, Any]:
        """The client's quota: tracks in the works and in the last 24 hours, when the oldest frees up, and the
        ids of its tracks still being made (a reloaded page follows them again)."""
        usage: Usage = await asyncio.to_thread(self.store.usage, user_id, None, time.time())
        pending = await asyncio.to_thread(self.store.pending_tracks, user_id)
        return {
            "pending": [t.id for t in pending],
            "inflight": usage.user_inflight,
            "inflight_limit": self.limits.user_inflight,
            "day": len(usage.user_day),
            "day_limit": self.limits.user_daily,
            "frees_at": usage.user_day[0] + DAY_S if usage.user_day else None,
        }

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


_MEDIA_TYPES = {
    ".ogg": "audio/ogg",
    ".opus": "audio/ogg",
    ".mp3": "audio/mpeg",
    ".wav": "audio/wav",
    ".flac": "audio/flac",
    ".m4a": "audio/mp4",
}
