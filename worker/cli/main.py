"""The ``tunesmith`` command: compose through the queue, run the worker or the bot, and model commands."""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

from worker.cli.queue_client import CommandError, copy_files, err, run_job
from worker.contract.redact import redact_url
from worker.contract.tracks import (
    QUEUE_COMPOSE,
    QUEUE_TRAIN,
    BadRequest,
    ComposeRequest,
    ComposeResult,
    StyleInfo,
    parse_length,
    validate_request,
)

EXPORT_FORMATS = ("abc", "musicxml", "score", "stems", "midi")
CLI_SIZE_LIMIT = 500 * 1024 * 1024  # stems on the command line: no upload limit to fit

# Subcommands forwarded, with the rest of the command line, to ``worker.cli.models.<name>_main``.
MODEL_COMMANDS = ("train", "styles", "evaluate", "bench")


def _model_command(name: str, argv: list[str]) -> int:
    if name == "train" and any(a == "--midi-dir" or a.startswith("--midi-dir=") for a in argv):
        from worker.cli.train import finetune_main  # uploads are checked like /finetune's, by the worker

        return finetune_main(argv)
    if name == "bench":  # it measures the worker's rendering and job too, so it lives in the worker
        from worker.bench.main import bench_main

        return bench_main(argv)
    try:
        import worker.cli.models as model_cli
    except ImportError as exc:
        err(f"`{name}` needs the models package, which failed to import: {exc}")
        return 2
    func = getattr(model_cli, f"{name}_main", None)
    if func is None:
        err(f"`tunesmith {name}` is not available in this version.")
        return 2
    return int(func(argv) or 0)


def _styles_for_cli(redis_url: str) -> dict[str, StyleInfo]:
    from worker.jobs.context import local_styles

    styles = local_styles()
    if redis_url:  # a shared Redis: styles that remote workers published count too
        from redis import Redis

        from worker.contract.tracks import read_styles

        try:
            styles = {**read_styles(Redis.from_url(redis_url, socket_connect_timeout=5)), **styles}
        except Exception as exc:  # noqa: BLE001 - reported below as "unreachable" when we enqueue
            err(f"warning: could not read styles from {redact_url(redis_url)}: {redact_url(str(exc))}")
    return styles


def parse_formats(text: str) -> list[str]:
    """``"abc, musicxml,score"`` → ["abc", "musicxml", "score"].

    Raises:
        BadRequest: an unknown format.
    """
    wanted = [f.strip().lower() for f in text.split(",") if f.strip()]
    unknown = [f for f in wanted if f not in EXPORT_FORMATS]
    if unknown:
        raise BadRequest(f"Unknown format `{unknown[0][:20]}`: formats are {', '.join(EXPORT_FORMATS)}.")
    return list(dict.fromkeys(wanted))


def _write_formats(result: ComposeResult, formats: list[str], out_dir: Path) -> dict[str, str]:
    """The exports of ``result`` written beside its files on the worker's disk, then copied to ``out_dir``."""
    from worker.output.engrave import EngraveError
    from worker.output.exports import write_exports
    from worker.output.render import RenderError

    folder = Path(result.files["midi"]).parent
    try:
        sidecar = json.loads((folder / f"{result.track_id}.json").read_text(encoding="utf-8"))
        made = write_exports(folder, result.track_id, sidecar, formats, size_limit=CLI_SIZE_LIMIT)
    except (OSError, ValueError, EngraveError, RenderError) as exc:
        raise CommandError(f"could not write {', '.join(formats)}: {exc}") from exc
    return {kind: str(Path(shutil.copy2(path, out_dir / path.name))) for kind, path in made.items()}


