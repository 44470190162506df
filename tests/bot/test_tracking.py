"""Job snapshots against a real Redis and an in-process RQ worker; file picking; failure reasons."""

from __future__ import annotations

from pathlib import Path

import pytest
from rq import SimpleWorker

from bot.tracking import failure_reason, pick_attachments, snapshot
from worker.contract.tracks import SERIALIZER, ComposeRequest, compose_queue, fetch_job

STAND_IN = "tests.fakes.stand_in_worker.compose"


@pytest.fixture
def quick(monkeypatch: pytest.MonkeyPatch, data_dir: Path) -> Path:
    monkeypatch.setenv("STAND_IN_STEP_S", "0")
    return data_dir


def _enqueue(redis_conn, style: str):
    request = ComposeRequest(style=style, seconds=30.0, arch="lstm", seed=7)
    return compose_queue(redis_conn).enqueue(STAND_IN, request.to_dict(), job_id=request.track_id)


def _work(redis_conn) -> None:
    SimpleWorker([compose_queue(redis_conn)], connection=redis_conn, serializer=SERIALIZER).work(
        burst=True, logging_level="WARNING"
    )


def test_snapshot_queued_then_finished(redis_conn, quick: Path) -> None:
    first, second = _enqueue(redis_conn, "irish"), _enqueue(redis_conn, "irish")
    snap = snapshot(second)
    assert snap.waiting and snap.status == "queued" and snap.position == 1
    _work(redis_conn)
    snap = snapshot(fetch_job(redis_conn, first.id))
    assert snap.finished and snap.result is not None
    assert snap.result.track_id == first.id and snap.result.seed == 7
    paths, skipped = pick_attachments(snap.result.files)
    assert [p.suffix for p in paths] == [".ogg", ".mid", ".png"] and not skipped
    assert all(str(p).startswith(str(quick)) for p in paths)


def test_snapshot_failed_gives_a_short_reason(redis_conn, quick: Path) -> None:
    job = _enqueue(redis_conn, "broken")
    _work(redis_conn)
    snap = snapshot(job)
    assert snap.failed and snap.reason == "worker error: RuntimeError"
    assert "Traceback" not in snap.reason and "/secret" not in snap.reason


def test_snapshot_missing_job(redis_conn, quick: Path) -> None:
    job = _enqueue(redis_conn, "irish")
    job.delete()
    assert snapshot(job).status == "missing" and snapshot(job).failed


@pytest.mark.parametrize(
    ("exc", "reason"),
    [
        (
            "Traceback ...\n  File x\nrq.timeouts.JobTimeoutException: Task exceeded maximum timeout value (600 s)",
            "the worker ran out of time",
        ),
        ("rq.exceptions.AbandonedJobError: gone", "the worker stopped unexpectedly"),
        ("Traceback\nworker.contract.BadRequest: Unknown style `x`.", "Unknown style `x`."),
        ("Traceback\nFileNotFoundError: [Errno 2] /data/secret", "worker error: FileNotFoundError"),
        ("", None),
        (None, None),
    ],
)
def test_failure_reason(exc: str | None, reason: str | None) -> None:
    assert failure_reason(exc) == reason


def test_pick_attachments_orders_and_filters(tmp_path: Path) -> None:
    (tmp_path / "t.png").write_bytes(b"png")
    (tmp_path / "t.mid").write_bytes(b"mid")
    (tmp_path / "t.ogg").write_bytes(b"x" * 100)
    (tmp_path / "t.abc").write_text("X:1")
    (tmp_path / "empty.wav").write_bytes(b"")
    files = {
        "image": "t.png",
        "abc": str(tmp_path / "t.abc"),
        "midi": "t.mid",
        "audio": "t.ogg",
        "gone": "nope.mp3",
        "wav": "empty.wav",
    }
    paths, skipped = pick_attachments(files, data_dir=tmp_path)
    assert [p.name for p in paths] == ["t.ogg", "t.mid", "t.png", "t.abc"]
    assert sorted(skipped) == ["empty.wav (empty)", "nope.mp3 (missing)"]
    paths, skipped = pick_attachments(files, data_dir=tmp_path, size_limit=50)
    assert "t.ogg" not in [p.name for p in paths] and any("over the" in s for s in skipped)
