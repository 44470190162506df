"""Worker settings: one frozen object built from the environment, checked at start with fix-it messages."""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

DEVICES = ("auto", "cpu", "cuda", "cuda:N")
AUDIO_FORMATS = ("ogg", "mp3")
RENDERERS = ("warm", "command")
_DEVICE_RE = re.compile(r"^(auto|cpu|cuda|cuda:(\d+))$")
_PASSWORD_RE = re.compile(r"(://[^:/@]*:)[^@/]*@")


class SettingsError(RuntimeError):
    """The worker cannot start: ``problems`` lists every setting to fix, each with how to fix it."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = list(problems)
        super().__init__("the worker's settings need fixing:\n" + "\n".join(f"  - {p}" for p in self.problems))


@dataclass(frozen=True)
class WorkerSettings:
    """Everything the worker process reads from the environment, validated."""

    redis_url: str = field(repr=False)
    data_dir: Path
    device: str
    torch_threads: int
    soundfont: Path | None
    audio_format: str
    renderer: str
    checkpoint_dir: Path | None
    cache_dir: Path
    metrics_port: int | None
    warnings: tuple[str, ...] = ()

    @property
    def redis_url_redacted(self) -> str:
        """The Redis URL with any password masked, safe to log."""
        return redact_url(self.redis_url)


def redact_url(url: str) -> str:
    """``redis://:secret@host`` → ``redis://:***@host`` (and ``user:secret@`` likewise)."""
    return _PASSWORD_RE.sub(r"\1***@", url)


def _cuda_devices() -> int:
    """How many CUDA devices torch sees (0 without CUDA)."""
    import torch

    return torch.cuda.device_count() if torch.cuda.is_available() else 0


def _check_redis(url: str, problems: list[str]) -> None:
    from redis import Redis
    from redis.exceptions import RedisError

    shown = redact_url(url)
    if not url:
        problems.append("REDIS_URL is not set: point it at the bot's Redis, e.g. redis://127.0.0.1:6379/0 "
                        "(in docker compose: redis://redis:6379/0).")
        return
    if not url.startswith(("redis://", "rediss://", "unix://")):
        problems.append(f"REDIS_URL must start with redis://, rediss:// or unix://, got {shown!r}.")
        return
    try:
        conn = Redis.from_url(url, socket_connect_timeout=3, socket_timeout=3)
        try:
            conn.ping()
        finally:
            conn.close()
    except (RedisError, OSError, ValueError) as exc:
        problems.append(f"Redis at {shown} is unreachable ({type(exc).__name__}: {redact_url(str(exc))}): "
                        "is redis-server running? Start it (`redis-server`, `systemctl start redis-server` or "
                        "`docker compose up -d redis`) or fix REDIS_URL.")


def _check_device(raw: str, cuda_devices: Callable[[], int], problems: list[str]) -> str:
    device = raw.strip().lower() or "auto"
    match = _DEVICE_RE.match(device)
    if match is None:
        problems.append(f"TUNESMITH_DEVICE={raw!r} is not a device: use one of {', '.join(DEVICES)} "
                        "(auto picks cuda when available).")
        return device
    if device.startswith("cuda"):
        count = cuda_devices()
        if count == 0:
            problems.append(f"TUNESMITH_DEVICE={device} but CUDA is not available here (no GPU visible, or a CPU "
                            "build of torch): set TUNESMITH_DEVICE=cpu or auto, or install a CUDA torch build "
                            "(docker: --build-arg TORCH_INDEX_URL=https://download.pytorch.org/whl/cu128) and "
                            "expose the GPU (compose `deploy.resources.reservations.devices`).")
        elif match[2] is not None and int(match[2]) >= count:
            problems.append(f"TUNESMITH_DEVICE={device} but only {count} CUDA device(s) are visible "
                            f"(cuda:0..cuda:{count - 1}); check CUDA_VISIBLE_DEVICES.")
    return device


def _check_data_dir(raw: str, problems: list[str]) -> Path:
    path = Path(raw).expanduser() if raw.strip() else Path.home() / ".local" / "share" / "tunesmith"
    try:
        (path / "tracks").mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=path, prefix=".write-test-"):
            pass
    except OSError as exc:
        problems.append(f"TUNESMITH_DATA_DIR={path} is not writable ({exc.strerror or exc}): point it at a "
                        "directory this user can write, shared with the bot (docker compose: /data).")
    return path


