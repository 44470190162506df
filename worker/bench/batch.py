"""The worker's batched sampling measured two ways: aggregate tokens/s of its batch path (32 pieces of 30 s with
their own seeds, keys and lengths, ``models.tokenlm.batched.compose_batch``) against composing them one by one, and a
burst of compose jobs through a real worker process with ``TUNESMITH_BATCH=B`` against ``TUNESMITH_BATCH=1``.

``python -m worker.bench.batch [--jobs 16] [--batch 16]`` prints both as JSON; ``tunesmith bench`` includes the
first (``worker_batch32_*``).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from typing import Any


def bench_worker_batching(pieces: int = 32, seconds: float = 30.0) -> dict[str, float]:
    """Tokens/s of ``pieces`` Irish LSTM pieces sampled by the worker's batch path vs one by one, same seeds."""
    from models.compose.factory import load_composer
    from models.tokenlm.batched import Ask, compose_batch

    composer = load_composer("irish", "lstm")
    asks = [Ask(seconds, 1000 + i) for i in range(pieces)]
    composer.compose(5.0, seed=1)  # warm-up
    start = time.perf_counter()
    batched = compose_batch(composer, asks)
    batch_s = time.perf_counter() - start
    start = time.perf_counter()
    alone = [composer.compose(a.seconds, seed=a.seed) for a in asks]
    alone_s = time.perf_counter() - start
    assert [p.tokens for p in batched] == [p.tokens for p in alone], "a batch must give each seed's own notes"
    tokens = sum(len(p.tokens) for p in batched)
    return {
        f"worker_batch{pieces}_tokens_s": round(tokens / batch_s, 1),
        "worker_sequential_tokens_s": round(tokens / alone_s, 1),
        f"worker_batch{pieces}_vs_sequential": round(alone_s / batch_s, 1),
    }


def bench_worker_burst(jobs: int = 16, batch: int = 16, seconds: float = 30.0) -> dict[str, Any]:
    """Makespan of ``jobs`` compose jobs waiting for one worker process, batched (``batch``) and one by one."""
    from redis import Redis
    from rq import Worker

    from worker.bench.scale import _run_jobs, _wait
    from worker.cli.redis_server import RedisServer
    from worker.contract.tracks import ComposeRequest, compose_queue

    out: dict[str, Any] = {}
    for size in (1, batch):
        with RedisServer() as server, tempfile.TemporaryDirectory(prefix="tunesmith-bench-") as tmp:
            env = {
                **os.environ,
                "REDIS_URL": server.url,
                "TUNESMITH_DATA_DIR": tmp,
                "TUNESMITH_TORCH_THREADS": "1",
                "TUNESMITH_BATCH": str(size),
            }
            conn = Redis.from_url(server.url)
            proc = subprocess.Popen(
                [sys.executable, "-m", "worker", "--queues", "compose", "--log-level", "WARNING"],
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            try:
                _wait(lambda c=conn: Worker.count(connection=c, queue=compose_queue(c)) == 1, 180, "the worker")
                _run_jobs(conn, [ComposeRequest("irish", 5.0, arch="lstm", seed=1, user_id="warm")], 300)
                start = time.perf_counter()
                done = _run_jobs(
                    conn,
                    [ComposeRequest("irish", seconds, arch="lstm", seed=200 + n, user_id=f"u{n}") for n in range(jobs)],
                    900,
                )
                makespan = time.perf_counter() - start
                sample = sum(float(j.return_value()["timings"].get("sample_s", 0)) for j in done)
            finally:
                proc.terminate()
                proc.wait(60)
                conn.close()
        out[f"burst{jobs}_batch{size}_makespan_s"] = round(makespan, 2)
        out[f"burst{jobs}_batch{size}_sample_s_total"] = round(sample, 2)
    out[f"burst{jobs}_batch{batch}_vs_batch1"] = round(
        out[f"burst{jobs}_batch1_makespan_s"] / out[f"burst{jobs}_batch{batch}_makespan_s"], 2
    )
    return out


def main(argv: list[str] | None = None) -> int:
    """``python -m worker.bench.batch``: both figures as JSON, with the machine's load."""
    parser = argparse.ArgumentParser(prog="python -m worker.bench.batch", description=main.__doc__)
    parser.add_argument("--jobs", type=int, default=16)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--seconds", type=float, default=30.0)
    args = parser.parse_args(argv)
    import torch

    torch.set_num_threads(1)
    results: dict[str, Any] = {"cores": os.cpu_count(), "load_before": os.getloadavg()[0]}
    with torch.inference_mode():
        results.update(bench_worker_batching())
    print(json.dumps(results), file=sys.stderr, flush=True)
    results.update(bench_worker_burst(args.jobs, args.batch, args.seconds))
    results["load_after"] = os.getloadavg()[0]
    print(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
