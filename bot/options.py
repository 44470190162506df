"""The /compose options: autocomplete choices, instruments by name, and requests built and validated from memory
(the styles cached from the workers). Pure functions, tested without Discord."""

from __future__ import annotations

import logging
from collections.abc import Mapping

from discord import app_commands

from worker.contract.ids import new_track_id
from worker.contract.keys import KEY_MODES, key_suggestions
from worker.contract.tracks import (
    DEFAULT_ARRANGEMENT,
    DEFAULT_TEMPERATURE,
    BadRequest,
    ComposeRequest,
    StyleInfo,
    parse_length,
    validate_request,
)

log = logging.getLogger(__name__)

LENGTH_SUGGESTIONS = ("15s", "30s", "45s", "1m", "1m30s", "2m")


def style_choices(styles: Mapping[str, StyleInfo], current: str) -> list[app_commands.Choice[str]]:
    """Autocomplete choices: styles starting with what was typed first, then other matches; at most 25."""
    typed = current.strip().lower()
    names = sorted(styles)
    ranked = [n for n in names if n.startswith(typed)] + [n for n in names if typed in n and not n.startswith(typed)]
    choices = []
    for name in ranked[:25]:
        info = styles[name]
        label = f"{name} — {info.description}" if info.description else name
        choices.append(app_commands.Choice(name=label[:100], value=name))
    return choices


def length_choices(current: str) -> list[app_commands.Choice[str]]:
    """Autocomplete for the length: the typed value first if it parses, then common lengths."""
    values = list(LENGTH_SUGGESTIONS)
    typed = current.strip()
    if typed:
        try:
            parse_length(typed)
        except BadRequest:
            pass
        else:
            values = [typed[:100]] + [v for v in values if v != typed]
    return [app_commands.Choice(name=v, value=v) for v in values[:25]]


INSTRUMENTS: dict[str, int] = {  # General MIDI programs (0-based) offered by /compose's instrument option
    "piano": 0,
    "harpsichord": 6,
    "music box": 10,
    "marimba": 12,
    "organ": 19,
    "accordion": 21,
    "guitar": 24,
    "violin": 40,
    "cello": 42,
    "harp": 46,
    "strings": 48,
    "choir": 52,
    "trumpet": 56,
    "oboe": 68,
    "clarinet": 71,
    "flute": 73,
    "whistle": 78,
    "bagpipe": 109,
    "fiddle": 110,
    "steel drums": 114,
}


DRUM_NAMES = ("drums", "drum", "drum kit", "drumkit", "kit", "percussion", "bodhran", "bodhrán", "snare")


def key_choices(info: StyleInfo | None, current: str) -> list[app_commands.Choice[str]]:
    """Keys in the modes the style supports (every mode while no style is chosen); none for a style whose models
    can't follow a key."""
    modes = list(info.modes) if info is not None else list(KEY_MODES)
    return [app_commands.Choice(name=k, value=k) for k in key_suggestions(modes, current[:40])][:25]


def meter_choices(info: StyleInfo | None, current: str) -> list[app_commands.Choice[str]]:
    """The style's meters (most common first) that contain what was typed."""
    meters = list(info.meters) if info is not None else []
    typed = current.strip()[:10]
    return [app_commands.Choice(name=m, value=m) for m in meters if typed in m][:25]


def instrument_program(name: str | None) -> int | None:
    """The GM program for an instrument name (case-insensitive).

    Raises:
        BadRequest: an unknown name (the message lists the instruments), or a drum kit.
    """
    if name is None or not name.strip():
        return None
    key = name.strip().lower()
    if key in DRUM_NAMES:
        raise BadRequest(
            "A drum kit can't play the melody: the band's percussion comes with `arrangement: band`. "
            f"Pick a pitched instrument: {', '.join(INSTRUMENTS)}."
        )
    if key not in INSTRUMENTS:
        raise BadRequest(f"Unknown instrument `{name[:40]}`. Instruments: {', '.join(INSTRUMENTS)}.")
    return INSTRUMENTS[key]


def build_request(style: str, length: str, styles: Mapping[str, StyleInfo], user_id: str) -> ComposeRequest:
    """Parse and validate a /compose request against the cached styles (no I/O).

    Raises:
        BadRequest: the message tells the user what is allowed.
    """
    return build_requests(style, length, styles, user_id)[0]


def build_requests(
    style: str,
    length: str,
    styles: Mapping[str, StyleInfo],
    user_id: str,
    *,
    arch: str | None = None,
    seed: int | None = None,
    temperature: float | None = None,
    tempo: float | None = None,
    instrument: str | None = None,
    takes: int = 1,
    arrangement: str | None = None,
    key: str | None = None,
    meter: str | None = None,
    loop: bool = False,
) -> list[ComposeRequest]:
    """The validated requests for one /compose: one per take (take B uses the next seed when one is given).

    Raises:
        BadRequest: the message tells the user what is allowed.
    """
    if takes not in (1, 2):
        raise BadRequest("`takes` is 1 or 2.")
    seconds = parse_length(length)
    base = ComposeRequest(
        style=style,
        seconds=seconds,
        arch=arch or None,
        seed=seed,
        temperature=DEFAULT_TEMPERATURE if temperature is None else float(temperature),
        tempo=float(tempo) if tempo is not None else None,
        instrument=instrument_program(instrument),
        user_id=user_id,
        arrangement=(arrangement or DEFAULT_ARRANGEMENT).strip().lower(),
        key=key if key and key.strip() else None,
        meter=meter if meter and meter.strip() else None,
        loop=bool(loop),
    )
    first = validate_request(base, dict(styles))
    if takes == 1:
        return [first]
    second_seed = None if seed is None else (seed + 1) % 2**31
    return [first, ComposeRequest(**{**first.to_dict(), "seed": second_seed, "track_id": new_track_id()})]
