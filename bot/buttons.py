"""Buttons on every track, kept alive across restarts: all their state is in the custom_id (``ts:<action>:
<track id>[:<seconds>]``, at most 42 characters), parsed by a discord.py DynamicItem on every click."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import discord

from worker.contract.ids import NEW_TRACK_ID

ACTIONS = {
    "u": "up",
    "d": "down",
    "r": "reroll",
    "x": "extend",
    "h": "harmonize",
    "s": "score",
    "f": "files",
    "t": "stems",
    "v": "vary-subtle",
    "w": "vary-strong",
}
OUTPUT_ACTIONS = {"s": "score", "f": "exports", "t": "stems"}  # posted by a small worker job, on demand
VARY_ACTIONS = {"v": "subtle", "w": "strong"}
CUSTOM_ID_RE = re.compile(rf"^ts:(?P<action>[udrxhsftvw]):(?P<track>{NEW_TRACK_ID})(?::(?P<arg>[0-9]{{1,3}}))?$")
# Anything that starts with "ts:" reaches our callback, so a damaged or outdated id gets a clear answer
# ((?s): one with a newline in it too).
TEMPLATE = r"(?s)ts:(?!ftcancel:)(?P<rest>.{0,97})"  # ts:ftcancel: is bot.training.CancelButton


@dataclass(frozen=True)
class ButtonState:
    """What a button asks for: an action on a track, with an argument for extend (seconds)."""

    action: str
    track_id: str
    arg: int | None = None

    @property
    def custom_id(self) -> str:
        return f"ts:{self.action}:{self.track_id}" + (f":{self.arg}" if self.arg is not None else "")


def parse_custom_id(custom_id: str) -> ButtonState | None:
    """The state in a button's custom_id, or None if it is not one of ours (or was tampered with)."""
    match = CUSTOM_ID_RE.fullmatch(custom_id or "")  # not match(): "$" also matches before a final "\n"
    if match is None:
        return None
    action, arg = match["action"], match["arg"]
    if (action == "x") != (arg is not None):
        return None
    return ButtonState(action, match["track"], int(arg) if arg is not None else None)


@dataclass(frozen=True)
class Card:
    """One track's row of buttons: vote counts, and which actions it offers."""

    track_id: str
    up: int = 0
    down: int = 0
    extend_s: int | None = None
    harmonize: bool = False
    letter: str = ""
    score: bool = True  # a melody or four voices to engrave (and export as ABC / MusicXML)
    vary: bool = False  # its model can re-sample some of its bars


def _count(letter: str, n: int) -> str:
    return f"{letter} · {n}" if letter else str(n)


def track_buttons(card: Card, row: int) -> list[discord.ui.Button]:
    """👍 n, 👎 n, 🔁 reroll, ➕ extend (if it can be continued), 🎼 harmonize (if it is a melody)."""
    buttons: list[discord.ui.Button] = [
        discord.ui.Button(
            style=discord.ButtonStyle.secondary,
            emoji="👍",
            label=_count(card.letter, card.up),
            custom_id=ButtonState("u", card.track_id).custom_id,
            row=row,
        ),
        discord.ui.Button(
            style=discord.ButtonStyle.secondary,
            emoji="👎",
            label=_count(card.letter, card.down),
            custom_id=ButtonState("d", card.track_id).custom_id,
            row=row,
        ),
        discord.ui.Button(
            style=discord.ButtonStyle.primary,
            emoji="🔁",
            label="Reroll",
            custom_id=ButtonState("r", card.track_id).custom_id,
            row=row,
        ),
    ]
    if card.extend_s:
        buttons.append(
            discord.ui.Button(
                style=discord.ButtonStyle.primary,
                emoji="➕",
                label=f"{card.extend_s}s",
                custom_id=ButtonState("x", card.track_id, card.extend_s).custom_id,
                row=row,
            )
        )
    if card.harmonize:
        buttons.append(
            discord.ui.Button(
                style=discord.ButtonStyle.primary,
                emoji="🎼",
                label="Harmonize",
                custom_id=ButtonState("h", card.track_id).custom_id,
                row=row,
            )
        )
    return buttons


def output_buttons(card: Card, row: int) -> list[discord.ui.Button]:
    """📄 score, 📦 files (ABC, MusicXML, MIDI), 🎚️ stems, and 🎲/🌀 variations when the model can vary it."""
    tag = f"{card.letter} · " if card.letter else ""
    grey, blue = discord.ButtonStyle.secondary, discord.ButtonStyle.primary
    wanted = [("s", grey, "📄", f"{tag}Score"), ("f", grey, "📦", "Files")] if card.score else []
    wanted.append(("t", grey, "🎚️", "Stems"))
    if card.vary:
        wanted += [("v", blue, "🎲", "Vary (subtle)"), ("w", blue, "🌀", "Vary (strong)")]
    return [
        discord.ui.Button(
            style=style, emoji=emoji, label=label, custom_id=ButtonState(action, card.track_id).custom_id, row=row
        )
        for action, style, emoji, label in wanted
    ]


def track_view(cards: list[Card]) -> discord.ui.View:
    """A view with two rows per track (at most two tracks: Discord allows five rows): votes and new tracks,
    then score, files, stems and variations; every button a restart-proof TrackButton."""
    view = discord.ui.View(timeout=None)
    for i, card in enumerate(cards[:2]):
        for button in track_buttons(card, 2 * i) + output_buttons(card, 2 * i + 1):
            view.add_item(TrackButton(button))
    return view


def message_track_ids(message: discord.Message | None) -> list[str]:
    """The tracks a message's buttons are about, in row order."""
    ids: list[str] = []
    for row in getattr(message, "components", None) or []:
        for component in getattr(row, "children", []):
            state = parse_custom_id(getattr(component, "custom_id", "") or "")
            if state is not None and state.track_id not in ids:
                ids.append(state.track_id)
    return ids


class TrackButton(discord.ui.DynamicItem[discord.ui.Button], template=TEMPLATE):
    """Any tunesmith button; the click goes to the bot's ``track_actions`` with the parsed state."""

    def __init__(self, button: discord.ui.Button) -> None:
        super().__init__(button)
        self.state = parse_custom_id(button.custom_id or "")

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction, item: discord.ui.Item[Any], match: re.Match[str], /
    ) -> TrackButton:
        base = item if isinstance(item, discord.ui.Button) else None
        button: discord.ui.Button = discord.ui.Button(
            style=base.style if base else discord.ButtonStyle.secondary,
            label=base.label if base else None,
            emoji=base.emoji if base else None,
            custom_id=match.string,
        )
        return cls(button)

    async def callback(self, interaction: discord.Interaction) -> None:
        actions = getattr(interaction.client, "track_actions", None)
        if actions is None:  # pragma: no cover - the bot always has them
            return
        await actions.on_button(interaction, self.state)
