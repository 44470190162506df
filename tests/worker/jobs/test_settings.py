"""worker.jobs.settings: a reachable real Redis passes, and every misconfiguration is reported with its fix."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from worker.cli.redis_server import RedisServer, free_port
from worker.jobs.settings import SettingsError, WorkerSettings, check_worker_settings, redact_url
from worker.output.render import RenderError, find_soundfont


def _env(tmp_path: Path, redis_url: str, **extra: str) -> dict[str, str]:
    return {"REDIS_URL": redis_url, "TUNESMITH_DATA_DIR": str(tmp_path / "data"), "TUNESMITH_DEVICE": "cpu", **extra}


def _problems(env: dict[str, str], **kwargs) -> list[str]:
    with pytest.raises(SettingsError) as info:
        check_worker_settings(env, **kwargs)
    assert str(info.value).count("\n  - ") == len(info.value.problems)
    return info.value.problems


def _has_soundfont() -> bool:
    try:
        find_soundfont()
    except RenderError:
        return False
    return True


needs_soundfont = pytest.mark.skipif(not _has_soundfont(), reason="no GM soundfont installed (fluid-soundfont-gm)")


@needs_soundfont
def test_reachable_redis_gives_frozen_settings(tmp_path: Path, redis_server: RedisServer) -> None:
    env = _env(
        tmp_path,
        redis_server.url,
        TUNESMITH_TORCH_THREADS="2",
        TUNESMITH_METRICS_PORT="9109",
        TUNESMITH_AUDIO_FORMAT="MP3",
    )
    settings = check_worker_settings(env)
    assert isinstance(settings, WorkerSettings)
    assert (settings.device, settings.torch_threads, settings.metrics_port) == ("cpu", 2, 9109)
    assert settings.audio_format == "mp3" and settings.renderer == "warm"
    assert settings.data_dir == tmp_path / "data" and (settings.data_dir / "tracks").is_dir()
    assert settings.soundfont is not None and settings.soundfont.is_file()
    assert settings.checkpoint_dir is None and settings.warnings == ()
    with pytest.raises(dataclasses.FrozenInstanceError):
        settings.device = "cuda"  # type: ignore[misc]


def test_unreachable_redis_names_the_url_and_asks_about_redis_server(tmp_path: Path) -> None:
    url = f"redis://127.0.0.1:{free_port()}/0"
    problems = _problems(_env(tmp_path, url))
    assert len(problems) == 1 or not _has_soundfont()
    assert url in problems[0] and "is redis-server running?" in problems[0]


def test_missing_redis_url_says_what_to_set(tmp_path: Path) -> None:
    problems = _problems(_env(tmp_path, ""))
    assert any("REDIS_URL is not set" in p and "redis://" in p for p in problems)


def test_password_never_shown(tmp_path: Path) -> None:
    url = f"redis://:hunter2@127.0.0.1:{free_port()}/0"
    problems = _problems(_env(tmp_path, url))
    assert "hunter2" not in "\n".join(problems) and ":***@127.0.0.1" in problems[0]
    assert redact_url("rediss://user:pw@h:1/0") == "rediss://user:***@h:1/0"
    assert redact_url("redis://h:6379/0") == "redis://h:6379/0"
    assert "redis_url" not in repr(dataclasses.replace(_fake_settings(tmp_path), redis_url="redis://:pw@h/0"))


def _fake_settings(tmp_path: Path) -> WorkerSettings:
    return WorkerSettings(
        redis_url="redis://h/0",
        data_dir=tmp_path,
        device="cpu",
        torch_threads=1,
        soundfont=None,
        audio_format="ogg",
        renderer="warm",
        checkpoint_dir=None,
        cache_dir=tmp_path,
        metrics_port=None,
    )


def test_unknown_device_lists_the_allowed_values(tmp_path: Path) -> None:
    problems = _problems(_env(tmp_path, "", TUNESMITH_DEVICE="tpu"), ping_redis=False)
    assert any("TUNESMITH_DEVICE='tpu'" in p and "auto, cpu, cuda, cuda:N" in p for p in problems)


def test_cuda_asked_without_cuda(tmp_path: Path) -> None:
    problems = _problems(_env(tmp_path, "", TUNESMITH_DEVICE="cuda"), ping_redis=False, cuda_devices=lambda: 0)
    assert any("CUDA is not available" in p and "TUNESMITH_DEVICE=cpu" in p for p in problems)
    problems = _problems(_env(tmp_path, "", TUNESMITH_DEVICE="cuda:2"), ping_redis=False, cuda_devices=lambda: 1)
    assert any("only 1 CUDA device" in p and "CUDA_VISIBLE_DEVICES" in p for p in problems)


@needs_soundfont
def test_cuda_present_is_accepted(tmp_path: Path) -> None:
    settings = check_worker_settings(
        _env(tmp_path, "", TUNESMITH_DEVICE="CUDA:1"), ping_redis=False, cuda_devices=lambda: 2
    )
    assert settings.device == "cuda:1"


def test_missing_soundfont_names_the_package_and_variable(tmp_path: Path) -> None:
    env = _env(tmp_path, "", TUNESMITH_SOUNDFONT=str(tmp_path / "nope.sf2"))
    problems = _problems(env, ping_redis=False)
    assert any("TUNESMITH_SOUNDFONT=" in p and "fluid-soundfont-gm" in p for p in problems)


def test_every_problem_is_listed_at_once(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    env = {
        "REDIS_URL": "http://wrong",
        "TUNESMITH_DEVICE": "gpu",
        "TUNESMITH_TORCH_THREADS": "zero",
        "TUNESMITH_AUDIO_FORMAT": "wav",
        "TUNESMITH_RENDERER": "magic",
        "TUNESMITH_DATA_DIR": str(blocker),
        "TUNESMITH_CHECKPOINT_DIR": str(tmp_path / "missing"),
        "TUNESMITH_METRICS_PORT": "70000",
    }
    text = "\n".join(_problems(env))
    for name in (
        "REDIS_URL",
        "TUNESMITH_DEVICE",
        "TUNESMITH_TORCH_THREADS",
        "TUNESMITH_AUDIO_FORMAT",
        "TUNESMITH_RENDERER",
        "TUNESMITH_DATA_DIR",
        "TUNESMITH_CHECKPOINT_DIR",
        "TUNESMITH_METRICS_PORT",
    ):
        assert name in text, name


@needs_soundfont
def test_empty_checkpoint_dir_is_a_warning(tmp_path: Path) -> None:
    (tmp_path / "ckpt").mkdir()
    settings = check_worker_settings(
        _env(tmp_path, "", TUNESMITH_CHECKPOINT_DIR=str(tmp_path / "ckpt")), ping_redis=False
    )
    assert settings.checkpoint_dir == tmp_path / "ckpt"
    assert len(settings.warnings) == 1 and "holds no checkpoints" in settings.warnings[0]


def test_command_line_preflight(tmp_path: Path, redis_server: RedisServer) -> None:
    import os
    import subprocess
    import sys

    base = {k: v for k, v in os.environ.items() if not k.startswith(("TUNESMITH_", "REDIS_"))}
    bad = subprocess.run(
        [sys.executable, "-m", "worker.jobs.settings"],
        capture_output=True,
        text=True,
        timeout=120,
        env={**base, **_env(tmp_path, "", TUNESMITH_DEVICE="tpu")},
    )
    assert bad.returncode == 1 and "REDIS_URL is not set" in bad.stderr and "TUNESMITH_DEVICE" in bad.stderr
    if _has_soundfont():
        good = subprocess.run(
            [sys.executable, "-m", "worker.jobs.settings"],
            capture_output=True,
            text=True,
            timeout=120,
            env={**base, **_env(tmp_path, redis_server.url)},
        )
        assert good.returncode == 0 and good.stdout.startswith("ok: redis redis://127.0.0.1:"), good.stderr


def test_from_env_parses_every_variable_without_touching_the_machine(tmp_path: Path) -> None:
    env = {
        "REDIS_URL": " redis://:pw@h/0 ",
        "TUNESMITH_DATA_DIR": str(tmp_path / "nowhere"),
        "TUNESMITH_DEVICE": "CUDA:3",
        "TUNESMITH_TORCH_THREADS": "4",
        "TUNESMITH_SOUNDFONT": "/no/such.sf2",
        "TUNESMITH_AUDIO_FORMAT": "mp3",
        "TUNESMITH_RENDERER": "command",
        "TUNESMITH_CHECKPOINT_DIR": "~/ckpt",
        "TUNESMITH_CACHE_DIR": str(tmp_path / "cache"),
        "TUNESMITH_METRICS_PORT": "9100",
        "TUNESMITH_BATCH": "16",
        "TUNESMITH_JOB_LEASE_S": "1",
        "TUNESMITH_LOG_FORMAT": "JSON",
        "DISCORD_TOKEN": "tok-abcdefghijkl",
    }
    got = WorkerSettings.from_env(env)
    assert got.redis_url == "redis://:pw@h/0" and got.redis_url_redacted == "redis://:***@h/0"
    assert got.data_dir == tmp_path / "nowhere" and not got.data_dir.exists()
    assert (got.device, got.torch_threads, got.audio_format, got.renderer) == ("cuda:3", 4, "mp3", "command")
    assert got.soundfont == Path("/no/such.sf2") and got.checkpoint_dir == Path("~/ckpt").expanduser()
    assert (got.metrics_port, got.batch_size, got.lease_s, got.log_format) == (9100, 16, 2, "json")
    assert got.cache_dir == tmp_path / "cache" and got.log_secrets == ("tok-abcdefghijkl",)
    assert "tok-" not in repr(got) and "pw" not in repr(got)
    assert WorkerSettings.from_env({}) == WorkerSettings()  # the defaults are an empty environment's


def test_from_env_lists_every_malformed_value(tmp_path: Path) -> None:
    with pytest.raises(SettingsError) as info:
        WorkerSettings.from_env(
            {
                "TUNESMITH_DEVICE": "tpu",
                "TUNESMITH_BATCH": "0",
                "TUNESMITH_AUDIO_FORMAT": "wav",
                "TUNESMITH_TORCH_THREADS": "x",
                "TUNESMITH_METRICS_PORT": "http",
            }
        )
    assert len(info.value.problems) == 5


def test_settings_are_read_once_per_process(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from worker.jobs import settings as module

    monkeypatch.setenv("TUNESMITH_BATCH", "5")
    first = module.settings()
    monkeypatch.setenv("TUNESMITH_BATCH", "6")
    assert module.settings() is first and first.batch_size == 5
    module.use_settings(None)
    assert module.settings().batch_size == 6
    module.use_settings(WorkerSettings(data_dir=tmp_path))
    assert module.settings().data_dir == tmp_path
