"""JSON payloads the fake Discord sends: users, guild, channel, messages, interactions (API v10 shapes)."""

from __future__ import annotations

import itertools
import time
from datetime import UTC, datetime
from typing import Any

DISCORD_EPOCH_MS = 1420070400000
PERMISSIONS = "2248473465835073"
ATTACHMENT_SIZE_LIMIT = 10 * 1024 * 1024
BOT_TOKEN = "fake-token-sekrit"  # what the bot processes in the tests log in with
_counter = itertools.count(1)


def snowflake() -> str:
    """A fresh, increasing snowflake id as a string."""
    ms = int(time.time() * 1000) - DISCORD_EPOCH_MS
    return str((ms << 22) | (next(_counter) & 0x3FFFFF))


def now_iso() -> str:
    return datetime.now(UTC).isoformat()


APP_ID = snowflake()
GUILD_ID = snowflake()
CHANNEL_ID = snowflake()
OWNER_ID = snowflake()
BOT_USER = {
    "id": APP_ID,
    "username": "tunesmith",
    "discriminator": "0",
    "global_name": None,
    "avatar": None,
    "bot": True,
    "flags": 0,
    "verified": True,
    "mfa_enabled": False,
}
OWNER = {"id": OWNER_ID, "username": "owner", "discriminator": "0", "global_name": "Owner", "avatar": None}


def user(user_id: str | None = None, username: str = "alice") -> dict[str, Any]:
    return {
        "id": user_id or snowflake(),
        "username": username,
        "discriminator": "0",
        "global_name": username.capitalize(),
        "avatar": None,
    }


def application() -> dict[str, Any]:
    return {
        "id": APP_ID,
        "name": "tunesmith",
        "description": "",
        "icon": None,
        "bot_public": True,
        "bot_require_code_grant": False,
        "owner": OWNER,
        "verify_key": "0" * 64,
        "flags": 0,
        "team": None,
        "summary": "",
        "interactions_endpoint_url": None,
        "bot": BOT_USER,
    }


def channel() -> dict[str, Any]:
    return {
        "id": CHANNEL_ID,
        "type": 0,
        "guild_id": GUILD_ID,
        "name": "general",
        "position": 0,
        "permission_overwrites": [],
        "nsfw": False,
        "parent_id": None,
        "topic": None,
        "last_message_id": None,
        "rate_limit_per_user": 0,
    }


def member(member_user: dict[str, Any]) -> dict[str, Any]:
    return {
        "user": member_user,
        "roles": [],
        "joined_at": "2026-01-01T00:00:00+00:00",
        "deaf": False,
        "mute": False,
        "flags": 0,
        "nick": None,
        "avatar": None,
        "permissions": PERMISSIONS,
    }


def guild() -> dict[str, Any]:
    everyone = {
        "id": GUILD_ID,
        "name": "@everyone",
        "permissions": PERMISSIONS,
        "position": 0,
        "color": 0,
        "hoist": False,
        "managed": False,
        "mentionable": False,
        "flags": 0,
    }
    return {
        "id": GUILD_ID,
        "name": "Test Server",
        "icon": None,
        "splash": None,
        "discovery_splash": None,
        "owner_id": OWNER_ID,
        "afk_channel_id": None,
        "afk_timeout": 300,
        "verification_level": 0,
        "default_message_notifications": 0,
        "explicit_content_filter": 0,
        "roles": [everyone],
        "emojis": [],
        "stickers": [],
        "features": [],
        "mfa_level": 0,
        "system_channel_id": None,
        "system_channel_flags": 0,
        "rules_channel_id": None,
        "vanity_url_code": None,
        "description": None,
        "banner": None,
        "premium_tier": 0,
        "premium_subscription_count": 0,
        "preferred_locale": "en-US",
        "public_updates_channel_id": None,
        "nsfw_level": 0,
        "premium_progress_bar_enabled": False,
        "joined_at": "2026-01-01T00:00:00+00:00",
        "large": False,
        "unavailable": False,
        "member_count": 2,
        "voice_states": [],
        "presences": [],
        "threads": [],
        "stage_instances": [],
        "guild_scheduled_events": [],
        "channels": [channel()],
        "members": [member(BOT_USER)],
    }


def ready(session_id: str, resume_url: str) -> dict[str, Any]:
    return {
        "v": 10,
        "user": BOT_USER,
        "guilds": [{"id": GUILD_ID, "unavailable": True}],
        "session_id": session_id,
        "resume_gateway_url": resume_url,
        "private_channels": [],
        "application": {"id": APP_ID, "flags": 0},
        "_trace": ["fake-discord"],
    }


def message(
    content: str = "",
    *,
    embeds: list | None = None,
    attachments: list | None = None,
    flags: int = 0,
    message_id: str | None = None,
    interaction_id: str | None = None,
    user_id: str | None = None,
    components: list | None = None,
) -> dict[str, Any]:
    """A full message object as Discord returns it for webhook/interaction messages."""
    msg: dict[str, Any] = {
        "id": message_id or snowflake(),
        "channel_id": CHANNEL_ID,
        "guild_id": GUILD_ID,
        "author": BOT_USER,
        "content": content,
        "timestamp": now_iso(),
        "edited_timestamp": None,
        "tts": False,
        "mention_everyone": False,
        "mentions": [],
        "mention_roles": [],
        "attachments": attachments or [],
        "embeds": embeds or [],
        "pinned": False,
        "type": 20 if interaction_id else 0,
        "flags": flags,
        "components": components or [],
        "webhook_id": APP_ID,
        "application_id": APP_ID,
    }
    if interaction_id:
        msg["interaction_metadata"] = {
            "id": interaction_id,
            "type": 2,
            "user": user(user_id),
            "authorizing_integration_owners": {"0": GUILD_ID},
        }
    return msg


def attachment(filename: str, size: int, content_type: str | None) -> dict[str, Any]:
    att_id = snowflake()
    url = f"https://cdn.discordapp.com/attachments/{CHANNEL_ID}/{att_id}/{filename}"
    return {
        "id": att_id,
        "filename": filename,
        "size": size,
        "url": url,
        "proxy_url": url,
        "content_type": content_type,
    }


def interaction(
    kind: int, data: dict[str, Any], invoker: dict[str, Any], *, size_limit: int = ATTACHMENT_SIZE_LIMIT
) -> dict[str, Any]:
    """An INTERACTION_CREATE payload from a guild text channel (2 = command, 3 = component, 4 = autocomplete)."""
    return {
        "id": snowflake(),
        "application_id": APP_ID,
        "type": kind,
        "token": f"tok-{snowflake()}",
        "version": 1,
        "guild_id": GUILD_ID,
        "channel_id": CHANNEL_ID,
        "channel": channel(),
        "member": member(invoker),
        "app_permissions": PERMISSIONS,
        "locale": "en-US",
        "guild_locale": "en-US",
        "entitlements": [],
        "authorizing_integration_owners": {"0": GUILD_ID},
        "context": 0,
        "attachment_size_limit": size_limit,
        "data": data,
    }


def options(values: dict[str, Any] | list[dict[str, Any]], focused: str | None = None) -> list[dict[str, Any]]:
    """Slash-command options from ``{"style": "irish"}``; types inferred from the Python values."""
    if isinstance(values, list):
        return values
    out = []
    for name, value in values.items():
        kind = 5 if isinstance(value, bool) else 4 if isinstance(value, int) else 10 if isinstance(value, float) else 3
        opt: dict[str, Any] = {"name": name, "type": kind, "value": value}
        if name == focused:
            opt["focused"] = True
        out.append(opt)
    return out
