"""Load through the fake Discord: many users fire /compose at once; every command must be acknowledged within
3 s and end in a track or a quota refusal, with no job lost. Reports ack and command-to-files latency.

``python -m tests.reliability.load --full --write BENCHMARKS.md`` runs the documented benchmark (200 commands
from 50 users in 10 s, two real workers) and rewrites its section of BENCHMARKS.md; without ``--full`` it runs
the light profile CI runs (tests/reliability/test_load.py), with stand-in workers.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from rq.registry import FailedJobRegistry, StartedJobRegistry

from tests.fakes.discord_records import DEADLINE_S
from tests.fakes.stack import user
from tests.reliability.harness import REAL, STAND_IN, Fleet
from worker.contract import claims
from worker.contract.tracks import compose_queue

MARK_START, MARK_END = "<!-- bench:load:start -->", "<!-- bench:load:end -->"
QUOTA_MARKS = ("⏳", "📅")


@dataclass(frozen=True)
class Profile:
    """How much load: ``commands`` /compose from ``users`` users spread evenly over ``seconds``."""

    name: str
    commands: int
    users: int
    seconds: float
    workers: int
    real: bool
    lengths: tuple[str, ...] = ("15s", "30s")
    settle_s: float = 120.0  # how long to wait for the last track after the last command


LIGHT = Profile("light (CI)", commands=60, users=15, seconds=3.0, workers=2, real=False, settle_s=60.0)
FULL = Profile("full", commands=200, users=50, seconds=10.0, workers=2, real=True, settle_s=600.0)
# Production timings for the bot; the guild caps are off because the fake has a single server, which stands
# in for the many servers 50 users would come from (the per-user caps, 2 at once and 30 a day, stay on).
ENV = {
    "TUNESMITH_POLL_INTERVAL_S": "0.75",
    "TUNESMITH_EDIT_INTERVAL_S": "3",
    "TUNESMITH_GUILD_INFLIGHT": "0",
    "TUNESMITH_GUILD_DAILY": "0",
    "STAND_IN_STEP_S": "0.05",
    "TUNESMITH_TORCH_THREADS": "1",
}


def percentile(values: list[float], q: float) -> float:
    """The ``q``-th percentile (0-100) by nearest rank; NaN for no values."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * len(ordered) + 0.5) - 1))]


def fire(fleet: Fleet, profile: Profile) -> list[Any]:
    """Send the commands on schedule, round-robin over the users; returns the interactions in order."""
    users = [user(f"load{i:03d}") for i in range(profile.users)]
    start, sent = time.monotonic(), []
    for k in range(profile.commands):
        time.sleep(max(0.0, start + k * profile.seconds / profile.commands - time.monotonic()))
        options = {"style": "irish", "length": profile.lengths[k % len(profile.lengths)]}
        sent.append(fleet.fake.inject_slash("compose", options, user=users[k % profile.users]))
    return sent


def outcomes(fleet: Fleet, sent: list[Any], settle_s: float) -> dict[str, dict[str, Any]]:
    """For each interaction: its first callback and, when deferred, its follow-up with files (or None)."""
    deadline = time.monotonic() + settle_s
    while True:
        callbacks: dict[str, Any] = {}
        posts: dict[str, list[Any]] = {}
        for rec in fleet.fake.find(lambda r: r.method == "POST"):
            if "/callback" in rec.path:
                callbacks.setdefault(rec.path.split("/")[2], rec)
            elif rec.path.startswith("/webhooks/") and rec.files and rec.status == 200:
                posts.setdefault(rec.path.rsplit("/", 1)[1], []).append(rec)
        result = {i.id: {"inter": i, "callback": callbacks.get(i.id), "posts": posts.get(i.token, [])} for i in sent}
        pending = [
            r
            for r in result.values()
            if r["callback"] is None or (r["callback"].json.get("type") == 5 and not r["posts"])
        ]
        if not pending or time.monotonic() > deadline:
            return result
        for proc in fleet.procs:
            assert proc.poll() is None, f"{proc.args} exited during the load run"
        time.sleep(0.25)


def check(fleet: Fleet, result: dict[str, dict[str, Any]]) -> tuple[dict[str, Any], list[str]]:
    """Figures, and every broken promise (empty when all held): per command, then what is left in the system."""
    figures, problems = judge(result)
    queue = compose_queue(fleet.redis)
    states = dict(fleet.db_rows("SELECT state, COUNT(*) FROM deliveries GROUP BY state"))
    lost = {
        "queued": queue.count,
        "started": StartedJobRegistry(queue=queue).count,
        "failed": FailedJobRegistry(queue=queue).count,
        "claimed": len(claims.claimed(fleet.redis)),
        "not posted": sum(n for state, n in states.items() if state != "posted"),
    }
    return figures, problems + [f"{n} job(s) {what} at the end" for what, n in lost.items() if n]


