"""The arrangement section of EVALUATION.md: tables, verdicts against the baseline and Bach, and its place."""

from __future__ import annotations

from pathlib import Path
from typing import Any

START, END = "<!-- arrangement:start -->", "<!-- arrangement:end -->"
METRICS = ("ctnctr", "pcs", "mctd", "che", "cc", "parallels", "overlap", "crossing")
HIGHER_IS_BETTER = {"ctnctr": True, "pcs": True, "mctd": False, "parallels": False, "overlap": False, "crossing": False}
STYLES = ("irish", "folk", "scottish")


def _cell(v: tuple[float, float]) -> str:
    return f"{v[0]:.3f} ± {v[1]:.3f}"


def _verdicts(results: dict[str, Any], human: dict[str, tuple[float, float]]) -> list[str]:
    out = []
    for k, up in HIGHER_IS_BETTER.items():
        a, b = results["arranger"][k][0], results["baseline"][k][0]
        beats = a > b if up else a < b
        h, sd = human[k]
        inside = h - sd <= a <= h + sd
        side = "" if inside else (" (on the better side)" if (a > h if up else a < h) else " (on the worse side)")
        out.append(
            f"{k}: {'beats' if beats else 'does not beat'} the baseline ({a:.3f} vs {b:.3f}); "
            f"{'inside' if inside else 'outside'} Bach's mean ± 1 sd ({h:.3f} ± {sd:.3f}){side}"
        )
    for k in ("che", "cc"):  # no better direction: closer to the human figure
        a, b = results["arranger"][k][0], results["baseline"][k][0]
        h, sd = human[k]
        closer = abs(a - h) < abs(b - h)
        out.append(
            f"{k}: {'closer to' if closer else 'further from'} Bach's {h:.3f} ± {sd:.3f} than the baseline "
            f"({a:.3f} vs {b:.3f}); {'inside' if h - sd <= a <= h + sd else 'outside'} mean ± 1 sd"
        )
    return out


def markdown(chorales: dict[str, Any], generated: dict[str, Any], command: str) -> str:
    """The EVALUATION.md section."""
    head = "| harmony | " + " | ".join(METRICS) + " |\n|---|" + "---|" * len(METRICS)
    lines = [
        START,
        "## Arrangement (issue 13)",
        "",
        f"Produced by `{command}`.",
        "",
        "Metrics after Yeh et al. (2021): CTnCTR (chord tones + passing/neighbour tones over all melody notes; "
        "higher is better), PCS (pitch consonance of melody against chord, −1…1; higher), MCTD (melody–chord "
        "tonal distance; lower), CHE (chord histogram entropy) and CC (distinct chords) — compared with the "
        "human figures, not better or worse by themselves; parallels (share of bass moves making parallel "
        "fifths/octaves with the melody; lower), overlap (share of accompaniment notes inside the melody's "
        "range; lower), crossing (share at or above the melody note sounding with them; lower). Mean ± sd "
        "over pieces.",
        "",
        f"### On the Bach chorales' sopranos (test split, {chorales['pieces']} chorales, melody as written)",
        "",
        "Human = Bach's alto, tenor and bass reduced to one chord per beat (the triad they hold, else the "
        "pitch-class set); arranger = this repository's Viterbi harmony and parts (air pattern, no form); "
        "baseline = one chord per bar from the bar's most frequent pitch class, root-position block chords "
        "from middle C, root bass. human_slots = Bach's chord at each of the arranger's chord slots (1–2 a bar), the "
        "same harmonic rhythm as the arranger.",
        "",
        head,
    ]
    for name in ("human", "human_slots", "arranger", "baseline"):
        lines.append(f"| {name} | " + " | ".join(_cell(chorales[name][k]) for k in METRICS) + " |")
    lines += [
        "",
        *[f"- {v}" for v in _verdicts(chorales, chorales["human"])],
        "",
        f"### On generated melodies ({generated['pieces']} pieces: LSTM, {', '.join(STYLES)}, 30 s, seeds 0…)",
        "",
        "The same melodies (after the form is applied) under the arranger and the baseline; Bach's range "
        "above is the human reference (music21's corpus holds chord symbols for only two folk tunes, in "
        "nottingham-dataset/reelsa-c.abc: too few to be one).",
        "",
        head,
    ]
    for name in ("arranger", "baseline"):
        lines.append(f"| {name} | " + " | ".join(_cell(generated[name][k]) for k in METRICS) + " |")
    lines += [
        "",
        *[f"- {v}" for v in _verdicts(generated, chorales["human"])],
        "",
        f"Arranging took {generated['arrange_ms_p50']:.1f} ms p50 ({generated['arrange_ms_max']:.1f} ms max) "
        "per 30 s piece on one thread.",
        "",
        "### Form",
        "",
        "Share of bars repeating an earlier bar exactly, and share of pieces ending on the tonic (key found by "
        "the same analyser), for the held-out corpus tunes, the bare generated melody and the band "
        "arrangement (form applied, final cadence).",
        "",
        "| style | corpus repeat | melody repeat | band repeat | corpus tonic end | melody tonic end | "
        "band tonic end |",
        "|---|---|---|---|---|---|---|",
    ]
    for style, f in generated["form"].items():
        cells = [
            f.get("corpus_repeat"),
            f["generated_melody_repeat"],
            f["band_repeat"],
            f.get("corpus_tonic"),
            f["generated_melody_tonic"],
            f["band_tonic"],
        ]
        lines.append(f"| {style} | " + " | ".join("–" if c is None else f"{c:.2f}" for c in cells) + " |")
    lines += [
        "",
        "Corpus tunes are stored with repeat signs unexpanded, so their repeat share counts only "
        "written-out returns: a lower bound on what a listener hears; their last bar is dropped when it is "
        "short (the pickup's complement), which lowers their tonic-ending share.",
        "",
        "**Reading.** Against the naive baseline the arranger wins every directional metric on both melody sets "
        "(more chord tones, more consonance, closer tonal distance, far fewer parallels, almost no overlap or "
        "crossing). Against Bach it is on the better side of his mean for chord tones, tonal distance, overlap "
        "and crossing, which is what a folk accompaniment under the melody should be, and on the worse side "
        "for consonance (Bach changes chord on every beat: at the arranger's own harmonic rhythm, "
        "`human_slots`, Bach's consonance is below the arranger's) and for parallels (about 1 bass move in "
        "80). Chord variety (CHE, CC) stays well below Bach's 14–22 distinct chords per chorale: the arranger "
        "has 6–10 triads per mode and one or two chords a bar. On the chorales it is closer to Bach than the "
        "baseline; on the generated folk melodies, whose repeated parts repeat their chords, it is slightly "
        "less varied than the baseline's arbitrary chord per bar. music21's corpus has chord symbols for only "
        "two folk tunes, so Bach is the only human reference.",
        END,
    ]
    return "\n".join(lines)


def write_section(path: Path, section: str) -> None:
    """Put the section into EVALUATION.md in place of an older one, else at the end."""
    text = path.read_text() if path.exists() else "# Evaluation\n"
    if START in text:
        head, rest = text.split(START, 1)
        text = head + section + rest.split(END, 1)[1]
    else:
        text = text.rstrip() + "\n\n" + section + "\n"
    path.write_text(text)
