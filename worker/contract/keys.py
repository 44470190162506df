"""Key parsing for the key option, torch-free: KEY_MODES, KEY_NAMES, normalise_key (``"d DOR"`` → ``"D dorian"``)
and key_suggestions (autocomplete)."""

from __future__ import annotations

import re

from worker.contract.requests import BadRequest

# Keys as users type them ("D dorian", "f#m", "Bb mix"). The bot may not load ``models``, so the contract reads
# them itself and hands the models the canonical "<tonic> <mode>" (models.music.keys reads it back the same).
KEY_MODES = ("major", "minor", "dorian", "mixolydian")
KEY_NAMES = ("C", "C#", "D", "Eb", "E", "F", "F#", "G", "Ab", "A", "Bb", "B")
_KEY_TONICS = {"C": 0, "D": 2, "E": 4, "F": 5, "G": 7, "A": 9, "B": 11}
_KEY_MODE_WORDS = {
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


def normalise_key(text: str) -> tuple[str, str]:
    """``"d DOR"`` → ("D dorian", "dorian").

    Raises:
        BadRequest: not a tonic and one of KEY_MODES.
    """
    raw = str(text or "")[:40]
    match = _KEY_RE.fullmatch(raw)
    mode = _KEY_MODE_WORDS.get(match["mode"].lower()) if match else None
    if match is None or mode is None:
        raise BadRequest(
            f"Can't read the key `{raw}`: give a tonic and a mode, e.g. `D dorian`, `A minor`, "
            f"`G major` or `E mixolydian` (modes: {', '.join(KEY_MODES)})."
        )
    tonic = (_KEY_TONICS[match["tonic"].upper()] + {"#": 1, "♯": 1, "b": -1, "♭": -1}.get(match["acc"], 0)) % 12
    return f"{KEY_NAMES[tonic]} {mode}", mode


def key_suggestions(modes: list[str] | tuple[str, ...], typed: str = "") -> list[str]:
    """Key names for autocomplete in ``modes``: those starting with what was typed first (a typed key that
    reads as one of them leads)."""
    names = [f"{t} {m}" for m in modes for t in ("C", "D", "E", "F", "G", "A", "B", "Bb", "Eb", "F#", "C#", "Ab")]
    typed = typed.strip().lower()[:40]
    first = [n for n in names if n.lower().startswith(typed)]
    hits = first + [n for n in names if typed in n.lower() and n not in first]
    try:
        name, mode = normalise_key(typed) if typed else ("", "")
    except BadRequest:
        name, mode = "", ""
    if name and mode in modes and name not in hits:
        hits.insert(0, name)
    return hits
