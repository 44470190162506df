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

from worker.bench.report import replace_section

TARGETS = {
    "lstm_cached_vs_refeed": 20,
    "wavenet_cached_vs_naive": 10,
    "batched32_vs_sequential": 8,
    "render_x_realtime": 30,
    "compose_p50_s": 2.0,
    "arrange_p50_s_30s": 0.3,
    "render_band_x_realtime": 30,
}
LOWER_IS_BETTER = {"compose_p50_s", "arrange_p50_s_30s", "compose_band_p50_s"}
ARRANGE_TARGETS = {
    "arrange_p50_s_30s": 0.3,
    "arrange_max_s_30s": 0.3,
    "compose_band_p50_s": 2.0,
    "render_band_x_realtime": 30,
}


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
    from models.music.tokens import Vocab
    from models.tokenlm.composer import TokenComposer
    from models.tokenlm.registry import build_model
    from worker.cli.models import SHIPPED_ARGS

    try:
        composer = TokenComposer("irish", arch)  # what load_composer("irish", arch) gives for a token arch
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

    lstm_cached = out["lstm_tokens_s_cached"] = round(_rate(cached(lstm, 300), 300), 1)
    lstm_refeed = out["lstm_tokens_s_refeed"] = round(_rate(naive(lambda h: lstm.refeed_step(h, 100), 60), 60), 1)
    out["lstm_cached_vs_refeed"] = round(lstm_cached / lstm_refeed, 1)
    out["lstm_weights"] = source
    wavenet, _, source = _token_model("wavenet")
    ids = torch.randint(5, 60, (1, 1200))
    out["wavenet_receptive_field"] = wavenet.receptive_field
    wavenet_cached = out["wavenet_tokens_s_cached"] = round(_rate(cached(wavenet, 300), 300), 1)
    wavenet_naive = out["wavenet_tokens_s_naive"] = round(
        _rate(naive(wavenet.naive_step, 40, wavenet.receptive_field), 40), 1
    )
    out["wavenet_cached_vs_naive"] = round(wavenet_cached / wavenet_naive, 1)
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
    best = max(rates, key=rates.__getitem__)
    return {
        **{f"batched32_tokens_s_{n}_threads": round(r, 1) for n, r in rates.items()},
        f"sequential_tokens_s_{threads}_thread": round(sequential, 1),
        "batched32_vs_sequential": round(rates[best] / sequential, 1),
        "batched32_vs_sequential_same_threads": round(rates[threads] / sequential, 1),
    }


def bench_render_and_compose(runs: int = 5, seconds: float = 30.0) -> dict[str, float]:
    """Render speed of a real 30 s piece, and the in-process compose job's latency (model already loaded)."""
    from worker.jobs import compose_job as jobs
    from worker.jobs import context
    from worker.jobs.settings import DATA_DIR_ENV, use_settings
    from worker.output.midi import write_midi
    from worker.output.render import render_audio

    with tempfile.TemporaryDirectory(prefix="tunesmith-bench-") as tmp:
        os.environ[DATA_DIR_ENV] = tmp  # for the models' fine-tuned versions too (models.core.versions)
        use_settings(None)  # the worker's settings read it again
        composer = context.get_composer("irish", "lstm", context.resolve_device())
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
            jobs.compose(
                {"style": "irish", "seconds": seconds, "arch": "lstm", "seed": seed, "track_id": f"bench{seed}"}
            )
            latencies.append(time.perf_counter() - start)
    latencies = latencies[1:]  # the first run warms caches
    return {
        "render_s_30s": round(render_s, 3),
        "render_x_realtime": round(seconds / render_s, 1),
        "compose_p50_s": round(statistics.median(latencies), 3),
        "compose_max_s": round(max(latencies), 3),
    }


