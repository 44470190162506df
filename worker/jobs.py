"""The RQ job ``worker.jobs.compose``: sample a model, write MIDI, render audio, draw a piano roll."""

from __future__ import annotations

import dataclasses
import logging
import os
import random
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from redis.exceptions import RedisError

from worker.contract.tracks import BadRequest, ComposeRequest, StyleInfo, validate_request

__all__ = ["BadRequest", "compose", "get_composer", "local_styles", "resolve_device"]

if TYPE_CHECKING:  # pragma: no cover
    from rq.job import Job

    from models.tokenlm.composer import Composer

log = logging.getLogger(__name__)

DATA_DIR_ENV = "TUNESMITH_DATA_DIR"
DEVICE_ENV = "TUNESMITH_DEVICE"
THREADS_ENV = "TUNESMITH_TORCH_THREADS"
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
    """Where tracks are written: ``$TUNESMITH_DATA_DIR``, default ``~/.local/share/tunesmith``."""
    env = os.environ.get(DATA_DIR_ENV, "").strip()
    return Path(env).expanduser() if env else Path.home() / ".local" / "share" / "tunesmith"


def resolve_device() -> str:
    """``$TUNESMITH_DEVICE`` (cpu, cuda, cuda:N; default auto: cuda when available). Decided on first use,
    inside the worker process, so CUDA is never initialised in a process that later forks."""
    global _device
    if _device is None:
        import torch

        wanted = os.environ.get(DEVICE_ENV, "auto").strip().lower() or "auto"
        if wanted == "auto":
            wanted = "cuda" if torch.cuda.is_available() else "cpu"
        # Token-by-token sampling at batch 1 is latency-bound: one intra-op thread beats several (on 2 busy
        # cores a 30 s piece took 4.7 s with 2 threads and 0.09 s with 1).
        torch.set_num_threads(max(1, int(os.environ.get(THREADS_ENV, "1"))))
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
    import models.compose.factory as generate

    key = (style, arch, device, os.environ.get("TUNESMITH_CHECKPOINT_DIR", ""))
    version = _checkpoint_version(style, arch)
    cached = _composers.get(key)
    if cached is None or cached[0] != version:
        log.info("loading %s/%s on %s (%s)", style, arch, device, version or "checkpoint")
        factory = getattr(generate, "load_composer", generate.Composer)
        _composers[key] = (version, factory(style, arch, device=device))
    return _composers[key][1]


def clear_cache() -> None:
    """Forget the loaded models and the chosen device (for tests)."""
    global _device
    _composers.clear()
    _device = None


class Progress:
    """Writes ``job.meta["progress"] = {"stage", "fraction", "stage_fraction"}``, at most every 0.25 s
    within a stage; a no-op outside an RQ job."""

    def __init__(self, job: Job | None, min_interval: float = PROGRESS_INTERVAL_S) -> None:
        self.job = job
        self.min_interval = min_interval
        self._last = -1e9
        self._stage = ""

    def __call__(self, stage: str, stage_fraction: float = 0.0) -> None:
        now = time.monotonic()
        if self.job is None or (stage == self._stage and now - self._last < self.min_interval):
            return
        lo, hi = STAGES[stage]
        part = min(1.0, max(0.0, float(stage_fraction)))
        self.job.meta["progress"] = {"stage": stage, "fraction": round(lo + (hi - lo) * part, 4),
                                     "stage_fraction": round(part, 4)}
        try:
            self.job.save_meta()
        except RedisError as exc:  # progress is best-effort: a Redis blip must not fail the track
            log.warning("could not report progress of %s: %s", self.job.id, exc)
        self._stage, self._last = stage, now

    def sampling(self) -> Callable[[float], None]:
        return lambda fraction: self("sampling", fraction)


def seconds_to_sample(seconds: float, tempo: float | None, tempo_range: tuple[float, float]) -> float:
    """How long to ask the composer for, so that played at ``tempo`` the piece lasts about ``seconds``: the
    composer picks a tempo near the middle of the style's range, and retiming scales the length by the ratio."""
    if tempo is None:
        return seconds
    return seconds * float(tempo) / (sum(tempo_range) / 2)


def compose(request: dict[str, Any]) -> dict[str, Any]:
    """Compose one track as asked in ``request`` (a ComposeRequest dict); returns a ComposeResult dict.

    Raises:
        BadRequest: unknown style or architecture, or an out-of-range length or setting.
    """
    from rq import get_current_job

    from worker.jobs.batching import take
    from worker.jobs.tracks import check_track_id, retime, timed, with_instrument, write_track

    t0 = time.perf_counter()
    timings: dict[str, float] = {}
    styles = local_styles()
    req = validate_request(ComposeRequest.from_dict(request), styles)
    check_track_id(req.track_id)
    seed = req.seed if req.seed is not None else random.SystemRandom().randrange(2**31)
    progress = Progress(get_current_job())
    progress("loading")
    device = resolve_device()
    composer = get_composer(req.style, req.arch or "", device)
    t = timed(timings, "load_s", t0)

    progress("sampling", 0.0)
    asked = seconds_to_sample(req.seconds, req.tempo, styles[req.style].tempo_range)
    controls = {k: v for k, v in (("key", req.key), ("meter", req.meter), ("loop", req.loop)) if v}
    if (batched := take(req.track_id, progress.sampling())) is not None:  # sampled with others of its style
        piece, timings["batch_sample_s"], timings["batch"] = batched[0], round(batched[1], 3), float(batched[2])
        seed = piece.seed
    else:
        piece = composer.compose(asked, seed=seed, temperature=req.temperature, top_k=req.top_k,
                                 on_progress=progress.sampling(), **controls)
    if req.tempo is not None:
        piece = retime(piece, req.tempo)
    piece = with_instrument(piece, req.instrument)
    timed(timings, "sample_s", t)

    result = write_track(piece, req, data_dir() / "tracks" / req.track_id, device=device,
                         checkpoint=str(getattr(composer, "checkpoint", "")), timings=timings, progress=progress,
                         t0=t0, extendable=hasattr(composer, "extend"))
    result = dataclasses.replace(result, seed=seed)
    log.info("composed %s: %s/%s seed %d, %.2fs in %.2fs", req.track_id, piece.style, piece.arch, seed,
             result.seconds, timings["total_s"])
    return result.to_dict()
