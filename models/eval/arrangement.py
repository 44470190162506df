"""``tunesmith evaluate --arrangement``: the arranger beside a naive baseline and Bach's own harmony, and the form
of generated pieces beside the corpus, written as a section of EVALUATION.md."""

from __future__ import annotations

import logging
import statistics
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from models.arrange.band import arrange
from models.arrange.harmony import Meter
from models.arrange.key import find_key
from models.arrange.theory import QUALITIES, Chord, Key, identify
from models.eval.arrangement_md import METRICS, STYLES, markdown, write_section
from models.eval.harmony import Harmonized, N, Span, ends_on_tonic, repeated_bar_share, scores
from models.music.melody import Note

log = logging.getLogger(__name__)


def _q(notes: Sequence[Note], sec_q: float) -> list[N]:
    return [N(n.pitch, n.start / sec_q, n.end / sec_q) for n in notes]


def _weights(notes: Sequence[N], meter: Meter) -> list[tuple[int, float]]:
    return [(n.pitch, (n.end - n.start) * (0.5 + meter.strength(n.start))) for n in notes]


def reduce_beat(pcs: frozenset[int], bass_pc: int | None, prev: Span | None) -> tuple[frozenset[int], str]:
    """The chord of one beat of a four-voice texture: what ``theory.identify`` names in the sounding pitch classes
    (the soprano included: it completes the lower voices' dyads), its tones and symbol; a beat that holds no triad
    (a passing sonority) continues the chord before it, or is named by its pitch classes if none came before."""
    found = identify(pcs, bass_pc)
    if found is not None:
        return frozenset(found.tones), found.symbol()
    if prev is not None:
        return prev.pcs, prev.label
    return pcs, "{" + ",".join(map(str, sorted(pcs))) + "}"


def arranged(
    melody: Sequence[N], meter: Meter, bars: int, style: str, seed: int, *, keep_melody: bool
) -> tuple[Harmonized, Key | None, list[N]]:
    """The arranger's harmony for a melody in quarters (played at 60 qpm so seconds = quarters)."""
    notes = [Note(n.pitch, n.start, n.end, 90) for n in melody]
    out = arrange(
        notes,
        seconds=bars * meter.bar_q,
        bars=bars,
        meter=meter.text,
        qpm=60.0,
        style=style,
        program=0,
        seed=seed,
        keep_melody=keep_melody,
    )
    mel = _q(out.melody, 1.0)
    if out.arrangement != "band":
        return Harmonized(mel, [], []), None, mel
    parts = {p.name: p for p in out.parts}
    chords = [Span(s, e, frozenset(c.tones), c.symbol()) for s, e, c in out.spans]
    acc = _q(parts["chords"].notes, 1.0) + _q(parts["bass"].notes, 1.0)
    return Harmonized(mel, chords, _q(parts["bass"].notes, 1.0), acc), out.key, mel


def baseline(melody: Sequence[N], meter: Meter, bars: int, key: Key) -> Harmonized:
    """One chord per bar on the bar's most frequent pitch class (by duration), its diatonic triad, in root
    position from middle C up, over the root in the bass: no voice-leading, no care for the melody."""
    scale = key.scale
    chords, bass, acc = [], [], []
    prev = Chord(key.tonic, "maj")
    for b in range(bars):
        s, e = b * meter.bar_q, (b + 1) * meter.bar_q
        weight: dict[int, float] = {}  # pitch class → beats it sounds
        for n in melody:
            overlap = min(e, n.end) - max(s, n.start)
            if overlap > 0:
                weight[n.pitch % 12] = weight.get(n.pitch % 12, 0.0) + overlap
        if weight:
            root = max(weight, key=lambda pc: weight[pc])
            third = 4 if (root + 4) % 12 in scale else 3
            quality = "maj" if third == 4 else ("min" if (root + 7) % 12 in scale else "dim")
            prev = Chord(root, quality)
        chords.append(Span(s, e, frozenset(prev.tones), prev.symbol()))
        low = 60 + (prev.root - 60) % 12
        voicing = [low + x for x in QUALITIES[prev.quality]]
        acc += [N(p, s, e) for p in voicing]
        bass.append(N(36 + (prev.root - 36) % 12, s, e))
    return Harmonized(list(melody), chords, bass, acc + bass)