def cmd_compose(args: argparse.Namespace) -> int:
    t0 = time.perf_counter()
    redis_url = os.environ.get("REDIS_URL", "").strip()
    try:
        seconds = parse_length(args.length)
        formats = parse_formats(getattr(args, "formats", "") or "")
        request = ComposeRequest(
            style=args.style,
            seconds=seconds,
            arch=args.arch,
            seed=args.seed,
            temperature=args.temperature,
            top_k=args.top_k,
            arrangement=args.arrangement,
            key=getattr(args, "key", None),
            meter=getattr(args, "meter", None),
            bpm=getattr(args, "bpm", None),
            loop=bool(getattr(args, "loop", False)),
        )
        styles = _styles_for_cli(redis_url)
        if not styles:
            raise BadRequest(
                "No style has a trained model yet: train one with "
                "`tunesmith train --style irish` (or set TUNESMITH_CHECKPOINT_DIR)."
            )
        request = validate_request(request, styles)
    except BadRequest as exc:
        err(str(exc))
        return 1
    try:
        result = run_job(request, redis_url, args.timeout)
        files = copy_files(result, Path(args.out))
        if formats:
            files.update(_write_formats(result, formats, Path(args.out)))
    except CommandError as exc:
        err(str(exc))
        return 1
    timings = {
        **result.timings,
        "job_s": result.timings.get("total_s", 0.0),
        "total_s": round(time.perf_counter() - t0, 3),
    }
    if args.json:
        print(
            json.dumps(
                {
                    "style": result.style,
                    "arch": result.arch,
                    "seed": result.seed,
                    "seconds": result.seconds,
                    "tempo_qpm": result.tempo_qpm,
                    "bars": result.bars,
                    "track_id": result.track_id,
                    "device": result.device,
                    "files": files,
                    "timings": timings,
                    "arrangement": result.arrangement,
                    "key": result.key,
                    "parts": result.parts,
                    "chords": result.chords,
                    "arrangement_note": result.arrangement_note,
                }
            )
        )
        return 0
    print(
        f"{result.style} ({result.arch}), seed {result.seed}: {result.seconds:.2f} s, {result.bars} bars "
        f"at {result.tempo_qpm:.0f} qpm on {result.device}"
    )
    parts = ", ".join(p.get("name", "") for p in result.parts) if result.arrangement == "band" else ""
    print(
        f"  {result.arrangement}"
        + (f" in {result.key}" if result.key else "")
        + (f": {parts}" if parts else "")
        + (f" ({result.arrangement_note})" if result.arrangement_note else "")
    )
    for kind, path in files.items():
        print(f"  {kind:6s} {path}")
    print("  " + ", ".join(f"{k[:-2]} {v:.2f}s" for k, v in timings.items() if k.endswith("_s")))
    return 0


def _harmonize(args: argparse.Namespace) -> int:
    from worker.cli.harmonize import cmd_harmonize

    return cmd_harmonize(args)


def cmd_worker(args: argparse.Namespace) -> int:
    from worker.jobs.runner import run_worker

    queues = [q.strip() for q in args.queues.split(",") if q.strip()]
    return run_worker(
        args.redis_url or os.environ.get("REDIS_URL", ""), queues, burst=args.burst, log_level=args.log_level
    )


def cmd_bot(argv: list[str]) -> int:
    """Become ``python -m bot`` (exec: same pid and signals). The CLI launches the bot as a process and never
    imports it, so dependencies keep pointing down (nothing imports ``bot`` but ``bot``)."""
    os.execv(sys.executable, [sys.executable, "-m", "bot", *argv])
    return 0  # not reached


def _die_with_parent() -> None:  # pragma: no cover - runs in the child between fork and exec
    """Linux: an embedded worker gets SIGTERM if ``tunesmith web`` dies without stopping it."""
    try:
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, 15)  # PR_SET_PDEATHSIG, SIGTERM
    except Exception:  # noqa: BLE001 - not Linux: the explicit stop below still applies
        pass


