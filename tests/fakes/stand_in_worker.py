"""A stand-in compose worker for bot tests: fakes ``worker.jobs.compose`` with tiny files, no model.

Run ``python -m tests.fakes.stand_in_worker`` with REDIS_URL and TUNESMITH_DATA_DIR set. It publishes
three styles and serves the ``compose`` queue: ``irish`` works, ``broken`` always raises, ``slow`` takes
four times longer. STAND_IN_STEP_S sets the pause between progress reports (default 0.3 s).
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path
from typing import Any

from redis import Redis
from rq import SimpleWorker, get_current_job

from worker.contract.faults import point
from worker.contract.tracks import SERIALIZER, ComposeRequest, ComposeResult, StyleInfo, compose_queue, publish_styles

STYLES = {
    "irish": StyleInfo("irish", ["lstm"], "lstm", "Irish reels and jigs", (100.0, 140.0)),
    "broken": StyleInfo("broken", ["lstm"], "lstm", "always fails"),
    "slow": StyleInfo("slow", ["lstm"], "lstm", "takes its time"),
}
PNG = (
    b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00\x1f\x15\xc4"
    b"\x89\x00\x00\x00\rIDATx\x9cc\xf8\xff\xff?\x00\x05\xfe\x02\xfe\xa7\x35\x81\x84\x00\x00\x00\x00IEND\xaeB`\x82"
)
MIDI = b"MThd\x00\x00\x00\x06\x00\x00\x00\x01\x01\xe0MTrk\x00\x00\x00\x04\x00\xff\x2f\x00"


def compose(request: dict[str, Any]) -> dict[str, Any]:
    """Report a few progress stages, write three small files, return a ComposeResult dict."""
    req = ComposeRequest.from_dict(request)
    job = get_current_job()
    step = float(os.environ.get("STAND_IN_STEP_S", "0.3")) * (4 if req.style == "slow" else 1)
    for stage, fraction in (("loading", 0.0), ("sampling", 0.4), ("sampling", 0.7), ("rendering", 0.8)):
        if job is not None:
            job.meta["progress"] = {"stage": stage, "fraction": fraction}
            job.save_meta()
        point({"sampling": "mid_sample", "rendering": "mid_render"}.get(stage, "-"))
        time.sleep(step)
    if req.style == "broken":
        raise RuntimeError("stand-in failure /secret/path/should/not/leak")
    out = Path(os.environ["TUNESMITH_DATA_DIR"]) / "tracks" / req.track_id
    out.mkdir(parents=True, exist_ok=True)
    files = {
        "audio": out / f"{req.track_id}.ogg",
        "midi": out / f"{req.track_id}.mid",
        "image": out / f"{req.track_id}.png",
    }
    files["audio"].write_bytes(b"OggS" + bytes(2000))
    files["midi"].write_bytes(MIDI)
    files["image"].write_bytes(PNG)
    point("after_files")
    return ComposeResult(
        track_id=req.track_id,
        style=req.style,
        arch=req.arch or "lstm",
        seed=req.seed or 1234,
        seconds=req.seconds,
        tempo_qpm=120.0,
        bars=int(req.seconds / 2),
        files={k: str(v) for k, v in files.items()},
        timings={"sample_s": 0.1, "render_s": 0.1, "total_s": 0.2},
        device="cpu",
        checkpoint="stand-in",
    ).to_dict()


def main() -> int:
    import worker.jobs

    worker.jobs.compose = compose  # type: ignore[attr-defined]  # what RQ's "worker.jobs.compose" resolves to
    redis = Redis.from_url(os.environ["REDIS_URL"])
    publish_styles(redis, STYLES)
    SimpleWorker([compose_queue(redis)], connection=redis, serializer=SERIALIZER).work(logging_level="WARNING")
    return 0


if __name__ == "__main__":
    sys.exit(main())
