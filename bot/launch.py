"""Starting tracks from an interaction (a /compose, or a reroll, extend or harmonize button): check the
quotas and record the delivery with every request in full (seed included), then defer, enqueue fairly, and
hand the delivery to the poster.

The database row, written before the acknowledgement, is the source of truth (an outbox): a bot that stops
after acknowledging and before enqueueing leaves a pending delivery whose job Redis does not have, and the
next bot's poster enqueues it from the row (``worker.contract.tracks.enqueue_tracks`` is idempotent), with the same
seed, so the same notes."""

from __future__ import annotations

import asyncio
import logging
import random
import time
import uuid
from typing import TYPE_CHECKING

import discord
from redis.exceptions import RedisError

from bot import metrics
from bot.storage.store import Delivery
from worker.contract.faults import point
from worker.contract.logfmt import bind
from worker.contract.tracks import ComposeRequest, enqueue_tracks

if TYPE_CHECKING:  # pragma: no cover
    from bot.client import TunesmithBot

log = logging.getLogger(__name__)

DB_DOWN = "❌ I can't reach my database right now, so I can't take new requests; please try again soon."
QUEUE_DOWN = "❌ The composing queue is unreachable right now; please try again soon."


def delivery_for(interaction: discord.Interaction) -> Delivery:
    """Everything needed to post the result later, even after a restart or once the token has expired."""
    return Delivery(
        id=uuid.uuid4().hex,
        user_id=str(interaction.user.id),
        guild_id=str(interaction.guild_id) if interaction.guild_id else None,
        channel_id=str(interaction.channel_id),
        application_id=str(interaction.application_id),
        token=interaction.token,
        interaction_id=str(interaction.id),
        size_limit=int(getattr(interaction, "filesize_limit", 0) or 10 * 1024 * 1024),
        created_at=time.time(),
    )


async def launch(bot: TunesmithBot, interaction: discord.Interaction, requests: list[ComposeRequest]) -> bool:
    """Reserve, defer, enqueue and follow ``requests`` (already validated); True if they were queued.

    A quota refusal is an ephemeral answer saying when the next job is allowed; nothing is recorded then.
    """
    delivery = delivery_for(interaction)
    user = delivery.user_id
    requests = [with_seed(ComposeRequest(**{**r.to_dict(), "user_id": user})) for r in requests]
    bind(
        track_id=",".join(r.track_id for r in requests),
        kind=requests[0].kind,
        style=requests[0].style,
        delivery=delivery.id,
    )  # the rest of this interaction's lines, and its delivery's, carry them
    metrics.note(interaction, "error")  # until it is queued
    try:
        refusal = await asyncio.to_thread(bot.store.reserve, delivery, requests, bot.settings.limits)
    except Exception:  # noqa: BLE001 - any database failure gets the same answer
        log.exception("could not record a request of user %s", user)
        await interaction.response.send_message(DB_DOWN, ephemeral=True)
        return False
    if refusal is not None:
        log.info("refused %d track(s) for user %s: over a quota", len(requests), user)
        metrics.note(interaction, "refused")
        await interaction.response.send_message(refusal, ephemeral=True)
        return False
    point("before_acknowledge")
    try:
        response = await interaction.response.defer(thinking=True)
    except discord.HTTPException as exc:  # e.g. 10062: the interaction expired before we answered
        log.warning("could not defer interaction %s: %s", interaction.id, exc)
        await asyncio.to_thread(
            bot.store.finish, delivery.id, "failed", reasons={r.track_id: "the interaction expired" for r in requests}
        )
        return False
    point("after_acknowledge")
    message_id = getattr(response, "message_id", None)
    await asyncio.to_thread(bot.store.set_message, delivery.id, str(message_id) if message_id else None)
    try:  # the queue's order is the order in which requests were accepted
        await asyncio.to_thread(enqueue_tracks, bot.redis, requests)
    except (RedisError, OSError) as exc:
        log.error("could not enqueue %s: %s", ", ".join(r.track_id for r in requests), exc)
        await asyncio.to_thread(
            bot.store.finish, delivery.id, "failed", reasons={r.track_id: "the queue was unreachable" for r in requests}
        )
        try:
            await interaction.edit_original_response(content=QUEUE_DOWN)
        except discord.HTTPException:
            pass
        return False
    point("after_enqueue")
    if bot.workers_online == 0:  # queued all the same: say so rather than leave "thinking…"
        from bot.embeds import progress_text

        text = "\n".join(progress_text(r.track_id, r.style, r.seconds, status="queued", workers=0) for r in requests)
        try:
            await interaction.edit_original_response(content=text[:2000])
        except discord.HTTPException as exc:
            log.warning("could not say that no worker is online: %s", exc)
    log.info(
        "queued %s (%s %s) for user %s",
        ", ".join(r.track_id for r in requests),
        requests[0].kind,
        requests[0].style,
        user,
    )
    metrics.note(interaction, "queued")
    bot.poster.follow(delivery.id)
    return True


def with_seed(request: ComposeRequest) -> ComposeRequest:
    """``request`` with its seed fixed now (a random one when none was asked for), so a job run again after a
    crash, or enqueued again from the database, makes the same notes."""
    if request.seed is not None:
        return request
    return ComposeRequest(**{**request.to_dict(), "seed": random.SystemRandom().randrange(2**31)})
