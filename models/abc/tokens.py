"""Folk-rnn-style ABC tokens: raw corpus tunes → normalised token sequences, and tokens → valid ABC text.

A tune becomes ``M:6/8 K:Cdor |: G A B c 2 …`` (wrapped in ``<s>`` … ``</s>`` for the model): the tonic is
transposed to C with the mode kept (as folk-rnn v3 does), lengths are in eighth notes (``L:1/8``), chords
keep their top note, and titles, comments, lyrics, chord symbols, grace notes, slurs and decorations are
dropped. ``::`` becomes ``:| |:``, ``|]`` and ``[|`` become ``||``, ``|1`` becomes ``[1``, and a bar line is
put where a full bar runs on without one (Essen tunes break lines at phrases, not bars).
:func:`detokenize` writes tokens as ABC and :func:`tokenize` reads any tune back; on normalised text the
round trip is exact.
"""

from __future__ import annotations

import re
from fractions import Fraction

from models.abc.syntax import (
    ACCIDENTALS,
    C_LETTER,
    TUPLET_TIME,
    AbcError,
    Key,
    beat_eighths,
    dur_text,
    key_shift,
    kind,
    meter_eighths,
    parse_dur,
    parse_key,
    parse_pitch,
    pitch_text,
    timed_notes,
    transpose_pitch,
)

_SKIP = set(" \t\\`y.~HLMOPSTuvJk)")  # spacing, line continuation, decorations (O'Neill's ``k``: stress)
_NOTE = re.compile(r"(\^\^|\^|__|_|=)?([A-Ga-g])([,']*)(\d*/*\d*)")
_REST = re.compile(r"([zx])(\d*/*\d*)")
_BAR = re.compile(r":*\[?\|[\]|]*:*|::+")
_TUPLET = re.compile(r"\((\d)(?::(\d?)(?::(\d?))?)?")
_FIELD_LINE = re.compile(r"^([A-Za-z]):(.*)$")
_LENGTH = re.compile(r"\d*/*\d*")
_INLINE_FIELD = re.compile(r"\[([A-Za-z]):([^\]]*)\]")
_ENDING = re.compile(r"\[?(\d)([,\-]?)")  # after a bar line: ``|1``, ``|[1``; ``1,2`` and ``1-2`` unsupported


def _meter(value: str) -> str:
    value = {"C": "4/4", "C|": "2/2"}.get(value.strip(), value.strip())
    m = re.fullmatch(r"(\d+)/(\d+)", value)
    if m is None or int(m.group(1)) < 2 or int(m.group(2)) not in (2, 4, 8):
        raise AbcError(f"unsupported meter {value!r}")
    return f"{int(m.group(1))}/{int(m.group(2))}"


