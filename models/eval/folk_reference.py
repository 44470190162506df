"""The human folk reference: corpus tunes that carry their own chord symbols (music21's Nottingham sample), as a
melody with its chords, for the arrangement metrics."""

from __future__ import annotations

import logging

from models.arrange.theory import identify
from models.eval.harmony import Harmonized, N, Span

log = logging.getLogger(__name__)
CHORDED = ("nottingham-dataset/reelsa-c.abc",)  # the only corpus files whose tunes have chord symbols


def chorded_tunes(paths: tuple[str, ...] = CHORDED) -> list[tuple[str, Harmonized]]:
    """(title, melody with its chord symbols) for every tune in ``paths``, repeats expanded; a chord lasts until
    the next one (or the tune's end) and is named by ``theory.identify`` like every other chord we measure."""
    from music21 import corpus, harmony, note

    out = []
    for path in paths:
        try:
            opus = corpus.parse(path)
        except Exception as exc:  # noqa: BLE001 - the reference is optional for the report
            log.warning("could not read %s: %s", path, exc)
            continue
        for score in getattr(opus, "scores", [opus]):
            flat = score.expandRepeats().flatten()
            melody: list[N] = []
            marks = []
            for el in flat.notesAndRests:
                if isinstance(el, harmony.ChordSymbol):
                    marks.append((float(el.offset), el))
                elif isinstance(el, note.Note):
                    melody.append(N(el.pitch.midi, float(el.offset), float(el.offset + el.quarterLength)))
            if not melody or not marks:
                continue
            marks.sort(key=lambda m: m[0])
            end = max(n.end for n in melody)
            spans = []
            for i, (start, symbol) in enumerate(marks):
                stop = marks[i + 1][0] if i + 1 < len(marks) else end
                chord = identify({p.pitchClass for p in symbol.pitches}, symbol.bass().pitchClass)
                if stop > start and chord is not None:
                    spans.append(Span(start, stop, frozenset(chord.tones), chord.symbol()))
            out.append((str(score.metadata.title if score.metadata else path), Harmonized(melody, spans, [])))
    return out
