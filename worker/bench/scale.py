"""Scaling benchmark: a burst of compose jobs through a real redis-server to 1 vs N worker processes.

``python -m worker.bench.scale --workers 1,2 --jobs 8 --seconds 30`` starts a private redis-server, N
``tunesmith worker`` processes (one torch thread each), warms each worker with one short job, enqueues a
burst with ``worker.contract.tracks.enqueue_compose`` and reports the makespan, jobs per minute, per-job latency
(enqueue → done) and service time, and Redis memory per finished job. It also measures Redis memory per
waiting job and the cost of a (fair) enqueue at several queue depths, and prints the expected latency at a
given load from an M/M/c model fitted to the measured service time. Numbers depend on the machine's cores
and what else runs on it: report them with ``os.cpu_count()`` and the load average it prints.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from redis import Redis

from worker.cli.redis_server import RedisServer
from worker.contract.tracks import COMPOSE_JOB, ComposeRequest, compose_queue, enqueue_compose, fetch_job


def _wait(predicate: Any, timeout: float, what: str, interval: float = 0.1) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout:g}s waiting for {what}")
        time.sleep(interval)


def _run_jobs(conn: Redis, requests: list[ComposeRequest], timeout: float) -> list[Any]:
    jobs = [enqueue_compose(conn, r) for r in requests]
    ids = [j.id for j in jobs]

    def done() -> bool:
        statuses = [fetch_job(conn, i).get_status(refresh=True) for i in ids]
        failed = [i for i, s in zip(ids, statuses, strict=True) if s == "failed"]
        if failed:
            result = fetch_job(conn, failed[0]).latest_result()
            raise RuntimeError(f"job {failed[0]} failed: {result.exc_string if result else 'no result stored'}")
        return all(s == "finished" for s in statuses)

    _wait(done, timeout, f"{len(ids)} jobs", interval=0.2)
    return [fetch_job(conn, i) for i in ids]


def _used_memory(conn: Redis) -> int:
    return int(conn.info("memory")["used_memory"])


def burst(workers: int, jobs: int, seconds: float, style: str, timeout: float = 600.0) -> dict[str, Any]:
    """Start ``workers`` worker processes, warm them, run a burst of ``jobs`` and measure it."""
    with RedisServer() as server, tempfile.TemporaryDirectory(prefix="tunesmith-bench-") as tmp:
        env = {**os.environ, "REDIS_URL": server.url, "TUNESMITH_DATA_DIR": tmp, "TUNESMITH_TORCH_THREADS": "1"}
        conn = Redis.from_url(server.url)
        procs = []
        try:
            for n in range(workers):
                log = open(Path(tmp) / f"worker-{n}.log", "wb")  # noqa: SIM115 - closed with the process
                procs.append(
                    (
                        subprocess.Popen(
                            [sys.executable, "-m", "worker", "--queues", "compose"],
                            env=env,
                            stdout=log,
                            stderr=subprocess.STDOUT,
                        ),
                        log,
                    )
                )
            from rq import Worker

            queue = compose_queue(conn)
            _wait(lambda: Worker.count(connection=conn, queue=queue) == workers, 180, f"{workers} workers")
            warm = _run_jobs(
                conn,
                [ComposeRequest(style=style, seconds=5, seed=n, user_id=f"warm{n}") for n in range(workers)],
                timeout,
            )
            warmed = len({j.worker_name for j in warm})
            mem0 = _used_memory(conn)
            done = _run_jobs(
                conn,
                [ComposeRequest(style=style, seconds=seconds, seed=100 + n, user_id=f"u{n}") for n in range(jobs)],
                timeout,
            )
            mem1 = _used_memory(conn)
            key_bytes = [sum(conn.memory_usage(k) or 0 for k in (j.key, f"rq:results:{j.id}")) for j in done]
        finally:
            for proc, _log in procs:
                proc.terminate()
            for proc, log in procs:
                try:
                    proc.wait(30)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
                log.close()
            conn.close()
    start = min(j.enqueued_at for j in done)
    latency = [(j.ended_at - j.enqueued_at).total_seconds() for j in done]
    service = [(j.ended_at - j.started_at).total_seconds() for j in done]
    makespan = (max(j.ended_at for j in done) - start).total_seconds()
    return {
        "workers": workers,
        "workers_warmed": warmed,
        "jobs": jobs,
        "seconds": seconds,
        "style": style,
        "makespan_s": round(makespan, 2),
        "jobs_per_min": round(60 * jobs / makespan, 2),
        "latency_p50_s": round(statistics.median(latency), 2),
        "latency_max_s": round(max(latency), 2),
        "service_mean_s": round(statistics.fmean(service), 2),
        "redis_bytes_per_finished_job": round((mem1 - mem0) / jobs),
        "redis_key_bytes_per_finished_job": round(statistics.fmean(key_bytes)),
    }


def _fill(conn: Redis, count: int, fair: bool) -> None:
    """Add ``count`` waiting jobs: fairly (one Lua insertion each, as the bot does) or, to reach large depths
    quickly, appended in batches as plain RQ jobs (the fair script then treats each as its own user's)."""
    if fair:
        for n in range(count):
            enqueue_compose(conn, ComposeRequest(style="irish", seconds=30, user_id=f"u{n % 50}"))
        return
    queue = compose_queue(conn)
    for start in range(0, count, 500):
        datas = [
            queue.prepare_data(COMPOSE_JOB, [ComposeRequest(style="irish", seconds=30).to_dict()])
            for _ in range(min(500, count - start))
        ]
        queue.enqueue_many(datas)


def queue_costs(depths: tuple[int, ...] = (0, 100, 1000, 10000), sample: int = 20) -> dict[str, Any]:
    """Redis memory per waiting job, and the milliseconds one fair enqueue takes at each queue depth (the fair
    insertion scans the waiting list inside Redis, so it grows with the depth and blocks Redis meanwhile)."""
    out: dict[str, Any] = {"enqueue_ms_at_depth": {}}
    with RedisServer() as server:
        conn = Redis.from_url(server.url)
        enqueue_compose(conn, ComposeRequest(style="irish", seconds=30))  # load the script, warm the connection
        compose_queue(conn).empty()
        mem0, waiting = _used_memory(conn), 0
        for depth in sorted(depths):
            _fill(conn, depth - waiting, fair=depth <= 1000)
            waiting = depth
            if depth == 1000:
                out["redis_bytes_per_waiting_job"] = round((_used_memory(conn) - mem0) / depth)
            t0 = time.perf_counter()
            added = [
                enqueue_compose(conn, ComposeRequest(style="irish", seconds=30, user_id=f"s{n}")) for n in range(sample)
            ]
            out["enqueue_ms_at_depth"][depth] = round(1000 * (time.perf_counter() - t0) / sample, 2)
            for job in added:  # back to ``depth`` waiting jobs
                compose_queue(conn).remove(job.id)
                job.delete()
        conn.close()
    return out


def mmc_latency(service_s: float, workers: int, jobs_per_min: float) -> float:
    """Mean time from enqueue to done in an M/M/c queue (Erlang C): ``inf`` at or past saturation."""
    lam, mu = jobs_per_min / 60.0, 1.0 / service_s
    rho = lam / (workers * mu)
    if rho >= 1:
        return math.inf
    a = lam / mu
    tail = a**workers / (math.factorial(workers) * (1 - rho))
    p_wait = tail / (sum(a**k / math.factorial(k) for k in range(workers)) + tail)
    return service_s + p_wait / (workers * mu - lam)


def main(argv: list[str] | None = None) -> int:
    """Run the bursts, the queue costs and the latency table; print a summary (or JSON with ``--json``)."""
    parser = argparse.ArgumentParser(prog="python -m worker.bench.scale", description=__doc__.splitlines()[0])
    parser.add_argument("--workers", default="1,2", help="worker counts to compare, e.g. 1,2")
    parser.add_argument("--jobs", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--style", default="irish")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    load = os.getloadavg()
    runs = [burst(int(n), args.jobs, args.seconds, args.style) for n in args.workers.split(",")]
    report: dict[str, Any] = {
        "cpus": os.cpu_count(),
        "loadavg_at_start": [round(x, 2) for x in load],
        "runs": runs,
        "queue": queue_costs(),
    }
    base = runs[0]
    for run in runs[1:]:
        run["throughput_vs_first"] = round(run["jobs_per_min"] / base["jobs_per_min"], 2)
    service = base["service_mean_s"]
    capacity = 60 * base["workers"] / service
    report["latency_model"] = {
        f"{int(100 * u)}%": round(mmc_latency(service, base["workers"], u * capacity), 2) for u in (0.25, 0.5, 0.8, 0.9)
    }
    if args.json:
        print(json.dumps(report, indent=1))
        return 0
    print(f"{report['cpus']} CPUs, load average {report['loadavg_at_start']} at start")
    for run in runs:
        extra = f", x{run['throughput_vs_first']} vs first" if "throughput_vs_first" in run else ""
        print(
            f"{run['workers']} worker(s): {run['jobs']} x {run['seconds']:g}s {run['style']} in "
            f"{run['makespan_s']}s = {run['jobs_per_min']} jobs/min{extra}; latency p50 {run['latency_p50_s']}s, "
            f"max {run['latency_max_s']}s; service {run['service_mean_s']}s; "
            f"Redis {run['redis_bytes_per_finished_job']} B per finished job "
            f"({run['redis_key_bytes_per_finished_job']} B in its job hash and result stream)"
        )
    print(f"queue: {report['queue']}")
    print(f"M/M/{base['workers']} latency at utilisation of {capacity:.1f} jobs/min: {report['latency_model']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
