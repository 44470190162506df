"""Keys as users type them, and the C-normalised frame the token models sample in (torch-free)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from models.music.keys import MODES, BadKey, Key, parse_key
from worker.contract.keys import key_suggestions


@pytest.mark.parametrize(
    "text,name",
    [
        ("D dorian", "D dorian"),
        ("d DOR", "D dorian"),
        ("F#m", "F# minor"),
        ("Bb", "Bb major"),
        ("e♭ mixolydian", "Eb mixolydian"),
        ("A aeolian", "A minor"),
        (" G mix ", "G mixolydian"),
        ("Cb major", "B major"),
    ],
)
def test_parse_key(text: str, name: str) -> None:
    assert parse_key(text).name == name


@given(st.text(max_size=60))
def test_anything_else_is_refused_with_the_modes(text: str) -> None:
    try:
        key = parse_key(text)
    except BadKey as exc:
        assert "modes: major, minor, dorian, mixolydian" in str(exc)
    else:
        assert 0 <= key.tonic < 12 and key.mode in MODES


@pytest.mark.parametrize("tonic", range(12))
@pytest.mark.parametrize("mode", MODES)
def test_the_frame_maps_onto_the_key(tonic: int, mode: str) -> None:
    key = Key(tonic, mode)
    assert -5 <= key.frame_shift() <= 6
    assert (key.frame_tonic() + key.frame_shift()) % 12 == tonic
    assert tonic in key.scale() and len(key.scale()) == (8 if mode == "minor" else 7)


def test_suggestions_follow_the_modes_and_what_was_typed() -> None:
    assert all(s.endswith(" major") for s in key_suggestions(["major"]))
    assert key_suggestions(["major", "minor"], "f#m")[0] == "F# minor"
    assert key_suggestions(["major"], "f#m") == []


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("tonic", ["C", "c#", "Db", "d", "Eb", "E", "F", "F#", "Gb", "G", "Ab", "A", "Bb", "B", "Cb"])
def test_the_contract_and_the_models_read_keys_alike(tonic: str, mode: str) -> None:
    """The bot may not load ``models``, so worker.contract.keys reads keys itself: both must agree."""
    from worker.contract.keys import normalise_key

    name, parsed_mode = normalise_key(f"{tonic} {mode}")
    assert name == parse_key(f"{tonic} {mode}").name == parse_key(name).name and parsed_mode == mode
