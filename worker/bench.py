"""``tunesmith bench``: speed figures measured side by side in one run on this machine → BENCHMARKS.md.

Cached vs naive decoding uses the same weights at batch 1; batched sampling compares 32 streams in one
batch with 32 one by one; rendering and the whole compose job run on a real 30 s piece.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

TARGETS = {"lstm_cached_vs_refeed": 20, "wavenet_cached_vs_naive": 10, "batched32_vs_sequential": 8,
           "render_x_realtime": 30, "compose_p50_s": 2.0}


def _rate(fn, tokens: int) -> float:
    """Tokens per second of ``fn()`` producing ``tokens`` tokens (best of 3 runs)."""
    best = float("inf")
    for _ in range(5):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return tokens / best


def _token_model(arch: str):
    """The shipped model of ``arch`` serving irish, or one of the shipped size with random weights."""
    from models.compose.factory import load_composer
    from models.music.tokens import Vocab
    from models.tokenlm.registry import build_model
    from worker.cli.models import SHIPPED_ARGS

    try:
        composer = load_composer("irish", arch)
        return composer.model, composer.vocab, "shipped checkpoint"
    except (LookupError, OSError):
        vocab = Vocab()
        return build_model(arch, {"vocab_size": len(vocab), **SHIPPED_ARGS[arch]}).eval(), vocab, "random weights"


def bench_decoding() -> dict[str, float | str]:
    """LSTM carried state vs window re-feed; WaveNet cached vs naive; both at batch 1 on the same weights."""
    import torch

    out: dict[str, float | str] = {}
    lstm, _, source = _token_model("lstm")
    ids = torch.randint(5, 60, (1, 400))

    def cached(model, n: int):
        def run() -> None:
            _, state = model(ids[:, :1])
            for t in range(1, n):
                _, state = model.step(ids[:, t], state)
        return run

    def naive(step_fn, n: int, start: int = 100):
        def run() -> None:
            for t in range(start, start + n):
                step_fn(ids[:, : t + 1])
        return run

    out["lstm_tokens_s_cached"] = round(_rate(cached(lstm, 300), 300), 1)
    out["lstm_tokens_s_refeed"] = round(_rate(naive(lambda h: lstm.refeed_step(h, 100), 60), 60), 1)
    out["lstm_cached_vs_refeed"] = round(out["lstm_tokens_s_cached"] / out["lstm_tokens_s_refeed"], 1)
    out["lstm_weights"] = source
    wavenet, _, source = _token_model("wavenet")
    ids = torch.randint(5, 60, (1, 1200))
    out["wavenet_receptive_field"] = wavenet.receptive_field
    out["wavenet_tokens_s_cached"] = round(_rate(cached(wavenet, 300), 300), 1)
    out["wavenet_tokens_s_naive"] = round(_rate(naive(wavenet.naive_step, 40, wavenet.receptive_field), 40), 1)
    out["wavenet_cached_vs_naive"] = round(out["wavenet_tokens_s_cached"] / out["wavenet_tokens_s_naive"], 1)
    out["wavenet_weights"] = source
    return out


def bench_batching(streams: int = 32, bars: int = 8) -> dict[str, float]:
    """Aggregate tokens/s of ``streams`` pieces sampled as one batch vs one by one (same model, same grammar)."""
    import torch

    from models.tokenlm.sampling import sample_bars

    model, vocab, _ = _token_model("lstm")
    meters = ["6/8", "4/4", "2/4", "3/4"] * (streams // 4)
    threads = torch.get_num_threads()
    rates = {}
    for n_threads in sorted({threads, os.cpu_count() or 1}):  # batch 1 is fastest on one thread, batch 32 on all
        torch.set_num_threads(n_threads)
        start = time.perf_counter()
        batched = sample_bars(model, vocab, meters, bars, seed=1)
        rates[n_threads] = sum(map(len, batched)) / (time.perf_counter() - start)
    torch.set_num_threads(threads)
    start = time.perf_counter()
    single = [sample_bars(model, vocab, [m], bars, seed=1 + i)[0] for i, m in enumerate(meters)]
    sequential = sum(map(len, single)) / (time.perf_counter() - start)
    best = max(rates, key=rates.get)
    return {**{f"batched32_tokens_s_{n}_threads": round(r, 1) for n, r in rates.items()},
            f"sequential_tokens_s_{threads}_thread": round(sequential, 1),
            "batched32_vs_sequential": round(rates[best] / sequential, 1),
            "batched32_vs_sequential_same_threads": round(rates[threads] / sequential, 1)}


def bench_render_and_compose(runs: int = 5, seconds: float = 30.0) -> dict[str, float]:
    """Render speed of a real 30 s piece, and the in-process compose job's latency (model already loaded)."""
    from worker.jobs import compose_job as jobs
    from worker.output.midi import write_midi
    from worker.output.render import render_audio

    with tempfile.TemporaryDirectory(prefix="tunesmith-bench-") as tmp:
        os.environ[jobs.DATA_DIR_ENV] = tmp
        composer = jobs.get_composer("irish", "lstm", jobs.resolve_device())
        piece = composer.compose(seconds, seed=1)
        midi = write_midi(piece, Path(tmp) / "bench.mid")
        times = []
        for _ in range(3):
            start = time.perf_counter()
            render_audio(midi, Path(tmp) / "bench.ogg", seconds)
            times.append(time.perf_counter() - start)
        render_s = min(times)
        latencies = []
        for seed in range(runs + 1):
            start = time.perf_counter()
            jobs.compose({"style": "irish", "seconds": seconds, "arch": "lstm", "seed": seed,
                          "track_id": f"bench{seed}"})
            latencies.append(time.perf_counter() - start)
    latencies = latencies[1:]  # the first run warms caches
    return {"render_s_30s": round(render_s, 3), "render_x_realtime": round(seconds / render_s, 1),
            "compose_p50_s": round(statistics.median(latencies), 3), "compose_max_s": round(max(latencies), 3)}


