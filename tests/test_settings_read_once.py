"""Settings are read once, in one place per process kind: an AST scan of bot/, worker/ and models/ for
``os.environ`` / ``os.getenv`` (however ``os`` is imported) outside the modules allowed to read the environment.

A new read elsewhere fails here: add the variable to ``worker.jobs.settings.WorkerSettings`` or
``bot.config.Settings`` and pass the value in (or take it from ``worker.jobs.settings.settings()``).
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("bot", "worker", "models")
ENV_NAMES = {"environ", "environb", "getenv", "getenvb", "putenv", "unsetenv"}
# Module (or package, ending in ".") → why it may read the environment.
ALLOWED = {
    "worker.jobs.settings": "the worker's settings: every variable the worker, its jobs and its output read",
    "bot.config": "the bot's settings",
    "worker.cli.": "command-line entry points: REDIS_URL for a command, the environment handed to children",
    "worker.bench.": "benchmarks: point a scratch data directory at in-process jobs and child workers",
    "models.core.catalog": "TUNESMITH_CHECKPOINT_DIR, the documented override of the shipped checkpoints",
    "models.core.versions": "TUNESMITH_DATA_DIR as the default root of the fine-tuned versions",
    "models.music.corpus": "TUNESMITH_CACHE_DIR, the documented override of the corpus cache",
    "worker.contract.faults": "TUNESMITH_FAULT, the crash tests' fault-injection hook (bot and worker alike)",
}


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def env_reads(source: str, filename: str = "<src>") -> list[int]:
    """Line numbers where ``source`` touches the environment through the ``os`` module."""
    tree = ast.parse(source, filename)
    os_names = {"os"}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            os_names |= {a.asname or a.name for a in node.names if a.name == "os"}
    lines = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module == "os" and {a.name for a in node.names} & ENV_NAMES:
            lines.append(node.lineno)
        elif (
            isinstance(node, ast.Attribute)
            and node.attr in ENV_NAMES
            and isinstance(node.value, ast.Name)
            and node.value.id in os_names
        ):
            lines.append(node.lineno)
    return sorted(lines)


def allowed(module: str) -> bool:
    return any(module == key or (key.endswith(".") and module.startswith(key)) for key in ALLOWED)


def scan() -> dict[str, list[int]]:
    found = {}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            if lines := env_reads(path.read_text(encoding="utf-8"), str(path)):
                found[module_name(path)] = lines
    return found


def test_only_the_settings_modules_read_the_environment() -> None:
    stray = {m: lines for m, lines in scan().items() if not allowed(m)}
    assert stray == {}, (
        "these modules read os.environ/os.getenv: read the variable in worker.jobs.settings or "
        f"bot.config and pass it in ({stray})"
    )


def test_the_allowed_list_has_no_stale_entries() -> None:
    found = scan()
    stale = [key for key in ALLOWED if not any(m == key or (key.endswith(".") and m.startswith(key)) for m in found)]
    assert stale == []


def test_the_scan_sees_every_spelling() -> None:
    assert env_reads("import os\nos.environ.get('X')\n") == [2]
    assert env_reads("import os as o\nx = o.getenv('X')\n") == [2]
    assert env_reads("from os import environ\n") == [1]
    assert env_reads("import os\ndef f(env=os.environ):\n    return env\n") == [2]
    assert env_reads("import os\nos.path.join('a')\nenv = {}\nenv.get('X')\n") == []
