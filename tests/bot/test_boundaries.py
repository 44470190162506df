"""The bot must never import torch, the models package or the worker's jobs: only the torch-free contract."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
BOT_DIR = ROOT / "bot"
FORBIDDEN = ("torch", "models", "worker.jobs", "worker.output", "worker.cli", "worker.bench")
_LOADED = (
    "bad = [m for m in sys.modules if m.split('.')[0] in ('torch', 'models') or "
    "any(m == f or m.startswith(f + '.') for f in ('worker.jobs', 'worker.output', 'worker.cli'))]; "
    "assert not bad, bad"
)


def _run(code: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60)


def test_importing_every_bot_module_loads_neither_torch_nor_models() -> None:
    code = (
        "import importlib, pkgutil, sys, bot; "
        "[importlib.import_module(i.name) for i in pkgutil.walk_packages(bot.__path__, 'bot.') "
        "if not i.name.endswith('__main__')]; " + _LOADED
    )
    proc = _run(code)
    assert proc.returncode == 0, proc.stderr


def _imports(path: Path) -> list[str]:
    names = []
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.append(node.module)
            names += [f"{node.module}.{alias.name}" for alias in node.names]
    return names


def test_no_bot_module_imports_forbidden_packages() -> None:
    files = sorted(BOT_DIR.rglob("*.py"))
    assert files
    offenders = [
        f"{path.relative_to(ROOT)}: {name}"
        for path in files
        for name in _imports(path)
        if any(name == bad or name.startswith(bad + ".") for bad in FORBIDDEN)
    ]
    assert not offenders, offenders


def test_bot_uses_only_the_worker_contract() -> None:
    worker_modules = {name for path in BOT_DIR.rglob("*.py") for name in _imports(path) if name.startswith("worker")}
    assert worker_modules and {name.split(".")[1] for name in worker_modules if "." in name} == {"contract"}


def test_the_contract_is_torch_free() -> None:
    """worker.contract is all of the worker the bot loads: it must load neither torch, models nor rq's jobs."""
    code = (
        "import importlib, pkgutil, sys, worker.contract as c; "
        "[importlib.import_module(i.name) for i in pkgutil.walk_packages(c.__path__, 'worker.contract.')]; " + _LOADED
    )
    proc = _run(code)
    assert proc.returncode == 0, proc.stderr
