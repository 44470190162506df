"""Posting finished tracks: through the interaction's webhook while its token lives (15 minutes), else as a
channel message with the bot token replying to the original; files fitted under the size limit."""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import discord

from bot import embeds
from bot.buttons import Card, track_view
from bot.media import fit_files
from bot.storage.store import Delivery
from worker.contract.tracks import MAX_SECONDS, VARY_ARCHES, ComposeResult

if TYPE_CHECKING:  # pragma: no cover
    from bot.client import TunesmithBot

log = logging.getLogger(__name__)

TOKEN_LIFETIME_S = 15 * 60
TOKEN_MARGIN_S = 30  # stop using a token a little before Discord does
TOKEN_GONE = (401, 404)  # 50027 invalid webhook token, 10015 unknown webhook, 10062 unknown interaction
PAYLOAD_REJECTED = (400, 413)
LETTERS = "ABCDE"


class PermanentError(RuntimeError):
    """Posting can never work (no access to the channel); retrying is pointless."""


@dataclass
class Post:
    """A message about to be sent: text, one embed and one row of buttons per track, and the files."""

    content: str | None
    embeds: list[discord.Embed]
    paths: list[Path]
    view: discord.ui.View

    def files(self) -> list[discord.File]:
        return [discord.File(p, filename=p.name) for p in self.paths]


def card_for(result: ComposeResult, extend_s: float, up: int = 0, down: int = 0, letter: str = "") -> Card:
    """Which buttons a track gets: extend if its model can continue it and it stays under the maximum length,
    harmonize if it is a single melody, score for a melody or four voices, vary if its model can vary it."""
    extend = int(extend_s) if result.extendable and result.seconds + extend_s <= MAX_SECONDS else None
    return Card(
        result.track_id,
        up,
        down,
        extend,
        result.voices == 1 and result.arch != "coconet",
        letter,
        score=True,
        vary=can_vary(result),
    )


def can_vary(result: ComposeResult) -> bool:
    """A token model's melody (it has the tokens; a band is arranged again around the varied melody) or four
    chorale voices (Coconet re-samples them)."""
    return result.arch in VARY_ARCHES and (result.voices == 4 or (result.voices == 1 and result.arch != "coconet"))


async def build_post(
    bot: TunesmithBot,
    results: list[ComposeResult],
    *,
    user_id: str | None,
    size_limit: int | None,
    notes: list[str] | None = None,
    tallies: dict[str, tuple[int, int]] | None = None,
) -> Post:
    """The message for ``results`` (one track, or takes A and B side by side)."""
    paths, skipped = await fit_files(results, bot.settings.data_path, size_limit)
    names = {p.name for p in paths}
    takes = len(results) > 1
    cards, embed_list = [], []
    for i, result in enumerate(results):
        letter = LETTERS[i] if takes else ""
        image = f"{result.track_id}.png" if f"{result.track_id}.png" in names else None
        embed_list.append(embeds.track_embed(result, image_filename=image, user_id=user_id, take=letter))
        up, down = (tallies or {}).get(result.track_id, (0, 0))
        cards.append(card_for(result, bot.settings.extend_s, up, down, letter))
    lines = list(notes or [])
    if takes:
        lines.insert(0, "🅰️ 🅱️ Two takes of the same request: vote 👍 for the one you like best.")
    if skipped:
        lines.append("Left out: " + "; ".join(skipped))
    content = "\n".join(lines)[:2000] or None
    return Post(content, embed_list, paths, track_view(cards))


