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
    tunes = [t for t in load_style_tunes(style_def) if len(t.bars) >= 16][skip : skip + count]
    paths = []
    for i, tune in enumerate(tunes):
        qpm = sum(style_def.tempo_range) / 2
        notes = tune_to_notes(tune.transposed(style_def.keys[0]), qpm)
        piece = Composition(
            notes=notes,
            seconds=notes[-1].end,
            tempo_qpm=qpm,
            bars=len(tune.bars),
            meter=tune.meter,
            program=0,
            style=style,
            arch="corpus",
            seed=i,
        )
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
    return {
        "finetune_20_files_s": round(seconds, 1),
        "files_used": len(result["accepted"]),
        "files_refused": len(result["refused"]),
        "steps": result["steps"],
        "base": result["base"],
        "heldout_nll_before": result["heldout_nll_before"],
        "heldout_nll_after": result["heldout_nll_after"],
        "source_tunes": f"{files} {source_style} corpus tunes written as MIDI",
    }


def write_section(results: dict, path: Path, command: str, machine: str) -> None:
    """Rewrite the fine-tune section of BENCHMARKS.md, keeping the rest."""
    met = "✅" if results["finetune_20_files_s"] <= TARGET_S else "❌"
    rows = "\n".join(f"| {k} | {v} |" for k, v in results.items())
    section = (
        f"{MARK_START}\n## Fine-tuning: `{command}`\n\n{machine}. Target: ≤ {TARGET_S:.0f} s for 20 files "
        f"with the default steps: **{results['finetune_20_files_s']} s {met}**.\n\n| key | value |\n|---|---|\n"
        f"{rows}\n{MARK_END}"
    )
    from worker.bench.report import replace_section

    replace_section(path, MARK_START, MARK_END, section)


POLY_MARKS = "<!-- bench:finetune-poly-{arch}:start -->", "<!-- bench:finetune-poly-{arch}:end -->"
EVAL_MARKS = "<!-- eval:poly-{arch}:start -->", "<!-- eval:poly-{arch}:end -->"
POLY_TARGET_S = 600.0


def bench_finetune_poly(
    files: int = 300, steps: int = DEFAULT_STEPS, arch: str = "lstm", pieces: int = 20, keep: Path | None = None
) -> dict:
    """A /finetune job on a ``files``-file piano collection (tests/benchmarks/piano_collection.py: music21
    Palestrina and chorales as quirky multi-track piano MIDI) sent as one zip, timed; then the piano style it
    made, evaluated on the held-out files (models.poly.evaluate)."""
    import io
    import zipfile
    from dataclasses import asdict

    from models.poly.evaluate import evaluate_style
    from models.poly.finetune import PolySource
    from models.poly.midi import midi_to_pieces

    try:
        from tests.benchmarks.piano_collection import build_collection
    except ImportError as exc:  # the image ships no tests/
        raise SystemExit("run from a repository checkout: tests/benchmarks/piano_collection.py builds the set") from exc
    from worker.contract.training import FinetuneRequest
    from worker.jobs.finetune_job import finetune
    from worker.jobs.uploads import expand_uploads

    with tempfile.TemporaryDirectory() as scratch:
        tmp = str(keep) if keep else scratch  # ``keep``: leave the collection and the new version there
        old = os.environ.get("TUNESMITH_DATA_DIR")
        os.environ["TUNESMITH_DATA_DIR"] = tmp
        try:
            t0 = time.perf_counter()
            paths = build_collection(Path(tmp) / "collection", files)
            build_s = time.perf_counter() - t0
            buffer = io.BytesIO()
            with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
                for path in paths:
                    archive.write(path, path.name)
            data = buffer.getvalue()
            request = FinetuneRequest(
                style="pokemon",
                arch=arch,
                steps=steps,
                user_id="bench",
                uploads=[{"name": "pokemon.zip", "data": base64.b64encode(data).decode()}],
            )
            start = time.perf_counter()
            result = finetune(request.to_dict())
            seconds = time.perf_counter() - start
            accepted, _ = expand_uploads([("pokemon.zip", data)])
            sources = []
            for item in accepted:
                got = midi_to_pieces(item.data, item.name)
                sources.append(PolySource(item.name, got.pieces, got.qpm, polyphony=got.polyphony))
            report = evaluate_style("pokemon", arch, sources, pieces=pieces)
        finally:
            if old is None:
                os.environ.pop("TUNESMITH_DATA_DIR", None)
            else:
                os.environ["TUNESMITH_DATA_DIR"] = old
    return {
        "finetune": {
            f"finetune_{files}_files_s": round(seconds, 1),
            "kind": result["kind"],
            "collection_polyphony": result["polyphony"],
            "files_used": len(result["accepted"]),
            "files_refused": len(result["refused"]),
            "zip_bytes": len(data),
            "steps": result["steps"],
            "base": result["base"],
            "heldout_nll_before": result["heldout_nll_before"],
            "heldout_nll_after": result["heldout_nll_after"],
            "collection_build_s": round(build_s, 1),
        },
        "evaluation": asdict(report),
    }