def chorale_cases(limit: int | None = None) -> list[tuple[str, Meter, int, list[N], Harmonized, Harmonized]]:
    """Test-split chorales as (id, meter, bars, soprano, Bach's harmony per beat, and at the arranger's chord
    slots), from the first whole bar to the last."""
    from models.music.chorales import fix_onsets, load_split, split_chorales, voice_to_notes
    from models.music.grid_corpus import load_chorales

    chorales = load_chorales()
    test = split_chorales(chorales, load_split(chorales))["test"][:limit]
    out = []
    for ch in test:
        meter = Meter.parse(ch.meter)
        bar = round(meter.bar_q * 4)
        starts = [s for s in ch.bar_starts if s + bar <= ch.pitch.shape[1]]
        full = [s for s in starts if s + bar in ch.bar_starts or s + bar == ch.pitch.shape[1]]
        if len(full) < 4:
            continue
        s0 = full[0]
        bars = (full[-1] + bar - s0) // bar
        pitch, onset = ch.pitch[:, s0 : s0 + bars * bar], ch.onset[:, s0 : s0 + bars * bar]
        voices = [
            [N(n.pitch, n.start, n.end) for n in voice_to_notes(pitch[v], fix_onsets(pitch[v], onset[v]), 60.0)]
            for v in range(4)
        ]
        spans: list[Span] = []
        for beat in range(0, pitch.shape[1], 4):
            pcs = frozenset(int(p) % 12 for p in pitch[:, beat] if p >= 0)
            if pcs:
                bass_pc = int(pitch[3, beat]) % 12 if pitch[3, beat] >= 0 else None
                tones, name = reduce_beat(pcs, bass_pc, spans[-1] if spans else None)
                spans.append(Span(beat / 4, beat / 4 + 1, tones, name))
        human = Harmonized(voices[0], spans, voices[3], voices[1] + voices[2] + voices[3])
        half = round(meter.bar_q / meter.slots_per_bar() * 4)  # the arranger's harmonic rhythm, in grid steps
        slow = [
            Span(sp.start, sp.start + half / 4, sp.pcs, sp.label) for sp in spans if round(sp.start * 4) % half == 0
        ]
        out.append(
            (ch.chorale_id, meter, bars, voices[0], human, Harmonized(voices[0], slow, voices[3], human.accompaniment))
        )
    return out


def _mean(rows: list[dict[str, float]]) -> dict[str, tuple[float, float]]:
    return {
        k: (statistics.fmean(r[k] for r in rows), statistics.pstdev(r[k] for r in rows) if len(rows) > 1 else 0.0)
        for k in METRICS
    }


def evaluate_chorales(limit: int | None = None) -> dict[str, Any]:
    """Arranger, baseline and Bach on the test chorales' sopranos (the melody kept as written)."""
    rows: dict[str, list[dict[str, float]]] = {"arranger": [], "baseline": [], "human": [], "human_slots": []}
    for i, (_cid, meter, bars, soprano, human, slow) in enumerate(chorale_cases(limit)):  # seed i: its harmony draw
        mine, key, _ = arranged(soprano, meter, bars, "bach", i, keep_melody=True)
        if key is None:
            continue
        rows["arranger"].append(scores(mine))
        rows["baseline"].append(scores(baseline(soprano, meter, bars, key)))
        rows["human"].append(scores(human))
        rows["human_slots"].append(scores(slow))
    return {"pieces": len(rows["human"]), **{k: _mean(v) for k, v in rows.items()}}


