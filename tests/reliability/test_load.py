"""The light load profile (tests.reliability.load): 60 /compose from 15 users in 3 s through the real bot and
the fake Discord; each acknowledged within 3 s, each ending in a track or a quota refusal, no job lost.
The full profile (200 from 50 in 10 s, real workers) is the benchmark in BENCHMARKS.md."""

from __future__ import annotations

from pathlib import Path

import pytest

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
    bench.write_text(f"# Benchmarks\n\n<!-- bench:cpu:start -->\ncpu\n<!-- bench:cpu:end -->\n\n"
                     f"{load.MARK_START}\nold\n{load.MARK_END}\n\n## GPU\nkept\n")
    load.write_section(bench, f"{load.MARK_START}\nnew\n{load.MARK_END}")
    text = bench.read_text()
    assert "new" in text and "old" not in text and "cpu" in text and "kept" in text
