"""The /compose cog: options validated from memory (styles cached from the workers), then handed to launch."""

from __future__ import annotations

import contextlib
import logging
import uuid
from collections.abc import Mapping
from typing import TYPE_CHECKING

import discord
from discord import app_commands
from discord.ext import commands

from bot import metrics
from bot.launch import launch
from worker.contract.tracks import (
    DEFAULT_TEMPERATURE,
    KEY_MODES,
    BadRequest,
    ComposeRequest,
    StyleInfo,
    key_suggestions,
    parse_length,
    validate_request,
)

if TYPE_CHECKING:  # pragma: no cover
    from bot.client import TunesmithBot

log = logging.getLogger(__name__)

LENGTH_SUGGESTIONS = ("15s", "30s", "45s", "1m", "1m30s", "2m")


def style_choices(styles: Mapping[str, StyleInfo], current: str) -> list[app_commands.Choice[str]]:
    """Autocomplete choices: styles starting with what was typed first, then other matches; at most 25."""
    typed = current.strip().lower()
    names = sorted(styles)
    ranked = [n for n in names if n.startswith(typed)] + [n for n in names if typed in n and not n.startswith(typed)]
    choices = []
    for name in ranked[:25]:
        info = styles[name]
        label = f"{name} — {info.description}" if info.description else name
        choices.append(app_commands.Choice(name=label[:100], value=name))
    return choices


def length_choices(current: str) -> list[app_commands.Choice[str]]:
    """Autocomplete for the length: the typed value first if it parses, then common lengths."""
    values = list(LENGTH_SUGGESTIONS)
    typed = current.strip()
    if typed:
        try:
            parse_length(typed)
        except BadRequest:
            pass
        else:
            values = [typed[:100]] + [v for v in values if v != typed]
    return [app_commands.Choice(name=v, value=v) for v in values[:25]]


def key_choices(info: StyleInfo | None, current: str) -> list[app_commands.Choice[str]]:
    """Keys in the modes the style supports (every mode while no style is chosen); none for a style whose models
    can't follow a key."""
    modes = list(info.modes) if info is not None else list(KEY_MODES)
    return [app_commands.Choice(name=k, value=k) for k in key_suggestions(modes, current[:40])][:25]


def meter_choices(info: StyleInfo | None, current: str) -> list[app_commands.Choice[str]]:
    """The style's meters (most common first) that contain what was typed."""
    meters = list(info.meters) if info is not None else []
    typed = current.strip()[:10]
    return [app_commands.Choice(name=m, value=m) for m in meters if typed in m][:25]


INSTRUMENTS: dict[str, int] = {  # General MIDI programs (0-based) offered by /compose's instrument option
    "piano": 0, "harpsichord": 6, "music box": 10, "marimba": 12, "organ": 19, "accordion": 21, "guitar": 24,
    "violin": 40, "cello": 42, "harp": 46, "strings": 48, "choir": 52, "trumpet": 56, "oboe": 68,
    "clarinet": 71, "flute": 73, "whistle": 78, "bagpipe": 109, "fiddle": 110, "steel drums": 114,
}


def instrument_program(name: str | None) -> int | None:
    """The GM program for an instrument name (case-insensitive).

    Raises:
        BadRequest: an unknown name; the message lists the instruments.
    """
    if name is None or not name.strip():
        return None
    key = name.strip().lower()
    if key not in INSTRUMENTS:
        raise BadRequest(f"Unknown instrument `{name[:40]}`. Instruments: {', '.join(INSTRUMENTS)}.")
    return INSTRUMENTS[key]


def build_request(style: str, length: str, styles: Mapping[str, StyleInfo], user_id: str) -> ComposeRequest:
    """Parse and validate a /compose request against the cached styles (no I/O).

    Raises:
        BadRequest: the message tells the user what is allowed.
    """
    return build_requests(style, length, styles, user_id)[0]


def build_requests(style: str, length: str, styles: Mapping[str, StyleInfo], user_id: str, *,
                   arch: str | None = None, seed: int | None = None, temperature: float | None = None,
                   tempo: float | None = None, instrument: str | None = None, takes: int = 1,
                   key: str | None = None, meter: str | None = None, loop: bool = False) -> list[ComposeRequest]:
    """The validated requests for one /compose: one per take (take B uses the next seed when one is given).

    Raises:
        BadRequest: the message tells the user what is allowed.
    """
    if takes not in (1, 2):
        raise BadRequest("`takes` is 1 or 2.")
    seconds = parse_length(length)
    base = ComposeRequest(style=style, seconds=seconds, arch=arch or None, seed=seed,
                          temperature=DEFAULT_TEMPERATURE if temperature is None else float(temperature),
                          tempo=float(tempo) if tempo is not None else None,
                          instrument=instrument_program(instrument), user_id=user_id,
                          key=key if key and key.strip() else None, meter=meter if meter and meter.strip() else None,
                          loop=bool(loop))
    first = validate_request(base, dict(styles))
    if takes == 1:
        return [first]
    second_seed = None if seed is None else (seed + 1) % 2**31
    return [first, ComposeRequest(**{**first.to_dict(), "seed": second_seed, "track_id": uuid.uuid4().hex})]


