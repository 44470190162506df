"""Starting tracks from the web playground: compose, reroll/extend/harmonize/vary a finished track (as the
Discord buttons do), behind the bot's quotas, and votes (capped for all web visitors together)."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
import uuid
from collections.abc import Mapping
from typing import Any

from redis.exceptions import RedisError

from bot.actions import extend_request, harmonize_request, reroll_request
from bot.storage import votes
from bot.storage.quotas import DAY_S
from bot.storage.store import Delivery, Track
from bot.web.errors import WebError, web_text
from bot.web.forms import parse_compose
from bot.web.state import QUEUING, SETTLING, WEB_GUILD, WEB_STATE, PlaygroundState
from worker.contract.ids import new_track_id
from worker.contract.tracks import BadRequest, ComposeRequest, enqueue_tracks, validate_request

log = logging.getLogger(__name__)

VARY_STRENGTHS = ("subtle", "strong")


class Composing(PlaygroundState):
    """Queueing new tracks, and votes on finished ones."""

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
