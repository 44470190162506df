"""End to end: a real redis-server, a real worker process and the real model compose a 30 s track."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pretty_midi
import pytest
from PIL import Image
from rq import Worker

from worker.cli import main as cli
from worker.contract.tracks import ComposeRequest, ComposeResult, enqueue_compose, job_progress, read_styles
from worker.output.render import audio_duration, audio_levels


@pytest.mark.slow
def test_compose_30s_through_a_worker_process(
    redis_server,
    redis_conn,
    data_dir: Path,
    checkpoint_dir: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture,
) -> None:
    request = ComposeRequest("irish", 30.0, seed=11)
    job = enqueue_compose(redis_conn, request)
    log = (tmp_path / "worker.log").open("wb")
    worker = subprocess.Popen(
        [sys.executable, "-m", "worker", "--queues", "compose"],
        env={**os.environ, "REDIS_URL": redis_server.url},
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        stages, deadline = set(), time.monotonic() + 120
        while job.get_status(refresh=True) not in ("finished", "failed") and time.monotonic() < deadline:
            stages.add(job_progress(job).get("stage"))
            time.sleep(0.02)
        assert job.get_status() == "finished", (tmp_path / "worker.log").read_text()
        stages.add(job_progress(job).get("stage"))
        assert "irish" in read_styles(redis_conn)  # published when the worker started

        # the CLI with REDIS_URL set goes through the same queue and the same (already warm) worker
        monkeypatch.setenv("REDIS_URL", redis_server.url)
        assert cli.main(["compose", "irish", "10s", "--seed", "3", "--json", "--out", str(tmp_path / "out")]) == 0
        summary = json.loads(capsys.readouterr().out)
        assert summary["seed"] == 3 and summary["seconds"] == pytest.approx(10.0, abs=0.05)
        assert all(Path(p).parent == tmp_path / "out" for p in summary["files"].values())

        # SIGTERM during a job is a warm shutdown: the job finishes, then the worker exits cleanly
        last = enqueue_compose(redis_conn, ComposeRequest("irish", 20.0, seed=5))
        while last.get_status(refresh=True) == "queued" and time.monotonic() < deadline:
            time.sleep(0.01)
        worker.send_signal(signal.SIGTERM)
        assert worker.wait(60) == 0
        assert last.get_status(refresh=True) == "finished"
        assert Worker.count(connection=redis_conn) == 0
    finally:
        if worker.poll() is None:
            worker.kill()
            worker.wait()
        log.close()

    result = ComposeResult.from_dict(job.return_value())
    assert (result.style, result.arch, result.seed) == ("irish", "lstm", 11)
    assert "done" in stages and stages <= {None, "loading", "sampling", "writing", "rendering", "drawing", "done"}
    assert job_progress(job)["fraction"] == 1.0
    bar_s = 30.0 / result.bars

    midi = pretty_midi.PrettyMIDI(result.files["midi"])
    assert midi.get_end_time() == pytest.approx(30.0, abs=1e-3)
    assert len(midi.instruments[0].notes) >= result.bars  # roughly a note a bar at the very least

    audio = result.files["audio"]
    assert result.seconds == pytest.approx(audio_duration(audio))
    assert audio_duration(audio) == pytest.approx(30.0, abs=min(bar_s, 0.05))
    levels = audio_levels(audio)
    assert levels.peak_db > -6.0 and levels.mean_db > -40.0

    with Image.open(result.files["image"]) as image:
        assert image.format == "PNG" and image.size == (1200, 400)
    assert all(Path(p).parent == data_dir / "tracks" / request.track_id for p in result.files.values())
