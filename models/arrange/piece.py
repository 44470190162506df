"""Applies the arranger to a sampled ``models.compose.factory.Composition`` (duck-typed, so this stays torch-free)."""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Sequence
from typing import Any

from models.arrange.band import ARRANGEMENTS, arrange
from models.arrange.harmony import Meter, MNote, harmonize
from models.arrange.key import find_key
from models.arrange.theory import MODES, Chord, Key, parse_symbol

log = logging.getLogger(__name__)


def _analysis(notes: list[Any], meter: str, qpm: float, bars: int) -> tuple[Key | None, list[dict]]:
    """Key and chords of a line that is not re-arranged (a chorale's soprano, or a bare melody)."""
    from models.arrange.band import chord_list

    try:
        m = Meter.parse(meter)
    except (ValueError, ZeroDivisionError):
        return None, []
    sec_q = 60.0 / qpm
    line = [n for n in notes if n.end > n.start]
    key = find_key(
        [(n.pitch, (n.end - n.start) / sec_q * (0.5 + m.strength(n.start / sec_q))) for n in line],
        final_pitch=line[-1].pitch if line else None,
    )
    if key is None or bars < 1:
        return key, []
    mq = [MNote(n.pitch, n.start / sec_q, n.end / sec_q) for n in line]
    return key, chord_list(harmonize(mq, key, m, bars), key, sec_q)


def chosen_key(piece: Any) -> Key | None:
    """The key the user chose (``/compose key:``, the composer's ``key`` "E dorian"), which the band keeps."""
    if not getattr(piece, "key", "") or piece.arrangement == "band":
        return None
    from models.music.keys import BadKey, parse_key

    try:
        parsed = parse_key(piece.key)
    except BadKey:
        return None
    return Key(parsed.tonic, parsed.mode) if parsed.mode in MODES else None


def kept_chords(chords: Sequence[dict], sec_q: float) -> list[tuple[float, float, Chord]]:
    """A parent track's chord list (seconds, symbols) as (start, end, chord) in quarters; unreadable ones left out."""
    out = []
    for c in chords:
        chord = parse_symbol(str(c.get("symbol", "")))
        if chord is not None:
            out.append((float(c["start"]) / sec_q, float(c["end"]) / sec_q, chord))
    return out


def arrange_piece(
    piece: Any,
    arrangement: str = "band",
    keep: list[Any] | None = None,
    keep_bars: int = 0,
    keep_chords: Sequence[dict] = (),
) -> Any:
    """``piece`` with the parts of ``arrangement`` (``band`` or ``melody``) and its key and chords.

    A piece that already has several voices (a Coconet chorale) keeps them: only its key and chords are added.
    A melody that cannot be arranged (no key fits, too short) comes back as ``melody`` with a note why.
    ``keep``/``keep_bars``: an extended band track's parent melody, kept note for note (see ``band.arrange``);
    ``keep_chords``: the parent's chords (its sidecar's ``chords``: start and end in seconds, symbol), kept too.
    """
    if arrangement not in ARRANGEMENTS:
        raise ValueError(f"unknown arrangement {arrangement!r}; arrangements: {', '.join(ARRANGEMENTS)}")
    voices = [p for p in (piece.parts or []) if p[2]]
    if len(voices) > 1 or arrangement == "melody":
        top = voices[0][2] if len(voices) > 1 else list(piece.notes)
        try:
            key, chords = _analysis(sorted(top, key=lambda n: n.start), piece.meter, piece.tempo_qpm, piece.bars)
        except Exception:  # noqa: BLE001 - the analysis is extra information, never a reason to fail the track
            log.exception("could not analyse the key and chords of %s", piece.style)
            key, chords = None, []
        kind = "band" if len(voices) > 1 else "melody"
        return dataclasses.replace(piece, arrangement=kind, key=key.name() if key else "", chords=chords)
    out = arrange(
        sorted(piece.notes, key=lambda n: (n.start, n.pitch)),
        seconds=float(piece.seconds),
        bars=int(piece.bars),
        meter=piece.meter,
        qpm=float(piece.tempo_qpm),
        style=piece.style,
        program=int(piece.program),
        seed=int(piece.seed),
        keep=keep,
        keep_bars=keep_bars,
        key=chosen_key(piece),
        keep_chords=kept_chords(keep_chords, 60.0 / float(piece.tempo_qpm)),
    )
    if out.arrangement == "melody":
        return dataclasses.replace(piece, arrangement="melody", arrangement_note=out.note)
    pitched = sorted((n for p in out.parts if not p.is_drum for n in p.notes), key=lambda n: (n.start, n.pitch))
    return dataclasses.replace(
        piece,
        notes=pitched,
        parts=[(p.name, p.program, p.notes) for p in out.parts],
        drum_parts=[p.name for p in out.parts if p.is_drum],
        arrangement="band",
        key=out.key.name() if out.key else "",
        chords=out.chords,
        sections=[f"{s.label}{s.length}" for s in out.sections],
    )


def part_info(piece: Any) -> list[dict]:
    """The track's parts as ``{"name", "program", "channel", "is_drum"}``: channels as the MIDI writer and the
    synthesiser assign them (drums on GM channel 10, i.e. 9 counted from 0; the others in order, skipping it)."""
    drums = set(getattr(piece, "drum_parts", []) or [])
    parts = piece.parts or [(f"{piece.style} ({piece.arch})", piece.program, piece.notes)]
    channels = iter(c for c in range(16) if c != 9)
    return [
        {
            "name": str(name),
            "program": int(program),
            "channel": 9 if name in drums else next(channels, 15),
            "is_drum": name in drums,
        }
        for name, program, _ in parts
    ]
