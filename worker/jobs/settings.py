"""Worker settings: one frozen object built from the environment once per process, checked at start with
fix-it messages.

``WorkerSettings.from_env()`` parses every variable the worker, its jobs and its output code read (and lists
every malformed one at once); ``check_worker_settings()`` also checks the machine (Redis answers, the GPU
exists, the data directory is writable, a soundfont and ffmpeg are installed) — the preflight that
``python -m worker.jobs.settings`` runs. Code that runs jobs asks :func:`settings` (parsed on first use, then
the same object for the life of the process); tests call :func:`use_settings` to swap it or forget it. This
module is the worker's only reader of ``os.environ`` (tests/test_settings_read_once.py keeps it so).
"""

from __future__ import annotations

import dataclasses
import os
import re
import shutil
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from worker.contract.logfmt import LOG_FORMAT_ENV
from worker.contract.redact import redact_url

DEVICES = ("auto", "cpu", "cuda", "cuda:N")
AUDIO_FORMATS = ("ogg", "mp3")
RENDERERS = ("warm", "command")
_DEVICE_RE = re.compile(r"^(auto|cpu|cuda|cuda:(\d+))$")

# The variables, by name (the only place the worker spells them).
REDIS_URL_ENV = "REDIS_URL"
DATA_DIR_ENV = "TUNESMITH_DATA_DIR"
DEVICE_ENV = "TUNESMITH_DEVICE"
THREADS_ENV = "TUNESMITH_TORCH_THREADS"
SYNTH_CORES_ENV = "TUNESMITH_SYNTH_CORES"
SOUNDFONT_ENV = "TUNESMITH_SOUNDFONT"
AUDIO_FORMAT_ENV = "TUNESMITH_AUDIO_FORMAT"
RENDERER_ENV = "TUNESMITH_RENDERER"  # "warm" (in-process FluidSynth, default) or "command" (midi2audio)
CHECKPOINT_DIR_ENV = "TUNESMITH_CHECKPOINT_DIR"
CACHE_DIR_ENV = "TUNESMITH_CACHE_DIR"
METRICS_PORT_ENV = "TUNESMITH_METRICS_PORT"
BATCH_ENV = "TUNESMITH_BATCH"
LEASE_ENV = "TUNESMITH_JOB_LEASE_S"
TOKEN_ENV = "DISCORD_TOKEN"  # not used by the worker; masked in its logs should it be set there too
DEFAULT_BATCH = 8
DEFAULT_LEASE_S = 30
MIN_LEASE_S = 2


