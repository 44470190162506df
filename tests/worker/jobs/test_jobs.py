"""The compose job in-process, with a stand-in composer: files, result, progress, bad requests."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from tests.worker.conftest import make_composition
from worker.contract.tracks import (
    SERIALIZER,
    BadRequest,
    ComposeRequest,
    ComposeResult,
    StyleInfo,
    compose_queue,
    enqueue_compose,
)
from worker.jobs import compose_job as jobs
from worker.jobs import context
from worker.jobs.runner import ComposeWorker
from worker.output.midi import midi_end_time

STYLES = {"irish": StyleInfo("irish", ["lstm"], "lstm")}


class StandInComposer:
    checkpoint = "irish-lstm@test"
    can_extend, can_harmonize, can_batch = True, False, False

    def __init__(self) -> None:
        self.calls: list[dict] = []

    def compose(self, seconds, *, seed, temperature=1.0, top_k=0, tempo=None, on_progress=None):
        self.calls.append(
            {"seconds": seconds, "seed": seed, "temperature": temperature, "top_k": top_k, "tempo": tempo}
        )
        for i in range(5):
            if on_progress:
                on_progress(i / 4)
        piece = make_composition(seconds, qpm=120.0, seed=seed)
        return replace(piece, seconds=float(seconds), extra_files={"abc": "X:1\nK:D\nABc|"})


@pytest.fixture
def stand_in(monkeypatch: pytest.MonkeyPatch) -> StandInComposer:
    composer = StandInComposer()
    monkeypatch.setattr(jobs, "get_composer", lambda style, arch, device: composer)
    monkeypatch.setattr(jobs, "local_styles", lambda: STYLES)
    monkeypatch.setenv("TUNESMITH_DEVICE", "cpu")
    context.clear_cache()
    return composer


def test_job_through_a_simple_worker(redis_conn, data_dir: Path, stand_in: StandInComposer) -> None:
    request = ComposeRequest("irish", 10.0, temperature=0.9, top_k=5)
    job = enqueue_compose(redis_conn, request)
    worker = ComposeWorker([compose_queue(redis_conn)], connection=redis_conn, serializer=SERIALIZER)
    assert worker.work(burst=True, logging_level="WARNING")
    assert job.get_status(refresh=True) == "finished", job.latest_result().exc_string
    result = ComposeResult.from_dict(job.return_value(refresh=True))
    assert 0 <= result.seed < 2**31 and stand_in.calls[0]["seed"] == result.seed  # picked and reported
    assert stand_in.calls[0]["temperature"] == 0.9 and stand_in.calls[0]["top_k"] == 5
    folder = data_dir / "tracks" / request.track_id
    assert {Path(p).name for p in result.files.values()} == {
        f"{request.track_id}.{e}" for e in ("mid", "ogg", "png", "abc")
    }
    assert all(Path(p).parent == folder and Path(p).stat().st_size > 0 for p in result.files.values())
    assert result.seconds == pytest.approx(10.0, abs=0.01)
    assert midi_end_time(result.files["midi"]) == pytest.approx(10.0, abs=1e-3)
    assert set(result.timings) >= {"sample_s", "midi_s", "render_s", "image_s", "total_s"}
    assert result.device == "cpu" and result.checkpoint == "irish-lstm@test"
    assert job.get_meta(refresh=True)["progress"] == {"stage": "done", "fraction": 1.0, "stage_fraction": 1.0}


def test_direct_call_with_a_seed_and_bad_requests(data_dir: Path, stand_in: StandInComposer) -> None:
    out = jobs.compose(ComposeRequest("irish", 6.0, seed=123, track_id="abc-123").to_dict())
    assert out["seed"] == 123 and out["track_id"] == "abc-123"
    with pytest.raises(BadRequest, match="Styles: irish"):
        jobs.compose(ComposeRequest("polka", 30.0).to_dict())
    with pytest.raises(BadRequest, match="track id"):
        jobs.compose(ComposeRequest("irish", 30.0, track_id="../../etc").to_dict())
    assert len(stand_in.calls) == 1


class FakeJob:
    def __init__(self) -> None:
        self.meta: dict = {}
        self.saved: list[dict] = []

    def save_meta(self) -> None:
        self.saved.append(dict(self.meta["progress"]))


def test_progress_is_throttled_within_a_stage() -> None:
    job = FakeJob()
    progress = context.Progress(job, min_interval=60.0)
    progress("loading")
    for i in range(100):
        progress("sampling", i / 100)
    progress("rendering")
    assert [p["stage"] for p in job.saved] == ["loading", "sampling", "rendering"]
    assert job.saved[1]["fraction"] == pytest.approx(context.STAGES["sampling"][0])
    context.Progress(None)("sampling", 0.5)  # outside a job: no-op
