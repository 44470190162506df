"""What a track is asked for and what it returns, torch-free: ComposeRequest, ComposeResult, StyleInfo (what a
worker offers in a style), the limits of each setting and what each architecture can honour, BadRequest, and
parse_length. Validating a request against the styles on offer and queueing it is worker.contract.tracks."""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field
from typing import Any

from worker.contract.ids import new_track_id

# What each architecture can honour: an exact key and meter (the token models' grammar), variations of chosen
# bars (token models by forcing the kept bars, Coconet by Gibbs re-sampling), and seamless loops (all).
KEY_ARCHES = ("lstm", "wavenet", "gan")
VARY_ARCHES = ("lstm", "wavenet", "gan", "coconet")
LOOP_ARCHES = VARY_ARCHES
VARY_SHARE = {"subtle": 0.25, "strong": 0.75}
HARMONIZER_ARCH = "coconet"

MIN_SECONDS = 5.0
MAX_SECONDS = 300.0
DEFAULT_TEMPERATURE = 1.0
DEFAULT_TOP_K = 0
MIN_TEMPO, MAX_TEMPO = 40.0, 240.0
# How a track is played: "band" (the melody over chords, bass and percussion, in parts that repeat; a chorale
# style's own four voices) or "melody" (the bare line). Mirrors models.arrange.band.ARRANGEMENTS.
ARRANGEMENTS = ("band", "melody")
DEFAULT_ARRANGEMENT = "band"
# General MIDI programs that are drums, not pitched instruments (woodblock, taiko, melodic tom, synth drum,
# reverse cymbal): they cannot carry a band's melody.
DRUM_PROGRAMS = range(115, 120)

_LENGTH_RE = re.compile(
    r"^\s*(?:(?P<min>\d+(?:\.\d+)?)\s*(?:m|min|mins|minutes?)\s*)?"
    r"(?:(?P<sec>\d+(?:\.\d+)?)\s*(?:s|sec|secs|seconds?)?)?\s*$",
    re.IGNORECASE,
)


class BadRequest(ValueError):
    """A request a user can fix; the message says what is allowed."""


def parse_length(text: str | float | int) -> float:
    """Parse a length such as ``30s``, ``30``, ``1m``, ``1m30s`` or ``90 seconds`` into seconds.

    Raises:
        BadRequest: if the text does not parse or lies outside [MIN_SECONDS, MAX_SECONDS].
    """
    allowed = f"a length between {MIN_SECONDS:g}s and {MAX_SECONDS:g}s, e.g. `30s`, `45` or `1m30s`"
    if isinstance(text, int | float):
        seconds = float(text)
    else:
        raw = str(text).strip()
        match = _LENGTH_RE.match(raw) if raw else None
        if not raw or match is None or (match["min"] is None and match["sec"] is None):
            raise BadRequest(f"Can't read the length `{raw[:40]}`: give {allowed}.")
        seconds = float(match["min"] or 0) * 60 + float(match["sec"] or 0)
    if not seconds > 0:
        raise BadRequest(f"The length must be positive: give {allowed}.")
    if seconds < MIN_SECONDS or seconds > MAX_SECONDS:
        raise BadRequest(f"{seconds:g}s is out of range: give {allowed}.")
    return seconds


@dataclass(frozen=True)
class StyleInfo:
    """What a worker can compose in one style."""

    name: str
    arches: list[str]
    default_arch: str
    description: str = ""
    tempo_range: tuple[float, float] = (100.0, 140.0)
    meters: list[str] = field(default_factory=list)  # the meters its models learnt (most common first)
    modes: list[str] = field(default_factory=list)  # the modes /compose's key option may ask for

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> StyleInfo:
        fields = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        fields["arches"] = list(fields.get("arches", []))
        for name in ("meters", "modes"):
            fields[name] = [str(x) for x in fields.get(name) or []]
        if "tempo_range" in fields:
            fields["tempo_range"] = tuple(fields["tempo_range"])
        return cls(**fields)


@dataclass(frozen=True)
class ComposeRequest:
    """A request to compose one track; travels through Redis as a JSON-able dict."""

    style: str
    seconds: float
    arch: str | None = None
    seed: int | None = None
    temperature: float = DEFAULT_TEMPERATURE
    top_k: int = DEFAULT_TOP_K
    track_id: str = field(default_factory=new_track_id)
    user_id: str | None = None
    kind: str = "compose"  # compose | extend | harmonize | vary (see JOB_FUNCS)
    parent_id: str | None = None  # the track an extend, harmonize or vary job starts from
    tempo: float | None = None  # play at this many quarter notes per minute instead of the style's tempo
    instrument: int | None = None  # General MIDI program (0-127) instead of the style's instrument (the lead's)
    arrangement: str = DEFAULT_ARRANGEMENT  # see ARRANGEMENTS
    key: str | None = None  # "D dorian": tonic and mode, honoured exactly (token models)
    meter: str | None = None  # "6/8": one of the style's meters
    bpm: float | None = None  # the same as ``tempo`` (its other name); validate_request folds it into tempo
    loop: bool = False  # whole bars whose last one leads back into the first; audio and MIDI loop seamlessly
    parent: str | None = None  # the track a variation comes from (validate_request copies it to parent_id)
    vary: str | None = None  # "subtle" (about 25% of the bars re-sampled) or "strong" (about 75%)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ComposeRequest:
        return cls(**{k: v for k, v in data.items() if k in cls.__dataclass_fields__})


@dataclass(frozen=True)
class ComposeResult:
    """What a finished compose job returns: file paths and facts about the track."""

    track_id: str
    style: str
    arch: str
    seed: int
    seconds: float
    tempo_qpm: float
    bars: int
    files: dict[str, str]
    timings: dict[str, float]
    device: str = "cpu"
    checkpoint: str = ""
    # What an extend job needs (also in the track's ``<track_id>.json``), and what the buttons offer.
    meter: str = ""
    transpose: int = 0
    program: int = 0
    voices: int = 1
    tokens: list[int] = field(default_factory=list)
    extendable: bool = False
    kind: str = "compose"
    parent_id: str | None = None
    # The arrangement (issue 13): parts as {"name", "program", "channel", "is_drum"}, "band" or "melody", the key
    # ("D dorian") and chords ({"start", "end" in seconds, "symbol", "roman"}); a note when it fell back.
    parts: list[dict] = field(default_factory=list)
    arrangement: str = "melody"
    key: str = ""
    chords: list[dict] = field(default_factory=list)
    arrangement_note: str = ""
    # Issue 15: the exact controls as made, variations, loops, and which extra outputs exist.
    loop: bool = False
    vary: str | None = None
    varied_bars: list[int] = field(default_factory=list)  # 0-based bars a variation re-sampled

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ComposeResult:
        return cls(**{k: v for k, v in data.items() if k in cls.__dataclass_fields__})
