"""Reliable dequeue (torch-free): a job leaves its queue only by an atomic claim that records it, with a
lease, until the worker records it as started; a reaper gives a job whose claim ran out back to its queue.

RQ pops a job off its queue (BLPOP, or BLMOVE into one list shared by every worker when it listens on one
queue) and records it as started only later, after several more Redis calls. A worker killed in between left
the job "queued" in no queue and no registry, for ever. Here the pop and the claim are one Lua script:

- ``pop`` takes the first job of the first non-empty queue and records it in the ``tunesmith:claims`` sorted
  set (score: when its lease runs out) with its queue in ``tunesmith:claims:origin``;
- ``take`` does the same for jobs picked out of the middle of a queue (worker.jobs.batching's batch members);
- ``release_in`` drops the claim inside the pipeline that records the job as started, so a job is always
  in a queue, claimed, or in RQ's StartedJobRegistry (whose lease worker.jobs.lease renews);
- ``renew`` pushes the lease of claims still held (a worker loading a model for a batch, say);
- ``reap`` (every worker's maintenance, and the bot while it follows a job) gives an expired claim's job back
  to the front of its queue, spending its one retry, or fails it ("the worker stopped unexpectedly") when it
  has none left; jobs already started, finished or gone just lose the claim. The decision and the requeue are
  one script, so two reapers never requeue a job twice and a reaper that dies leaves the claim to the next.

``wait`` blocks until the first queue has a job without taking it (``BLMOVE q q LEFT LEFT`` puts the head
back where it was, atomically), so an idle worker wakes as soon as a job arrives yet holds nothing while it
waits: a worker stopped or killed while idle loses nothing.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from worker.contract.tracks import SERIALIZER

if TYPE_CHECKING:  # pragma: no cover
    from redis import Redis
    from redis.client import Pipeline

log = logging.getLogger(__name__)

CLAIMS_KEY = "tunesmith:claims"
ORIGIN_KEY = "tunesmith:claims:origin"
JOB_PREFIX = "rq:job:"
ABANDONED = "AbandonedJobError: the worker stopped after taking the job, before it started"

# KEYS: claims, origins, queue keys in priority order. ARGV: lease deadline, job key prefix.
_POP = """
for i = 3, #KEYS do
  local id = redis.call('LPOP', KEYS[i])
  while id do
    if redis.call('EXISTS', ARGV[2] .. id) == 1 then
      redis.call('ZADD', KEYS[1], ARGV[1], id)
      redis.call('HSET', KEYS[2], id, KEYS[i])
      return {KEYS[i], id}
    end
    id = redis.call('LPOP', KEYS[i])
  end
