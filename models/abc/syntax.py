"""ABC building blocks shared by the tokenizer and the player: token kinds, pitches, keys, durations, timing.

Pitches are (accidental, step) pairs: ``step`` counts diatonic steps with ABC's ``C`` (middle C) at 28, and
the accidental is None (the key signature or an earlier accidental in the bar decides) or -2..2 (``__`` … ``^^``,
0 is ``=``). Durations are Fractions of an eighth note, since normalised tunes use ``L:1/8``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from fractions import Fraction

LETTERS = "CDEFGAB"
NATURAL = (0, 2, 4, 5, 7, 9, 11)  # semitones of C D E F G A B above C
MODES = {
    "maj": (0, 2, 4, 5, 7, 9, 11),
    "min": (0, 2, 3, 5, 7, 8, 10),
    "dor": (0, 2, 3, 5, 7, 9, 10),
    "mix": (0, 2, 4, 5, 7, 9, 10),
    "phr": (0, 1, 3, 5, 7, 8, 10),
    "lyd": (0, 2, 4, 6, 7, 9, 11),
    "loc": (0, 1, 3, 5, 6, 8, 10),
}
ACCIDENTALS = {"__": -2, "_": -1, "=": 0, "^": 1, "^^": 2}
ACC_TEXT = {v: k for k, v in ACCIDENTALS.items()}
BARS = ("|", "||", "|:", ":|")
BROKEN = {
    ">": (Fraction(3, 2), Fraction(1, 2)),
    "<": (Fraction(1, 2), Fraction(3, 2)),
    ">>": (Fraction(7, 4), Fraction(1, 4)),
    "<<": (Fraction(1, 4), Fraction(7, 4)),
}
TUPLET_TIME = {2: 3, 3: 2, 4: 3}  # (p: p notes in the time of q
TICKS_PER_EIGHTH = 6  # models.music.melody.TICKS_PER_QUARTER / 2
KINDS = ("special", "meter", "key", "bar", "ending", "tuplet", "broken", "tie", "rest", "pitch", "dur")

PITCH_RE = re.compile(r"(\^\^|\^|__|_|=)?([A-Ga-g])([,']*)")
DUR_RE = re.compile(r"(\d*)(/*)(\d*)")


class AbcError(ValueError):
    """ABC this module does not model (free meter, voices, key changes, odd tuplets, …)."""


def kind(token: str) -> str:
    """The kind of a normalised token, one of :data:`KINDS`."""
    if token in ("<pad>", "<s>", "</s>"):
        return "special"
    if token.startswith("M:"):
        return "meter"
    if token.startswith("K:"):
        return "key"
    if token in BARS:
        return "bar"
    if token[0] == "[":
        return "ending"
    if token[0] == "(":
        return "tuplet"
    if token in BROKEN:
        return "broken"
    if token == "-":
        return "tie"
    if token == "z":
        return "rest"
    return "pitch" if PITCH_RE.fullmatch(token) else "dur"


def parse_pitch(text: str) -> tuple[int | None, int]:
    """``^c'`` → (1, 36): the accidental and the diatonic step."""
    m = PITCH_RE.fullmatch(text)
    if m is None:
        raise AbcError(f"not a pitch: {text!r}")
    acc, letter, marks = m.groups()
    octave = (5 if letter.islower() else 4) + marks.count("'") - marks.count(",")
    return (ACCIDENTALS[acc] if acc else None), LETTERS.index(letter.upper()) + 7 * octave


def pitch_text(acc: int | None, step: int) -> str:
    """(1, 36) → ``^c'``: lower case from the C above middle C up, then ``'`` marks; ``,`` marks below."""
    octave, letter = divmod(step, 7)
    name = LETTERS[letter]
    name = name.lower() + "'" * (octave - 5) if octave >= 5 else name + "," * (4 - octave)
    return ("" if acc is None else ACC_TEXT[acc]) + name


def parse_dur(text: str) -> Fraction:
    """ABC length multiplier: ``3``, ``/2``, ``/``, ``//``, ``3/2`` → Fraction."""
    m = DUR_RE.fullmatch(text)
    if m is None:
        raise AbcError(f"not a duration: {text!r}")
    num, slashes, den = m.groups()
    value = Fraction(int(num) if num else 1)
    if slashes:
        value /= int(den) * 2 ** (len(slashes) - 1) if den else 2 ** len(slashes)
    elif den:
        raise AbcError(f"not a duration: {text!r}")
    return value


def dur_text(value: Fraction) -> str:
    """Canonical duration token ("" for 1): 2 → ``2``, 1/2 → ``/2``, 3/2 → ``3/2``."""
    if value <= 0:
        raise AbcError("zero-length note")
    if value == 1:
        return ""
    if value.denominator == 1:
        return str(value.numerator)
    return f"/{value.denominator}" if value.numerator == 1 else f"{value.numerator}/{value.denominator}"


