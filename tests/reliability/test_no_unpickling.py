"""Nothing a user can influence is ever unpickled: no pickle-family module in the product code, torch.load only
with weights_only=True, no numpy allow_pickle, and every RQ queue, job, worker and registry built with the JSON
serializer (else RQ would unpickle job data from Redis). Job arguments, as stored, are plain JSON."""

from __future__ import annotations

import ast
import json
import zlib
from pathlib import Path

import pytest

from worker.contract.tracks import SERIALIZER, ComposeRequest, enqueue_tracks

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("bot", "worker", "models")
UNSAFE_MODULES = {"pickle", "cPickle", "_pickle", "dill", "cloudpickle", "joblib", "shelve", "marshal", "jsonpickle"}
# RQ classes that deserialize job data: built without serializer=, they fall back to pickle.
RQ_BUILDERS = {
    "Queue",
    "Worker",
    "SimpleWorker",
    "SpawnWorker",
    "ComposeWorker",
    "LeasedWorker",
    "StartedJobRegistry",
    "FinishedJobRegistry",
    "FailedJobRegistry",
    "DeferredJobRegistry",
    "ScheduledJobRegistry",
    "CanceledJobRegistry",
}
JOB_LOADERS = {"fetch", "fetch_many", "create"}


def _sources() -> list[Path]:
    return sorted(p for package in PACKAGES for p in (ROOT / package).rglob("*.py"))


def _name(node: ast.expr) -> str:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return f"{_name(node.value)}.{node.attr}"
    return ""


def _kwargs(call: ast.Call) -> dict[str, ast.expr]:
    return {k.arg: k.value for k in call.keywords if k.arg}


def findings(source: str, where: str) -> list[str]:
    """Every unsafe deserialization in ``source``, as ``where:line: what``."""
    out = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import | ast.ImportFrom):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else [node.module or ""]
            out += [f"{where}:{node.lineno}: imports {n}" for n in names if n.split(".")[0] in UNSAFE_MODULES]
        if not isinstance(node, ast.Call):
            continue
        name, kw = _name(node.func), _kwargs(node)
        last = name.rsplit(".", 1)[-1]
        if last == "load" and name.split(".")[0] == "torch":
            safe = kw.get("weights_only")
            if not (isinstance(safe, ast.Constant) and safe.value is True):
                out.append(f"{where}:{node.lineno}: torch.load without weights_only=True")
        if last == "load" and name.split(".")[0] in ("np", "numpy") and "allow_pickle" in kw:
            out.append(f"{where}:{node.lineno}: numpy load with allow_pickle")
        if last == "load" and name.split(".")[0] == "yaml" and "Loader" not in kw:
            out.append(f"{where}:{node.lineno}: yaml.load without a Loader")
        builds = last in RQ_BUILDERS and name == last  # a constructor call, not Worker.count() and the like
        loads = last in JOB_LOADERS and name.split(".")[0] == "Job"
        if (builds or loads) and "serializer" not in kw and "queue" not in kw:
            out.append(f"{where}:{node.lineno}: {name}(...) without serializer= (RQ's default is pickle)")
    return out


def test_the_product_code_never_unpickles() -> None:
    problems = [f for path in _sources() for f in findings(path.read_text(), str(path.relative_to(ROOT)))]
    assert problems == []


@pytest.mark.parametrize(
    ("source", "caught"),
    [
        ("import pickle", "imports pickle"),
        ("from joblib import load", "imports joblib"),
        ("import torch\ntorch.load(p)", "weights_only"),
        ("import torch\ntorch.load(p, weights_only=False)", "weights_only"),
        ("import numpy as np\nnp.load(p, allow_pickle=True)", "allow_pickle"),
        ("from rq import Queue\nQueue('compose', connection=r)", "without serializer"),
        ("from rq.job import Job\nJob.fetch(i, connection=r)", "without serializer"),
        (
            "from rq.registry import StartedJobRegistry\nStartedJobRegistry('compose', connection=r)",
            "without serializer",
        ),
    ],
)
def test_the_scan_catches_each_kind(source: str, caught: str) -> None:
    assert any(caught in f for f in findings(source, "x.py"))


@pytest.mark.parametrize(
    "source",
    [
        "import torch\ntorch.load(p, weights_only=True)",
        "Queue('compose', connection=r, serializer=S)",
        "StartedJobRegistry(queue=q)",
        "Worker.count(connection=r)",
        "Job.fetch(i, connection=r, serializer=S)",
    ],
)
def test_the_scan_passes_safe_code(source: str) -> None:
    assert findings(source, "x.py") == []


def test_job_arguments_are_stored_as_json(redis_conn) -> None:  # noqa: ANN001 - the fixture's Redis
    request = ComposeRequest("irish", 30.0, seed=7, user_id="1")
    job = enqueue_tracks(redis_conn, [request])[0]
    raw = zlib.decompress(redis_conn.hget(job.key, "data"))
    assert json.loads(raw) == ["worker.jobs.compose", None, [request.to_dict()], {}]
    assert SERIALIZER == "rq.serializers.JSONSerializer"