class Sender:
    """Sends and edits a delivery's messages, choosing the webhook or the channel."""

    def __init__(self, bot: TunesmithBot) -> None:
        self.bot = bot
        self.dead: set[str] = set()  # deliveries whose token Discord refused: never used again

    def webhook(self, delivery: Delivery) -> discord.Webhook | None:
        """The interaction's follow-up webhook, or None once its token has expired (or was refused)."""
        if (
            not delivery.token
            or delivery.id in self.dead
            or time.time() - delivery.created_at > TOKEN_LIFETIME_S - TOKEN_MARGIN_S
        ):
            return None
        payload: Any = {"id": delivery.application_id, "type": 3, "token": delivery.token}
        return discord.Webhook.from_state(data=payload, state=self.bot._connection)

    async def edit_status(self, delivery: Delivery, text: str) -> bool:
        """Edit the deferred response; False when the token is gone or Discord refused."""
        hook = self.webhook(delivery)
        if hook is None:
            return False
        try:
            # discord.py types message_id as int, but the webhook API takes "@original" (the deferred response)
            await hook.edit_message("@original", content=text)  # type: ignore[call-overload]
        except discord.HTTPException as exc:
            log.warning("could not edit the response for delivery %s: %s", delivery.id, exc.status)
            await self._refused(delivery, exc)
            return False
        return True

    async def _refused(self, delivery: Delivery, exc: discord.HTTPException) -> None:
        """Stop using a token Discord calls invalid (repeated 401s count towards a Cloudflare ban)."""
        if exc.status in TOKEN_GONE and delivery.id not in self.dead:
            self.dead.add(delivery.id)
            await asyncio.to_thread(self.bot.store.forget_token, delivery.id)

    async def tell(self, delivery: Delivery, text: str) -> None:
        """Say ``text`` in the deferred response, or, when the token is gone, as a reply in the channel."""
        if await self.edit_status(delivery, text):
            return
        try:
            await self._channel(delivery).send(text, mention_author=False, **self._reply(delivery))
        except discord.HTTPException as exc:
            log.warning("could not tell the channel of delivery %s: %s", delivery.id, exc.status)

    def _channel(self, delivery: Delivery) -> discord.PartialMessageable:
        guild = int(delivery.guild_id) if delivery.guild_id else None
        return self.bot.get_partial_messageable(int(delivery.channel_id), guild_id=guild)

    @staticmethod
    def _reply(delivery: Delivery) -> dict[str, Any]:
        if not delivery.message_id:
            return {}
        return {
            "reference": discord.MessageReference(
                message_id=int(delivery.message_id), channel_id=int(delivery.channel_id), fail_if_not_exists=False
            )
        }

    async def post(self, delivery: Delivery, post: Post) -> tuple[str, str]:
        """Send ``post``; returns (message id, "webhook" or "channel").

        Raises:
            PermanentError: the channel cannot be posted to.
            discord.HTTPException, OSError: a transient failure; the caller retries later.
        """
        hook = self.webhook(delivery)
        if hook is not None:
            try:
                message = await self._attempt(post, lambda **kw: hook.send(wait=True, **kw))
                return str(message.id), "webhook"
            except discord.HTTPException as exc:
                if exc.status not in TOKEN_GONE:
                    raise
                await self._refused(delivery, exc)
                log.info(
                    "the token of delivery %s is no longer valid (%s %s): posting in the channel",
                    delivery.id,
                    exc.status,
                    exc.code,
                )
        mention = discord.AllowedMentions(users=[discord.Object(int(delivery.user_id))])
        channel = self._channel(delivery)
        prefix = f"<@{delivery.user_id}> your music is ready."

        async def send(**kw: Any) -> discord.Message:
            kw["content"] = prefix + ("\n" + kw["content"] if kw.get("content") else "")
            return await channel.send(allowed_mentions=mention, **self._reply(delivery), **kw)

        try:
            message = await self._attempt(post, send)
        except (discord.Forbidden, discord.NotFound) as exc:
            raise PermanentError(f"cannot post in channel {delivery.channel_id}: {exc.status} {exc.code}") from exc
        return str(message.id), "channel"

    @staticmethod
    async def _attempt(post: Post, send: Any) -> Any:
        """Send with the files; if Discord rejects the payload, once more without them, saying so."""
        files = post.files()
        try:
            return await send(content=post.content, embeds=post.embeds, files=files, view=post.view)
        except discord.HTTPException as exc:
            if exc.status not in PAYLOAD_REJECTED or not files:
                raise
            log.warning("Discord refused the files (%s %s); posting without them", exc.status, exc.code)
        finally:
            for file in files:
                file.close()
        for embed in post.embeds:
            embed.set_image(url=None)
        note = "⚠️ I could not upload the files for this track; `/track` can try again."
        content = f"{post.content}\n{note}" if post.content else note
        return await send(content=content, embeds=post.embeds, view=post.view)
