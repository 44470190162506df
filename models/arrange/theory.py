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
QUALITIES: dict[str, tuple[int, ...]] = {
    "maj": (0, 4, 7),
    "min": (0, 3, 7),
    "dim": (0, 3, 6),
    # seventh chords: dominant, minor, half-diminished and diminished sevenths (the chorales' V7, ii7, viiø7, vii°7)
    "7": (0, 4, 7, 10),
    "m7": (0, 3, 7, 10),
    "ø7": (0, 3, 6, 10),
    "°7": (0, 3, 6, 9),
}
_SUFFIX = {"maj": "", "min": "m", "dim": "dim", "7": "7", "m7": "m7", "ø7": "m7b5", "°7": "dim7"}
_ROMAN = ("I", "II", "III", "IV", "V", "VI", "VII")
# The folk bands' chord vocabulary per mode as (semitones above the tonic, quality): the mode's triads, the V7 of
# major and (harmonic) minor, the ♭VII that Irish and Scottish tunes lean on, and the major II (V of V) of major and
# IV of minor; chords with tones outside the mode are borrowed only where the melody sounds those tones. The
# chorale style's vocabulary is learned instead (``transitions``).
VOCAB: dict[str, tuple[tuple[int, str], ...]] = {
    "major": (
        (0, "maj"),
        (2, "min"),
        (4, "min"),
        (5, "maj"),
        (7, "maj"),
        (9, "min"),
        (10, "maj"),
        (7, "7"),
        (2, "maj"),
    ),
    "minor": (
        (0, "min"),
        (3, "maj"),
        (5, "min"),
        (7, "min"),
        (7, "maj"),
        (8, "maj"),
        (10, "maj"),
        (7, "7"),
        (5, "maj"),
    ),
    "dorian": ((0, "min"), (2, "min"), (3, "maj"), (5, "maj"), (7, "min"), (10, "maj")),
    "mixolydian": ((0, "maj"), (2, "min"), (5, "maj"), (7, "min"), (9, "min"), (10, "maj")),
}
# Chords that may close a phrase into the tonic (the one before the final tonic).
CADENTIAL: dict[str, tuple[tuple[int, str], ...]] = {
    "major": ((7, "maj"), (7, "7"), (5, "maj"), (11, "dim"), (11, "ø7")),
    "minor": ((7, "maj"), (7, "7"), (7, "min"), (10, "maj"), (5, "min"), (11, "°7")),
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
    """A triad or seventh chord: root pitch class and quality (``maj``, ``min``, ``dim``, ``7``, ``m7``, ``ø7``,
    ``°7``)."""

    root: int
    quality: str

    @property
    def tones(self) -> tuple[int, ...]:
        """Pitch classes from the root up: root, third, fifth (and seventh)."""
        return tuple((self.root + i) % 12 for i in QUALITIES[self.quality])

    @property
    def seventh(self) -> int | None:
        """The seventh's pitch class, or None for a triad."""
        steps = QUALITIES[self.quality]
        return (self.root + steps[3]) % 12 if len(steps) > 3 else None

    @property
    def fifth(self) -> int:
        return (self.root + QUALITIES[self.quality][2]) % 12

    def degree(self, key: Key) -> tuple[int, str]:
        """(semitones above the key's tonic, quality): the key-free name the transition table uses."""
        return (self.root - key.tonic) % 12, self.quality

    def symbol(self, key: Key | None = None) -> str:
        """Lead-sheet symbol, e.g. ``D``, ``Bm``, ``F#dim``, ``A7``, ``Bm7b5``; flats or sharps as the key prefers."""
        return pc_name(self.root, key) + _SUFFIX[self.quality]

    def roman(self, key: Key) -> str:
        """Roman numeral relative to the key's major scale, e.g. ``V``, ``ii``, ``♭VII``, ``vii°``."""
        return roman_of(*self.degree(key))


def roman_of(semitones: int, quality: str) -> str:
    """Roman numeral of a chord ``semitones`` above the tonic: flats relative to the major scale (``V7``,
    ``ii7``, ``viiø7``, ``vii°7``)."""
    major = MODES["major"]
    if semitones in major:
        base, flat = _ROMAN[major.index(semitones)], ""
    else:
        base, flat = _ROMAN[major.index((semitones + 1) % 12)], "♭"
    text = base if quality in ("maj", "7") else base.lower()
    mark = {"dim": "°", "7": "7", "m7": "7", "ø7": "ø7", "°7": "°7"}.get(quality, "")
    return flat + text + mark


def prefers_flats(key: Key) -> bool:
    """Whether the key's signature has flats (F major, D minor, G dorian, C mixolydian, ...)."""
    offset = {"major": 0, "minor": 3, "dorian": 10, "mixolydian": 5}[key.mode]
    return (key.tonic + offset) % 12 in (5, 10, 3, 8, 1, 6)


def pc_name(pc: int, key: Key | None = None) -> str:
    """Name of a pitch class, spelled with flats in flat keys."""
    return (NAMES_FLAT if key is not None and prefers_flats(key) else NAMES_SHARP)[pc % 12]


def vocabulary(key: Key) -> list[Chord]:
    """The folk bands' chords in ``key``."""
    return [Chord((key.tonic + s) % 12, q) for s, q in VOCAB[key.mode]]


def tonic_chord(key: Key) -> Chord:
    """I or i."""
    return Chord(key.tonic, "maj" if 4 in MODES[key.mode] else "min")


def cadential(key: Key) -> list[Chord]:
    """Chords that lead into the tonic at a cadence in ``key``."""
    return [Chord((key.tonic + s) % 12, q) for s, q in CADENTIAL[key.mode]]


def parse_symbol(symbol: str) -> Chord | None:
    """The chord a lead-sheet symbol written by ``Chord.symbol`` names (``Bb``, ``F#m``, ``G7``, ``Bm7b5``,
    ``G#dim7``), or None for anything else."""
    text = symbol.strip()
    if not text or text[0] not in "ABCDEFG":
        return None
    name, rest = (text[:2], text[2:]) if text[1:2] in ("#", "b") else (text[:1], text[1:])
    pc = NAMES_SHARP.index(name) if name in NAMES_SHARP else NAMES_FLAT.index(name) if name in NAMES_FLAT else None
    quality = next((q for q, suffix in _SUFFIX.items() if suffix == rest), None)
    return None if pc is None or quality is None else Chord(pc, quality)


def identify(pcs: frozenset[int] | set[int], bass: int | None = None) -> Chord | None:
    """The chord a sounding pitch-class set holds: a seventh chord (all four tones, or root, third and seventh
    with the fifth left out) before a triad it contains; among equals the one rooted on ``bass``, then the one
    leaving fewest other tones. None when the set holds no triad (a passing sonority)."""
    best: tuple[tuple[int, bool, int], Chord] | None = None
    for root in range(12):
        for quality, steps in QUALITIES.items():
            tones = {(root + s) % 12 for s in steps}
            if len(steps) == 4:
                core = {root, (root + steps[1]) % 12, (root + steps[3]) % 12}
                if not core <= pcs:
                    continue
            elif not tones <= pcs:
                continue
            rank = (len(tones & pcs), root == bass, -len(pcs - tones))
            if best is None or rank > best[0]:
                best = (rank, Chord(root, quality))
    return best[1] if best else None
