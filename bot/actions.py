"""What the track buttons do: 👍/👎 votes (one per user, changeable; counts redrawn on the buttons), and
🔁 reroll, ➕ extend and 🎼 harmonize, which start new tracks like /compose does. Every refusal is ephemeral."""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING

import discord

from bot import metrics
from bot.buttons import ACTIONS, OUTPUT_ACTIONS, VARY_ACTIONS, ButtonState, message_track_ids, track_view
from bot.delivery import LETTERS, can_vary, card_for
from bot.launch import launch
from bot.storage import votes
from bot.storage.store import Track
from worker.contract.ids import new_track_id
from worker.contract.tracks import MAX_SECONDS, MIN_SECONDS, BadRequest, ComposeRequest, validate_request

if TYPE_CHECKING:  # pragma: no cover
    from bot.client import TunesmithBot

log = logging.getLogger(__name__)

OUTDATED = "⚠️ This button is damaged or from an older version of me. `/track` with the track id posts it anew."
NO_HARMONIZER = (
    "🎼 Harmonizing needs the Coconet chorale model, and no worker has it yet. Try again once it has been trained."
)


def reroll_request(track: Track) -> ComposeRequest:
    """The same request (style, length, settings; for extend or harmonize the same source), a new seed."""
    return ComposeRequest(**{**track.request.to_dict(), "seed": None, "track_id": new_track_id()})


def extend_request(track: Track, seconds: int) -> ComposeRequest:
    """Continue ``track`` by ``seconds``.

    Raises:
        BadRequest: the track cannot be continued, or would grow too long.
    """
    result = track.result
    if result is None or not result.extendable:
        raise BadRequest("This track was made by a model that cannot continue it.")
    if not MIN_SECONDS <= seconds or result.seconds + seconds > MAX_SECONDS + 1:
        raise BadRequest(
            f"An extended track may last at most {MAX_SECONDS:g}s; this one is already {result.seconds:.0f}s."
        )
    return ComposeRequest(
        style=result.style,
        seconds=float(seconds),
        arch=result.arch,
        temperature=track.request.temperature,
        top_k=track.request.top_k,
        kind="extend",
        parent_id=track.id,
    )


def harmonize_request(track: Track) -> ComposeRequest:
    """Four voices under ``track``'s melody.

    Raises:
        BadRequest: the track already has several voices.
    """
    result = track.result
    if result is None or result.voices != 1:
        raise BadRequest("Only a single melody can be harmonized; this track already has several voices.")
    return ComposeRequest(
        style=result.style,
        seconds=max(MIN_SECONDS, min(MAX_SECONDS, result.seconds)),
        kind="harmonize",
        parent_id=track.id,
    )


def vary_request(track: Track, strength: str) -> ComposeRequest:
    """A ``strength`` ("subtle" or "strong") variation of ``track``: some of its bars re-sampled, the rest kept.

    Raises:
        BadRequest: its model cannot vary it.
    """
    result = track.result
    if result is None or not can_vary(result):
        raise BadRequest("This track was made by a model that cannot make variations of it.")
    return ComposeRequest(
        style=result.style,
        seconds=max(MIN_SECONDS, min(MAX_SECONDS, result.seconds)),
        arch=result.arch,
        temperature=track.request.temperature,
        top_k=track.request.top_k,
        kind="vary",
        parent_id=track.id,
        parent=track.id,
        vary=strength,
        loop=result.loop,
    )


class TrackActions:
    """The bot's handler for TrackButton clicks."""

    def __init__(self, bot: TunesmithBot) -> None:
        self.bot = bot

    async def on_button(self, interaction: discord.Interaction, state: ButtonState | None) -> None:
        """Handle a click, counted in the metrics by action and outcome."""
        try:
            await self._on_button(interaction, state)
        except Exception:
            metrics.note(interaction, "error")
            raise
        finally:
            metrics.count_command(f"button:{ACTIONS[state.action]}" if state else "button:outdated", interaction)

    async def _on_button(self, interaction: discord.Interaction, state: ButtonState | None) -> None:
        if state is None:
            await interaction.response.send_message(OUTDATED, ephemeral=True)
            return
        track = await asyncio.to_thread(self.bot.store.track, state.track_id)
        if track is None or track.result is None:
            await interaction.response.send_message(
                f"⚠️ I have no finished track `{state.track_id}` in my records.", ephemeral=True
            )
            return
        try:
            if state.action in ("u", "d"):
                await self.vote(interaction, track, 1 if state.action == "u" else -1)
                return
            if state.action in OUTPUT_ACTIONS:
                await self.bot.outputs.post(interaction, track, OUTPUT_ACTIONS[state.action])
                return
            if state.action == "r":
                request = reroll_request(track)
            elif state.action in VARY_ACTIONS:
                request = vary_request(track, VARY_ACTIONS[state.action])
            elif state.action == "x":
                request = extend_request(track, state.arg or int(self.bot.settings.extend_s))
            else:
                if "harmonize" not in self.bot.features:
                    await interaction.response.send_message(NO_HARMONIZER, ephemeral=True)
                    return
                request = harmonize_request(track)
            request = validate_request(request, self.bot.styles)
        except BadRequest as exc:
            metrics.note(interaction, "refused")
            await interaction.response.send_message(f"⚠️ {exc}", ephemeral=True)
            return
        await launch(self.bot, interaction, [request])

    async def vote(self, interaction: discord.Interaction, track: Track, value: int) -> None:
        user = str(interaction.user.id)
        if user == track.user_id:
            metrics.note(interaction, "refused")
            await interaction.response.send_message(
                "🙂 You can't vote on your own track, but others can.", ephemeral=True
            )
            return
        tally, mine = await asyncio.to_thread(votes.cast, self.bot.store.db, track.id, user, value)
        log.info("vote on %s by %s: %+d (now %d up, %d down)", track.id, user, mine, tally.up, tally.down)
        metrics.count_vote(mine)
        view = await self.refreshed_view(interaction.message, track)
        await interaction.response.edit_message(view=view)

    async def refreshed_view(self, message: discord.Message | None, clicked: Track) -> discord.ui.View:
        """The message's buttons redrawn with the current counts, for every track the message shows."""
        ids = message_track_ids(message) or [clicked.id]

        def load() -> tuple[list[Track], dict[str, votes.Tally]]:
            tracks = [t for t in (self.bot.store.track(i) for i in ids) if t is not None and t.result is not None]
            return tracks, votes.tallies(self.bot.store.db, [t.id for t in tracks])

        tracks, tallies = await asyncio.to_thread(load)
        takes = len(tracks) > 1
        cards = [
            card_for(
                t.result,  # type: ignore[arg-type]  # finished tracks only (filtered above)
                self.bot.settings.extend_s,
                tallies[t.id].up,
                tallies[t.id].down,
                LETTERS[i] if takes else "",
            )
            for i, t in enumerate(tracks)
        ]
        return track_view(cards)
