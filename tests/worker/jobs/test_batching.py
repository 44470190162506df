"""Batched sampling in a real worker process: waiting jobs of one style and arch are sampled together, each
keeps its own result or failure, and every JSON log line written for a job carries its track id."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from worker.contract.tracks import ComposeRequest, ComposeResult, enqueue_tracks
from worker.jobs import batching
from worker.jobs.settings import DEFAULT_BATCH, SettingsError, WorkerSettings, use_settings


def test_batch_size_setting() -> None:
    assert WorkerSettings.from_env({}).batch_size == DEFAULT_BATCH == 8
    assert WorkerSettings.from_env({"TUNESMITH_BATCH": "32"}).batch_size == 32
    assert WorkerSettings.from_env({"TUNESMITH_BATCH": "1"}).batch_size == 1
    for bad in ("0", "-3", "many"):
        with pytest.raises(SettingsError, match="TUNESMITH_BATCH"):
            WorkerSettings.from_env({"TUNESMITH_BATCH": bad})
    use_settings(WorkerSettings(batch_size=3))
    assert batching.batch_size() == 3


def test_take_outside_a_batch_is_none() -> None:
    assert batching.take("0" * 32) is None


@pytest.mark.slow
def test_a_worker_samples_waiting_jobs_in_one_batch(redis_server, redis_conn, data_dir: Path, tmp_path: Path) -> None:
    user = "123456789012345678"
    good = [ComposeRequest("irish", 5.0 + i, arch="lstm", seed=40 + i, user_id=user) for i in range(4)]
    bad = ComposeRequest("irish", 5.0, arch="lstm", seed=9, track_id="x" * 70, user_id=user)  # fails on its own
    other = ComposeRequest("irish", 5.0, arch="wavenet", seed=3, user_id=user)  # another arch: not in the batch
    jobs = enqueue_tracks(redis_conn, [*good[:2], bad, other, *good[2:]])
    env = {
        **os.environ,
        "REDIS_URL": redis_server.url,
        "TUNESMITH_DATA_DIR": str(data_dir),
        "TUNESMITH_LOG_FORMAT": "json",
        "TUNESMITH_BATCH": "8",
        "TUNESMITH_TORCH_THREADS": "1",
        "DISCORD_TOKEN": "sekrit-token-never-logged",
    }
    proc = subprocess.run(
        [sys.executable, "-m", "worker", "--burst", "--queues", "compose"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    lines = [json.loads(line) for line in proc.stderr.splitlines() if line.startswith("{")]
    assert lines and len(lines) == len([x for x in proc.stderr.splitlines() if x.strip()]), "every line is JSON"

    by_id = {job.id: job for job in jobs}
    results = {r.track_id: ComposeResult.from_dict(by_id[r.track_id].return_value(refresh=True)) for r in good}
    for req in good:  # each job its own result: its seed, its length, its files
        result = results[req.track_id]
        assert result.seed == req.seed and result.seconds == pytest.approx(req.seconds, abs=0.05)
        assert result.timings["batch"] == 5 and Path(result.files["audio"]).is_file()
    assert len({tuple(r.tokens) for r in results.values()}) == 4
    assert by_id[bad.track_id].get_status(refresh=True) == "failed"
    assert "BadRequest" in by_id[bad.track_id].latest_result().exc_string
    wavenet = ComposeResult.from_dict(by_id[other.track_id].return_value(refresh=True))
    assert "batch" not in wavenet.timings

    sampled = [x for x in lines if "in one batch" in x["msg"]]
    assert len(sampled) == 1 and "5 irish/lstm" in sampled[0]["msg"]
    for req in [*good, other]:  # RQ's own "Job OK" line and ours, both tagged with the job's track id
        mine = [x for x in lines if x.get("track_id") == req.track_id]
        assert any("Job OK" in x["msg"] for x in mine), req.track_id
        assert all(x["kind"] == "compose" and x["user"] and x["user"] != user for x in mine)
    assert any(x.get("track_id") == bad.track_id and x["level"] == "ERROR" for x in lines)
    assert "sekrit-token-never-logged" not in proc.stderr and user not in proc.stderr


def test_a_worker_takes_no_more_than_its_share_of_the_queue() -> None:
    assert batching.fair_share(8, waiting=7, workers=1) == 8
    assert batching.fair_share(8, waiting=7, workers=2) == 4
    assert batching.fair_share(8, waiting=100, workers=2) == 8
    assert batching.fair_share(32, waiting=0, workers=3) == 1
    assert batching.fair_share(8, waiting=5, workers=0) == 6


@pytest.mark.slow
def test_jobs_of_a_worker_killed_mid_batch_are_retried(
    redis_server, redis_conn, data_dir: Path, tmp_path: Path
) -> None:
    requests = [ComposeRequest("irish", 30.0, arch="lstm", seed=70 + i, user_id=f"u{i}") for i in range(3)]
    jobs = enqueue_tracks(redis_conn, requests)
    env = {
        **os.environ,
        "REDIS_URL": redis_server.url,
        "TUNESMITH_DATA_DIR": str(data_dir),
        "TUNESMITH_JOB_LEASE_S": "2",
        "TUNESMITH_TORCH_THREADS": "1",
    }
    args = [sys.executable, "-m", "worker", "--queues", "compose", "--log-level", "WARNING"]
    first = subprocess.Popen(args, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    second = None
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:  # the batch is claimed: nothing waits, none is done yet
            states = [j.get_status(refresh=True) for j in jobs]
            if "queued" not in states and "finished" not in states:
                break
            time.sleep(0.01)
        assert states == ["started"] * 3, states
        first.send_signal(signal.SIGKILL)
        first.wait(10)
        second = subprocess.Popen(args, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline and any(j.get_status(refresh=True) != "finished" for j in jobs):
            assert not any(j.get_status() == "failed" for j in jobs), [j.latest_result() for j in jobs]
            time.sleep(0.2)
        for job, req in zip(jobs, requests, strict=True):  # retried once, each with its own seed
            assert job.get_status(refresh=True) == "finished"
            assert ComposeResult.from_dict(job.return_value()).seed == req.seed
    finally:
        for proc in (first, second):
            if proc is not None and proc.poll() is None:
                proc.kill()
                proc.wait(10)