def write_poly_sections(results: dict, bench_path: Path, eval_path: Path, command: str, machine: str) -> None:
    """Rewrite the piano fine-tune section of BENCHMARKS.md and the piano evaluation section of EVALUATION.md."""
    from worker.bench.report import replace_section

    ft, ev = results["finetune"], results["evaluation"]
    POLY_START, POLY_END = (m.format(arch=ev["arch"]) for m in POLY_MARKS)  # noqa: N806
    EVAL_START, EVAL_END = (m.format(arch=ev["arch"]) for m in EVAL_MARKS)  # noqa: N806
    key = next(k for k in ft if k.startswith("finetune_"))
    met = "✅" if ft[key] <= POLY_TARGET_S else "❌"
    rows = "\n".join(f"| {k} | {v} |" for k, v in ft.items())
    replace_section(
        bench_path,
        POLY_START,
        POLY_END,
        (
            f"{POLY_START}\n## Piano fine-tuning ({ev['arch']}): `{command}`\n\n{machine}. "
            f"Target: ≤ {POLY_TARGET_S:.0f} s for "
            f"{ft['files_used']} files sent as one zip: **{ft[key]} s {met}**; composing 30 s: "
            f"**{ev['compose_p50_s']} s p50** (target ≤ 2 s).\n\n| key | value |\n|---|---|\n{rows}\n{POLY_END}"
        ),
    )
    checks = [
        (
            "polyphony within ±20% of the collection's",
            0.8 <= ev["polyphony_ratio"] <= 1.2,
            f"{ev['composed_polyphony']} vs {ev['collection_polyphony']} (×{ev['polyphony_ratio']})",
        ),
        (
            "held-out NLL ≥ 10% below the best smoothed n-gram",
            ev["nll_gain"] >= 0.10,
            f"{ev['heldout_nll']} vs {ev['ngram_nll']} ({ev['ngram_order']}-gram): {100 * ev['nll_gain']:.1f}% lower",
        ),
        (
            "no 16-note run copied in ≥ 95% of pieces",
            ev["share_copied_16"] <= 0.05,
            f"{100 * (1 - ev['share_copied_16']):.0f}% of pieces copy none",
        ),
        (
            "no note shorter than the collection's shortest common value",
            ev["share_shorter_composed"] == 0,
            f"{ev['shortest_common_ticks']} ticks at 12 a quarter; share of notes shorter, composed: "
            f"{ev['share_shorter_composed']}, collection: {ev['share_shorter_collection']}",
        ),
        ("compose 30 s ≤ 2 s p50", ev["compose_p50_s"] <= 2.0, f"{ev['compose_p50_s']} s"),
    ]
    lines = "\n".join(f"| {name} | {'✅' if ok else '❌'} | {detail} |" for name, ok, detail in checks)
    overlaps = ", ".join(f"{k} {v}" for k, v in ev["overlaps"].items())
    replace_section(
        eval_path,
        EVAL_START,
        EVAL_END,
        (
            f"{EVAL_START}\n## Piano styles from uploads ({ev['arch']}): `{command}`\n\n"
            f"{ft['files_used']} uploaded files "
            f"(tests/benchmarks/piano_collection.py), {ev['heldout_files']} held out by a hash of their names; "
            f"{ev['pieces']} pieces of 30 s composed by `{ev['style']}/{ev['arch']}`; meters served: {ev['meters']}."
            f"\n\n| check | | measured |\n|---|---|---|\n{lines}\n\nOverlapped areas with the held-out pieces "
            f"(1 = indistinguishable; Yang & Lerch): {overlaps}.\n{EVAL_END}"
        ),
    )
