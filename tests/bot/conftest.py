"""Fixtures for bot tests: the fake Discord, child processes that are always stopped, and the real stack."""

from __future__ import annotations

import subprocess
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path

import pytest

from tests.fakes import processes
from tests.fakes.discord_server import FakeDiscord
from tests.fakes.stack import TUNESMITH, Stack

Spawn = Callable[[str, list[str], Mapping[str, str]], subprocess.Popen]


@pytest.fixture
def fake_discord() -> Iterator[FakeDiscord]:
    with FakeDiscord() as fake:
        yield fake


@pytest.fixture
def spawn(tmp_path: Path) -> Iterator[Spawn]:
    """Start a named child process (logs in tmp_path/<name>.log); all are stopped at teardown."""
    procs: list[subprocess.Popen] = []

    def _spawn(name: str, args: list[str], env: Mapping[str, str]) -> subprocess.Popen:
        proc = processes.spawn(args, env, tmp_path / f"{name}.log")
        procs.append(proc)
        return proc

    yield _spawn
    for proc in reversed(procs):
        processes.stop(proc)


def _models_dir(directory: Path) -> Path:
    """The shipped Irish model (linked) and a tiny, untrained Coconet for the 🎼 harmonize button."""
    from models.coconet.model import Coconet, CoconetConfig
    from models.core.checkpoint import SHIPPED_DIR, save_checkpoint

    directory.mkdir(parents=True, exist_ok=True)
    for path in SHIPPED_DIR.glob("irish-lstm.*"):
        (directory / path.name).symlink_to(path)
    model = Coconet(CoconetConfig(layers=2, channels=4))
    save_checkpoint(
        model,
        {"arch": "coconet", "style": "bach", "args": model.config.to_dict(), "meters": {"4/4": 1.0}},
        directory,
        "bach",
        "coconet",
    )
    return directory


@pytest.fixture(scope="package")
def real_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """The real `tunesmith worker` (shipped Irish model, FluidSynth) and `tunesmith bot`, shared by the
    end-to-end modules; tests that restart the bot leave a fresh one behind."""
    tmp = tmp_path_factory.mktemp("real")
    stack = Stack(
        tmp,
        [TUNESMITH, "worker", "--queues", "compose"],
        TUNESMITH_CHECKPOINT_DIR=str(_models_dir(tmp / "checkpoints")),
        TUNESMITH_TORCH_THREADS="1",
    )
    try:
        yield stack.start(timeout=120)
    finally:
        stack.stop()
