"""Polyphonic keyboard tokens (torch-free), REMI-like: bar, position, velocity, pitch, duration.

A piece encodes as ``<bos> [S:style] M:4/4`` then, per bar, its onset groups and a closing ``<bar>``::

    Pos:0 V:2 P:48 D:24 P:64 D:12 P:72 D:12   Pos:12 V:1 P:67 D:12 ...   <bar>

Positions are ticks from the bar line on the 12-ticks-per-quarter grid of models.music.melody; each onset group
carries one velocity bin and its pitches in rising order, each followed by its duration (which may cross bar
lines). ``<eos>`` ends the piece. models.poly.sampling masks tokens so every bar closes and the piece has an
exact number of bars.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from models.music.melody import TICKS_PER_QUARTER, Note, meter_ticks
from models.music.tokens import METERS

PAD, BOS, EOS, BAR = "<pad>", "<bos>", "<eos>", "<bar>"
PITCH_MIN, PITCH_MAX = 21, 108  # the piano's 88 keys
POSITIONS = 72  # a 12/8 or 6/4 bar: the longest meter of the vocabulary (at 12 ticks a quarter)
DURATIONS = tuple(sorted({t for t in range(1, 49) if t % 3 == 0 or t % 4 == 0} | {60, 72, 84, 96}))
VELOCITY_BINS = (0, 56, 76, 96)  # lower edges: pp-p, mp, mf, f-ff
VELOCITY_OF_BIN = (44, 66, 86, 104)
MAX_GROUP = 6  # pitches per onset group (more are thinned to the outer and top voices)
STYLE_TOKENS = ("chorale", "quartet", "keyboard", "madrigal", "piano")  # append only: ids must stay stable


@dataclass(frozen=True)
class PolyNote:
    """One note: onset and length in grid ticks from the piece's start, MIDI pitch and velocity."""

    start: int
    ticks: int
    pitch: int
    velocity: int = 86


@dataclass
class PolyPiece:
    """Polyphonic music in whole bars of one meter; notes sorted by (start, pitch)."""

    piece_id: str
    meter: str
    bars: int
    notes: list[PolyNote] = field(default_factory=list)
    title: str = ""

    @property
    def bar_ticks(self) -> int:
        return meter_ticks(self.meter)

    def transposed(self, semitones: int) -> PolyPiece:
        notes = [PolyNote(n.start, n.ticks, n.pitch + semitones, n.velocity) for n in self.notes]
        return PolyPiece(self.piece_id, self.meter, self.bars, notes, self.title)

    def to_json(self) -> dict:
        return {
            "id": self.piece_id,
            "meter": self.meter,
            "bars": self.bars,
            "title": self.title,
            "notes": [[n.start, n.ticks, n.pitch, n.velocity] for n in self.notes],
        }

    @classmethod
    def from_json(cls, data: dict) -> PolyPiece:
        return cls(
            data["id"], data["meter"], data["bars"], [PolyNote(*n) for n in data["notes"]], data.get("title", "")
        )


class PolyVocab:
    """Token strings ↔ ids; the order is fixed so checkpoints stay valid."""

    def __init__(self, tokens: list[str] | None = None) -> None:
        if tokens is None:
            tokens = [PAD, BOS, EOS, BAR]
            tokens += [f"M:{m}" for m in METERS]
            tokens += [f"S:{s}" for s in STYLE_TOKENS]
            tokens += [f"Pos:{p}" for p in range(POSITIONS)]
            tokens += [f"V:{v}" for v in range(len(VELOCITY_BINS))]
            tokens += [f"P:{p}" for p in range(PITCH_MIN, PITCH_MAX + 1)]
            tokens += [f"D:{d}" for d in DURATIONS]
        self.tokens = list(tokens)
        self.index = {tok: i for i, tok in enumerate(self.tokens)}
        self.pad, self.bos, self.eos, self.bar = (self.index[t] for t in (PAD, BOS, EOS, BAR))

    def __len__(self) -> int:
        return len(self.tokens)

    def kind(self, token_id: int) -> str:
        """'pos', 'vel', 'pitch', 'dur', 'meter', 'style' or the special token itself."""
        tok = self.tokens[token_id]
        if ":" not in tok:
            return tok
        return {"Pos": "pos", "V": "vel", "P": "pitch", "D": "dur", "M": "meter", "S": "style"}[tok.split(":")[0]]

    def value(self, token_id: int) -> str:
        return self.tokens[token_id].split(":", 1)[1]

    def meter_id(self, meter: str) -> int:
        return self.index[f"M:{meter}"]


def velocity_bin(velocity: int) -> int:
    return max(i for i, edge in enumerate(VELOCITY_BINS) if velocity >= edge)


def nearest_duration(ticks: int) -> int:
    return min(DURATIONS, key=lambda d: (abs(d - ticks), d))


def fold_pitch(pitch: int) -> int:
    while pitch < PITCH_MIN:
        pitch += 12
    while pitch > PITCH_MAX:
        pitch -= 12
    return pitch


def thin_group(pitches: list[int]) -> list[int]:
    """At most MAX_GROUP distinct pitches of an onset: the lowest (bass) and the highest ones (melody first)."""
    pitches = sorted(set(pitches))
    if len(pitches) <= MAX_GROUP:
        return pitches
    return [pitches[0], *pitches[-(MAX_GROUP - 1) :]]


