"""Fair enqueueing across users: each job goes after every other user's jobs of the same round (torch-free).

A user's n-th waiting job is in round n. A new job of a user with k jobs waiting joins round k: it is
inserted after the last waiting job whose round is at most k, so the queue reads A1 B1 C1 A2 B2 A3 … and
one user's ten requests never starve another's first. The insertion runs as a Lua script inside the same
MULTI/EXEC as RQ's own enqueue, so it is atomic with it and with other bots' enqueues. Each job's owner is
kept as a field of its RQ job hash (``tunesmith_owner``), so it expires with the job and needs no cleanup.
Workers still pop from the front of the list, as RQ always does.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:  # pragma: no cover
    from rq import Queue
    from rq.job import Job
    from rq.queue import EnqueueData

OWNER_FIELD = "tunesmith_owner"

# KEYS[1]: the queue's list; ARGV: job key prefix, then (job id, owner) pairs in order. Returns the positions.
FAIR_INSERT = """
local queue, prefix = KEYS[1], ARGV[1]
for k = 2, #ARGV, 2 do
  redis.call('HSET', prefix .. ARGV[k], 'tunesmith_owner', ARGV[k + 1])
  redis.call('LREM', queue, 0, ARGV[k])
end
local positions = {}
for k = 2, #ARGV, 2 do
  local job, owner = ARGV[k], ARGV[k + 1]
  local ids = redis.call('LRANGE', queue, 0, -1)
  local owners, mine = {}, 0
  for i, id in ipairs(ids) do
    local o = redis.call('HGET', prefix .. id, 'tunesmith_owner')
    if not o then o = '\\0' .. id end
    owners[i] = o
    if o == owner then mine = mine + 1 end
  end
  local seen, pivot, position = {}, nil, 0
  for i, id in ipairs(ids) do
    local round = seen[owners[i]] or 0
    seen[owners[i]] = round + 1
    if round <= mine then pivot, position = id, i end
  end
  if pivot then
    redis.call('LINSERT', queue, 'AFTER', pivot, job)
  else
    redis.call('LPUSH', queue, job)
  end
  positions[#positions + 1] = position
end
return positions
"""


def fair_enqueue(queue: Queue, datas: list[EnqueueData], owners: list[str]) -> list[Job]:
    """Enqueue ``datas`` (from ``Queue.prepare_data``) for ``owners`` (one per job), each at its fair place.

    Idempotent: a job whose id Redis already holds (queued, running, done or failed) is left as it is, checked
    under WATCH in the same transaction, so the bot may enqueue a request again whenever it cannot tell whether
    it was (its outbox, bot.poster) without a job ever running twice because of it. Returns the jobs enqueued.
    """
    from redis.exceptions import WatchError

    if len(datas) != len(owners):
        raise ValueError("one owner per job")
    script = queue.connection.register_script(FAIR_INSERT)
    prefix = queue.job_class.redis_job_namespace_prefix
    keys = [prefix + str(d.job_id) for d in datas if d.job_id]
    with queue.connection.pipeline() as pipe:
        while True:
            try:
                if keys:
                    pipe.watch(*keys)
                    present = {prefix + str(d.job_id) for d in datas if d.job_id and pipe.exists(prefix + d.job_id)}
                else:
                    present = set()
                todo = [(d, o) for d, o in zip(datas, owners, strict=True) if prefix + str(d.job_id) not in present]
                if not todo:
                    pipe.reset()
                    return []
                pipe.multi()
                jobs = queue.enqueue_many([d for d, _ in todo], pipeline=pipe)
                pairs = [value for job, (_, owner) in zip(jobs, todo, strict=True) for value in (job.id, owner)]
                script(keys=[queue.key], args=[prefix, *pairs], client=pipe)
                pipe.execute()
                return jobs
            except WatchError:  # another enqueue of the same ids got there first: look again
                continue


def queue_owners(queue: Queue) -> list[tuple[str, str]]:
    """(job id, owner) for every waiting job, front first; owner "" when unknown."""
    ids = [i.decode() if isinstance(i, bytes) else i for i in queue.connection.lrange(queue.key, 0, -1)]
    prefix = queue.job_class.redis_job_namespace_prefix
    with queue.connection.pipeline(transaction=False) as pipe:
        for job_id in ids:
            pipe.hget(prefix + job_id, OWNER_FIELD)
        raw = pipe.execute()
    return [(job_id, (o.decode() if isinstance(o, bytes) else o) or "") for job_id, o in zip(ids, raw, strict=True)]