class SettingsError(RuntimeError):
    """The worker cannot start: ``problems`` lists every setting to fix, each with how to fix it."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = list(problems)
        super().__init__("the worker's settings need fixing:\n" + "\n".join(f"  - {p}" for p in self.problems))


def default_data_dir() -> Path:
    """``~/.local/share/tunesmith``: the data directory when TUNESMITH_DATA_DIR is unset."""
    return Path.home() / ".local" / "share" / "tunesmith"


def default_cache_dir() -> Path:
    """``~/.cache/tunesmith``: the corpus cache when TUNESMITH_CACHE_DIR is unset."""
    return Path.home() / ".cache" / "tunesmith"


@dataclass(frozen=True)
class WorkerSettings:
    """Everything the worker process reads from the environment, validated. The defaults are the values an
    empty environment gives."""

    redis_url: str = field(default="", repr=False)
    data_dir: Path = field(default_factory=default_data_dir)
    device: str = "auto"  # auto, cpu, cuda or cuda:N (auto: cuda when available, decided on first use)
    torch_threads: int = 1
    synth_cores: int | None = None  # FluidSynth's render threads (None: up to two, as many as the CPU has)
    soundfont: Path | None = None  # from_env: TUNESMITH_SOUNDFONT if set; check_worker_settings: the one found
    audio_format: str = "ogg"
    renderer: str = "warm"
    checkpoint_dir: Path | None = None  # None: the shipped checkpoints
    cache_dir: Path = field(default_factory=default_cache_dir)
    metrics_port: int | None = None  # None: no metrics server
    warnings: tuple[str, ...] = ()
    batch_size: int = DEFAULT_BATCH  # compose jobs sampled together (1 turns batching off)
    lease_s: int = DEFAULT_LEASE_S  # a running job stays "started" this long without a heartbeat
    log_format: str = "text"  # text or json (anything else logs text, with a warning)
    log_secrets: tuple[str, ...] = field(default=(), repr=False)  # values masked in every log line

    @property
    def redis_url_redacted(self) -> str:
        """The Redis URL with any password masked, safe to log."""
        return redact_url(self.redis_url)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> WorkerSettings:
        """Parse ``env`` (default: ``os.environ``) without touching the machine.

        Raises:
            SettingsError: listing every malformed value, each with how to fix it.
        """
        problems: list[str] = []
        settings = _parse(os.environ if env is None else env, problems)
        if problems:
            raise SettingsError(problems)
        return settings


_current: WorkerSettings | None = None


def settings() -> WorkerSettings:
    """This process's settings: parsed from the environment on first use, then the same object.

    Raises:
        SettingsError: a malformed value (the worker's start calls this first, so a job never does).
    """
    global _current
    if _current is None:
        _current = WorkerSettings.from_env()
    return _current


def use_settings(new: WorkerSettings | None) -> None:
    """Make ``new`` this process's settings; ``None`` forgets them, so the next :func:`settings` reads the
    environment again (for tests and tools that change it)."""
    global _current
    _current = new


def _cuda_devices() -> int:
    """How many CUDA devices torch sees (0 without CUDA)."""
    import torch

    return torch.cuda.device_count() if torch.cuda.is_available() else 0


def _check_redis(url: str, problems: list[str]) -> None:
    from redis import Redis
    from redis.exceptions import RedisError

    shown = redact_url(url)
    if not url:
        problems.append(
            "REDIS_URL is not set: point it at the bot's Redis, e.g. redis://127.0.0.1:6379/0 "
            "(in docker compose: redis://redis:6379/0)."
        )
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
        problems.append(
            f"Redis at {shown} is unreachable ({type(exc).__name__}: {redact_url(str(exc))}): "
            "is redis-server running? Start it (`redis-server`, `systemctl start redis-server` or "
            "`docker compose up -d redis`) or fix REDIS_URL."
        )


def _check_cuda(device: str, cuda_devices: Callable[[], int], problems: list[str]) -> None:
    match = _DEVICE_RE.match(device)
    if match is None or not device.startswith("cuda"):
        return
    count = cuda_devices()
    if count == 0:
        problems.append(
            f"TUNESMITH_DEVICE={device} but CUDA is not available here (no GPU visible, or a CPU "
            "build of torch): set TUNESMITH_DEVICE=cpu or auto, or install a CUDA torch build "
            "(docker: --build-arg TORCH_INDEX_URL=https://download.pytorch.org/whl/cu128) and "
            "expose the GPU (compose `deploy.resources.reservations.devices`)."
        )
    elif match[2] is not None and int(match[2]) >= count:
        problems.append(
            f"TUNESMITH_DEVICE={device} but only {count} CUDA device(s) are visible "
            f"(cuda:0..cuda:{count - 1}); check CUDA_VISIBLE_DEVICES."
        )


def _check_data_dir(path: Path, problems: list[str]) -> None:
    try:
        (path / "tracks").mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=path, prefix=".write-test-"):
            pass
    except OSError as exc:
        problems.append(
            f"TUNESMITH_DATA_DIR={path} is not writable ({exc.strerror or exc}): point it at a "
            "directory this user can write, shared with the bot (docker compose: /data)."
        )


def _check_rendering(configured: Path | None, renderer: str, problems: list[str]) -> Path | None:
    """The soundfont the worker will render with (``configured``, else the one installed)."""
    from worker.output import synth
    from worker.output.render import RenderError, find_soundfont

    soundfont = None
    if configured is not None and not configured.is_file():
        problems.append(
            f"TUNESMITH_SOUNDFONT={configured} is not a file: point it at a General MIDI .sf2, or "
            "unset it to use /usr/share/sounds/sf2/FluidR3_GM.sf2 from "
            "`apt-get install fluid-soundfont-gm`."
        )
    elif configured is not None:
        soundfont = configured
    else:
        try:
            soundfont = find_soundfont(None)
        except RenderError as exc:
            problems.append(str(exc))
    if shutil.which("ffmpeg") is None:
        problems.append("`ffmpeg` is not on PATH (it encodes the audio): run `apt-get install ffmpeg`.")
    if renderer == "command" and shutil.which("fluidsynth") is None:
        problems.append("TUNESMITH_RENDERER=command needs the `fluidsynth` program: `apt-get install fluidsynth`.")
    if renderer == "warm" and not synth.available() and shutil.which("fluidsynth") is None:
        problems.append(
            "Neither libfluidsynth (pyfluidsynth) nor the `fluidsynth` program can be loaded: "
            "run `apt-get install fluidsynth libfluidsynth3`."
        )
    return soundfont


def _choice(env: Mapping[str, str], name: str, default: str, allowed: tuple[str, ...], problems: list[str]) -> str:
    value = env.get(name, "").strip().lower() or default
    if value not in allowed:
        problems.append(f"{name}={value!r} is not allowed: use one of {', '.join(allowed)}.")
    return value


def _positive_int(
    env: Mapping[str, str], name: str, default: int | None, maximum: int, problems: list[str]
) -> int | None:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    if not raw.isdigit() or not 1 <= int(raw) <= maximum:
        problems.append(f"{name} must be a whole number between 1 and {maximum}, got {raw!r}.")
        return default
    return int(raw)


def _check_checkpoint_dir(path: Path | None, problems: list[str], warnings: list[str]) -> None:
    if path is None:
        return
    if not path.is_dir():
        problems.append(
            f"TUNESMITH_CHECKPOINT_DIR={path} is not a directory: create it and copy the shipped "
            "checkpoints into it (models/checkpoints/*), or unset it to use the shipped ones."
        )
    elif not any(path.glob("*.safetensors")):
        warnings.append(
            f"TUNESMITH_CHECKPOINT_DIR={path} holds no checkpoints: compose jobs fail until one is "
            "copied or trained there (unset it to serve the shipped checkpoints)."
        )


def _lease(env: Mapping[str, str]) -> int:
    raw = env.get(LEASE_ENV, "").strip()
    return max(MIN_LEASE_S, int(raw)) if raw.isdigit() else DEFAULT_LEASE_S


def _path(env: Mapping[str, str], name: str) -> Path | None:
    raw = env.get(name, "").strip()
    return Path(raw).expanduser() if raw else None


def _parse(env: Mapping[str, str], problems: list[str]) -> WorkerSettings:
    """Every setting in ``env``, malformed ones appended to ``problems`` (and replaced by their defaults)."""
    device = env.get(DEVICE_ENV, "").strip().lower() or "auto"
    if _DEVICE_RE.match(device) is None:
        problems.append(
            f"{DEVICE_ENV}={env.get(DEVICE_ENV, '')!r} is not a device: use one of {', '.join(DEVICES)} "
            "(auto picks cuda when available)."
        )
    soundfont = env.get(SOUNDFONT_ENV, "").strip()
    return WorkerSettings(
        redis_url=env.get(REDIS_URL_ENV, "").strip(),
        data_dir=_path(env, DATA_DIR_ENV) or default_data_dir(),
        device=device,
        torch_threads=_positive_int(env, THREADS_ENV, 1, 256, problems) or 1,
        synth_cores=_positive_int(env, SYNTH_CORES_ENV, None, 256, problems),
        soundfont=Path(soundfont) if soundfont else None,
        audio_format=_choice(env, AUDIO_FORMAT_ENV, "ogg", AUDIO_FORMATS, problems),
        renderer=_choice(env, RENDERER_ENV, "warm", RENDERERS, problems),
        checkpoint_dir=_path(env, CHECKPOINT_DIR_ENV),
        cache_dir=_path(env, CACHE_DIR_ENV) or default_cache_dir(),
        metrics_port=_positive_int(env, METRICS_PORT_ENV, None, 65535, problems),
        batch_size=_batch(env, problems),
        lease_s=_lease(env),
        log_format=env.get(LOG_FORMAT_ENV, "").strip().lower() or "text",
        log_secrets=tuple(s for s in (env.get(TOKEN_ENV, "").strip(),) if s),
    )


def _batch(env: Mapping[str, str], problems: list[str]) -> int:
    raw = env.get(BATCH_ENV, "").strip()
    if raw and (not raw.isdigit() or int(raw) < 1):
        problems.append(f"{BATCH_ENV} must be a whole number of at least 1 (1 turns batching off), got {raw!r}.")
        return DEFAULT_BATCH
    return int(raw) if raw else DEFAULT_BATCH


def check_worker_settings(
    env: Mapping[str, str] | None = None, *, ping_redis: bool = True, cuda_devices: Callable[[], int] = _cuda_devices
) -> WorkerSettings:
    """Read and check every worker setting in ``env`` (default: ``os.environ``), and the machine they point
    at; ``cuda_devices`` counts the visible GPUs.

    Raises:
        SettingsError: listing every problem found, each with how to fix it.
    """
    env = os.environ if env is None else env
    problems: list[str] = []
    warnings: list[str] = []
    parsed = _parse(env, problems)
    if ping_redis:
        _check_redis(parsed.redis_url, problems)
    _check_cuda(parsed.device, cuda_devices, problems)
    _check_data_dir(parsed.data_dir, problems)
    soundfont = _check_rendering(parsed.soundfont, parsed.renderer, problems)
    _check_checkpoint_dir(parsed.checkpoint_dir, problems, warnings)
    if problems:
        raise SettingsError(problems)
    return dataclasses.replace(parsed, soundfont=soundfont, warnings=tuple(warnings))


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
    print(
        f"ok: redis {settings.redis_url_redacted}, device {settings.device}, data {settings.data_dir}, "
        f"soundfont {settings.soundfont}, checkpoints {settings.checkpoint_dir or 'shipped'}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