def _check_rendering(env: Mapping[str, str], renderer: str, problems: list[str]) -> Path | None:
    from worker.output import synth
    from worker.output.render import RenderError, find_soundfont

    soundfont = None
    raw = env.get("TUNESMITH_SOUNDFONT", "").strip()
    if raw and not Path(raw).is_file():
        problems.append(f"TUNESMITH_SOUNDFONT={raw} is not a file: point it at a General MIDI .sf2, or unset it "
                        "to use /usr/share/sounds/sf2/FluidR3_GM.sf2 from `apt-get install fluid-soundfont-gm`.")
    elif raw:
        soundfont = Path(raw)
    else:
        try:
            soundfont = find_soundfont()
        except RenderError as exc:
            problems.append(str(exc))
    if shutil.which("ffmpeg") is None:
        problems.append("`ffmpeg` is not on PATH (it encodes the audio): run `apt-get install ffmpeg`.")
    if renderer == "command" and shutil.which("fluidsynth") is None:
        problems.append("TUNESMITH_RENDERER=command needs the `fluidsynth` program: `apt-get install fluidsynth`.")
    if renderer == "warm" and not synth.available() and shutil.which("fluidsynth") is None:
        problems.append("Neither libfluidsynth (pyfluidsynth) nor the `fluidsynth` program can be loaded: "
                        "run `apt-get install fluidsynth libfluidsynth3`.")
    return soundfont


def _choice(env: Mapping[str, str], name: str, default: str, allowed: tuple[str, ...], problems: list[str]) -> str:
    value = env.get(name, "").strip().lower() or default
    if value not in allowed:
        problems.append(f"{name}={value!r} is not allowed: use one of {', '.join(allowed)}.")
    return value


def _positive_int(env: Mapping[str, str], name: str, default: int | None, maximum: int,
                  problems: list[str]) -> int | None:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    if not raw.isdigit() or not 1 <= int(raw) <= maximum:
        problems.append(f"{name} must be a whole number between 1 and {maximum}, got {raw!r}.")
        return default
    return int(raw)


def _checkpoint_dir(raw: str, problems: list[str], warnings: list[str]) -> Path | None:
    if not raw.strip():
        return None
    path = Path(raw).expanduser()
    if not path.is_dir():
        problems.append(f"TUNESMITH_CHECKPOINT_DIR={path} is not a directory: create it and copy the shipped "
                        "checkpoints into it (models/checkpoints/*), or unset it to use the shipped ones.")
    elif not any(path.glob("*.safetensors")):
        warnings.append(f"TUNESMITH_CHECKPOINT_DIR={path} holds no checkpoints: compose jobs fail until one is "
                        "copied or trained there (unset it to serve the shipped checkpoints).")
    return path


def check_worker_settings(env: Mapping[str, str] = os.environ, *, ping_redis: bool = True,
                          cuda_devices: Callable[[], int] = _cuda_devices) -> WorkerSettings:
    """Read and check every worker setting in ``env``; ``cuda_devices`` counts the visible GPUs.

    Raises:
        SettingsError: listing every problem found, each with how to fix it.
    """
    problems: list[str] = []
    warnings: list[str] = []
    redis_url = env.get("REDIS_URL", "").strip()
    if ping_redis:
        _check_redis(redis_url, problems)
    device = _check_device(env.get("TUNESMITH_DEVICE", ""), cuda_devices, problems)
    threads = _positive_int(env, "TUNESMITH_TORCH_THREADS", 1, 256, problems)
    audio_format = _choice(env, "TUNESMITH_AUDIO_FORMAT", "ogg", AUDIO_FORMATS, problems)
    renderer = _choice(env, "TUNESMITH_RENDERER", "warm", RENDERERS, problems)
    data_dir = _check_data_dir(env.get("TUNESMITH_DATA_DIR", ""), problems)
    soundfont = _check_rendering(env, renderer, problems)
    checkpoint_dir = _checkpoint_dir(env.get("TUNESMITH_CHECKPOINT_DIR", ""), problems, warnings)
    metrics_port = _positive_int(env, "TUNESMITH_METRICS_PORT", None, 65535, problems)
    cache_raw = env.get("TUNESMITH_CACHE_DIR", "").strip()
    cache_dir = Path(cache_raw).expanduser() if cache_raw else Path.home() / ".cache" / "tunesmith"
    if problems:
        raise SettingsError(problems)
    return WorkerSettings(redis_url=redis_url, data_dir=data_dir, device=device, torch_threads=threads or 1,
                          soundfont=soundfont, audio_format=audio_format, renderer=renderer,
                          checkpoint_dir=checkpoint_dir, cache_dir=cache_dir, metrics_port=metrics_port,
                          warnings=tuple(warnings))


def main() -> int:
    """``python -m worker.jobs.settings``: check this environment as a worker would; exit 1 listing the problems."""
    import sys

    try:
        settings = check_worker_settings()
    except SettingsError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    for warning in settings.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    print(f"ok: redis {settings.redis_url_redacted}, device {settings.device}, data {settings.data_dir}, "
          f"soundfont {settings.soundfont}, checkpoints {settings.checkpoint_dir or 'shipped'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
