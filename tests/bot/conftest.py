"""Fixtures for bot tests: the fake Discord, and child processes that are always stopped."""

from __future__ import annotations

import subprocess
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path

import pytest

from tests.fakes import processes
from tests.fakes.discord_server import FakeDiscord

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