def bench_arrangement(runs: int = 5, seconds: float = 30.0) -> dict[str, float]:
    """The arranger (issue 13): time to arrange a 30 s piece on one thread (irish, folk and scottish LSTM pieces),
    rendering the four-part band mix, and the whole compose job with ``arrangement`` band and melody."""
    from models.arrange.piece import arrange_piece
    from worker.jobs import compose_job as jobs
    from worker.jobs import context
    from worker.jobs.settings import DATA_DIR_ENV, use_settings
    from worker.output.midi import write_midi
    from worker.output.render import render_audio

    arrange_s, parts = [], 0
    with tempfile.TemporaryDirectory(prefix="tunesmith-bench-") as tmp:
        os.environ[DATA_DIR_ENV] = tmp
        use_settings(None)  # the worker's settings read it again
        band = bare = None
        for style in ("irish", "folk", "scottish"):
            composer = context.get_composer(style, "lstm", context.resolve_device())
            for seed in range(runs):
                piece = composer.compose(seconds, seed=seed)
                start = time.perf_counter()
                arranged = arrange_piece(piece, "band")
                arrange_s.append(time.perf_counter() - start)
                if band is None and arranged.arrangement == "band":
                    band, bare, parts = arranged, piece, len(arranged.parts)
        assert band is not None and bare is not None
        midi = write_midi(band, Path(tmp) / "band.mid")
        times = []
        for _ in range(3):
            start = time.perf_counter()
            audio = render_audio(midi, Path(tmp) / "band.ogg", band.seconds)
            times.append(time.perf_counter() - start)
        size_kb = audio.stat().st_size / 1024
        bare_midi = write_midi(bare, Path(tmp) / "bare.mid")  # the same piece's bare melody, side by side
        bare_times = []
        for _ in range(3):
            start = time.perf_counter()
            render_audio(bare_midi, Path(tmp) / "bare.ogg", bare.seconds)
            bare_times.append(time.perf_counter() - start)
        latencies: dict[str, list[float]] = {"band": [], "melody": []}
        for seed in range(runs + 1):
            for arrangement in ("band", "melody"):
                start = time.perf_counter()
                jobs.compose(
                    {
                        "style": "irish",
                        "seconds": seconds,
                        "arch": "lstm",
                        "seed": seed,
                        "track_id": f"bench{arrangement}{seed}",
                        "arrangement": arrangement,
                    }
                )
                latencies[arrangement].append(time.perf_counter() - start)
    return {
        "arrange_p50_s_30s": round(statistics.median(arrange_s), 4),
        "arrange_max_s_30s": round(max(arrange_s), 4),
        "arrange_pieces": len(arrange_s),
        "band_parts": parts,
        "render_band_s_30s": round(min(times), 3),
        "render_band_x_realtime": round(seconds / min(times), 1),
        "render_melody_x_realtime": round(seconds / min(bare_times), 1),
        "band_ogg_kb_30s": round(size_kb, 1),
        "compose_band_p50_s": round(statistics.median(latencies["band"][1:]), 3),
        "compose_melody_p50_s": round(statistics.median(latencies["melody"][1:]), 3),
    }


def write_arrangement(results: dict, path: Path, command: str, machine: str) -> None:
    """The arrangement section of BENCHMARKS.md."""
    start, end = "<!-- bench:arrange:start -->", "<!-- bench:arrange:end -->"

    def met(k: str, v: float) -> bool:
        return v <= ARRANGE_TARGETS[k] if k.startswith(("arrange", "compose")) else v >= ARRANGE_TARGETS[k]

    rows = "\n".join(
        f"| {k} | {v} | {'≤' if k.startswith(('arrange', 'compose')) else '≥'} {ARRANGE_TARGETS[k]} | "
        f"{'✅' if met(k, v) else '❌'} |"
        for k, v in results.items()
        if k in ARRANGE_TARGETS
    )
    details = "\n".join(f"| {k} | {v} |" for k, v in results.items() if k not in ARRANGE_TARGETS)
    section = (
        f"{start}\n## Arrangement: `{command}`\n\n{machine}. Arranging = key, form, chords (HMM posterior draw), bass, "
        "chords and percussion for one 30 s LSTM piece (irish, folk, scottish; 5 seeds each), the model "
        "already loaded; the band mix is melody, chords, bass and percussion rendered by the warm FluidSynth "
        "with reverb and chorus; the compose jobs run in process, seeds 1…5 after a warm-up.\n\n"
        f"| key | measured | target | met |\n|---|---|---|---|\n{rows}\n\n| detail | value |\n|---|---|\n"
        f"{details}\n{end}"
    )
    replace_section(path, start, end, section)


