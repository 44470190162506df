"""Pitch classes, modes, triads and their names (symbols like ``Am``, roman numerals like ``♭VII``)."""

from __future__ import annotations

from dataclasses import dataclass

NAMES_SHARP = ("C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B")
NAMES_FLAT = ("C", "Db", "D", "Eb", "E", "F", "Gb", "G", "Ab", "A", "Bb", "B")
# Semitones above the tonic of each mode's seven degrees.
MODES: dict[str, tuple[int, ...]] = {
    "major": (0, 2, 4, 5, 7, 9, 11),
    "minor": (0, 2, 3, 5, 7, 8, 10),
    "dorian": (0, 2, 3, 5, 7, 9, 10),
    "mixolydian": (0, 2, 4, 5, 7, 9, 10),
}
# Which learned transition table (major or minor chorales) serves each mode: same third above the tonic.
MODE_FAMILY = {"major": "major", "mixolydian": "major", "minor": "minor", "dorian": "minor"}
QUALITIES: dict[str, tuple[int, int, int]] = {"maj": (0, 4, 7), "min": (0, 3, 7), "dim": (0, 3, 6)}
_ROMAN = ("I", "II", "III", "IV", "V", "VI", "VII")
# The chord vocabulary per mode as (semitones above the tonic, quality). Minor keeps the harmonic-minor V for
# cadences; dorian and mixolydian have the ♭VII that Irish and Scottish tunes lean on. Major and minor also
# offer the secondary dominants and diminished chords the chorales use (V/V, V/vi, vii°, ii°), which the
# learned prior keeps rare.
VOCAB: dict[str, tuple[tuple[int, str], ...]] = {
    "major": (
        (0, "maj"),
        (2, "min"),
        (4, "min"),
        (5, "maj"),
        (7, "maj"),
        (9, "min"),
        (10, "maj"),
        (2, "maj"),
        (4, "maj"),
        (11, "dim"),
    ),
    "minor": (
        (0, "min"),
        (3, "maj"),
        (5, "min"),
        (7, "min"),
        (7, "maj"),
        (8, "maj"),
        (10, "maj"),
        (2, "dim"),
        (5, "maj"),
    ),
    "dorian": ((0, "min"), (2, "min"), (3, "maj"), (5, "maj"), (7, "min"), (10, "maj")),
    "mixolydian": ((0, "maj"), (2, "min"), (5, "maj"), (7, "min"), (9, "min"), (10, "maj")),
}
# Chords that may close a phrase into the tonic (the one before the final tonic).
CADENTIAL: dict[str, tuple[tuple[int, str], ...]] = {
    "major": ((7, "maj"), (5, "maj")),
    "minor": ((7, "maj"), (7, "min"), (10, "maj"), (5, "min")),
    "dorian": ((10, "maj"), (7, "min"), (5, "maj")),
    "mixolydian": ((10, "maj"), (7, "min"), (5, "maj")),
}


@dataclass(frozen=True)
class Key:
    """A tonic pitch class and a mode; ``fit`` is how well the melody matched (correlation, -1..1)."""

    tonic: int
    mode: str
    fit: float = 1.0

    @property
    def scale(self) -> frozenset[int]:
        return frozenset((self.tonic + s) % 12 for s in MODES[self.mode])

    def name(self) -> str:
        return f"{pc_name(self.tonic, self)} {self.mode}"


@dataclass(frozen=True)
class Chord:
    """A triad: root pitch class and quality (``maj``, ``min``, ``dim``)."""

    root: int
    quality: str

    @property
    def tones(self) -> tuple[int, int, int]:
        return tuple((self.root + i) % 12 for i in QUALITIES[self.quality])  # type: ignore[return-value]

    @property
    def fifth(self) -> int:
        return (self.root + QUALITIES[self.quality][2]) % 12

    def degree(self, key: Key) -> tuple[int, str]:
        """(semitones above the key's tonic, quality): the key-free name the transition table uses."""
        return (self.root - key.tonic) % 12, self.quality

    def symbol(self, key: Key | None = None) -> str:
        """Lead-sheet symbol, e.g. ``D``, ``Bm``, ``F#dim``; flats or sharps as the key prefers."""
        suffix = {"maj": "", "min": "m", "dim": "dim"}[self.quality]
        return pc_name(self.root, key) + suffix

    def roman(self, key: Key) -> str:
        """Roman numeral relative to the key's major scale, e.g. ``V``, ``ii``, ``♭VII``, ``vii°``."""
        return roman_of(*self.degree(key))


def roman_of(semitones: int, quality: str) -> str:
    """Roman numeral of a chord ``semitones`` above the tonic: flats relative to the major scale."""
    major = MODES["major"]
    if semitones in major:
        base, flat = _ROMAN[major.index(semitones)], ""
    else:
        base, flat = _ROMAN[major.index((semitones + 1) % 12)], "♭"
    text = base if quality == "maj" else base.lower()
    return flat + text + ("°" if quality == "dim" else "")


def prefers_flats(key: Key) -> bool:
    """Whether the key's signature has flats (F major, D minor, G dorian, C mixolydian, ...)."""
    offset = {"major": 0, "minor": 3, "dorian": 10, "mixolydian": 5}[key.mode]
    return (key.tonic + offset) % 12 in (5, 10, 3, 8, 1, 6)


def pc_name(pc: int, key: Key | None = None) -> str:
    """Name of a pitch class, spelled with flats in flat keys."""
    return (NAMES_FLAT if key is not None and prefers_flats(key) else NAMES_SHARP)[pc % 12]


# The chromatic and diminished chords of the chorale style: left out for folk styles, whose bands play the
# mode's own triads (and its ♭VII).
EXTENDED = frozenset({(2, "maj"), (4, "maj"), (11, "dim"), (2, "dim")})


def vocabulary(key: Key, extended: bool = True) -> list[Chord]:
    """The chords on offer in ``key`` (without secondary dominants and diminished chords unless ``extended``)."""
    return [Chord((key.tonic + s) % 12, q) for s, q in VOCAB[key.mode] if extended or (s, q) not in EXTENDED]


def tonic_chord(key: Key) -> Chord:
    """I or i."""
    return Chord(key.tonic, "maj" if 4 in MODES[key.mode] else "min")


def cadential(key: Key) -> list[Chord]:
    """Chords that lead into the tonic at a cadence in ``key``."""
    return [Chord((key.tonic + s) % 12, q) for s, q in CADENTIAL[key.mode]]
