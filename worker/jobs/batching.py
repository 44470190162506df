"""Batched sampling: a worker that pops a compose job claims up to B-1 more waiting ones of the same style and
architecture, samples all their pieces in one batch, then runs each as its own RQ job (own result or failure).

``execute`` is ComposeWorker's ``execute_job`` hook. The claimed jobs leave the queue atomically with a claim
on them (``worker.contract.claims.take``: a job another worker already popped is skipped), then get an RQ
execution and the "started" status, their claims dropped in the same MULTI, and their leases are renewed until
each runs, so a worker that dies at any point of a batch leaves them to be requeued or retried like its current
job. A worker takes no more than its share of the queue (waiting jobs / workers on it), so a burst still
spreads over all workers. The batch is sampled inside the first of its jobs to run (under that job's timeout);
every job then takes its own piece from it in ``worker.jobs.compose`` (``take``: the batch rides on the Job
object), renders it and reports its own progress. If the batch cannot be sampled, each job samples alone.
Token models whose draws depend on the batch (the GAN), the ABC model, Coconet and two-model styles are never
batched: they run one by one as before.
"""

from __future__ import annotations

import logging
import math
import random
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from worker.contract import claims, faults
from worker.contract.tracks import COMPOSE_JOB, ComposeRequest, validate_request
from worker.jobs.settings import settings

if TYPE_CHECKING:  # pragma: no cover
    from rq.job import Job
    from rq.queue import Queue

    from models.compose.types import Composition

log = logging.getLogger(__name__)

WINDOW_PER_SLOT = 4  # look this many waiting jobs deep per batch slot, so one style cannot jump a long queue


def batch_size() -> int:
    """The most compose jobs sampled together: the settings' ``TUNESMITH_BATCH`` (default 8; 1 turns batching
    off)."""
    return settings().batch_size


@dataclass
class Batch:
    """Jobs of one style and arch sampled together: their requests and seeds, then their pieces."""

    style: str
    arch: str
    requests: dict[str, ComposeRequest]  # track id → validated request, leader first
    jobs: dict[str, Job]
    seeds: dict[str, int] = field(default_factory=dict)
    pieces: dict[str, Composition] = field(default_factory=dict)
    sample_s: float = 0.0
    failed: bool = False

    def sample(self, own_id: str, own_progress: Callable[[float], None] | None) -> None:
        """Sample every piece at once (progress to each job's meta); on any error mark the batch failed."""
        from models.tokenlm.batched import Ask, compose_batch
        from worker.jobs import metrics
        from worker.jobs.context import Progress, get_composer, resolve_device

        t0 = time.perf_counter()
        try:
            asks = []
            for tid, req in self.requests.items():
                progress = own_progress if tid == own_id else Progress(self.jobs[tid]).sampling()
                asks.append(Ask(req.seconds, self.seeds[tid], req.temperature, req.top_k, progress, req.tempo))
            pieces = compose_batch(get_composer(self.style, self.arch, resolve_device()), asks)
        except Exception:  # noqa: BLE001 - every job then samples alone and fails, if at all, on its own
            log.exception(
                "batch of %d %s/%s jobs could not be sampled; sampling them one by one",
                len(self.requests),
                self.style,
                self.arch,
            )
            self.failed = True
            return
        self.pieces = dict(zip(self.requests, pieces, strict=True))
        metrics.BATCH_JOBS.labels(arch=self.arch).observe(len(pieces))
        self.sample_s = time.perf_counter() - t0
        log.info("sampled %d %s/%s pieces in one batch in %.2fs", len(pieces), self.style, self.arch, self.sample_s)


BATCH_ATTR = "tunesmith_batch"  # the Batch a claimed job belongs to, set on the very Job object the worker runs


def take(job: Job | None, on_progress: Callable[[float], None] | None = None) -> tuple[Composition, float, int] | None:
    """The piece sampled for ``job`` in its batch (sampling the batch on first use), with the batch's sampling
    time and size; None when the job is not in a batch or the batch failed. The batch travels with the job
    object (``execute`` sets it; RQ hands the same object to ``get_current_job()``), not through a global."""
    batch: Batch | None = getattr(job, BATCH_ATTR, None)
    if job is None or batch is None or job.id not in batch.requests:
        return None
    if not batch.pieces and not batch.failed:
        batch.sample(job.id, on_progress)
    piece = batch.pieces.pop(job.id, None)
    return None if piece is None else (piece, batch.sample_s, len(batch.requests))


def _request(job: Job | None, styles: Mapping[str, Any]) -> ComposeRequest | None:
    """A waiting job's validated compose request, or None when it is anything else (or invalid)."""
    try:
        if job is None or job.func_name != COMPOSE_JOB or not job.args or not isinstance(job.args[0], dict):
            return None
        req = validate_request(ComposeRequest.from_dict(job.args[0]), dict(styles))
    except Exception:  # noqa: BLE001 - undecodable (e.g. not JSON) or invalid: left for the worker to fail alone
        return None
    # exact controls are sampled alone (the batched sampler draws the plain style)
    return req if req.kind == "compose" and not (req.key or req.meter or req.loop) else None