@dataclass(frozen=True)
class Key:
    """A tonic (diatonic letter 0-6 and pitch class) and a mode name from :data:`MODES`."""

    letter: int
    pc: int
    mode: str

    def signature(self, letter: int) -> int:
        """The key signature's accidental (-2..2) on ``letter`` (0 = C … 6 = B)."""
        pitch = self.pc + MODES[self.mode][(letter - self.letter) % 7]
        return (pitch - NATURAL[letter] + 6) % 12 - 6

    def text(self) -> str:
        """``K:`` value, e.g. ``F#dor`` or ``Bb`` (major)."""
        acc = (self.pc - NATURAL[self.letter] + 6) % 12 - 6
        return LETTERS[self.letter] + {-1: "b", 0: "", 1: "#"}[acc] + ("" if self.mode == "maj" else self.mode)


C_LETTER = 0
_MODE_ALIASES = {
    "": "maj",
    "m": "min",
    "ion": "maj",
    "aeo": "min",
    "maj": "maj",
    "min": "min",
    "mix": "mix",
    "dor": "dor",
    "phr": "phr",
    "lyd": "lyd",
    "loc": "loc",
}
_KEY_RE = re.compile(r"\s*([A-G])([#b]?)\s*([A-Za-z]*)\s*")


def parse_key(text: str) -> Key:
    """``K:`` field value → Key; ``HP``/``Hp`` (bagpipe) is A mixolydian.

    Raises:
        AbcError: for ``none``, clefs and anything else that is not a plain key.
    """
    if text.strip().lower() == "hp":
        return Key(5, 9, "mix")
    m = _KEY_RE.fullmatch(text)
    word = m.group(3).lower() if m else "?"
    mode = _MODE_ALIASES.get(word if len(word) < 2 else word[:3] if len(word) >= 3 else "?")
    if m is None or mode is None:
        raise AbcError(f"unsupported key {text!r}")
    letter = LETTERS.index(m.group(1))
    return Key(letter, (NATURAL[letter] + {"#": 1, "b": -1, "": 0}[m.group(2)]) % 12, mode)


def key_shift(src: Key, dst_letter: int) -> int:
    """Diatonic steps (-3..3) that move ``src``'s tonic letter to ``dst_letter`` by the shortest way."""
    steps = (dst_letter - src.letter) % 7
    return steps - 7 if steps > 3 else steps


def transpose_pitch(acc: int | None, step: int, src: Key, dst: Key, steps: int) -> tuple[int | None, int]:
    """Move a note from key ``src`` to ``dst`` (``steps`` diatonic steps), keeping its degree and inflection.

    A note without an accidental stays without one, so accidentals carried through a bar stay right.
    """
    new = step + steps
    if acc is None:
        return None, new
    acc = dst.signature(new % 7) + acc - src.signature(step % 7)
    if not -2 <= acc <= 2:
        raise AbcError("accidental out of range after transposition")
    return acc, new


def midi_pitch(acc: int, step: int) -> int:
    """MIDI number of a note with an explicit accidental (C4 = ABC ``C`` = 60)."""
    octave, letter = divmod(step, 7)
    return 12 * (octave + 1) + NATURAL[letter] + acc


def meter_eighths(meter: str) -> Fraction:
    """Bar length of ``6/8`` etc. in eighth notes."""
    num, den = (int(x) for x in meter.split("/"))
    return Fraction(num * 8, den)


def beat_eighths(meter: str) -> Fraction:
    """Beaming group: a dotted quarter in 6/8, 9/8, 12/8; a whole bar of 3/8; else the denominator's note."""
    num, den = (int(x) for x in meter.split("/"))
    if den == 8:
        return Fraction(3)
    return Fraction(8, den)


def timed_notes(body: list[str]) -> list[list]:
    """Each note or rest of a token body as ``[first token index, pitch/rest index, length in eighths]``.

    The first index points at a tuplet mark when one opens there; lengths include the tuplet and
    broken-rhythm factors.
    """
    out: list[list] = []
    left, factor, broken, opener = 0, Fraction(1), Fraction(1), None
    for i, tok in enumerate(body):
        k = kind(tok)
        if k == "tuplet":
            p = int(tok[1:])
            left, factor, opener = p, Fraction(TUPLET_TIME[p], p), i
        elif k in ("pitch", "rest"):
            length = broken
            if left:
                length, left = length * factor, left - 1
            out.append([i if opener is None else opener, i, length])
            broken, opener = Fraction(1), None
        elif k == "dur" and out and out[-1][1] == i - 1:
            out[-1][2] *= parse_dur(tok)
        elif k == "broken" and out:
            first, second = BROKEN[tok]
            out[-1][2] *= first
            broken = second
    return out
