"""The RQ jobs, by the dotted names that travel over Redis: ``worker.jobs.compose``, ``.extend``, ``.harmonize``,
``.vary``, ``.outputs``, ``.finetune`` and ``.rollback`` (``worker.contract`` names them; a job's module is
imported when RQ asks)."""

from __future__ import annotations

import importlib
from typing import Any

_MODULES = {
    "compose": "compose_job",
    "extend": "track_jobs",
    "harmonize": "track_jobs",
    "finetune": "finetune_job",
    "rollback": "finetune_job",
    "vary": "track_jobs",
    "outputs": "outputs_job",
}


def __getattr__(name: str) -> Any:  # PEP 562: RQ resolves "worker.jobs.compose" through here
    if name in _MODULES:
        return getattr(importlib.import_module(f"{__name__}.{_MODULES[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