def fair_share(limit: int, waiting: int, workers: int) -> int:
    """How many jobs one worker may take at once: at most ``limit``, and no more than its share of what waits,
    so that other workers on the queue are not left idle while this one renders a whole batch in turn."""
    return max(1, min(limit, math.ceil((waiting + 1) / max(1, workers))))


def claim(leader: Job, queue: Queue, limit: int, worker: Any = None) -> Batch | None:
    """Claim up to ``limit - 1`` waiting compose jobs with ``leader``'s style and arch, front of the queue
    first, and no more than this worker's fair share of the queue; None when the leader cannot batch or
    nothing else matched. The claims are held (renewed) by ``worker`` until the jobs start."""
    from rq import Worker
    from rq.job import Job as RQJob

    from models.tokenlm.batched import can_batch
    from worker.jobs.context import get_composer, local_styles, resolve_device

    styles = local_styles()
    lead = _request(leader, styles) if limit > 1 else None
    if lead is None or not can_batch(get_composer(lead.style, lead.arch or "", resolve_device())):
        return None
    conn = queue.connection
    limit = fair_share(limit, queue.count, Worker.count(connection=conn, queue=queue))
    if limit <= 1:
        return None
    ids = [i.decode() if isinstance(i, bytes) else i for i in conn.lrange(queue.key, 0, limit * WINDOW_PER_SLOT - 1)]
    batch = Batch(lead.style, lead.arch or "", {leader.id: lead}, {leader.id: leader})
    try:
        for job in RQJob.fetch_many(ids, connection=conn, serializer=queue.serializer):
            if len(batch.requests) >= limit:
                break
            req = _request(job, styles)
            if req is None or (req.style, req.arch) != (lead.style, lead.arch) or req.track_id in batch.requests:
                continue
            assert job is not None  # _request gives None for a job that no longer exists
            if claims.take(conn, queue.key, [job.id], float(getattr(worker, "lease_s", 30))) == [job.id]:
                batch.requests[job.id], batch.jobs[job.id] = req, job  # atomic: one another worker took is not ours
                if worker is not None:
                    worker.hold([job.id])
    except Exception:
        if worker is not None:  # their claims run out and the reaper gives them back to the queue
            worker.unhold([tid for tid in batch.requests if tid != leader.id])
        raise
    if len(batch.requests) == 1:
        return None
    faults.point("inside_claim")
    batch.seeds = {
        tid: r.seed if r.seed is not None else random.SystemRandom().randrange(2**31)
        for tid, r in batch.requests.items()
    }
    return batch


def execute(worker: Any, job: Job, queue: Queue, run_alone: Callable[[Job, Queue], Any]) -> None:
    """Run ``job`` (just popped) with whatever it can be batched with; ``run_alone`` is the worker's own
    ``execute_job``. Never lets a batching problem fail a job: on any error the job runs alone."""
    try:
        batch = claim(job, queue, batch_size(), worker)
    except Exception:  # noqa: BLE001 - e.g. no checkpoint: the job itself will say so
        log.debug("no batch for job %s", job.id, exc_info=True)
        batch = None
    if batch is None:
        run_alone(job, queue)
        return
    members = [batch.jobs[tid] for tid in batch.requests if tid != job.id]
    log.info(
        "batching %d %s/%s jobs with %s: %s",
        len(members),
        batch.style,
        batch.arch,
        job.id,
        ", ".join(m.id for m in members),
    )
    executions = {m.id: worker.prepare_execution(m) for m in members}
    with queue.connection.pipeline() as pipe:
        for member in members:
            member.prepare_for_execution(worker.name, pipeline=pipe)
        claims.release_in(pipe, [m.id for m in members])
        pipe.execute()
    worker.unhold([m.id for m in members])
    waiting, stop = set(executions), threading.Event()
    keeper = threading.Thread(
        target=_keep_leases, args=(worker, members, executions, waiting, stop), name="batch-leases", daemon=True
    )
    keeper.start()
    for member in batch.jobs.values():
        setattr(member, BATCH_ATTR, batch)
    try:
        run_alone(job, queue)
        for member in members:
            waiting.discard(member.id)
            worker.perform_job(member, queue, executions[member.id])
    finally:
        for member in batch.jobs.values():
            setattr(member, BATCH_ATTR, None)
        stop.set()
        keeper.join(5)
        worker.set_state("idle")


def _keep_leases(
    worker: Any, members: list[Job], executions: dict[str, Any], waiting: set[str], stop: threading.Event
) -> None:
    """Renew the claimed jobs' leases until each starts running (then the worker renews its own job's)."""
    interval = max(1.0, float(getattr(worker, "lease_s", 60)) / 3)
    while not stop.wait(interval):
        for member in members:
            if member.id in waiting:
                try:
                    worker.maintain_heartbeats(member, executions[member.id])
                except Exception as exc:  # noqa: BLE001 - retried next round; the lease runs out only if this lasts
                    log.warning("could not renew the lease of batched job %s: %s", member.id, exc)
