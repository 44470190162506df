"""The compose form, data-driven: which controls the page shows (only those the job contract has), and the
strict parsing of what the page sends back into validated ComposeRequests (worker.contract.tracks's checks)."""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from bot.options import INSTRUMENTS, LENGTH_SUGGESTIONS, instrument_program
from worker.contract.ids import new_track_id
from worker.contract.tracks import (
    DEFAULT_TEMPERATURE,
    MAX_TEMPO,
    MIN_TEMPO,
    BadRequest,
    ComposeRequest,
    StyleInfo,
    parse_length,
    validate_request,
)

MAX_TEXT = 60
_CONTROL_RE = re.compile(r"[\x00-\x1f\x7f]")
KEY_TONICS = ("C", "C#", "Db", "D", "Eb", "E", "F", "F#", "G", "Ab", "A", "Bb", "B")
KEY_MODES = ("major", "minor", "dorian", "mixolydian")
METERS = ("4/4", "3/4", "2/4", "6/8", "9/8", "12/8", "5/4", "7/8")


@dataclass(frozen=True)
class Field:
    """One control of the compose form. ``name`` is the JSON key the page sends; ``target`` the
    ComposeRequest field it fills (the control is offered only when the contract has that field)."""

    name: str
    label: str
    control: str  # select | text | number | checkbox
    type: str  # str | int | float | bool | length
    help: str = ""
    choices: list[list[str]] = field(default_factory=list)  # [value, label]; "" is "default"
    suggestions: list[str] = field(default_factory=list)  # a <datalist> for text controls
    minimum: float | None = None
    maximum: float | None = None
    step: float | None = None
    placeholder: str = ""
    pattern: str = ""  # a server-side sanity check before the contract's own validation
    per_style: str = ""  # "arches": choices come from the chosen style
    target: str = ""
    advanced: bool = False

    @property
    def request_field(self) -> str:
        return self.target or self.name

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data.pop("pattern")
        data.pop("target")
        return data


def _fields() -> list[Field]:
    return [
        Field("style", "Style", "select", "str", "What the worker's model was trained on."),
        Field(
            "length",
            "Length",
            "text",
            "length",
            "5s to 5m, e.g. 30s, 45 or 1m30s.",
            suggestions=list(LENGTH_SUGGESTIONS),
            placeholder="30s",
            target="seconds",
        ),
        Field(
            "arch",
            "Architecture",
            "select",
            "str",
            "Which model (default: the style's best).",
            choices=[["", "default"]],
            per_style="arches",
        ),
        Field(
            "arrangement",
            "Arrangement",
            "select",
            "str",
            "A whole band, or the melody alone.",
            choices=[["band", "band"], ["melody", "melody only"]],
        ),
        Field(
            "tempo",
            "Tempo (BPM)",
            "number",
            "float",
            f"{MIN_TEMPO:g} to {MAX_TEMPO:g}; empty: the style's own.",
            minimum=MIN_TEMPO,
            maximum=MAX_TEMPO,
            step=1,
            placeholder="style's own",
        ),
        Field(
            "key",
            "Key",
            "text",
            "str",
            "Tonic and mode, e.g. D dorian; empty: the model's choice.",
            suggestions=[f"{t} {m}" for m in KEY_MODES for t in KEY_TONICS],
            placeholder="model's choice",
            pattern=r"^[A-Ga-g][#b♯♭]?(?: [A-Za-z]{3,12})?$",
        ),
        Field(
            "meter",
            "Meter",
            "select",
            "str",
            "Time signature; default: the style's own.",
            choices=[["", "style's own"]] + [[m, m] for m in METERS],
        ),
        Field("loop", "Loop", "checkbox", "bool", "End so that it loops seamlessly."),
        Field(
            "instrument",
            "Instrument",
            "select",
            "str",
            "Who plays it (General MIDI).",
            choices=[["", "style's own"]] + [[n, n] for n in INSTRUMENTS],
        ),
        Field(
            "seed",
            "Seed",
            "number",
            "int",
            "Same seed, same notes (0 to 2147483647).",
            minimum=0,
            maximum=2**31 - 1,
            step=1,
            placeholder="random",
            advanced=True,
        ),
        Field(
            "temperature",
            "Temperature",
            "number",
            "float",
            "0.05 (safe) to 3.0 (wild).",
            minimum=0.05,
            maximum=3.0,
            step=0.05,
            placeholder=f"{DEFAULT_TEMPERATURE:g}",
            advanced=True,
        ),
        Field(
            "takes",
            "Takes",
            "select",
            "int",
            "2 makes two versions side by side, for an A/B vote.",
            choices=[["1", "1"], ["2", "2"]],
            target="-",
            advanced=True,
        ),
    ]