end
return false
"""

# KEYS: claims, origins, queue. ARGV: lease deadline, job ids. Returns the ids taken (others were popped meanwhile).
_TAKE = """
local taken = {}
for i = 2, #ARGV do
  if redis.call('LREM', KEYS[3], 1, ARGV[i]) == 1 then
    redis.call('ZADD', KEYS[1], ARGV[1], ARGV[i])
    redis.call('HSET', KEYS[2], ARGV[i], KEYS[3])
    taken[#taken + 1] = ARGV[i]
  end
end
return taken
"""

# KEYS: claims, origins. ARGV: now, job key prefix, deadline for jobs handed to the caller to fail, how many.
# Returns {id, verdict} pairs: dropped (started, done or gone), requeued, or fail (no retry left).
_REAP = """
local out = {}
local ids = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, tonumber(ARGV[4]))
for _, id in ipairs(ids) do
  local key = ARGV[2] .. id
  local origin = redis.call('HGET', KEYS[2], id)
  local status = redis.call('HGET', key, 'status')
  local verdict = 'dropped'
  if origin and status == 'queued' and not redis.call('LPOS', origin, id) then
    local left = tonumber(redis.call('HGET', key, 'retries_left') or '0') or 0
    if left > 0 then
      redis.call('HSET', key, 'retries_left', left - 1)
      redis.call('LPUSH', origin, id)
      verdict = 'requeued'
    else
      verdict = 'fail'
    end
  end
  if verdict == 'fail' then
    redis.call('ZADD', KEYS[1], ARGV[3], id)
  else
    redis.call('ZREM', KEYS[1], id)
    redis.call('HDEL', KEYS[2], id)
  end
  out[#out + 1] = id
  out[#out + 1] = verdict
end
return out
"""


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def pop(conn: Redis, queue_keys: Sequence[str], lease_s: float) -> tuple[str, str] | None:
    """Take the first job of the first non-empty queue and claim it for ``lease_s``; (queue key, job id)."""
    found = conn.register_script(_POP)(
        keys=[CLAIMS_KEY, ORIGIN_KEY, *queue_keys], args=[time.time() + lease_s, JOB_PREFIX]
    )
    return (_text(found[0]), _text(found[1])) if found else None


def take(conn: Redis, queue_key: str, job_ids: Sequence[str], lease_s: float) -> list[str]:
    """Take ``job_ids`` out of the queue and claim them; returns those that were still waiting there."""
    if not job_ids:
        return []
    taken = conn.register_script(_TAKE)(
        keys=[CLAIMS_KEY, ORIGIN_KEY, queue_key], args=[time.time() + lease_s, *job_ids]
    )
    return [_text(t) for t in taken]


def release_in(pipe: Pipeline, job_ids: Sequence[str]) -> None:
    """Drop the claims, inside the pipeline (MULTI) that records the jobs as started."""
    if job_ids:
        pipe.zrem(CLAIMS_KEY, *job_ids)
        pipe.hdel(ORIGIN_KEY, *job_ids)


def release(conn: Redis, job_ids: Sequence[str]) -> None:
    with conn.pipeline() as pipe:
        release_in(pipe, job_ids)
        pipe.execute()


def renew(conn: Redis, job_ids: Sequence[str], lease_s: float) -> None:
    """Push the leases of claims still held (one that was released or reaped meanwhile is left alone)."""
    if job_ids:
        deadline = time.time() + lease_s
        conn.zadd(CLAIMS_KEY, dict.fromkeys(job_ids, deadline), xx=True)


def claimed(conn: Redis) -> dict[str, float]:
    """Every claim and when its lease runs out (for tests and /queue-like views)."""
    rows: list[tuple[bytes | str, float]] = conn.zrange(CLAIMS_KEY, 0, -1, withscores=True)  # type: ignore[assignment]
    return {_text(k): float(v) for k, v in rows}


def wait(conn: Redis, queue_key: str, timeout_s: float) -> bool:
    """Block up to ``timeout_s`` until ``queue_key`` holds a job, taking nothing; True if it does."""
    # Redis takes fractional seconds here; redis-py's stub says int.
    return conn.blmove(queue_key, queue_key, timeout_s, "LEFT", "LEFT") is not None  # type: ignore[arg-type]


def reap(conn: Redis, *, lease_s: float = 30.0, limit: int = 100) -> dict[str, str]:
    """Requeue (spending a retry) or fail the jobs whose claim ran out; returns job id → what was done."""
    raw = conn.register_script(_REAP)(
        keys=[CLAIMS_KEY, ORIGIN_KEY], args=[time.time(), JOB_PREFIX, time.time() + lease_s, limit]
    )
    verdicts = {_text(raw[i]): _text(raw[i + 1]) for i in range(0, len(raw), 2)}
    for job_id, verdict in verdicts.items():
        if verdict == "requeued":
            log.warning("job %s was taken by a worker that stopped before starting it: queued again", job_id)
        elif verdict == "fail":
            _fail(conn, job_id)
    return verdicts


def _fail(conn: Redis, job_id: str) -> None:
    """Fail a job that lost its worker twice (RQ's failure record, as for an abandoned started job)."""
    from rq.exceptions import NoSuchJobError
    from rq.job import Job, JobStatus

    try:
        job = Job.fetch(job_id, connection=conn, serializer=SERIALIZER)
    except NoSuchJobError:
        release(conn, [job_id])
        return
    log.warning("job %s lost its worker again before it started: failed", job_id)
    with conn.pipeline() as pipe:
        job.set_status(JobStatus.FAILED, pipeline=pipe)
        job._handle_failure(ABANDONED, pipe)
        release_in(pipe, [job_id])
        pipe.execute()
