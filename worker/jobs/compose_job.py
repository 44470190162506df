"""The RQ job ``worker.jobs.compose``: sample a model, write MIDI, render audio, draw a piano roll."""

from __future__ import annotations

import dataclasses
import logging
import random
import time
from typing import Any

from worker.contract.tracks import ComposeRequest, validate_request
from worker.jobs.context import Progress, data_dir, get_composer, local_styles, resolve_device

log = logging.getLogger(__name__)


def compose(request: dict[str, Any]) -> dict[str, Any]:
    """Compose one track as asked in ``request`` (a ComposeRequest dict); returns a ComposeResult dict.

    Raises:
        BadRequest: unknown style or architecture, or an out-of-range length or setting.
    """
    from rq import get_current_job

    from worker.jobs.batching import take
    from worker.jobs.tracks import arranged, check_track_id, timed, with_instrument, write_track

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
    if req.arrangement == "melody":  # a chorale style's bare LSTM soprano, without its Coconet voices
        from models.compose.harmonized import HarmonizedComposer

        if isinstance(composer, HarmonizedComposer):
            composer = composer.melody
    t = timed(timings, "load_s", t0)

    progress("sampling", 0.0)
    if (batched := take(get_current_job(), progress.sampling())) is not None:  # sampled with others of its style
        piece, timings["batch_sample_s"], timings["batch"] = batched[0], round(batched[1], 3), float(batched[2])
        seed = piece.seed
    else:
        controls = {k: v for k, v in (("key", req.key), ("meter", req.meter), ("loop", req.loop)) if v}
        piece = composer.compose(
            req.seconds,
            seed=seed,
            temperature=req.temperature,
            top_k=req.top_k,
            tempo=req.tempo,
            on_progress=progress.sampling(),
            **controls,
        )
    piece = with_instrument(piece, req.instrument)
    t = timed(timings, "sample_s", t)
    piece = arranged(piece, req.arrangement)
    timed(timings, "arrange_s", t)

    result = write_track(
        piece,
        req,
        data_dir() / "tracks" / req.track_id,
        device=device,
        checkpoint=str(getattr(composer, "checkpoint", "")),
        timings=timings,
        progress=progress,
        t0=t0,
        extendable=composer.can_extend,
    )
    result = dataclasses.replace(result, seed=seed)
    log.info(
        "composed %s: %s/%s seed %d, %.2fs in %.2fs",
        req.track_id,
        piece.style,
        piece.arch,
        seed,
        result.seconds,
        timings["total_s"],
    )
    return result.to_dict()
