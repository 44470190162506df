"""What issue 15 adds to a track's cost, measured in-process with the shipped Irish model (loaded first):
the 30 s compose job plain and with an exact key, meter and loop; and the on-demand outputs (score, ABC +
MusicXML, stems) that the buttons run as a separate job. ``python -m worker.bench.outputs [--runs N] [--json]``."""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import tempfile
import time
from typing import Any


def _p50(values: list[float]) -> float:
    return round(statistics.median(values), 3)


def bench(runs: int = 5, seconds: float = 30.0) -> dict[str, Any]:
    from worker.jobs import compose_job as jobs
    from worker.jobs import context
    from worker.jobs.outputs_job import outputs
    from worker.jobs.settings import DATA_DIR_ENV, use_settings

    out: dict[str, Any] = {"machine": f"{platform.machine()} {os.cpu_count()} cores", "runs": runs, "seconds": seconds}
    with tempfile.TemporaryDirectory(prefix="tunesmith-bench15-") as tmp:
        os.environ[DATA_DIR_ENV] = tmp
        use_settings(None)
        context.get_composer("irish", "lstm", context.resolve_device())
        variants = {"plain": {}, "controls": {"key": "D dorian", "meter": "6/8", "loop": True}}
        tracks: list[str] = []
        times: dict[str, list[float]] = {name: [] for name in variants}
        for seed in range(runs + 1):  # interleaved, so a busy moment of the machine hits both alike
            for name, extra in variants.items():
                tid = f"b15{name}{seed}"
                start = time.perf_counter()
                jobs.compose(
                    {"style": "irish", "seconds": seconds, "arch": "lstm", "seed": seed, "track_id": tid, **extra}
                )
                times[name].append(time.perf_counter() - start)
                tracks.append(tid)
        for name, values in times.items():
            out[f"compose_{name}_p50_s"] = _p50(values[1:])  # the first run warms caches
        for kind in ("score", "exports", "stems"):
            took: list[float] = []
            for tid in tracks[2 : 2 + runs]:
                start = time.perf_counter()
                answer = outputs({"track_id": tid, "kind": kind, "size_limit": 10 * 1024 * 1024})
                took.append(time.perf_counter() - start)
                assert answer["error"] is None, answer
            out[f"{kind}_p50_s"] = _p50(took)
            start = time.perf_counter()
            outputs({"track_id": tracks[2], "kind": kind, "size_limit": 10 * 1024 * 1024})
            out[f"{kind}_again_s"] = round(time.perf_counter() - start, 3)  # a second click reuses the files
    out["eager_extra_p50_s"] = round(out["score_p50_s"] + out["exports_p50_s"], 3)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m worker.bench.outputs")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    result = bench(args.runs, args.seconds)
    if args.json:
        print(json.dumps(result))
    else:
        for key, value in result.items():
            print(f"{key:24s} {value}")
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
