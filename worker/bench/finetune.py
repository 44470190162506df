"""``tunesmith bench --finetune``: a /finetune job on 20 MIDI files with the default steps, timed → BENCHMARKS.md."""

from __future__ import annotations

import base64
import os
import tempfile
import time
from pathlib import Path

from worker.contract.training import DEFAULT_STEPS

MARK_START, MARK_END = "<!-- bench:finetune:start -->", "<!-- bench:finetune:end -->"
TARGET_S = 300.0


def corpus_midis(style: str, count: int, out: Path, *, skip: int = 0) -> list[Path]:
    """``count`` tunes of a corpus style written as MIDI files (what an admin might upload)."""
    from models.compose.types import Composition
    from models.music.corpus import load_style_tunes
    from models.music.melody import tune_to_notes
    from models.music.styles import get_style
    from worker.output.midi import write_midi

    style_def = get_style(style)
    tunes = [t for t in load_style_tunes(style_def) if len(t.bars) >= 16][skip: skip + count]
    paths = []
    for i, tune in enumerate(tunes):
        qpm = sum(style_def.tempo_range) / 2
        notes = tune_to_notes(tune.transposed(style_def.keys[0]), qpm)
        piece = Composition(notes=notes, seconds=notes[-1].end, tempo_qpm=qpm, bars=len(tune.bars),
                            meter=tune.meter, program=0, style=style, arch="corpus", seed=i)
        paths.append(write_midi(piece, out / f"{style}-{i:02d}.mid"))
    return paths


def bench_finetune(files: int = 20, steps: int = DEFAULT_STEPS, source_style: str = "scottish") -> dict:
    """Run the worker's fine-tune job (uploads checked, MIDI imported, trained, version activated) on ``files``
    corpus tunes of ``source_style`` as a new style, from the default base; returns timings and NLLs."""
    from worker.contract.training import FinetuneRequest
    from worker.jobs.finetune_job import finetune
    from worker.jobs.settings import use_settings

    with tempfile.TemporaryDirectory() as tmp:
        old = os.environ.get("TUNESMITH_DATA_DIR")
        os.environ["TUNESMITH_DATA_DIR"] = tmp  # the worker's settings and the models' versions both use it
        use_settings(None)
        try:
            paths = corpus_midis(source_style, files, Path(tmp))
            uploads = [{"name": p.name, "data": base64.b64encode(p.read_bytes()).decode()} for p in paths]
            request = FinetuneRequest(style="benchstyle", steps=steps, uploads=uploads[:9], user_id="bench")
            import io
            import zipfile

            buffer = io.BytesIO()  # /finetune takes 10 attachments: 9 files and the other 11 as one zip
            with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
                for path in paths[9:]:
                    archive.write(path, path.name)
            request.uploads.append({"name": "more.zip", "data": base64.b64encode(buffer.getvalue()).decode()})
            start = time.perf_counter()
            result = finetune(request.to_dict())
            seconds = time.perf_counter() - start
        finally:
            if old is None:
                os.environ.pop("TUNESMITH_DATA_DIR", None)
            else:
                os.environ["TUNESMITH_DATA_DIR"] = old
            use_settings(None)
    return {"finetune_20_files_s": round(seconds, 1), "files_used": len(result["accepted"]),
            "files_refused": len(result["refused"]), "steps": result["steps"], "base": result["base"],
            "heldout_nll_before": result["heldout_nll_before"], "heldout_nll_after": result["heldout_nll_after"],
            "source_tunes": f"{files} {source_style} corpus tunes written as MIDI"}


def write_section(results: dict, path: Path, command: str, machine: str) -> None:
    """Rewrite the fine-tune section of BENCHMARKS.md, keeping the rest."""
    met = "✅" if results["finetune_20_files_s"] <= TARGET_S else "❌"
    rows = "\n".join(f"| {k} | {v} |" for k, v in results.items())
    section = (f"{MARK_START}\n## Fine-tuning: `{command}`\n\n{machine}. Target: ≤ {TARGET_S:.0f} s for 20 files "
               f"with the default steps: **{results['finetune_20_files_s']} s {met}**.\n\n| key | value |\n|---|---|\n"
               f"{rows}\n{MARK_END}")
    from worker.bench.report import replace_section

    replace_section(path, MARK_START, MARK_END, section)