def encode(piece: PolyPiece, vocab: PolyVocab, style: str | None = None) -> list[int]:
    """Piece → ids. Pitches are folded into the piano's range and durations rounded to the vocabulary's."""
    if f"M:{piece.meter}" not in vocab.index:
        raise ValueError(f"meter {piece.meter} not in vocabulary")
    bar_ticks = piece.bar_ticks
    ids = [vocab.bos] + ([vocab.index[f"S:{style}"]] if style else []) + [vocab.meter_id(piece.meter)]
    groups: dict[int, dict[int, PolyNote]] = {}
    for note in piece.notes:
        if 0 <= note.start < piece.bars * bar_ticks:
            pitch = fold_pitch(note.pitch)
            old = groups.setdefault(note.start, {}).get(pitch)
            if old is None or old.ticks < note.ticks:
                groups[note.start][pitch] = note
    starts = sorted(groups)
    i = 0
    for bar in range(piece.bars):
        end = (bar + 1) * bar_ticks
        while i < len(starts) and starts[i] < end:
            start = starts[i]
            group = groups[start]
            keep = thin_group(list(group))
            velocity = max(group[p].velocity for p in keep)
            ids += [vocab.index[f"Pos:{start - bar * bar_ticks}"], vocab.index[f"V:{velocity_bin(velocity)}"]]
            for pitch in keep:
                ids += [vocab.index[f"P:{pitch}"], vocab.index[f"D:{nearest_duration(group[pitch].ticks)}"]]
            i += 1
        ids.append(vocab.bar)
    ids.append(vocab.eos)
    return ids


def decode(ids: list[int], vocab: PolyVocab, piece_id: str = "generated", *, clip: bool = True) -> PolyPiece:
    """Ids → piece of the complete bars; stray tokens are skipped and (``clip``) notes end at the last bar line."""
    meter, bars, pos, velocity, pitch = "4/4", 0, None, VELOCITY_OF_BIN[2], None
    pending: list[PolyNote] = []
    notes: list[PolyNote] = []
    for token_id in ids:
        kind = vocab.kind(token_id)
        if kind == "meter":
            meter = vocab.value(token_id)
        elif kind == "pos":
            pos = int(vocab.value(token_id))
        elif kind == "vel":
            velocity = VELOCITY_OF_BIN[int(vocab.value(token_id))]
        elif kind == "pitch":
            pitch = int(vocab.value(token_id))
        elif kind == "dur" and pitch is not None and pos is not None:
            pending.append(PolyNote(bars * meter_ticks(meter) + pos, int(vocab.value(token_id)), pitch, velocity))
            pitch = None
        elif kind == BAR:
            bars += 1
            notes += pending
            pending, pos, pitch = [], None, None
        elif kind == EOS:
            break
    end = bars * meter_ticks(meter)
    notes = [
        PolyNote(n.start, min(n.ticks, end - n.start) if clip else n.ticks, n.pitch, n.velocity)
        for n in notes
        if n.start < end
    ]
    return PolyPiece(piece_id, meter, bars, sorted(notes, key=lambda n: (n.start, n.pitch)))


def piece_to_notes(piece: PolyPiece, qpm: float) -> list[Note]:
    """The piece in seconds at ``qpm``: a note held into the next onset of the same key is cut there."""
    sec = 60.0 / qpm / TICKS_PER_QUARTER
    by_pitch: dict[int, list[PolyNote]] = {}
    for n in piece.notes:
        by_pitch.setdefault(n.pitch, []).append(n)
    out: list[Note] = []
    for pitch, notes in by_pitch.items():
        notes.sort(key=lambda n: n.start)
        for k, n in enumerate(notes):
            end = n.start + n.ticks
            if k + 1 < len(notes):
                end = min(end, notes[k + 1].start)
            if end > n.start:
                out.append(Note(pitch, n.start * sec, end * sec, n.velocity))
    return sorted(out, key=lambda n: (n.start, n.pitch))


def _polyphony_counts(notes: list[PolyNote] | list[Note]) -> tuple[int, int]:
    """(sum over distinct onsets of the distinct pitches sounding there, number of distinct onsets)."""
    spans = sorted(
        (n.start, n.start + n.ticks, n.pitch) if isinstance(n, PolyNote) else (n.start, n.end, n.pitch) for n in notes
    )
    starts = sorted({s for s, _, _ in spans})
    total, i, active = 0, 0, []  # active: (end, pitch) of notes started so far
    for s in starts:
        while i < len(spans) and spans[i][0] <= s:
            active.append((spans[i][1], spans[i][2]))
            i += 1
        active = [a for a in active if a[0] > s]
        total += len({p for _, p in active})
    return total, len(starts)


def polyphony(notes: list[PolyNote] | list[Note]) -> float:
    """Mean number of distinct pitches sounding at each distinct onset (the issue's polyphony measure)."""
    total, onsets = _polyphony_counts(notes)
    return total / onsets if onsets else 0.0


def pieces_polyphony(pieces: list[PolyPiece]) -> float:
    """Polyphony over several pieces, each on its own time line (onsets pooled)."""
    counts = [_polyphony_counts(p.notes) for p in pieces]
    onsets = sum(c[1] for c in counts)
    return sum(c[0] for c in counts) / onsets if onsets else 0.0
