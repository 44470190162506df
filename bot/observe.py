"""What the bot tells its operators: each interaction's log lines carry its ids, and commands, clicks and
deliveries feed the Prometheus metrics (bot.metrics)."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import discord

from bot import metrics
from bot.buttons import ACTIONS, parse_custom_id
from worker.contract.logfmt import log_context, user_hash

if TYPE_CHECKING:  # pragma: no cover
    from discord import app_commands

    from bot.client import TunesmithBot

log = logging.getLogger(__name__)


def interaction_fields(data: dict[str, Any]) -> dict[str, str]:
    """Log fields of a raw INTERACTION_CREATE: its id, the command or button, the track a button is about,
    and a hash of the user's id (never the interaction's token)."""
    body = data.get("data") or {}
    user = (data.get("member") or {}).get("user") or data.get("user") or {}
    fields = {"interaction": str(data.get("id", "")), "user": user_hash(user.get("id"))}
    if body.get("name"):
        fields["command"] = str(body["name"])
    elif (state := parse_custom_id(str(body.get("custom_id", "")))) is not None:
        fields["command"] = f"button:{ACTIONS[state.action]}"
        fields["track_id"] = state.track_id
    return {k: v for k, v in fields.items() if v}


def install(bot: TunesmithBot) -> None:
    """Log every interaction's handling with its fields, and count finished slash commands.

    discord.py starts a task per interaction from inside its INTERACTION_CREATE parser, and a task copies the
    context it was created in, so fields set around the parser reach every line the handler logs.
    """
    parsers: dict[str, Callable[[Any], None]] = bot._connection.parsers
    original = parsers["INTERACTION_CREATE"]

    def parse_interaction(data: Any) -> None:
        with log_context(**interaction_fields(data if isinstance(data, dict) else {})):
            original(data)

    parsers["INTERACTION_CREATE"] = parse_interaction

    async def on_app_command_completion(
        interaction: discord.Interaction, command: app_commands.Command[Any, ..., Any]
    ) -> None:
        metrics.count_command(command.qualified_name, interaction)

    bot.add_listener(on_app_command_completion)


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