class _Lexer:
    """Reads one tune's body into normalised tokens, transposed from ``key`` to tonic C."""

    def __init__(self, meter: str, unit: Fraction, key: Key) -> None:
        self.meter, self.unit, self.key = meter, unit, key
        self.target = Key(C_LETTER, 0, key.mode)
        self.steps = key_shift(key, C_LETTER)
        self.out: list[str] = []

    def field(self, name: str, value: str) -> None:
        if name == "L":
            self.unit = parse_dur(value.strip()) / Fraction(1, 8)
        elif name == "K" and parse_key(value) != self.key or name == "M" and _meter(value) != self.meter:
            raise AbcError(f"{name}: changes inside the tune")
        elif name == "V":
            raise AbcError("several voices")

    def note(self, acc: str | None, letter: str, marks: str, length: str) -> None:
        a, step = transpose_pitch(
            ACCIDENTALS[acc] if acc else None, parse_pitch(letter + marks)[1], self.key, self.target, self.steps
        )
        self.out.append(pitch_text(a, step))
        self.duration(length)

    def duration(self, text: str) -> None:
        value = parse_dur(text) * self.unit
        if value != 1:
            self.out.append(dur_text(value))

    def last_kind(self) -> str:
        return kind(self.out[-1]) if self.out else "bar"

    def lex(self, s: str) -> None:
        """Append the tokens of body text ``s`` (one branch per ABC construct)."""
        i = 0
        while i < len(s):
            c = s[i]
            if c in _SKIP:
                i += 1
            elif c in '"!+{':
                end = s.find({"{": "}"}.get(c, c), i + 1)
                if end < 0:
                    raise AbcError(f"unclosed {c}")
                i = end + 1
            elif (m := _INLINE_FIELD.match(s, i)) is not None:
                self.field(m.group(1), m.group(2))
                i = m.end()
            elif (m := _BAR.match(s, i)) is not None:
                self.bar(m.group())
                i = m.end()
                if (e := _ENDING.match(s, i)) is not None:
                    self.ending(e)
                    i = e.end()
            elif c == "[" and i + 1 < len(s) and s[i + 1].isdigit():
                e = _ENDING.match(s, i)
                assert e is not None  # "[" then a digit: always an ending
                self.ending(e)
                i = e.end()
            elif c == "[":
                i = self.chord(s, i)
            elif (m := _TUPLET.match(s, i)) is not None:
                p, q, r = int(m.group(1)), m.group(2), m.group(3)
                if p not in TUPLET_TIME or q and int(q) != TUPLET_TIME[p] or r and int(r) != p:
                    raise AbcError(f"unsupported tuplet {m.group()!r}")
                self.out.append(f"({p}")
                i = m.end()
            elif c == "(":
                i += 1
            elif (m := _NOTE.match(s, i)) is not None:
                self.note(*m.groups())
                i = m.end()
            elif (m := _REST.match(s, i)) is not None:
                if m.group(1) == "z":  # music21 skips x (invisible rests), O'Neill's uses it for holds
                    self.out.append("z")
                    self.duration(m.group(2))
                i = m.end()
            elif c == "-":
                if self.last_kind() == "pitch" or self.last_kind() == "dur" and kind(self.out[-2]) == "pitch":
                    self.out.append("-")
                i += 1
            elif c in "<>":
                j = i
                while j < len(s) and s[j] == c:
                    j += 1
                if j - i > 2 or self.last_kind() not in ("pitch", "rest", "dur"):
                    raise AbcError("broken rhythm without a note")
                self.out.append(s[i:j])
                i = j
            else:
                raise AbcError(f"unsupported ABC {c!r}")

    def bar(self, text: str) -> None:
        if text.startswith(":") and text.endswith(":"):
            self.out += [":|", "|:"]
        elif text.startswith(":") or text.endswith(":"):
            self.out.append(":|" if text.startswith(":") else "|:")
        else:
            self.out.append("|" if text == "|" else "||")

    def ending(self, m: re.Match) -> None:
        if m.group(2):
            raise AbcError("ending for several passes")
        if self.last_kind() != "bar":
            self.out.append("|")
        self.out.append(f"[{m.group(1)}")

    def chord(self, s: str, i: int) -> int:
        end = s.find("]", i)
        inner = s[i + 1 : end] if end > 0 else ""
        notes = list(_NOTE.finditer(inner))
        if not notes or re.sub(r"[\s.\-~]", "", _NOTE.sub("", inner)):
            raise AbcError(f"unsupported chord {s[i : end + 1]!r}")

        def height(m: re.Match) -> tuple[int, int]:
            acc, step = parse_pitch((m.group(1) or "") + m.group(2) + m.group(3))
            return step, acc or 0

        top = max(notes, key=height)
        outer = _LENGTH.match(s, end + 1)
        assert outer is not None  # every part of _LENGTH is optional: it always matches
        a, step = transpose_pitch(
            ACCIDENTALS[top.group(1)] if top.group(1) else None,
            parse_pitch(top.group(2) + top.group(3))[1],
            self.key,
            self.target,
            self.steps,
        )
        self.out.append(pitch_text(a, step))
        value = parse_dur(top.group(4)) * parse_dur(outer.group()) * self.unit
        if value != 1:
            self.out.append(dur_text(value))
        return outer.end()


def _merge_bars(body: list[str]) -> list[str]:
    """Collapse adjacent bar lines (keeping ``:| |:``), drop a plain leading bar, end on a bar line."""
    out: list[str] = []
    for tok in body:
        if kind(tok) == "bar" and out and kind(out[-1]) == "bar" and (out[-1], tok) != (":|", "|:"):
            tok = max(out.pop(), tok, key=(":|", "|:", "||", "|")[::-1].index)
        if kind(tok) == "bar" and not out and tok in ("|", "||"):
            continue
        out.append(tok)
    if not out or kind(out[-1]) != "bar":
        out.append("||")
    return out


