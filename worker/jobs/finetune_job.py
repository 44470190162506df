"""The RQ jobs behind /finetune and /rollback: check uploads, fine-tune, draw the loss, switch versions."""

from __future__ import annotations

import base64
import binascii
import logging
import time
from pathlib import Path
from typing import Any

from worker.contract.tracks import BadRequest
from worker.contract.training import (
    MAX_VOTE_TRACKS,
    FinetuneRequest,
    cancel_requested,
    validate_finetune,
    vote_weight,
)
from worker.jobs.context import data_dir, local_styles, resolve_device
from worker.jobs.tracks import check_track_id, track_dir
from worker.jobs.uploads import Refused, expand_uploads

log = logging.getLogger(__name__)
PROGRESS_INTERVAL_S = 1.0


def _sources(req: FinetuneRequest, root: Path) -> tuple[list, list[Refused], list[str]]:
    """Training sources from the uploads and the voted tracks; (sources, refused files, accepted names)."""
    from models.music.midi_import import MidiImportError, midi_to_tunes
    from models.tokenlm.finetune import Source

    files, refused = [], []
    for upload in req.uploads:
        name = str(upload.get("name", "upload"))[:120]
        try:
            files.append((name, base64.b64decode(str(upload.get("data", "")), validate=True)))
        except (binascii.Error, ValueError):
            refused.append(Refused(name, "the upload arrived damaged"))
    accepted, bad = expand_uploads(files)
    refused += bad
    sources, names = [], []
    for item in accepted:
        try:
            imported = midi_to_tunes(item.data, item.name)
        except MidiImportError as exc:
            refused.append(Refused(item.name, str(exc)))
            continue
        sources.append(Source(item.name, imported.tunes, imported.qpm, imported.program,
                              (-imported.key_shift) % 12))
        names.append(item.name)
    for vote in req.vote_tracks[:MAX_VOTE_TRACKS]:
        tid = str(vote.get("track_id", ""))
        try:
            midi = track_dir(root, check_track_id(tid)) / f"{tid}.mid"
            imported = midi_to_tunes(midi.read_bytes(), tid)
        except (BadRequest, OSError, MidiImportError) as exc:
            log.info("voted track %s left out: %s", tid, exc)
            continue
        sources.append(Source(f"track:{tid}", imported.tunes, imported.qpm, imported.program,
                              (-imported.key_shift) % 12, weight=vote_weight(int(vote.get("score", 1))),
                              heldout_ok=False))
    return sources, refused, names


def _announce(job: Any) -> None:
    """After a switch of versions: publish this worker's styles (a new style appears in autocomplete) and the
    version lists for /models; nothing to tell outside an RQ job (the CLI)."""
    if job is not None:
        from worker.jobs.runner import announce_styles

        announce_styles(job.connection)  # publishes the version lists too


class _Reporter:
    """Step, loss and stage into ``job.meta["progress"]`` at most once a second; cancellation checks."""

    def __init__(self, job: Any) -> None:
        self.job, self._last = job, 0.0

    def stage(self, stage: str, **extra: Any) -> None:
        if self.job is not None:
            self.job.meta["progress"] = {"stage": stage, **extra}
            self.job.save_meta()

    def step(self, step: int, steps: int, loss: float) -> None:
        now = time.monotonic()
        if self.job is not None and (now - self._last >= PROGRESS_INTERVAL_S or step == steps):
            self._last = now
            self.stage("training", step=step, steps=steps, loss=round(float(loss), 4),
                       fraction=round(step / max(1, steps), 4))

    def cancelled(self) -> bool:
        return self.job is not None and cancel_requested(self.job.connection, self.job.id)


def finetune(request: dict[str, Any]) -> dict[str, Any]:
    """Fine-tune as asked in ``request`` (a FinetuneRequest dict), activate the new version for every
    worker, and return what the bot reports: version, held-out NLL before/after, files used and refused.

    Raises:
        BadRequest: nothing usable in the uploads (each refused file and why), or a bad request.
    """
    from rq import get_current_job

    from models.core.versions import activate, version_dir
    from models.tokenlm.finetune import Cancelled, FinetuneConfig, FinetuneError
    from models.tokenlm.finetune import finetune as run
    from worker.output.loss_plot import draw_loss

    job = get_current_job()
    req = validate_finetune(FinetuneRequest.from_dict(request), local_styles())
    report = _Reporter(job)
    report.stage("checking")
    root = data_dir()
    sources, refused, names = _sources(req, root)
    if not sources:
        why = "; ".join(f"{r.name}: {r.reason}" for r in refused) or "no voted tracks were found on disk"
        raise BadRequest(f"Nothing usable to learn from ({why}).")
    device = resolve_device()
    config = FinetuneConfig(steps=req.steps, device=device)
    try:
        meta = run(req.style, req.arch, req.base or req.style, sources, config, by=req.user_id or "", root=root,
                   on_step=report.step, should_stop=report.cancelled)
    except FinetuneError as exc:
        raise BadRequest(str(exc)) from None
    except Cancelled:
        raise BadRequest("The fine-tune was cancelled; the serving version is unchanged.") from None
    version = int(meta["version"])
    loss_png = draw_loss(meta["finetune"]["history"], version_dir(req.style, req.arch, version, root) / "loss.png",
                         title=f"{req.style}/{req.arch} v{version}")
    activate(req.style, req.arch, version, by=req.user_id or "", root=root)
    _announce(job)
    ft = meta["finetune"]
    log.info("fine-tune %s: %s/%s v%d live (%d steps, %.2f min)", req.job_id, req.style, req.arch, version,
             ft["steps_run"], ft["minutes"])
    return {"job_id": req.job_id, "style": req.style, "arch": req.arch, "version": version, "base": ft["base"],
            "steps": ft["steps_run"], "minutes": ft["minutes"], "heldout_nll_before": ft["heldout_nll_before"],
            "heldout_nll_after": ft["heldout_nll_after"], "accepted": names, "vote_tracks": ft["vote_tracks"],
            "refused": [{"name": r.name, "reason": r.reason} for r in refused],
            "loss_png": str(loss_png.relative_to(root)),
            "new_style": "style_def" in meta}


def rollback(request: dict[str, Any]) -> dict[str, Any]:
    """Serve ``version`` (0: the shipped checkpoint) of a style/arch on every worker from the next job on.

    Raises:
        BadRequest: no such version.
    """
    from rq import get_current_job

    from models.core import catalog
    from models.core.versions import activate, list_versions

    style, arch = str(request.get("style", "")).lower(), str(request.get("arch", "lstm")).lower()
    version = int(request.get("version", -1))
    root = data_dir()
    known = list_versions(style, arch, root)
    if version != 0 and version not in known:
        offer = ", ".join(str(v) for v in known) or "none"
        raise BadRequest(f"`{style}`/{arch} has no version {version}; versions: {offer} (0 = shipped).")
    shipped = catalog.entries(catalog.default_checkpoint_dir())
    if version == 0 and not any(e.arch == arch and style in e.styles for e in shipped):
        raise BadRequest(f"`{style}` has no shipped model to go back to; pick one of versions {known}.")
    activate(style, arch, version, by=str(request.get("user_id") or ""), root=root)
    _announce(get_current_job())
    log.info("%s/%s now serves version %d", style, arch, version)
    return {"style": style, "arch": arch, "version": version, "versions": known}
