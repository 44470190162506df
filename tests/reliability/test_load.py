"""The light load profile (tests.reliability.load): 60 /compose from 15 users in 3 s through the real bot and
the fake Discord; each acknowledged within 3 s, each ending in a track or a quota refusal, no job lost.
The full profile (200 from 50 in 10 s, real workers) is the benchmark in BENCHMARKS.md."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.fakes import discord_payloads as P
from tests.fakes.discord_records import Interaction, Recorded
from tests.reliability import load

pytestmark = pytest.mark.slow


def test_light_load_every_command_is_answered_and_no_job_is_lost(tmp_path: Path) -> None:
    report, problems = load.run(load.LIGHT, tmp_path)
    print(f"\n{report}")
    assert problems == []
    assert report["commands"] == load.LIGHT.commands == report["tracks"] + report["quota_refusals"]
    assert report["tracks"] >= load.LIGHT.users and report["quota_refusals"] > 0, "both outcomes are exercised"
    assert report["ack_max_ms"] < 3000


def test_percentile_and_section_rewrite(tmp_path: Path) -> None:
    assert load.percentile([5, 1, 4, 2, 3], 50) == 3 and load.percentile([1, 2, 3, 4], 95) == 4
    bench = tmp_path / "BENCHMARKS.md"
    bench.write_text(
        f"# Benchmarks\n\n<!-- bench:cpu:start -->\ncpu\n<!-- bench:cpu:end -->\n\n"
        f"{load.MARK_START}\nold\n{load.MARK_END}\n\n## GPU\nkept\n"
    )
    load.write_section(bench, f"{load.MARK_START}\nnew\n{load.MARK_END}")
    text = bench.read_text()
    assert "new" in text and "old" not in text and "cpu" in text and "kept" in text


def _row(who: str, ack_s: float | None, kind: int = 5, posts: int = 1, content: str = "") -> dict[str, Any]:
    inter = Interaction(P.interaction(2, {"name": "compose"}, P.user(who, who)), time=100.0)
    data = {"flags": 64, "content": content} if kind == 4 else None
    callback = (
        None if ack_s is None else Recorded("POST", "/callback", {}, {"type": kind, "data": data}, time=100.0 + ack_s)
    )
    return {
        "inter": inter,
        "callback": callback,
        "posts": [Recorded("POST", "/webhooks", {}, {}, time=105.0) for _ in range(posts)],
    }


def test_the_judge_catches_every_broken_promise() -> None:
    """The load test is only as good as its checks: each way of breaking a promise is reported."""
    good = {"a": _row("1", 0.01), "b": _row("1", 0.02, kind=4, posts=0, content="⏳ You already have 2")}
    figures, problems = load.judge(good)
    assert problems == [] and figures["tracks"] == figures["quota_refusals"] == 1
    bad = {
        "unanswered": _row("2", None),
        "late": _row("3", 3.2),
        "lost": _row("4", 0.01, posts=0),
        "twice": _row("5", 0.01, posts=2),
        "refused oddly": _row("6", 0.01, kind=4, posts=0, content="nope"),
    }
    _, problems = load.judge(bad)
    text = "\n".join(problems)
    assert "unanswered: not acknowledged" in text and "took 3 s or more" in text
    assert all(f"{k}: neither a track nor a quota refusal" in text for k in ("lost", "twice", "refused oddly"))
    assert "user(s) got no track at all" in text