def _insert_bars(body: list[str], meter: str) -> list[str]:
    """Put a bar line before a note that starts once a full bar has run on without one."""
    full = meter_eighths(meter)
    starts = {n[0]: n[2] for n in timed_notes(body)}
    out: list[str] = []
    filled = Fraction(0)
    for i, tok in enumerate(body):
        if i in starts:
            if filled == full and out and kind(out[-1]) != "broken":
                out.append("|")
                filled = Fraction(0)
            filled += starts[i]
        if kind(tok) == "bar":
            filled = Fraction(0)
        out.append(tok)
    return out


def tokenize(text: str) -> list[str]:
    """One tune's ABC (raw corpus text or :func:`detokenize` output) → ``[M:.., K:C.., body tokens…]``.

    Raises:
        AbcError: for tunes outside what the tokens model (no meter, key changes, voices, odd tuplets…).
    """
    meter, unit, lexer = None, None, None
    body_lines: list[str] = []
    for raw in text.splitlines():
        line = raw.split("%", 1)[0].rstrip()
        field = _FIELD_LINE.match(line)
        if lexer is None:
            if field and field.group(1) == "M":
                meter = _meter(field.group(2))
            elif field and field.group(1) == "L":
                unit = parse_dur(field.group(2).strip())
            elif field and field.group(1) == "K":
                if meter is None:
                    raise AbcError("no meter")
                if unit is None:
                    unit = Fraction(1, 16) if meter_eighths(meter) < 6 else Fraction(1, 8)
                lexer = _Lexer(meter, unit / Fraction(1, 8), parse_key(field.group(2)))
        elif field and not re.match(r"[A-Ga-g]:[|:\]]", line):
            lexer.lex(" ".join(body_lines))
            body_lines = []
            lexer.field(field.group(1), field.group(2))
        else:
            body_lines.append(line)
    if lexer is None:
        raise AbcError("no K: field")
    lexer.lex(" ".join(body_lines))
    body = _merge_bars(_insert_bars(lexer.out, lexer.meter))
    if not any(kind(t) == "pitch" for t in body):
        raise AbcError("no notes")
    return [f"M:{lexer.meter}", f"K:C{lexer.key.mode}", *body]


def detokenize(tokens: list[str], *, title: str | None = None, number: int = 1) -> str:
    """Tokens (``<s>``/``</s>`` allowed) → ABC text with ``X: [T:] M: L:1/8 K:`` and four bars a line.

    Notes are beamed by beat, endings are written ``|1``/``:|2``, and ``K:`` may name any tonic.
    """
    toks = [t for t in tokens if kind(t) != "special"]
    head = [t for t in toks[:2] if kind(t) in ("meter", "key")]
    body = toks[len(head) :]
    meter = next((t[2:] for t in head if kind(t) == "meter"), "4/4")
    key = next((t[2:] for t in head if kind(t) == "key"), "C")
    lines = [f"X:{number}", *([f"T:{title}"] if title else []), f"M:{meter}", "L:1/8", f"K:{key}"]
    lengths = {n[0]: n[2] for n in timed_notes(body)}
    beat = beat_eighths(meter) if "/" in meter else Fraction(2)
    line, bars, pos, prev = "", 0, Fraction(0), "bar"
    for i, tok in enumerate(body):
        k = kind(tok)
        if k == "bar":
            line, bars, pos = line + (" " if line else "") + tok, bars + 1, Fraction(0)
        elif k == "ending":
            line += tok[1:] if prev == "bar" else " " + tok
        elif i in lengths:
            if prev == "bar" and bars >= 4:
                lines.append(line)
                line, bars = "", 0
            elif prev in ("bar", "ending") and line or prev not in ("broken", "tuplet") and pos and pos % beat == 0:
                line += " "
            line += tok
            pos += lengths[i]
        else:
            line += tok
        prev = k
    if line:
        lines.append(line)
    return "\n".join(lines) + "\n"
