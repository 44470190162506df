"""The /compose cog: options validated from memory (styles cached from the workers), then handed to launch."""

from __future__ import annotations

from typing import TYPE_CHECKING

import discord
from discord import app_commands
from discord.ext import commands

from bot import metrics
from bot.launch import launch
from bot.observe import report_error
from bot.options import INSTRUMENTS, build_requests, key_choices, length_choices, meter_choices, style_choices
from worker.contract.tracks import ARRANGEMENTS, BadRequest, StyleInfo

if TYPE_CHECKING:  # pragma: no cover
    from bot.client import TunesmithBot


class ComposeCog(commands.Cog):
    """The /compose command."""

    def __init__(self, bot: TunesmithBot) -> None:
        self.bot = bot

    @app_commands.command(name="compose", description="Compose a new tune in a style")
    @app_commands.describe(
        style="The musical style, e.g. irish",
        length="How long: 30s, 45 or 1m30s (5s to 5m)",
        arch="Which model (default: the style's best)",
        seed="Same seed, same notes (0 to 2147483647)",
        temperature="Adventurousness: 0.05 (safe) to 3.0 (wild); default 1.0",
        tempo="Beats per minute (BPM), 40 to 240, exactly (default: the style's own)",
        instrument="Who plays it",
        takes="2 makes two versions side by side, for an A/B vote",
        arrangement="band: melody over chords, bass and percussion (default) · melody: the bare tune",
        key="Tonic and mode, exactly, e.g. D dorian (modes: major, minor, dorian, mixolydian)",
        meter="Time signature, one of the style's, e.g. 6/8",
        loop="A seamless loop: the end leads back into the start",
    )
    async def compose(
        self,
        interaction: discord.Interaction,
        style: str,
        length: str,
        arch: str | None = None,
        seed: app_commands.Range[int, 0, 2147483647] | None = None,
        temperature: app_commands.Range[float, 0.05, 3.0] | None = None,
        tempo: app_commands.Range[int, 40, 240] | None = None,
        instrument: str | None = None,
        takes: app_commands.Range[int, 1, 2] = 1,
        arrangement: str | None = None,
        key: str | None = None,
        meter: str | None = None,
        loop: bool = False,
    ) -> None:
        try:
            requests = build_requests(
                style,
                length,
                self.bot.styles,
                str(interaction.user.id),
                arch=arch,
                seed=seed,
                temperature=temperature,
                tempo=tempo,
                instrument=instrument,
                takes=takes,
                arrangement=arrangement,
                key=key,
                meter=meter,
                loop=loop,
            )
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

    @compose.autocomplete("arrangement")
    async def _arrangement_autocomplete(
        self, interaction: discord.Interaction, current: str
    ) -> list[app_commands.Choice[str]]:
        return [app_commands.Choice(name=a, value=a) for a in ARRANGEMENTS if current.strip().lower() in a]

    @compose.autocomplete("key")
    async def _key_autocomplete(self, interaction: discord.Interaction, current: str) -> list[app_commands.Choice[str]]:
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


async def setup(bot: TunesmithBot) -> None:
    """Extension entry point (``bot.load_extension("bot.cogs.compose")``)."""
    await bot.add_cog(ComposeCog(bot))
