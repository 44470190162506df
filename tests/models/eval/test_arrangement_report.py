"""The arrangement section of EVALUATION.md: replaced in place, and kept when the main table is rewritten."""

from __future__ import annotations

from pathlib import Path

from models.eval import evaluate
from models.eval.arrangement_md import END, START, markdown, write_section


def _results(value: float) -> dict:
    cell = (value, 0.1)
    metrics = dict.fromkeys(("ctnctr", "pcs", "mctd", "che", "cc", "parallels", "overlap", "crossing"), cell)
    return {"pieces": 3, "arranger": metrics, "baseline": metrics, "human": metrics, "human_slots": metrics}


def test_section_is_written_replaced_and_kept(tmp_path: Path) -> None:
    path = tmp_path / "EVALUATION.md"
    generated = {
        **_results(0.5),
        "arrange_ms_p50": 9.0,
        "arrange_ms_max": 12.0,
        "form": {
            "irish": {
                "generated_melody_repeat": 0.0,
                "band_repeat": 0.4,
                "generated_melody_tonic": 0.2,
                "band_tonic": 1.0,
            }
        },
    }
    write_section(path, markdown(_results(0.9), generated, "tunesmith evaluate --arrangement"))
    write_section(path, markdown(_results(0.8), generated, "tunesmith evaluate --arrangement"))
    text = path.read_text()
    assert text.count(START) == 1 and text.count(END) == 1 and "0.800 ± 0.100" in text and "0.900" not in text
    assert "| irish | – | 0.00 | 0.40 | – | 0.20 | 1.00 |" in text
    evaluate.write_markdown([], path, "tunesmith evaluate", served={})
    again = path.read_text()
    assert again.startswith("# Evaluation") and again.count(START) == 1 and "0.800 ± 0.100" in again
