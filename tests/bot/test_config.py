"""Settings.from_env: required token, URL checks, defaults, and the token kept out of repr."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.config import DEFAULT_REDIS_URL, ConfigError, LogSettings, Settings, WebSettings


def test_missing_token_is_a_clear_error() -> None:
    with pytest.raises(ConfigError, match="DISCORD_TOKEN is not set"):
        Settings.from_env({"REDIS_URL": "redis://x:1/0"})
    with pytest.raises(ConfigError, match="DISCORD_TOKEN"):
        Settings.from_env({"DISCORD_TOKEN": "   "})


def test_defaults() -> None:
    settings = Settings.from_env({"DISCORD_TOKEN": "sekrit"})
    assert settings.redis_url == DEFAULT_REDIS_URL
    assert settings.guild_id is None and settings.api_base is None and settings.gateway_url is None
    assert settings.styles_refresh_s == 15.0 and settings.guild_ready_timeout == 2.0
    assert settings.job_wait_s == 3600.0  # results after the 15-minute token go to the channel
    assert settings.limits.user_inflight == 2 and settings.database_url is None


def test_all_variables() -> None:
    settings = Settings.from_env(
        {
            "DISCORD_TOKEN": "sekrit",
            "REDIS_URL": "redis://127.0.0.1:7000/1",
            "DISCORD_API_BASE": "http://127.0.0.1:9/api/v10/",
            "DISCORD_GATEWAY_URL": "ws://127.0.0.1:9/",
            "DISCORD_GUILD_ID": "123456789",
            "TUNESMITH_DATA_DIR": "/tmp/ts",
            "TUNESMITH_GUILD_READY_TIMEOUT": "0.1",
            "TUNESMITH_STYLES_REFRESH_S": "1",
        }
    )
    assert settings.api_base == "http://127.0.0.1:9/api/v10"
    assert settings.gateway_url == "ws://127.0.0.1:9"
    assert settings.guild_id == 123456789 and settings.data_dir == Path("/tmp/ts")
    assert settings.guild_ready_timeout == 0.1 and settings.styles_refresh_s == 1.0


def test_token_is_not_in_repr() -> None:
    settings = Settings.from_env({"DISCORD_TOKEN": "sekrit-token-value"})
    assert "sekrit" not in repr(settings) and "sekrit" not in str(settings)


@pytest.mark.parametrize(
    ("key", "value", "match"),
    [
        ("DISCORD_GUILD_ID", "my-server", "numeric"),
        ("DISCORD_API_BASE", "127.0.0.1:9/api", "http"),
        ("DISCORD_GATEWAY_URL", "http://127.0.0.1:9", "ws://"),
        ("REDIS_URL", "localhost:6379", "redis://"),
        ("TUNESMITH_GUILD_READY_TIMEOUT", "soon", "number"),
        ("TUNESMITH_STYLES_REFRESH_S", "0", "at least"),
    ],
)
def test_bad_values(key: str, value: str, match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        Settings.from_env({"DISCORD_TOKEN": "t", key: value})


def test_shards_and_metrics_port() -> None:
    base = {"DISCORD_TOKEN": "sekrit"}
    plain = Settings.from_env(base)
    assert (plain.sharded, plain.shard_count, plain.metrics_port) == (False, None, None)
    assert Settings.from_env({**base, "TUNESMITH_SHARDS": "off"}).sharded is False
    auto = Settings.from_env({**base, "TUNESMITH_SHARDS": "Auto", "TUNESMITH_METRICS_PORT": "9100"})
    assert (auto.sharded, auto.shard_count, auto.metrics_port) == (True, None, 9100)
    assert Settings.from_env({**base, "TUNESMITH_SHARDS": "4"}).shard_count == 4
    for key, value in (
        ("TUNESMITH_SHARDS", "0"),
        ("TUNESMITH_SHARDS", "lots"),
        ("TUNESMITH_METRICS_PORT", "70000"),
        ("TUNESMITH_METRICS_PORT", "http"),
    ):
        with pytest.raises(ConfigError, match=key):
            Settings.from_env({**base, key: value})


def test_log_settings_and_redacted_errors() -> None:
    log = Settings.from_env(
        {"DISCORD_TOKEN": "sekrit-token-value", "TUNESMITH_LOG_LEVEL": "debug", "TUNESMITH_LOG_FORMAT": " JSON "}
    ).log
    assert (log.level, log.fmt, log.secrets) == ("DEBUG", "json", ("sekrit-token-value",))
    assert LogSettings.from_env({}) == LogSettings() and "sekrit" not in repr(log)
    with pytest.raises(ConfigError) as info:
        Settings.from_env({"DISCORD_TOKEN": "t", "REDIS_URL": "http://:hunter2@h/0"})
    assert "hunter2" not in str(info.value) and ":***@h" in str(info.value)


def test_web_settings() -> None:
    web = WebSettings.from_env(
        {
            "REDIS_URL": "redis://:pw@h/0",
            "TUNESMITH_DATA_DIR": "/tmp/ts",
            "TUNESMITH_WEB_HOSTS": "A.example, ,b.example",
            "TUNESMITH_USER_DAILY": "3",
        }
    )
    assert web.redis_url == "redis://:pw@h/0" and "pw" not in repr(web)
    assert web.data_path == Path("/tmp/ts") and web.web_hosts == ("a.example", "b.example")
    assert web.limits.user_daily == 3 and WebSettings.from_env({}).redis_url == ""
    with pytest.raises(ConfigError, match="TUNESMITH_USER_DAILY"):
        WebSettings.from_env({"TUNESMITH_USER_DAILY": "many"})
