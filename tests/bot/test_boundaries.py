"""The bot must never import torch, the models package or the worker's job module."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

BOT_DIR = Path(__file__).resolve().parents[2] / "bot"
FORBIDDEN = ("torch", "models", "worker.jobs", "worker.jobs.runner", "worker.cli.main")


def test_importing_the_bot_loads_neither_torch_nor_models() -> None:
    code = (
        "import bot.main, bot.client, bot.compose, bot.embeds, bot.tracking, bot.config, bot.commands, "
        "bot.actions, bot.poster, bot.delivery, bot.texts, bot.launch, bot.store, bot.votes, bot.db, bot.finetune, "
        "bot.training, bot.metrics, bot.observe, bot.cogs.outputs, worker.contract.training; import sys; "
        "bad = [m for m in sys.modules if m.split('.')[0] in ('torch', 'models') or m == 'worker.jobs']; "
        "assert not bad, bad"
    )
    proc = subprocess.run([sys.executable, "-c", code], cwd=BOT_DIR.parent, capture_output=True, text=True,
                          timeout=60)
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
        f"{path.name}: {name}"
        for path in files
        for name in _imports(path)
        if any(name == bad or name.startswith(bad + ".") for bad in FORBIDDEN)
    ]
    assert not offenders, offenders


def test_bot_uses_only_the_worker_contract() -> None:
    worker_modules = {name for path in BOT_DIR.rglob("*.py") for name in _imports(path) if name.startswith("worker")}
    assert {name.split(".")[1] for name in worker_modules if "." in name} <= {"contract", "training_contract",
                                                                                "logfmt"}


def test_the_shared_log_formatter_is_torch_free() -> None:
    """worker.contract.logfmt is the one other worker module the bot uses: it must load neither torch nor models."""
    code = ("import worker.contract.logfmt, sys; bad = [m for m in sys.modules if m.split('.')[0] in ('torch', 'models', 'rq')"
            " or m in ('worker.jobs', 'worker.jobs.runner')]; assert not bad, bad")
    proc = subprocess.run([sys.executable, "-c", code], cwd=BOT_DIR.parent, capture_output=True, text=True,
                          timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert not [n for n in _imports(BOT_DIR.parent / "worker" / "logfmt.py") if n.split(".")[0] in ("torch", "models")]
