"""The small RQ job behind the 📄 score, 📦 files and 🎚️ stems buttons: engrave or export a finished track on
demand (it takes a second or two, too long to do for every track that nobody asks a score of)."""

from __future__ import annotations

import logging
import time
from typing import Any

from worker.contract.tracks import OUTPUT_KINDS, BadRequest

log = logging.getLogger(__name__)

FORMATS_OF = {"score": ("score",), "exports": ("abc", "musicxml", "midi"), "stems": ("stems",)}
MIN_LIMIT, MAX_LIMIT = 1024 * 1024, 500 * 1024 * 1024


def outputs(request: dict[str, Any]) -> dict[str, Any]:
    """``{"track_id", "kind": score|exports|stems, "size_limit": bytes}`` → ``{"track_id", "kind", "files":
    {name: path}, "timings", "error"}``; a failure the user should hear about comes back as ``error``.

    Raises:
        BadRequest: a malformed request.
    """
    from worker.jobs.context import data_dir
    from worker.jobs.tracks import check_track_id, read_sidecar, track_dir
    from worker.output.engrave import EngraveError
    from worker.output.exports import write_exports
    from worker.output.render import RenderError

    t0 = time.perf_counter()
    if not isinstance(request, dict):
        raise BadRequest("An outputs request is a JSON object.")
    kind = request.get("kind")
    if kind not in OUTPUT_KINDS:
        raise BadRequest(f"Unknown output `{str(kind)[:20]}`: {', '.join(OUTPUT_KINDS)}.")
    track_id = check_track_id(request.get("track_id", ""))
    limit = request.get("size_limit")
    limit = int(limit) if isinstance(limit, int) and not isinstance(limit, bool) else 10 * 1024 * 1024
    limit = max(MIN_LIMIT, min(MAX_LIMIT, limit))
    timings: dict[str, float] = {}
    out: dict[str, Any] = {"track_id": track_id, "kind": kind, "files": {}, "timings": timings, "error": None}
    try:
        sidecar = read_sidecar(data_dir(), track_id)
        files = write_exports(
            track_dir(data_dir(), track_id), track_id, sidecar, FORMATS_OF[kind], size_limit=limit, timings=timings
        )
    except BadRequest as exc:
        out["error"] = str(exc)
    except (EngraveError, RenderError) as exc:
        log.error("%s of %s failed: %s", kind, track_id, exc)
        out["error"] = f"the {kind} could not be made ({str(exc)[:200]})"
    else:
        out["files"] = {name: str(path) for name, path in files.items()}
    timings["total_s"] = round(time.perf_counter() - t0, 3)
    log.info("%s of %s in %.2fs: %s", kind, track_id, timings["total_s"], ", ".join(out["files"]) or out["error"])
    return out