def write_markdown(results: dict, path: Path, command: str) -> None:
    """Append-free rewrite of the CPU section of BENCHMARKS.md, keeping other sections (e.g. GPU) intact."""
    marker_start, marker_end = "<!-- bench:cpu:start -->", "<!-- bench:cpu:end -->"
    rows = "\n".join(f"| {k} | {v} | {'≥' if k != 'compose_p50_s' else '≤'} {TARGETS[k]} | "
                     f"{'✅' if (v >= TARGETS[k] if k != 'compose_p50_s' else v <= TARGETS[k]) else '❌'} |"
                     for k, v in results.items() if k in TARGETS)
    details = "\n".join(f"| {k} | {v} |" for k, v in results.items() if k not in TARGETS)
    section = (f"{marker_start}\n## CPU: `{command}`\n\n{results['machine']}, torch threads "
               f"{results['torch_threads']}.\n\n| key | measured | target | met |\n|---|---|---|---|\n{rows}\n\n"
               f"| detail | value |\n|---|---|\n{details}\n{marker_end}")
    replace_section(path, marker_start, marker_end, section)


def replace_section(path: Path, start: str, end: str, section: str) -> None:
    """Put ``section`` (which begins with ``start`` and ends with ``end``) into the markdown file at ``path``:
    in place of the old one between the same markers, else at the end; the rest of the file stays."""
    text = path.read_text() if path.exists() else "# Benchmarks\n\n"
    if start in text:
        head, rest = text.split(start, 1)
        text = head + section + rest.split(end, 1)[1]
    else:
        text = text.rstrip() + "\n\n" + section + "\n"
    path.write_text(text)


def bench_main(argv: list[str] | None = None) -> int:
    """``tunesmith bench [--json]``: measure and write BENCHMARKS.md."""
    parser = argparse.ArgumentParser(prog="tunesmith bench", description=bench_main.__doc__)
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--out", type=Path, default=Path("BENCHMARKS.md"))
    parser.add_argument("--runs", type=int, default=5, help="compose runs for the p50")
    parser.add_argument("--finetune", action="store_true", help="only: a /finetune job on 20 MIDI files")
    parser.add_argument("--poly", action="store_true",
                        help="with --finetune: a piano collection (--files, default 300) → piano style, evaluated")
    parser.add_argument("--files", type=int, default=300)
    parser.add_argument("--arch", default="lstm")
    parser.add_argument("--eval-out", type=Path, default=Path("EVALUATION.md"))
    parser.add_argument("--keep-data", type=Path, default=None,
                        help="with --poly: keep the collection and the fine-tuned version in this data directory")
    args = parser.parse_args(argv)
    import torch

    if args.finetune and args.poly:
        from worker.bench.finetune import bench_finetune_poly, write_poly_sections

        os.environ.setdefault("TUNESMITH_TORCH_THREADS", "2")
        torch.set_num_threads(int(os.environ["TUNESMITH_TORCH_THREADS"]))
        found = bench_finetune_poly(args.files, arch=args.arch, keep=args.keep_data)
        machine = f"{platform.machine()} {os.cpu_count()} cores, torch threads {torch.get_num_threads()}"
        write_poly_sections(found, args.out, args.eval_out, "tunesmith bench " + " ".join(argv or []), machine)
        print(json.dumps(found, indent=1))
        return 0

    if args.finetune:
        from worker.bench.finetune import bench_finetune, write_section

        os.environ.setdefault("TUNESMITH_TORCH_THREADS", "2")  # as the trainer service runs (docker-compose.yml)
        found = bench_finetune()
        machine = f"{platform.machine()} {os.cpu_count()} cores, torch threads {torch.get_num_threads()}"
        write_section(found, args.out, "tunesmith bench " + " ".join(argv or []), machine)
        print(json.dumps(found, indent=1) if args.json else args.out.read_text())
        return 0

    from worker.bench.batch import bench_worker_batching

    torch.set_num_threads(int(os.environ.get("TUNESMITH_TORCH_THREADS", "1")))
    results: dict = {"machine": f"{platform.machine()} {os.cpu_count()} cores, {platform.python_version()}",
                     "torch_threads": torch.get_num_threads()}
    with torch.inference_mode():
        results.update(bench_decoding())
        results.update(bench_batching())
        results.update(bench_worker_batching())
    results.update(bench_render_and_compose(args.runs))
    write_markdown(results, args.out, "tunesmith bench" + (" " + " ".join(argv) if argv else ""))
    print(json.dumps(results, indent=1) if args.json else args.out.read_text())
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(bench_main())
