"""Running one job through the queue from the command line: a private redis-server and a burst worker when no
``REDIS_URL`` is set, a progress line on stderr, and the finished files copied out."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from worker.contract.redact import redact_url
from worker.contract.tracks import ComposeRequest, ComposeResult, enqueue_compose, job_progress

POLL_S = 0.1


class CommandError(RuntimeError):
    """A failure to report on stderr with exit code 1."""


def err(message: str) -> None:
    print(f"tunesmith: {message}", file=sys.stderr)


class _ProgressLine:
    """One progress line on stderr: rewritten in place on a terminal, one line per stage otherwise."""

    def __init__(self) -> None:
        self.tty = sys.stderr.isatty()
        self.last = ""

    def show(self, text: str, stage: str) -> None:
        if self.tty:
            sys.stderr.write(f"\r\033[K{text}")
            sys.stderr.flush()
        elif stage != self.last:
            print(text, file=sys.stderr, flush=True)
        self.last = stage

    def close(self) -> None:
        if self.tty and self.last:
            sys.stderr.write("\n")
            sys.stderr.flush()


def wait_for_result(
    job: Any, timeout: float, worker: subprocess.Popen | None, worker_log: Path | None
) -> ComposeResult:
    line = _ProgressLine()
    deadline = time.monotonic() + timeout
    try:
        while True:
            status = str(getattr(job.get_status(refresh=True), "value", "unknown"))
            if status == "finished":
                return ComposeResult.from_dict(job.return_value(refresh=True))
            if status in ("failed", "stopped", "canceled"):
                result = job.latest_result()
                tail = (getattr(result, "exc_string", "") or "").strip().splitlines()
                raise CommandError(f"the compose job {status}: {tail[-1] if tail else 'no reason given'}")
            if worker is not None and worker.poll() is not None:
                log = worker_log.read_text(errors="replace")[-1500:] if worker_log else ""
                raise CommandError(f"the worker exited with code {worker.returncode} before finishing:\n{log}")
            if time.monotonic() > deadline:
                raise CommandError(f"no result after {timeout:g}s (job {job.id} is {status})")
            progress = job_progress(job) if status == "started" else {}
            stage = progress.get("stage", status)
            pct = f" {100 * float(progress.get('fraction', 0)):3.0f}%" if progress else ""
            line.show(f"composing: {stage}{pct}", stage)
            time.sleep(POLL_S)
    finally:
        line.close()


def run_job(request: ComposeRequest, redis_url: str, timeout: float) -> ComposeResult:
    from redis import Redis
    from redis.exceptions import RedisError

    if redis_url:
        try:
            conn = Redis.from_url(redis_url, socket_connect_timeout=5)
            conn.ping()
        except (RedisError, ValueError) as exc:
            raise CommandError(
                f"Redis at REDIS_URL={redact_url(redis_url)} is unreachable: {redact_url(str(exc))}"
            ) from exc
        from rq import Worker

        job = enqueue_compose(conn, request)
        if not Worker.count(connection=conn):
            err("no worker is listening yet: start one with `tunesmith worker`; waiting…")
        return wait_for_result(job, timeout, None, None)

    from worker.cli.redis_server import RedisServer

    with RedisServer() as server, tempfile.TemporaryDirectory(prefix="tunesmith-cli-") as tmp:
        conn = Redis.from_url(server.url)
        job = enqueue_compose(conn, request)  # enqueued first, so the burst worker finds it
        log_path = Path(tmp) / "worker.log"
        with log_path.open("wb") as log_file:
            proc = subprocess.Popen(
                [sys.executable, "-m", "worker", "--burst", "--log-level", "WARNING"],
                env={**os.environ, "REDIS_URL": server.url},
                stdout=log_file,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
            )
            try:
                return wait_for_result(job, timeout, proc, log_path)
            finally:
                try:
                    proc.wait(10)
                except subprocess.TimeoutExpired:
                    proc.terminate()
                    proc.wait(10)
                conn.close()


def copy_files(result: ComposeResult, out_dir: Path) -> dict[str, str]:
    out_dir.mkdir(parents=True, exist_ok=True)
    copied = {}
    for kind, src in result.files.items():
        if not Path(src).is_file():
            raise CommandError(f"the worker wrote {src}, which is not on this machine (is it remote?)")
        copied[kind] = str(Path(shutil.copy2(src, out_dir / Path(src).name)))
    return copied
