"""The tunesmith command: clear refusals before anything starts, and a real compose with a private Redis."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from worker.cli import main as cli
from worker.cli.redis_server import RedisServer
from worker.output.midi import read_notes


@pytest.fixture
def no_redis(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("REDIS_URL", raising=False)

    def refuse(self, timeout: float = 10.0):
        raise AssertionError("a redis-server was started for a request that should have been refused")

    monkeypatch.setattr(RedisServer, "start", refuse)


def test_unknown_style_is_refused(no_redis, checkpoint_dir: Path, capsys: pytest.CaptureFixture) -> None:
    assert cli.main(["compose", "nosuchstyle", "30s"]) == 1
    captured = capsys.readouterr()
    assert "Unknown style `nosuchstyle`" in captured.err and "irish" in captured.err
    assert captured.out == ""


def test_unknown_arrangement_is_refused(no_redis, checkpoint_dir: Path, capsys: pytest.CaptureFixture) -> None:
    assert cli.main(["compose", "irish", "30s", "--arrangement", "orchestra"]) == 1
    captured = capsys.readouterr()
    assert "Unknown arrangement `orchestra`" in captured.err and captured.out == ""


def test_bad_length_is_refused(no_redis, capsys: pytest.CaptureFixture) -> None:
    assert cli.main(["compose", "irish", "30h"]) == 1
    err = capsys.readouterr().err
    assert "`30h`" in err and "between 5s and 300s" in err


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--formats", "abc,pdf"], "Unknown format `pdf`"),
        (["--key", "H major"], "Can't read the key"),
        (["--meter", "7/8"], "has no `7/8` tunes"),
        (["--bpm", "900"], "tempo must lie between"),
    ],
)
def test_bad_controls_and_formats_are_refused(
    no_redis, checkpoint_dir: Path, capsys: pytest.CaptureFixture, args: list[str], needle: str
) -> None:
    assert cli.main(["compose", "irish", "30s", *args]) == 1
    assert needle in capsys.readouterr().err


def test_worker_needs_a_reachable_redis(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture) -> None:
    monkeypatch.delenv("REDIS_URL", raising=False)
    assert cli.main(["worker", "--burst"]) == 1
    assert "REDIS_URL is not set" in capsys.readouterr().err
    assert cli.main(["worker", "--burst", "--redis-url", "redis://127.0.0.1:1/0"]) == 1
    assert "unreachable" in capsys.readouterr().err


def test_styles_is_forwarded_to_models(checkpoint_dir: Path, capsys: pytest.CaptureFixture) -> None:
    assert cli.main(["styles", "--json"]) == 0
    assert "irish" in json.loads(capsys.readouterr().out)


def _tunesmith() -> list[str]:
    script = Path(sys.executable).with_name("tunesmith")
    return [str(script)] if script.exists() else [sys.executable, "-m", "worker.cli.main"]


@pytest.mark.slow
def test_compose_with_a_private_redis_and_worker(checkpoint_dir: Path, data_dir: Path, tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "REDIS_URL"}
    runs = []
    for name in ("one", "two"):
        out = tmp_path / name
        formats = ["--formats", "abc,musicxml,score,stems"] if name == "two" else []  # the same notes, plus exports
        proc = subprocess.run(
            [*_tunesmith(), "compose", "irish", "20s", "--json", "--seed", "7", "--out", str(out), *formats],
            env=env,
            capture_output=True,
            text=True,
            timeout=180,
        )
        assert proc.returncode == 0, proc.stderr
        summary = json.loads(proc.stdout)  # exactly one JSON object on stdout
        assert (summary["style"], summary["arch"], summary["seed"]) == ("irish", "lstm", 7)
        assert summary["seconds"] == pytest.approx(20.0, abs=0.05)
        assert set(summary["files"]) >= {"midi", "audio", "image"}
        for path in summary["files"].values():
            assert Path(path).parent == out and Path(path).stat().st_size > 0
        assert summary["timings"]["total_s"] >= summary["timings"]["job_s"] > 0
        assert "composing" in proc.stderr  # the progress line
        assert summary["arrangement"] == "band" and summary["key"] and summary["chords"]  # the default
        assert [p["name"] for p in summary["parts"]] == ["melody", "chords", "bass", "percussion"]
        runs.append(summary)
    assert read_notes(runs[0]["files"]["midi"]) == read_notes(runs[1]["files"]["midi"])
    assert {"abc", "musicxml", "score", "score_pdf", "stems"} <= set(runs[1]["files"])
    assert Path(runs[1]["files"]["abc"]).read_text().startswith("X:1")
    assert Path(runs[1]["files"]["score"]).read_bytes().startswith(b"\x89PNG")
    assert runs[0]["files"]["midi"] != runs[1]["files"]["midi"]  # two tracks, same notes