def cmd_web(argv: list[str]) -> int:
    """The web playground, run as its own process (``python -m bot.web``: the CLI never imports bot). Without
    REDIS_URL, as ``tunesmith compose``, a private redis-server and ``--workers`` workers run beside it and
    stop with it."""
    web = [sys.executable, "-m", "bot.web", *argv]
    if os.environ.get("REDIS_URL", "").strip() or any(a in ("-h", "--help") for a in argv):
        os.execv(sys.executable, web)
    pre = argparse.ArgumentParser(add_help=False)
    pre.add_argument("--workers", type=int, default=1)
    workers = pre.parse_known_args(argv)[0].workers
    if workers < 0:
        err("--workers must be 0 or more")
        return 2
    from worker.cli.redis_server import RedisServer

    try:
        server = RedisServer().start()
    except RuntimeError as exc:
        err(str(exc))
        return 1
    env = {k: v for k, v in os.environ.items() if k != "DISCORD_TOKEN"}
    env["REDIS_URL"] = server.url
    procs: list[subprocess.Popen] = []
    try:
        for _ in range(workers):
            procs.append(
                subprocess.Popen(
                    [sys.executable, "-m", "worker", "--queues", QUEUE_COMPOSE, "--log-level", "WARNING"],
                    env=env,
                    stdin=subprocess.DEVNULL,
                    preexec_fn=_die_with_parent,
                )
            )
        print(
            f"tunesmith web: a private redis-server and {workers} worker(s) (set REDIS_URL to use a deployment's)",
            file=sys.stderr,
            flush=True,
        )
        page = subprocess.Popen(web, env=env, preexec_fn=_die_with_parent)
        forward = {
            sig: signal.signal(sig, lambda n, _f: page.send_signal(n)) for sig in (signal.SIGTERM, signal.SIGINT)
        }
        try:
            return page.wait()
        finally:
            for sig, old in forward.items():
                signal.signal(sig, old)
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.terminate()  # a warm shutdown: a job under way finishes first
        for proc in procs:
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)
        server.stop()


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("tunesmith")
    except PackageNotFoundError:
        return "(not installed)"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="tunesmith", description="Compose music on demand.")
    parser.add_argument("--version", action="version", version=f"tunesmith {_version()}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("compose", help="compose one track through the queue and a worker")
    p.add_argument("style", help="a style with a trained model, e.g. irish")
    p.add_argument("length", help="e.g. 30s, 45 or 1m30s")
    p.add_argument("--arch", default=None, help="model architecture (default: the style's default)")
    p.add_argument("--seed", type=int, default=None, help="same seed, same notes (default: random)")
    p.add_argument("--temperature", type=float, default=1.0)
    p.add_argument("--top-k", type=int, default=0)
    p.add_argument(
        "--arrangement",
        default="band",
        help="band: melody over chords, bass and percussion (default); melody: the bare tune",
    )
    p.add_argument("--key", default=None, help='tonic and mode, e.g. "D dorian" (major, minor, dorian, mixolydian)')
    p.add_argument("--meter", default=None, help="one of the style's meters, e.g. 6/8")
    p.add_argument("--bpm", type=float, default=None, help="beats (quarter notes) per minute, 40 to 240")
    p.add_argument("--loop", action="store_true", help="a seamless loop: the last bar leads back into the first")
    p.add_argument(
        "--formats",
        default="",
        help="extra files, comma-separated: " + ", ".join(EXPORT_FORMATS) + " (e.g. abc,musicxml,score,stems)",
    )
    p.add_argument("--out", default="out", help="directory for the files (default: ./out)")
    p.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    p.add_argument("--timeout", type=float, default=900.0, help="seconds to wait for the result")
    p.set_defaults(func=cmd_compose)

    p = sub.add_parser("harmonize", help="four voices for a MIDI melody (Coconet), through the queue and a worker")
    p.add_argument("melody", help="a MIDI file; its top line becomes the soprano")
    p.add_argument("--seed", type=int, default=None)
    p.add_argument("--out", default="out", help="directory for the files (default: ./out)")
    p.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    p.add_argument("--timeout", type=float, default=900.0)
    p.set_defaults(func=_harmonize)

    p = sub.add_parser("worker", help="run a worker (needs REDIS_URL)")
    p.add_argument("--burst", action="store_true", help="exit when the queues are empty")
    p.add_argument("--queues", default=f"{QUEUE_COMPOSE},{QUEUE_TRAIN}")
    p.add_argument("--redis-url", default=None, help="default: $REDIS_URL")
    p.add_argument("--log-level", default="INFO")
    p.set_defaults(func=cmd_worker)

    sub.add_parser("bot", help="run the Discord bot (see `tunesmith bot --help`)", add_help=False)
    sub.add_parser(
        "web", help="the web playground on http://127.0.0.1:8080 (see `tunesmith web --help`)", add_help=False
    )
    for name in MODEL_COMMANDS:
        sub.add_parser(name, help=f"models: {name} (see `tunesmith {name} --help`)", add_help=False)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``tunesmith`` console script; returns the exit code."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] in MODEL_COMMANDS:
        return _model_command(argv[0], argv[1:])
    if argv and argv[0] == "bot":
        return cmd_bot(argv[1:])
    if argv and argv[0] == "web":
        return cmd_web(argv[1:])
    args = build_parser().parse_args(argv)
    return int(args.func(args))


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