def write_markdown(results: dict, path: Path, command: str) -> None:
    """Append-free rewrite of the CPU section of BENCHMARKS.md, keeping other sections (e.g. GPU) intact."""
    marker_start, marker_end = "<!-- bench:cpu:start -->", "<!-- bench:cpu:end -->"
    rows = "\n".join(
        f"| {k} | {v} | {'≥' if k not in LOWER_IS_BETTER else '≤'} {TARGETS[k]} | "
        f"{'✅' if (v >= TARGETS[k] if k not in LOWER_IS_BETTER else v <= TARGETS[k]) else '❌'} |"
        for k, v in results.items()
        if k in TARGETS
    )
    details = "\n".join(f"| {k} | {v} |" for k, v in results.items() if k not in TARGETS)
    section = (
        f"{marker_start}\n## CPU: `{command}`\n\n{results['machine']}, torch threads "
        f"{results['torch_threads']}.\n\n| key | measured | target | met |\n|---|---|---|---|\n{rows}\n\n"
        f"| detail | value |\n|---|---|\n{details}\n{marker_end}"
    )
    replace_section(path, marker_start, marker_end, section)


def bench_main(argv: list[str] | None = None) -> int:
    """``tunesmith bench [--json]``: measure and write BENCHMARKS.md."""
    parser = argparse.ArgumentParser(prog="tunesmith bench", description=bench_main.__doc__)
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--out", type=Path, default=Path("BENCHMARKS.md"))
    parser.add_argument("--runs", type=int, default=5, help="compose runs for the p50")
    parser.add_argument("--finetune", action="store_true", help="only: a /finetune job on 20 MIDI files")
    parser.add_argument(
        "--arrangement",
        action="store_true",
        help="only: the arranger, the band mix's render and the compose job with a band",
    )
    parser.add_argument(
        "--poly",
        action="store_true",
        help="with --finetune: a piano collection (--files, default 300) → piano style, evaluated",
    )
    parser.add_argument("--files", type=int, default=300)
    parser.add_argument("--arch", default="lstm")
    parser.add_argument("--eval-out", type=Path, default=Path("EVALUATION.md"))
    parser.add_argument(
        "--keep-data",
        type=Path,
        default=None,
        help="with --poly: keep the collection and the fine-tuned version in this data directory",
    )
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

    if args.arrangement:
        torch.set_num_threads(int(os.environ.get("TUNESMITH_TORCH_THREADS", "1")))
        found = bench_arrangement(args.runs)
        machine = f"{platform.machine()} {os.cpu_count()} cores, torch threads {torch.get_num_threads()}"
        write_arrangement(found, args.out, "tunesmith bench " + " ".join(argv or []), machine)
        print(json.dumps(found, indent=1) if args.json else args.out.read_text())
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
    from worker.jobs.settings import settings

    torch.set_num_threads(settings().torch_threads)
    results: dict = {
        "machine": f"{platform.machine()} {os.cpu_count()} cores, {platform.python_version()}",
        "torch_threads": torch.get_num_threads(),
    }
    with torch.inference_mode():
        results.update(bench_decoding())
        results.update(bench_batching())
        results.update(bench_worker_batching())
    results.update(bench_render_and_compose(args.runs))
    results.update(bench_arrangement(args.runs))
    write_markdown(results, args.out, "tunesmith bench" + (" " + " ".join(argv) if argv else ""))
    print(json.dumps(results, indent=1) if args.json else args.out.read_text())
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(bench_main())
