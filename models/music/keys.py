"""Keys and modes, torch-free: parse what users type ("D dorian", "f# minor", "Bbm"), and the pitch classes a
mode allows in the models' C-normalised frame (tunes are learnt with their key signature moved to no sharps or
flats, so a mode is a choice of tonic among the white keys: C major, A minor, D dorian, G mixolydian)."""

from __future__ import annotations

import re
from dataclasses import dataclass

MODES = ("major", "minor", "dorian", "mixolydian")
# The mode's tonic in the normalised frame (its key signature has no sharps or flats).
FRAME_TONIC = {"major": 0, "minor": 9, "dorian": 2, "mixolydian": 7}
WHITE_KEYS = (0, 2, 4, 5, 7, 9, 11)
TONICS = {"C": 0, "D": 2, "E": 4, "F": 5, "G": 7, "A": 9, "B": 11}
NAMES_SHARP = ("C", "C#", "D", "Eb", "E", "F", "F#", "G", "Ab", "A", "Bb", "B")
_MODE_WORDS = {
    "": "major",
    "maj": "major",
    "major": "major",
    "ionian": "major",
    "m": "minor",
    "min": "minor",
    "minor": "minor",
    "aeolian": "minor",
    "dor": "dorian",
    "dorian": "dorian",
    "mix": "mixolydian",
    "mixo": "mixolydian",
    "mixolydian": "mixolydian",
}
_KEY_RE = re.compile(r"^\s*(?P<tonic>[A-Ga-g])(?P<acc>[#♯b♭]?)\s*(?P<mode>[A-Za-z]*)\s*$")


class BadKey(ValueError):
    """Text that is not a key; the message says what is allowed."""


@dataclass(frozen=True)
class Key:
    """A tonic (pitch class 0-11, C = 0) and a mode."""

    tonic: int
    mode: str

    @property
    def name(self) -> str:
        return f"{NAMES_SHARP[self.tonic]} {self.mode}"

    def frame_shift(self) -> int:
        """Semitones (-5..6) that move the normalised frame's tonic of this mode onto this key's tonic."""
        shift = (self.tonic - FRAME_TONIC[self.mode]) % 12
        return shift if shift <= 6 else shift - 12

    def frame_scale(self) -> frozenset[int]:
        """The pitch classes allowed in the normalised frame: the white keys (plus G# for minor's leading
        note)."""
        return frozenset(WHITE_KEYS) | ({8} if self.mode == "minor" else set())

    def frame_tonic(self) -> int:
        return FRAME_TONIC[self.mode]

    def scale(self) -> frozenset[int]:
        """The allowed pitch classes in real pitch (after transposing)."""
        return frozenset((pc + self.frame_shift()) % 12 for pc in self.frame_scale())


def parse_key(text: str) -> Key:
    """``"D dorian"``, ``"f# minor"``, ``"Bbm"``, ``"G mix"``, ``"C"`` → Key.

    Raises:
        BadKey: anything else.
    """
    match = _KEY_RE.fullmatch(str(text or "")[:40])
    mode = _MODE_WORDS.get(match["mode"].lower()) if match else None
    if match is None or mode is None:
        raise BadKey(
            f"Can't read the key `{str(text)[:40]}`: give a tonic and a mode, e.g. `D dorian`, "
            f"`A minor`, `G major` or `E mixolydian` (modes: {', '.join(MODES)})."
        )
    tonic = TONICS[match["tonic"].upper()] + {"#": 1, "♯": 1, "b": -1, "♭": -1}.get(match["acc"], 0)
    return Key(tonic % 12, mode)
