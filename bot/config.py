"""Bot settings, read once from the environment into frozen dataclasses: the bot's only reader of ``os.environ``
(tests/test_settings_read_once.py keeps it so)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from bot.storage.quotas import Limits
from worker.contract.logfmt import LOG_FORMAT_ENV
from worker.contract.redact import redact_url

DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"
WEB_HOSTS_ENV = "TUNESMITH_WEB_HOSTS"  # extra Host names the web playground answers to (comma-separated)


class ConfigError(RuntimeError):
    """A setting is missing or malformed; the message names the variable and what is expected."""


def _float(env: Mapping[str, str], name: str, default: float, *, minimum: float = 0.0) -> float:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ConfigError(f"{name} must be a number of seconds, got {raw!r}") from None
    if value < minimum:
        raise ConfigError(f"{name} must be at least {minimum:g}, got {raw!r}")
    return value


def _int(env: Mapping[str, str], name: str, default: int) -> int:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    if not raw.isdigit():
        raise ConfigError(f"{name} must be a whole number (0 turns the limit off), got {raw!r}")
    return int(raw)


def _ids(env: Mapping[str, str], name: str) -> frozenset[int]:
    raw = [part.strip() for part in env.get(name, "").split(",") if part.strip()]
    if not all(part.isdigit() for part in raw):
        raise ConfigError(f"{name} must be comma-separated numeric role ids, got {env.get(name)!r}")
    return frozenset(int(part) for part in raw)


def _port(env: Mapping[str, str], name: str) -> int | None:
    raw = env.get(name, "").strip()
    if not raw:
        return None
    if not raw.isdigit() or not 0 <= int(raw) <= 65535:
        raise ConfigError(f"{name} must be a port number (0 to 65535; unset turns metrics off), got {raw!r}")
    return int(raw)


def _shards(env: Mapping[str, str], name: str) -> tuple[bool, int | None]:
    """(sharded, shard count): unset or ``off`` → one plain connection; ``auto`` → as many shards as Discord
    recommends (GET /gateway/bot); ``N`` → N shards, all in this process."""
    raw = env.get(name, "").strip().lower()
    if raw in ("", "off", "no", "false"):
        return False, None
    if raw == "auto":
        return True, None
    if not raw.isdigit() or int(raw) < 1:
        raise ConfigError(f"{name} must be off, auto or a number of shards (at least 1), got {raw!r}")
    return True, int(raw)


def _url(env: Mapping[str, str], name: str, schemes: tuple[str, ...]) -> str | None:
    raw = env.get(name, "").strip().rstrip("/")
    if not raw:
        return None
    if not raw.startswith(tuple(f"{scheme}://" for scheme in schemes)):
        raise ConfigError(f"{name} must start with {' or '.join(s + '://' for s in schemes)}, got {redact_url(raw)!r}")
    return raw


def limits_from_env(env: Mapping[str, str]) -> Limits:
    """The quota caps from TUNESMITH_USER_INFLIGHT, _USER_DAILY, _GUILD_INFLIGHT and _GUILD_DAILY.

    Raises:
        ConfigError: a value is not a whole number.
    """
    return Limits(
        user_inflight=_int(env, "TUNESMITH_USER_INFLIGHT", Limits.user_inflight),
        user_daily=_int(env, "TUNESMITH_USER_DAILY", Limits.user_daily),
        guild_inflight=_int(env, "TUNESMITH_GUILD_INFLIGHT", Limits.guild_inflight),
        guild_daily=_int(env, "TUNESMITH_GUILD_DAILY", Limits.guild_daily),
    )


def default_data_dir() -> Path:
    """``~/.local/share/tunesmith``: the data directory when TUNESMITH_DATA_DIR is unset (as the worker's)."""
    return Path.home() / ".local" / "share" / "tunesmith"


def _data_dir(env: Mapping[str, str]) -> Path | None:
    raw = env.get("TUNESMITH_DATA_DIR", "").strip()
    return Path(raw).expanduser() if raw else None


@dataclass(frozen=True)
class LogSettings:
    """How the bot logs. Read on its own, before the rest, so that a bad setting is itself logged; never fails
    (an unknown format logs text, with a warning)."""

    level: str = "INFO"  # TUNESMITH_LOG_LEVEL
    fmt: str = "text"  # TUNESMITH_LOG_FORMAT: text or json
    secrets: tuple[str, ...] = field(default=(), repr=False)  # masked in every line: the Discord token

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> LogSettings:
        """Read ``env`` (default: ``os.environ``)."""
        env = os.environ if env is None else env
        token = env.get("DISCORD_TOKEN", "").strip()
        return cls(
            level=env.get("TUNESMITH_LOG_LEVEL", "INFO").strip().upper() or "INFO",
            fmt=env.get(LOG_FORMAT_ENV, "").strip().lower() or "text",
            secrets=(token,) if token else (),
        )


@dataclass(frozen=True)
class Settings:
    """Everything the bot process needs; the token is kept out of repr() and logs."""

    discord_token: str = field(repr=False)
    redis_url: str = DEFAULT_REDIS_URL
    api_base: str | None = None
    gateway_url: str | None = None
    guild_id: int | None = None
    data_dir: Path | None = None
    guild_ready_timeout: float = 2.0
    styles_refresh_s: float = 15.0
    poll_interval_s: float = 0.75
    edit_interval_s: float = 3.0
    job_wait_s: float = 3600.0
    database_url: str | None = field(default=None, repr=False)
    limits: Limits = field(default_factory=Limits)
    extend_s: float = 30.0
    admin_role_ids: frozenset[int] = frozenset()  # besides Manage Server: roles allowed /finetune and /rollback
    metrics_port: int | None = None  # serve Prometheus metrics here (None: off)
    sharded: bool = False  # run on discord.AutoShardedClient
    shard_count: int | None = None  # None with sharded: Discord's recommendation
    log: LogSettings = field(default_factory=LogSettings)

    @property
    def data_path(self) -> Path:
        """The shared data directory (tracks, and the SQLite database unless DATABASE_URL is set)."""
        return self.data_dir or default_data_dir()

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        """Build settings from ``env`` (default: ``os.environ``).

        Raises:
            ConfigError: DISCORD_TOKEN is missing, or a value does not parse.
        """
        env = os.environ if env is None else env
        token = env.get("DISCORD_TOKEN", "").strip()
        if not token:
            raise ConfigError(
                "DISCORD_TOKEN is not set: create a bot at https://discord.com/developers/applications, "
                "copy its token and export DISCORD_TOKEN=<token> before starting the bot"
            )
        guild_raw = env.get("DISCORD_GUILD_ID", "").strip()
        if guild_raw and not guild_raw.isdigit():
            raise ConfigError(f"DISCORD_GUILD_ID must be a numeric server id, got {guild_raw!r}")
        redis_url = env.get("REDIS_URL", "").strip() or DEFAULT_REDIS_URL
        if not redis_url.startswith(("redis://", "rediss://", "unix://")):
            raise ConfigError(
                f"REDIS_URL must start with redis://, rediss:// or unix://, got {redact_url(redis_url)!r}"
            )
        return cls(
            discord_token=token,
            redis_url=redis_url,
            api_base=_url(env, "DISCORD_API_BASE", ("http", "https")),
            gateway_url=_url(env, "DISCORD_GATEWAY_URL", ("ws", "wss")),
            guild_id=int(guild_raw) if guild_raw else None,
            data_dir=_data_dir(env),
            guild_ready_timeout=_float(env, "TUNESMITH_GUILD_READY_TIMEOUT", 2.0),
            styles_refresh_s=_float(env, "TUNESMITH_STYLES_REFRESH_S", 15.0, minimum=0.1),
            poll_interval_s=_float(env, "TUNESMITH_POLL_INTERVAL_S", 0.75, minimum=0.05),
            edit_interval_s=_float(env, "TUNESMITH_EDIT_INTERVAL_S", 3.0),
            job_wait_s=_float(env, "TUNESMITH_JOB_WAIT_S", 3600.0, minimum=1.0),
            database_url=env.get("DATABASE_URL", "").strip() or None,
            limits=limits_from_env(env),
            extend_s=_float(env, "TUNESMITH_EXTEND_S", 30.0, minimum=5.0),
            admin_role_ids=_ids(env, "TUNESMITH_ADMIN_ROLE_IDS"),
            metrics_port=_port(env, "TUNESMITH_METRICS_PORT"),
            sharded=_shards(env, "TUNESMITH_SHARDS")[0],
            shard_count=_shards(env, "TUNESMITH_SHARDS")[1],
            log=LogSettings.from_env(env),
        )


@dataclass(frozen=True)
class WebSettings:
    """What the web playground (``python -m bot.web``) reads: the deployment's Redis, database and data
    directory, the quotas, and the Host names it answers to. No Discord token."""

    redis_url: str = field(default="", repr=False)  # "" when unset: the server refuses to start
    data_dir: Path | None = None
    database_url: str | None = field(default=None, repr=False)
    limits: Limits = field(default_factory=Limits)
    web_hosts: tuple[str, ...] = ()  # TUNESMITH_WEB_HOSTS: extra Host names (lower-cased) besides loopback
    log: LogSettings = field(default_factory=LogSettings)

    @property
    def data_path(self) -> Path:
        """The shared data directory the workers write tracks to."""
        return self.data_dir or default_data_dir()

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> WebSettings:
        """Build settings from ``env`` (default: ``os.environ``).

        Raises:
            ConfigError: a quota is not a whole number.
        """
        env = os.environ if env is None else env
        return cls(
            redis_url=env.get("REDIS_URL", "").strip(),
            data_dir=_data_dir(env),
            database_url=env.get("DATABASE_URL", "").strip() or None,
            limits=limits_from_env(env),
            web_hosts=tuple(h.strip().lower() for h in env.get(WEB_HOSTS_ENV, "").split(",") if h.strip()),
            log=LogSettings.from_env(env),
        )