def form_fields() -> list[Field]:
    """The controls to show: each one whose ComposeRequest field exists in this version of the contract."""
    known = ComposeRequest.__dataclass_fields__
    return [f for f in _fields() if f.request_field == "-" or f.request_field in known]


def _text(name: str, value: Any) -> str:
    if not isinstance(value, str):
        raise BadRequest(f"`{name}` must be text.")
    value = value.strip()
    if len(value) > MAX_TEXT or _CONTROL_RE.search(value):
        raise BadRequest(f"`{name}` must be at most {MAX_TEXT} printable characters.")
    return value


def _number(name: str, value: Any, whole: bool) -> float | int:
    if isinstance(value, bool):
        raise BadRequest(f"`{name}` must be a number.")
    if isinstance(value, str):
        text = _text(name, value)
        try:
            value = int(text) if whole else float(text)
        except ValueError:
            kind = "a whole number" if whole else "a number"
            raise BadRequest(f"`{name}` must be {kind}, not `{text[:20]}`.") from None
    if not isinstance(value, int | float) or isinstance(value, float) and not math.isfinite(value):
        raise BadRequest(f"`{name}` must be a number.")
    if whole and isinstance(value, float) and value.is_integer():
        value = int(value)
    if whole and not isinstance(value, int):
        raise BadRequest(f"`{name}` must be a whole number.")
    if not whole and isinstance(value, int):
        try:
            value = float(value)
        except OverflowError:  # an int beyond any float: out of every range
            raise BadRequest(f"`{name}` is far too large.") from None
    return value


def _show(number: float | None) -> str:
    return str(int(number)) if number is not None and float(number).is_integer() else f"{number:g}"


def convert(spec: Field, value: Any) -> Any:
    """One sent value as the type ``spec`` wants; None for "not given" (empty text, null, unchecked).

    Raises:
        BadRequest: the value has the wrong type, is too long, or is not one of the choices.
    """
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if spec.type == "bool":
        if not isinstance(value, bool):
            raise BadRequest(f"`{spec.name}` must be true or false.")
        return value
    if spec.type in ("int", "float"):
        out: Any = _number(spec.name, value, spec.type == "int")
        if spec.minimum is not None and out < spec.minimum or spec.maximum is not None and out > spec.maximum:
            raise BadRequest(f"{spec.label} must lie between {_show(spec.minimum)} and {_show(spec.maximum)}.")
    elif spec.type == "length":
        out = parse_length(
            value if isinstance(value, int | float) and not isinstance(value, bool) else _text(spec.name, value)
        )
    else:
        out = _text(spec.name, value)
        if spec.pattern and not re.fullmatch(spec.pattern, out):
            raise BadRequest(f"Can't read the {spec.label.lower()} `{out[:40]}`: {spec.help}")
    values = [c[0] for c in spec.choices if c[0]]
    if values and not spec.per_style and str(out) not in values:
        raise BadRequest(f"{spec.label} must be one of: {', '.join(values)}.")
    return out


def parse_compose(data: Any, styles: Mapping[str, StyleInfo], user_id: str) -> list[ComposeRequest]:
    """The validated requests for one compose form (one per take).

    Raises:
        BadRequest: the message says what is wrong and what is allowed; nothing is queued then.
    """
    if not isinstance(data, dict):
        raise BadRequest("Send the form as a JSON object.")
    specs = {f.name: f for f in form_fields()}
    unknown = sorted(str(k)[:20] for k in data if k not in specs)
    if unknown:
        raise BadRequest(f"Unknown field(s): {', '.join(unknown)}. Fields: {', '.join(specs)}.")
    values = {name: convert(specs[name], value) for name, value in data.items()}
    if not values.get("style"):
        raise BadRequest("Pick a style.")
    if values.get("length") is None:
        raise BadRequest("Give a length, e.g. 30s.")
    takes = values.pop("takes", None) or 1
    if takes not in (1, 2):
        raise BadRequest("Takes is 1 or 2.")
    if "instrument" in values:
        values["instrument"] = instrument_program(values["instrument"])
    kwargs: dict[str, Any] = {"user_id": user_id}
    for name, value in values.items():
        if value is not None:
            kwargs[specs[name].request_field] = value
    if "temperature" not in kwargs:
        kwargs["temperature"] = DEFAULT_TEMPERATURE
    first = validate_request(ComposeRequest(**kwargs), dict(styles))
    if takes == 1:
        return [first]
    seed = None if first.seed is None else (first.seed + 1) % 2**31
    return [first, ComposeRequest(**{**first.to_dict(), "seed": seed, "track_id": new_track_id()})]