def judge(result: dict[str, dict[str, Any]]) -> tuple[dict[str, Any], list[str]]:
    """Each command's fate: acknowledged in time, then exactly one track, or an ephemeral quota refusal."""
    problems, acks, latencies, refused, tracks = [], [], [], 0, set()
    for iid, row in result.items():
        inter, callback, posts = row["inter"], row["callback"], row["posts"]
        if callback is None or callback.status != 200:
            problems.append(f"{iid}: not acknowledged ({callback.status if callback else 'no callback'})")
            continue
        acks.append(callback.time - inter.time)
        kind, data = callback.json.get("type"), callback.json.get("data") or {}
        if kind == 5 and len(posts) == 1:
            latencies.append(posts[0].time - inter.time)
            tracks.add(inter.payload["member"]["user"]["id"])
        elif kind == 4 and data.get("flags") == 64 and str(data.get("content", "")).startswith(QUOTA_MARKS):
            refused += 1
        else:
            problems.append(f"{iid}: neither a track nor a quota refusal (type {kind}, {len(posts)} posts)")
    users = {row["inter"].payload["member"]["user"]["id"] for row in result.values()}
    if missing := users - tracks:
        problems.append(f"{len(missing)} user(s) got no track at all")
    if slow := [a for a in acks if a >= DEADLINE_S]:
        problems.append(f"{len(slow)} acknowledgement(s) took 3 s or more")
    figures = {
        "commands": len(result),
        "tracks": len(latencies),
        "quota_refusals": refused,
        "ack_p50_ms": round(1000 * percentile(acks, 50)),
        "ack_p95_ms": round(1000 * percentile(acks, 95)),
        "ack_max_ms": round(1000 * max(acks, default=float("nan"))),
        "files_p50_s": round(percentile(latencies, 50), 2),
        "files_p95_s": round(percentile(latencies, 95), 2),
        "files_max_s": round(max(latencies, default=float("nan")), 2),
    }
    return figures, problems


def run(profile: Profile, tmp: Path) -> tuple[dict[str, Any], list[str]]:
    """Start a deployment in ``tmp``, put the load on it, check every promise; returns (figures, problems)."""
    fleet = Fleet(tmp, REAL if profile.real else STAND_IN, workers=profile.workers, **ENV)
    try:
        fleet.start(timeout=120)
        busy = os.getloadavg()[0]  # the machine's own load before ours: figures from a shared box read differently
        started = time.monotonic()
        sent = fire(fleet, profile)
        fired = time.monotonic() - started
        result = outcomes(fleet, sent, profile.settle_s)
        figures, problems = check(fleet, result)
    finally:
        fleet.stop()
    return {
        "profile": asdict(profile),
        "fired_in_s": round(fired, 2),
        "loadavg_before": round(busy, 2),
        **figures,
    }, problems


def markdown(report: dict[str, Any], command: str) -> str:
    """The BENCHMARKS.md section for a run."""
    p = report["profile"]
    workers = f"{p['workers']} {'real `tunesmith worker`' if p['real'] else 'stand-in'} workers"
    rows = [
        ("commands / users / seconds", f"{p['commands']} / {p['users']} / {report['fired_in_s']}"),
        ("tracks posted / quota refusals", f"{report['tracks']} / {report['quota_refusals']}"),
        ("ack p50 / p95 / max", f"{report['ack_p50_ms']} / {report['ack_p95_ms']} / {report['ack_max_ms']} ms"),
        (
            "command → files p50 / p95 / max",
            f"{report['files_p50_s']} / {report['files_p95_s']} / {report['files_max_s']} s",
        ),
    ]
    table = "\n".join(f"| {k} | {v} |" for k, v in rows)
    return (
        f"{MARK_START}\n## Load: `{command}`\n\n{platform.machine()} {os.cpu_count()} cores (1-minute load "
        f"average {report.get('loadavg_before', '?')} before the run); {workers}, the real bot, the loopback "
        f"fake Discord; lengths {', '.join(p['lengths'])}; per-user caps on (2 at once), guild caps off."
        f"\n\n| figure | value |\n|---|---|\n{table}\n\nEvery command was acknowledged within 3 s and ended "
        f"in a track or a quota refusal; no job was lost (queue, started and failed registries empty, every "
        f"delivery posted once).\n{MARK_END}"
    )


def write_section(path: Path, section: str) -> None:
    """Replace the load section of ``path`` (or add it at the end), keeping every other section."""
    text = path.read_text() if path.exists() else "# Benchmarks\n"
    pattern = re.compile(re.escape(MARK_START) + ".*?" + re.escape(MARK_END), re.DOTALL)
    text = pattern.sub(lambda _: section, text) if pattern.search(text) else text.rstrip() + "\n\n" + section + "\n"
    path.write_text(text)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.reliability.load", description=__doc__.splitlines()[0])
    parser.add_argument("--full", action="store_true", help="200 commands, 50 users, 10 s, real workers")
    parser.add_argument("--write", type=Path, help="rewrite the load section of this file (e.g. BENCHMARKS.md)")
    args = parser.parse_args(argv)
    profile = FULL if args.full else LIGHT
    with tempfile.TemporaryDirectory(prefix="tunesmith-load-") as tmp:
        report, problems = run(profile, Path(tmp))
    print(json.dumps(report, indent=2))
    for problem in problems:
        print(f"problem: {problem}", file=sys.stderr)
    if args.write and not problems:
        write_section(
            args.write, markdown(report, "python -m tests.reliability.load" + (" --full" if args.full else ""))
        )
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