class ComposeCog(commands.Cog):
    """The /compose command."""

    def __init__(self, bot: TunesmithBot) -> None:
        self.bot = bot

    @app_commands.command(name="compose", description="Compose a new tune in a style")
    @app_commands.describe(
        style="The musical style, e.g. irish", length="How long: 30s, 45 or 1m30s (5s to 5m)",
        arch="Which model (default: the style's best)", seed="Same seed, same notes (0 to 2147483647)",
        temperature="Adventurousness: 0.05 (safe) to 3.0 (wild); default 1.0",
        tempo="Beats per minute (BPM), 40 to 240, exactly (default: the style's own)", instrument="Who plays it",
        takes="2 makes two versions side by side, for an A/B vote",
        key="Tonic and mode, exactly, e.g. D dorian (modes: major, minor, dorian, mixolydian)",
        meter="Time signature, one of the style's, e.g. 6/8", loop="A seamless loop: the end leads back into the start")
    async def compose(self, interaction: discord.Interaction, style: str, length: str, arch: str | None = None,
                      seed: app_commands.Range[int, 0, 2147483647] | None = None,
                      temperature: app_commands.Range[float, 0.05, 3.0] | None = None,
                      tempo: app_commands.Range[int, 40, 240] | None = None, instrument: str | None = None,
                      takes: app_commands.Range[int, 1, 2] = 1, key: str | None = None, meter: str | None = None,
                      loop: bool = False) -> None:
        try:
            requests = build_requests(style, length, self.bot.styles, str(interaction.user.id), arch=arch, seed=seed,
                                      temperature=temperature, tempo=tempo, instrument=instrument, takes=takes,
                                      key=key, meter=meter, loop=loop)
        except BadRequest as exc:
            metrics.note(interaction, "refused")
            await interaction.response.send_message(f"⚠️ {exc}", ephemeral=True)
            return
        await launch(self.bot, interaction, requests)

    @compose.autocomplete("style")
    async def _style_autocomplete(
        self, interaction: discord.Interaction, current: str
    ) -> list[app_commands.Choice[str]]:
        return style_choices(self.bot.styles, current)

    @compose.autocomplete("length")
    async def _length_autocomplete(
        self, interaction: discord.Interaction, current: str
    ) -> list[app_commands.Choice[str]]:
        return length_choices(current)

    @compose.autocomplete("arch")
    async def _arch_autocomplete(
        self, interaction: discord.Interaction, current: str
    ) -> list[app_commands.Choice[str]]:
        style = str(getattr(interaction.namespace, "style", "") or "").strip().lower()
        info = self.bot.styles.get(style)
        arches = info.arches if info else sorted({a for i in self.bot.styles.values() for a in i.arches})
        return [app_commands.Choice(name=a, value=a) for a in arches if current.lower() in a][:25]

    @compose.autocomplete("key")
    async def _key_autocomplete(
        self, interaction: discord.Interaction, current: str
    ) -> list[app_commands.Choice[str]]:
        return key_choices(self._style_of(interaction), current)

    @compose.autocomplete("meter")
    async def _meter_autocomplete(
        self, interaction: discord.Interaction, current: str
    ) -> list[app_commands.Choice[str]]:
        return meter_choices(self._style_of(interaction), current)

    def _style_of(self, interaction: discord.Interaction) -> StyleInfo | None:
        style = str(getattr(interaction.namespace, "style", "") or "").strip().lower()
        return self.bot.styles.get(style)

    @compose.autocomplete("instrument")
    async def _instrument_autocomplete(
        self, interaction: discord.Interaction, current: str
    ) -> list[app_commands.Choice[str]]:
        typed = current.strip().lower()
        return [app_commands.Choice(name=n, value=n) for n in INSTRUMENTS if typed in n][:25]

    async def cog_app_command_error(
        self, interaction: discord.Interaction, error: app_commands.AppCommandError
    ) -> None:
        await report_error(interaction, error)


async def report_error(interaction: discord.Interaction, error: Exception) -> None:
    """Log a command's failure and tell the user, ephemerally, without details."""
    name = interaction.command.qualified_name if interaction.command else "?"
    log.error("/%s failed", name, exc_info=error)
    metrics.count_command(name, interaction, "error")
    message = "❌ Something went wrong on my side; please try again."
    with contextlib.suppress(discord.HTTPException):
        if interaction.response.is_done():
            await interaction.followup.send(message, ephemeral=True)
        else:
            await interaction.response.send_message(message, ephemeral=True)
