"""What every job of the worker shares: the data directory, the device, the per-process composer cache and the
job's progress in ``job.meta`` (torch is imported only when a device or composer is first needed)."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from redis.exceptions import RedisError

from worker.contract.faults import point
from worker.contract.tracks import StyleInfo
from worker.jobs.settings import settings, use_settings

if TYPE_CHECKING:  # pragma: no cover
    from rq.job import Job

    from models.compose.types import Composer

log = logging.getLogger(__name__)

PROGRESS_INTERVAL_S = 0.25
# Where each stage starts and ends on the job's overall progress bar.
STAGES: dict[str, tuple[float, float]] = {
    "loading": (0.0, 0.05),
    "sampling": (0.05, 0.75),
    "writing": (0.75, 0.78),
    "rendering": (0.78, 0.93),
    "drawing": (0.93, 1.0),
    "done": (1.0, 1.0),
}

_composers: dict[tuple[str, str, str, str], tuple[str, Composer]] = {}
_device: str | None = None


def data_dir() -> Path:
    """Where tracks are written: the settings' data directory (``$TUNESMITH_DATA_DIR``, default
    ``~/.local/share/tunesmith``)."""
    return settings().data_dir


def resolve_device() -> str:
    """``$TUNESMITH_DEVICE`` (cpu, cuda, cuda:N; default auto: cuda when available). Decided on first use,
    inside the worker process, so CUDA is never initialised in a process that later forks."""
    global _device
    if _device is None:
        import torch

        wanted = settings().device
        if wanted == "auto":
            wanted = "cuda" if torch.cuda.is_available() else "cpu"
        # Token-by-token sampling at batch 1 is latency-bound: one intra-op thread beats several (on 2 busy
        # cores a 30 s piece took 4.7 s with 2 threads and 0.09 s with 1).
        torch.set_num_threads(settings().torch_threads)
        _device = wanted
    return _device


def local_styles() -> dict[str, StyleInfo]:
    """The styles this process can compose: those with a checkpoint on disk."""
    from models.compose.factory import available_styles

    return {name: StyleInfo.from_dict(info) for name, info in available_styles().items()}


def _checkpoint_version(style: str, arch: str) -> str:
    """Path and mtime of the checkpoint serving (style, arch); "" when it can't be told (never reloaded)."""
    try:
        from models.core import catalog
        from models.core.checkpoint import checkpoint_paths

        entry = catalog.find(style, arch)
        weights, _ = checkpoint_paths(entry.directory, entry.name, arch)
        return f"{weights}@{weights.stat().st_mtime_ns}"
    except Exception:  # noqa: BLE001 - other model kinds keep their checkpoints their own way
        return ""


def get_composer(style: str, arch: str, device: str) -> Composer:
    """The loaded composer for (style, arch, device), cached per process; reloaded when its checkpoint changes
    (so a fine-tune goes live without restarting the worker)."""
    from models.compose.factory import load_composer

    key = (style, arch, device, str(settings().checkpoint_dir or ""))
    version = _checkpoint_version(style, arch)
    cached = _composers.get(key)
    if cached is None or cached[0] != version:
        log.info("loading %s/%s on %s (%s)", style, arch, device, version or "checkpoint")
        _composers[key] = (version, load_composer(style, arch, device=device))
    return _composers[key][1]


def clear_cache() -> None:
    """Forget the loaded models, the chosen device and the settings read (for tests that change them)."""
    global _device
    _composers.clear()
    _device = None
    use_settings(None)


class Progress:
    """Writes ``job.meta["progress"] = {"stage", "fraction", "stage_fraction"}``, at most every 0.25 s
    within a stage; a no-op outside an RQ job."""

    def __init__(self, job: Job | None, min_interval: float = PROGRESS_INTERVAL_S) -> None:
        self.job = job
        self.min_interval = min_interval
        self._last = -1e9
        self._stage = ""

    def __call__(self, stage: str, stage_fraction: float = 0.0) -> None:
        if stage == "sampling" and stage_fraction > 0:
            point("mid_sample")
        elif stage == "rendering":
            point("mid_render")
        now = time.monotonic()
        if self.job is None or (stage == self._stage and now - self._last < self.min_interval):
            return
        lo, hi = STAGES[stage]
        part = min(1.0, max(0.0, float(stage_fraction)))
        self.job.meta["progress"] = {
            "stage": stage,
            "fraction": round(lo + (hi - lo) * part, 4),
            "stage_fraction": round(part, 4),
        }
        try:
            self.job.save_meta()
        except RedisError as exc:  # progress is best-effort: a Redis blip must not fail the track
            log.warning("could not report progress of %s: %s", self.job.id, exc)
        self._stage, self._last = stage, now

    def sampling(self) -> Callable[[float], None]:
        return lambda fraction: self("sampling", fraction)
