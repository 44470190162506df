"""Plays a tokenised ABC tune as folk musicians do: repeats expanded, then round again, cut at a bar line.

Repeats and endings are expanded on the tokens (music21's ``expandRepeats`` miscounts ``:|`` without ``|:``
and drops every bar after ``::``). Pickups and other part-bars are joined when two of them make a bar
(the last bar of a round and the pickup of the next) and dropped otherwise, so only whole bars are played.
The played bars are written out as plain ABC with every accidental explicit and parsed back by music21
into a :class:`models.music.melody.Tune`, which checks that the ABC is valid and has the length asked for.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction

from models.abc.syntax import (
    C_LETTER,
    TICKS_PER_EIGHTH,
    AbcError,
    Key,
    key_shift,
    kind,
    meter_eighths,
    parse_key,
    parse_pitch,
    pitch_text,
    timed_notes,
    transpose_pitch,
)
from models.abc.tokens import detokenize
from models.music.melody import Tune

TONIC_NAMES = ("C", "Db", "D", "Eb", "E", "F", "F#", "G", "Ab", "A", "Bb", "B")


def tonic_key(pc: int, mode: str) -> Key:
    """The key with tonic pitch class ``pc`` (spelled as in :data:`TONIC_NAMES`) in ``mode``."""
    return parse_key(TONIC_NAMES[pc % 12] + mode)


def transpose_tokens(tokens: list[str], dst: Key) -> list[str]:
    """Tokens of a tune in C (as :func:`models.abc.tokens.tokenize` writes them) moved to key ``dst``."""
    src = next((parse_key(t[2:]) for t in tokens if kind(t) == "key"), Key(C_LETTER, 0, "maj"))
    dst = Key(dst.letter, dst.pc, src.mode)
    steps = key_shift(src, dst.letter) if (dst.pc - src.pc) % 12 else 0
    out = []
    for tok in tokens:
        k = kind(tok)
        if k == "pitch":
            out.append(pitch_text(*transpose_pitch(*parse_pitch(tok), src, dst, steps)))
        else:
            out.append(f"K:{dst.text()}" if k == "key" else tok)
    return out


@dataclass
class Bar:
    """One bar of a tune body: its tokens, the bar line closing it, and its repeat/ending marks."""

    tokens: list[str]
    length: Fraction  # in eighths
    on_grid: bool  # every note a whole number of ticks
    close: str = "|"
    opens_repeat: bool = False
    ending: int | None = None


def split_bars(body: list[str]) -> list[Bar]:
    """Body tokens → bars; an ending (``[1``) lasts until a bar line other than ``|``."""
    lengths = {n[1]: n[2] for n in timed_notes(body)}
    bars: list[Bar] = []
    start, opens, ending = 0, False, None
    for i, tok in enumerate(body + ["|"]):
        k = kind(tok)
        if k not in ("bar", "ending"):
            continue
        notes = [lengths[j] for j in range(start, i) if j in lengths]
        content = [t for t in body[start:i] if kind(t) not in ("bar", "ending")]
        if k == "bar" and notes:
            bars.append(
                Bar(
                    content,
                    sum(notes, Fraction(0)),
                    all((x * TICKS_PER_EIGHTH).denominator == 1 for x in notes),
                    tok,
                    opens,
                    ending,
                )
            )
            opens = False
            ending = ending if tok == "|" else None
        elif k == "bar" and bars and tok == ":|" and bars[-1].close == "|":
            bars[-1].close = ":|"
        if tok == "|:":
            opens, ending = True, None
        elif k == "ending":
            ending = int(tok[1:])
        start = i + 1
    return bars


def play_order(bars: list[Bar]) -> list[int]:
    """Indices of ``bars`` in the order they are played: each ``|: … :|`` twice, endings on their pass."""
    order: list[int] = []
    i, start, second, guard = 0, 0, False, 0
    while i < len(bars) and guard < 4 * len(bars) + 8:
        guard += 1
        bar = bars[i]
        if bar.opens_repeat and i != start:
            start, second = i, False
        if bar.ending is not None and bar.ending != (2 if second else 1):
            i += 1
            continue
        order.append(i)
        if bar.close == ":|" and not second:
            i, second = start, True
            continue
        if bar.close != "|":  # a section ends, unless second-time bars follow a repeat with no first-time bar
            start = i + 1
            second = second and bar.close == ":|" and i + 1 < len(bars) and bars[i + 1].ending is not None
        i += 1
    return order


def explicit_accidentals(tokens: list[str], key: Key) -> list[str]:
    """A bar's tokens with an accidental on every note (key signature and earlier accidentals applied)."""
    carried: dict[int, int] = {}
    out = []
    for tok in tokens:
        if kind(tok) == "pitch":
            acc, step = parse_pitch(tok)
            acc = carried.setdefault(step, key.signature(step % 7)) if acc is None else acc
            carried[step] = acc
            tok = pitch_text(acc, step)
        out.append(tok)
    return out


def whole_bars(tokens: list[str], n_bars: int) -> list[list[str]]:
    """``n_bars`` whole bars of the tune played round and round, each with explicit accidentals.

    Raises:
        AbcError: when a round of the tune has no whole bar.
    """
    meter = next(t[2:] for t in tokens if kind(t) == "meter")
    key = next((parse_key(t[2:]) for t in tokens if kind(t) == "key"), Key(C_LETTER, 0, "maj"))
    full = meter_eighths(meter)
    bars = split_bars([t for t in tokens if kind(t) not in ("special", "meter", "key")])
    units = [
        (explicit_accidentals(bars[i].tokens, key), bars[i].length)
        for i in play_order(bars)
        if bars[i].on_grid and bars[i].length <= full
    ]
    if not any(length == full for _, length in units):
        raise AbcError("no whole bar")
    out: list[list[str]] = []
    pending: tuple[list[str], Fraction] | None = None
    i = 0
    while len(out) < n_bars:
        toks, length = units[i % len(units)]
        i += 1
        if length == full:
            out.append(toks)
            pending = None
        elif pending is not None and pending[1] + length == full:
            out.append(pending[0] + toks)
            pending = None
        else:
            pending = (toks, length)
    return out


def abc_to_tune(text: str, tune_id: str = "abc") -> Tune | None:
    """Parse ABC text with music21 into a Tune of whole bars (pitches as written, not moved to C)."""
    from music21 import converter

    from models.music.corpus import score_to_tune

    try:
        score = converter.parse(text, format="abc")
        return score_to_tune(score, tune_id, normalize_key=False)
    except Exception:  # noqa: BLE001 - any music21 failure means the ABC is unusable
        return None


def render(tokens: list[str], n_bars: int, tune_id: str = "abc") -> tuple[Tune, str]:
    """Exactly ``n_bars`` whole bars of a tokenised tune, as a Tune and the plain ABC music21 read.

    music21 reads each distinct bar once (a round of the tune, not all ``n_bars``: parsing is slow), and the
    Tune repeats the parsed bars in playing order.

    Raises:
        AbcError: when the tune has no whole bars or music21 reads another number of bars.
    """
    bars = [tuple(bar) for bar in whole_bars(tokens, n_bars)]
    distinct = list(dict.fromkeys(bars))
    written = distinct * (2 if len(distinct) == 1 else 1)  # music21 makes measures from two bar lines on
    head = [t for t in tokens if kind(t) == "meter"][:1] + ["K:C"]
    text = detokenize(head + [t for bar in written for t in (*bar, "|")])
    tune = abc_to_tune(text, tune_id)
    if tune is None or len(tune.bars) != len(written):
        raise AbcError(f"music21 read {len(tune.bars) if tune else 0} whole bars, not {len(distinct)}")
    index = {bar: i for i, bar in enumerate(distinct)}
    tune.bars = [list(tune.bars[index[bar]]) for bar in bars]
    return tune, text