def evaluate_generated(pieces: int = 10, seconds: float = 30.0, styles: Sequence[str] = STYLES) -> dict[str, Any]:
    """Arranger and baseline on generated melodies (LSTM, seeds 0…pieces-1), and their form beside the corpus."""
    from models.compose.factory import load_composer

    rows: dict[str, list[dict[str, float]]] = {"arranger": [], "baseline": []}
    form: dict[str, dict[str, float]] = {}
    timing = []
    for style in styles:
        composer = load_composer(style, "lstm")
        raw_rep, band_rep, raw_tonic, band_tonic = [], [], [], []
        for seed in range(pieces):
            piece = composer.compose(seconds, seed=seed)
            sec_q = 60.0 / piece.tempo_qpm
            meter = Meter.parse(piece.meter)
            raw = _q(piece.notes, sec_q)
            t = time.perf_counter()
            notes = [Note(n.pitch, n.start, n.end, n.velocity) for n in piece.notes]
            out = arrange(
                notes,
                seconds=piece.seconds,
                bars=piece.bars,
                meter=piece.meter,
                qpm=piece.tempo_qpm,
                style=style,
                program=piece.program,
                seed=seed,
            )
            timing.append(time.perf_counter() - t)
            mine, key, mel = arranged(raw, meter, piece.bars, style, seed, keep_melody=False)
            raw_key = find_key(_weights(raw, meter), raw[-1].pitch if raw else None)
            raw_rep.append(repeated_bar_share(raw, meter.bar_q))
            raw_tonic.append(float(raw_key is not None and ends_on_tonic(raw, raw_key.tonic)))
            if key is None or out.arrangement != "band":
                band_rep.append(repeated_bar_share(mel, meter.bar_q))
                band_tonic.append(0.0)
                continue
            band_rep.append(repeated_bar_share(mel, meter.bar_q))
            band_tonic.append(float(ends_on_tonic(mel, key.tonic)))
            rows["arranger"].append(scores(mine))
            rows["baseline"].append(scores(baseline(mel, meter, piece.bars, key)))
        form[style] = {
            "generated_melody_repeat": statistics.fmean(raw_rep),
            "band_repeat": statistics.fmean(band_rep),
            "generated_melody_tonic": statistics.fmean(raw_tonic),
            "band_tonic": statistics.fmean(band_tonic),
            **corpus_form(style),
        }
    from models.eval.folk_reference import chorded_tunes

    return {
        "pieces": len(rows["arranger"]),
        "folk_human": {title: scores(h) for title, h in chorded_tunes()},
        "arrange_ms_p50": 1000 * statistics.median(timing),
        "arrange_ms_max": 1000 * max(timing),
        **{k: _mean(v) for k, v in rows.items()},
        "form": form,
    }


def corpus_form(style: str, limit: int = 200) -> dict[str, float]:
    """Repeated-bar share and tonic endings of the style's held-out tunes (test split, first ``limit``)."""
    import music21

    from models.eval.evaluate import split_tunes
    from models.music.corpus import cache_dir
    from models.music.styles import STYLES as ALL

    if not (cache_dir() / f"{style}-m21-{music21.__version__}.json.gz").exists():  # parsing takes many minutes
        log.warning("the %s corpus is not cached yet (tunesmith train parses it): no corpus figures", style)
        return {}
    try:
        tunes = split_tunes(ALL[style])["test"][:limit]
    except Exception as exc:  # noqa: BLE001 - the corpus is optional for this table
        log.warning("no corpus for %s: %s", style, exc)
        return {}
    rep, tonic = [], []
    for tune in tunes:
        from models.music.melody import tune_to_notes

        meter = Meter.parse(tune.meter)
        mel = _q(tune_to_notes(tune, 60.0), 1.0)
        if len(mel) < 4:
            continue
        rep.append(repeated_bar_share(mel, meter.bar_q))
        key = find_key(_weights(mel, meter), mel[-1].pitch)
        tonic.append(float(key is not None and ends_on_tonic(mel, key.tonic)))
    return {"corpus_repeat": statistics.fmean(rep), "corpus_tonic": statistics.fmean(tonic), "corpus_tunes": len(rep)}


def run(path: Path, command: str, pieces: int = 10, chorales: int | None = None) -> dict[str, Any]:
    """Evaluate and write the section; returns the numbers."""
    ch = evaluate_chorales(chorales)
    gen = evaluate_generated(pieces)
    write_section(path, markdown(ch, gen, command))
    return {"chorales": ch, "generated": gen}
