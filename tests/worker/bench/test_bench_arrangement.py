"""``tunesmith bench --arrangement`` writes its own BENCHMARKS.md section and judges each target the right way."""

from __future__ import annotations

from pathlib import Path

from worker.bench.main import write_arrangement


def test_arrangement_section(tmp_path: Path) -> None:
    path = tmp_path / "BENCHMARKS.md"
    path.write_text("# Benchmarks\n\n<!-- bench:cpu:start -->\nkept\n<!-- bench:cpu:end -->\n")
    results = {
        "arrange_p50_s_30s": 0.01,
        "arrange_max_s_30s": 0.5,
        "render_band_x_realtime": 41.0,
        "compose_band_p50_s": 1.2,
        "band_parts": 4,
    }
    write_arrangement(results, path, "tunesmith bench --arrangement", "x86_64 2 cores")
    write_arrangement(results, path, "tunesmith bench --arrangement", "x86_64 2 cores")
    text = path.read_text()
    assert "kept" in text and text.count("<!-- bench:arrange:start -->") == 1
    assert "| arrange_p50_s_30s | 0.01 | ≤ 0.3 | ✅ |" in text and "| arrange_max_s_30s | 0.5 | ≤ 0.3 | ❌ |" in text
    assert (
        "| render_band_x_realtime | 41.0 | ≥ 30 | ✅ |" in text and "| compose_band_p50_s | 1.2 | ≤ 2.0 | ✅ |" in text
    )
    assert "| band_parts | 4 |" in text
