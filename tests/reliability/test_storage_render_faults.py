"""Rendering and storage faults on a real worker: the soundfont missing or corrupt (FluidSynth fails), the data
directory full or read-only. Each gives the user a clear reason with the track id, never a path or traceback;
the worker stays up and serves the next job; nothing half-written is left under the track's directory."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.reliability.harness import REAL, Fleet, compose
from worker.contract.tracks import fetch_job
from worker.output.render import find_soundfont

pytestmark = pytest.mark.slow

# A full disk: a 64 KiB tmpfs over the tracks directory in the worker's own mount namespace (a real ENOSPC);
# where namespaces are not allowed, a file size limit of as much (EFBIG, which takes the same path).
FULL_MOUNT = 'mount -t tmpfs -o size=64k tmpfs "$0" && exec "$@"'
SET_FSIZE = (
    "import os, resource, sys; resource.setrlimit(resource.RLIMIT_FSIZE, (65536, 65536));"
    " os.execv(sys.argv[1], sys.argv[1:])"
)
READ_ONLY_MOUNT = 'mount --bind "$0" "$0" && mount -o remount,bind,ro "$0" && exec "$@"'


@pytest.fixture(scope="module")
def fleet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Fleet]:
    tmp = tmp_path_factory.mktemp("faults")
    (tmp / "font.sf2").symlink_to(find_soundfont())
    fleet = Fleet(tmp, REAL, TUNESMITH_SOUNDFONT=str(tmp / "font.sf2"), TUNESMITH_TORCH_THREADS="1")
    try:
        yield fleet.start()
    finally:
        fleet.stop()


def _fails_clearly(fleet: Fleet, who: str, length: str, reason: str) -> str:
    """A /compose that fails: the user is told ``reason`` with the track id, and nothing else."""
    inter, track = compose(fleet, who, {"style": "irish", "length": length, "seed": 1})
    told = fleet.outcome(inter, 60)
    text = told.json["content"]
    assert told.method == "PATCH" and f"`{track}`" in text and reason in text, text
    assert "/" not in text.replace("</", "") and "Traceback" not in text and "Errno" not in text, text
    assert fetch_job(fleet.redis, track).retries_left == 0, "a failure that is not a crash is not retried"
    return track


def _nothing_half_written(fleet: Fleet, track: str, worker: subprocess.Popen | None = None) -> None:
    """No file of ``track`` under the tracks directory, as the worker sees it (its mount namespace)."""
    tracks = fleet.data_dir / "tracks"
    if worker is not None:
        tracks = Path(f"/proc/{worker.pid}/root") / tracks.relative_to("/")
    assert not (tracks / track).exists(), sorted(p.name for p in (tracks / track).iterdir())
    assert not [p.name for p in tracks.glob(".*")], "staging directories are cleaned up"


def _serves(fleet: Fleet, worker: subprocess.Popen, who: str) -> None:
    """The same worker process is alive and makes the next track."""
    inter, track = compose(fleet, who, {"style": "irish", "length": "5s", "seed": 2})
    post = fleet.outcome(inter, 60)
    assert post.method == "POST" and len(post.files) == 3, post.json
    assert fetch_job(fleet.redis, track).worker_name.endswith(f"-{worker.pid}") and worker.poll() is None


def test_missing_or_corrupt_soundfont_is_reported_and_the_worker_recovers(fleet: Fleet) -> None:
    worker, font = fleet.workers[0], fleet.tmp / "font.sf2"
    font.unlink()
    track = _fails_clearly(fleet, "ola", "6s", "could not render the audio")
    _nothing_half_written(fleet, track)
    (fleet.tmp / "garbage.sf2").write_bytes(os.urandom(4096))
    font.symlink_to(fleet.tmp / "garbage.sf2")  # FluidSynth itself fails to load it
    _fails_clearly(fleet, "pia", "6s", "could not render the audio")
    assert worker.poll() is None
    font.unlink()
    font.symlink_to(find_soundfont())
    _serves(fleet, worker, "quin")


def test_full_disk_is_reported_and_nothing_half_written_is_served(fleet: Fleet) -> None:
    tracks = fleet.data_dir / "tracks"
    tracks.mkdir(exist_ok=True)
    worker = fleet.swap_worker(_namespaced(FULL_MOUNT, REAL, tracks) or [sys.executable, "-c", SET_FSIZE, *REAL])
    track = _fails_clearly(fleet, "rex", "20s", "disk is full")
    _nothing_half_written(fleet, track, worker)
    assert worker.poll() is None
    inter, second = compose(fleet, "sue", {"style": "irish", "length": "20s"})  # it keeps taking jobs
    assert "disk is full" in fleet.outcome(inter, 60).json["content"]
    assert fetch_job(fleet.redis, second).worker_name.endswith(f"-{worker.pid}") and worker.poll() is None


def _namespaced(script: str, args: list[str], directory: Path) -> list[str] | None:
    """``args`` run after ``script`` mounts something on ``directory`` in a private user and mount namespace,
    which nobody else sees; None where namespaces are not allowed."""
    if shutil.which("unshare") is None:
        return None
    wrap = ["unshare", "-rm", "sh", "-c", script, str(directory)]
    probe = subprocess.run([*wrap, "true"], capture_output=True, timeout=10)
    return [*wrap, *args] if probe.returncode == 0 else None


def test_read_only_data_directory_is_reported_and_the_worker_stays_up(fleet: Fleet) -> None:
    tracks = fleet.data_dir / "tracks"
    tracks.mkdir(exist_ok=True)
    wrapped = _namespaced(READ_ONLY_MOUNT, REAL, tracks)
    if wrapped is None and os.geteuid() == 0:
        pytest.skip("no mount namespace here, and root ignores file modes")
    if wrapped is None:
        tracks.chmod(0o555)
    try:
        worker = fleet.swap_worker(wrapped or REAL)
        track = _fails_clearly(fleet, "tom", "6s", "read-only")
        _nothing_half_written(fleet, track, worker)
        inter, _ = compose(fleet, "uma", {"style": "irish", "length": "6s"})
        assert "read-only" in fleet.outcome(inter, 60).json["content"] and worker.poll() is None
    finally:
        tracks.chmod(0o755)
    _serves(fleet, fleet.swap_worker(), "vic")  # a worker with a writable disk again: all is well
