"""The job contract shared by the bot, the CLI and the worker: torch-free, import-light."""

from __future__ import annotations

import dataclasses
import json
import re
import secrets
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from worker.contract.ids import is_track_id, new_track_id

if TYPE_CHECKING:  # pragma: no cover
    from redis import Redis
    from rq import Queue
    from rq.job import Job

QUEUE_COMPOSE = "compose"
QUEUE_TRAIN = "train"
COMPOSE_JOB = "worker.jobs.compose"
# Which RQ job makes each kind of track: a new piece, a continuation of one, or a four-voice harmonisation.
JOB_FUNCS = {
    "compose": COMPOSE_JOB,
    "extend": "worker.jobs.extend",
    "harmonize": "worker.jobs.harmonize",
    "vary": "worker.jobs.vary",
}
# The small job that engraves a track's score or writes its exports on demand (the 📄 and 📦 buttons).
OUTPUTS_JOB = "worker.jobs.outputs"
OUTPUT_KINDS = ("score", "exports", "stems")
# What each architecture can honour: an exact key and meter (the token models' grammar), variations of chosen
# bars (token models by forcing the kept bars, Coconet by Gibbs re-sampling), and seamless loops (all).
KEY_ARCHES = ("lstm", "wavenet", "gan")
VARY_ARCHES = ("lstm", "wavenet", "gan", "coconet")
LOOP_ARCHES = VARY_ARCHES
VARY_SHARE = {"subtle": 0.25, "strong": 0.75}
HARMONIZER_ARCH = "coconet"
STYLES_KEY = "tunesmith:styles"
FEATURES_KEY = "tunesmith:features"
# Jobs, their arguments, meta and results travel as JSON, never pickle: nothing a user influences is unpickled.
# The bot, the CLI and the worker must all use it (``compose_queue``, ``fetch_job``, worker.jobs.runner).
SERIALIZER = "rq.serializers.JSONSerializer"

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
# Uploads for /finetune: the bot refuses by these before downloading, the worker checks again (worker.jobs.uploads).
# Sized for real collections (~300 piano MIDI files, ~3 MB zipped): several zips of up to 1,000 entries.
UPLOAD_MAX_FILES = 10  # attachments per /finetune (Discord's per-message cap; a .zip counts as one)
UPLOAD_MAX_FILE_BYTES = 16_000_000  # one .zip (or MIDI file) as uploaded
UPLOAD_MAX_TOTAL_BYTES = 24_000_000  # all attachments of one /finetune together
UPLOAD_MAX_MIDI_BYTES = 2_000_000  # one MIDI file, alone or inside a zip
UPLOAD_MAX_ZIP_ENTRIES = 1_000  # entries of one zip
UPLOAD_MAX_UNPACKED_BYTES = 64_000_000  # all zips of one /finetune unpacked together
UPLOAD_MAX_MIDI_FILES = 1_000  # MIDI files of one /finetune after unpacking (more are refused one by one)
UPLOAD_EXTENSIONS = (".mid", ".midi", ".zip")

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


def validate_request(request: ComposeRequest, styles: dict[str, StyleInfo]) -> ComposeRequest:
    """Check a request against the styles on offer; fill in the default architecture.

    Raises:
        BadRequest: unknown style, unsupported architecture, or bad sampling settings.
    """
    request = _folded(request)
    info: StyleInfo | None = None
    if request.kind == "harmonize":  # any style's melody; only the harmonizer's model is needed
        name, arch = request.style.strip().lower(), HARMONIZER_ARCH
    else:
        if not styles:
            raise BadRequest("No worker is online yet, so no style can be composed. Try again in a minute.")
        info = styles.get(request.style.strip().lower())
        if info is None:
            raise BadRequest(f"Unknown style `{request.style[:40]}`. Styles: {', '.join(sorted(styles))}.")
        name, arch = info.name, (request.arch or info.default_arch).strip().lower()
        harmonized = request.kind == "vary" and arch == HARMONIZER_ARCH  # a variation of a harmonized melody
        if arch not in info.arches and not harmonized:
            raise BadRequest(f"Style `{info.name}` has no `{arch}` model. Architectures: {', '.join(info.arches)}.")
    request = _checked_controls(request, info, arch)
    parse_length(request.seconds)
    if not 0.05 <= request.temperature <= 3.0:
        raise BadRequest("Temperature must lie between 0.05 and 3.0.")
    if not _whole(request.top_k) or request.top_k < 0:
        raise BadRequest("top_k must be 0 (off) or a positive whole number.")
    if request.seed is not None and not (_whole(request.seed) and 0 <= request.seed < 2**31):
        raise BadRequest("The seed must be a whole number between 0 and 2147483647.")
    if request.tempo is not None and not MIN_TEMPO <= request.tempo <= MAX_TEMPO:
        raise BadRequest(f"The tempo must lie between {MIN_TEMPO:g} and {MAX_TEMPO:g} beats per minute.")
    if request.instrument is not None and not 0 <= request.instrument <= 127:
        raise BadRequest("The instrument must be a General MIDI program between 0 and 127.")
    check_arrangement(request.arrangement, arch, request.instrument, request.kind)
    if request.kind not in JOB_FUNCS:
        raise BadRequest(f"Unknown kind of job `{request.kind[:20]}`.")
    if request.kind != "compose" and not is_track_id(request.parent_id):
        raise BadRequest(f"A {request.kind} job needs the id of the track it starts from.")
    return ComposeRequest(**{**request.to_dict(), "style": name, "arch": arch})


def check_arrangement(arrangement: object, arch: str | None, instrument: int | None, kind: str = "compose") -> None:
    """Refuse an arrangement the track cannot have.

    Raises:
        BadRequest: an unknown arrangement, a drum as the band's lead, or a bare melody from Coconet.
    """
    if not isinstance(arrangement, str) or arrangement not in ARRANGEMENTS:
        raise BadRequest(
            f"Unknown arrangement `{str(arrangement)[:20]}`: use `band` (melody, chords, bass and "
            "percussion) or `melody` (the bare tune)."
        )
    if arrangement == "band" and instrument is not None and instrument in DRUM_PROGRAMS:
        raise BadRequest(
            "A drum can't play the melody of a band arrangement: pick a pitched instrument, or `arrangement: melody`."
        )
    if arrangement == "melody" and arch == HARMONIZER_ARCH and kind == "compose":
        raise BadRequest(
            "The `coconet` model writes four voices together, so it has no bare melody: use "
            "`arrangement: band`, or another model of the style."
        )


def _folded(request: ComposeRequest) -> ComposeRequest:
    """``bpm`` is another name for ``tempo``, ``parent`` for a variation's ``parent_id``; ``vary`` makes a vary
    job.

    Raises:
        BadRequest: the two names disagree.
    """
    changes: dict[str, Any] = {}
    if request.bpm is not None:
        if not isinstance(request.bpm, int | float) or isinstance(request.bpm, bool):
            raise BadRequest("The BPM must be a number.")
        if request.tempo is not None and abs(float(request.tempo) - float(request.bpm)) > 1e-6:
            raise BadRequest("Give the tempo once: `tempo` and `bpm` are the same setting.")
        changes["tempo"], changes["bpm"] = float(request.bpm), None
    if request.parent is not None:
        if request.parent_id is not None and request.parent_id != request.parent:
            raise BadRequest("`parent` and `parent_id` name different tracks.")
        changes["parent_id"] = request.parent
    if request.vary is not None and request.kind == "compose":
        changes["kind"] = "vary"
    return dataclasses.replace(request, **changes) if changes else request


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


def _checked_controls(request: ComposeRequest, info: StyleInfo | None, arch: str) -> ComposeRequest:
    """Key, meter, loop and vary checked against what the style and architecture offer; the key normalised.

    Raises:
        BadRequest: saying what the style supports.
    """
    changes: dict[str, Any] = {}
    if request.key is not None:
        if request.kind != "compose":
            raise BadRequest("A key can only be chosen for a new piece.")
        name, mode = normalise_key(request.key)
        modes = info.modes if info else []
        if arch not in KEY_ARCHES or not modes:
            raise BadRequest(
                f"The `{arch}` model of `{request.style[:40]}` can't follow a chosen key"
                + (f"; the {', '.join(KEY_ARCHES)} models can." if arch not in KEY_ARCHES else ".")
            )
        if mode not in modes:
            raise BadRequest(
                f"Style `{info.name if info else request.style[:40]}` has no {mode} tunes: modes {', '.join(modes)}."
            )
        changes["key"] = name
    if request.meter is not None:
        if request.kind != "compose":
            raise BadRequest("A meter can only be chosen for a new piece.")
        meter = str(request.meter).strip().replace(" ", "")
        meters = info.meters if info else []
        if arch not in KEY_ARCHES:
            raise BadRequest(f"The `{arch}` model can't follow a chosen meter; the {', '.join(KEY_ARCHES)} models can.")
        if meter not in meters:
            raise BadRequest(
                f"Style `{request.style[:40]}` has no `{str(request.meter)[:12]}` tunes: meters "
                f"{', '.join(meters) or 'none to choose from'}."
            )
        changes["meter"] = meter
    if not isinstance(request.loop, bool):
        raise BadRequest("`loop` is true or false.")
    if request.loop and request.kind == "compose" and arch not in LOOP_ARCHES:
        raise BadRequest(f"The `{arch}` model can't write a seamless loop; the {', '.join(LOOP_ARCHES)} models can.")
    if request.kind == "vary" or request.vary is not None:
        if request.vary not in VARY_SHARE:
            raise BadRequest("A variation is `subtle` or `strong`.")
        if request.kind != "vary":
            raise BadRequest("Only a variation can say how strong it is.")
        if arch not in VARY_ARCHES:
            raise BadRequest(
                f"The `{arch}` model can't make variations of a track; the {', '.join(VARY_ARCHES)} models can."
            )
    return dataclasses.replace(request, **changes) if changes else request


def _whole(value: object) -> bool:
    """An int and not a bool: a float seed or top_k would only fail later, inside the model."""
    return isinstance(value, int) and not isinstance(value, bool)


def publish_styles(redis: Redis, styles: dict[str, StyleInfo]) -> None:
    """Record the styles a worker can serve, for the bot's autocomplete and validation."""
    if styles:
        redis.hset(STYLES_KEY, mapping={name: json.dumps(asdict(info)) for name, info in styles.items()})


def read_styles(redis: Redis) -> dict[str, StyleInfo]:
    """The styles that workers have published."""
    out: dict[str, StyleInfo] = {}
    for name, raw in redis.hgetall(STYLES_KEY).items():
        out[name.decode() if isinstance(name, bytes) else name] = StyleInfo.from_dict(json.loads(raw))
    return out


def publish_features(redis: Redis, features: dict[str, str]) -> None:
    """Record optional abilities of a worker, e.g. ``{"harmonize": "bach/coconet"}``."""
    if features:
        # redis-py types ``mapping`` with an invariant key union, which no dict[str, str] matches
        redis.hset(FEATURES_KEY, mapping=features)  # type: ignore[arg-type]


def read_features(redis: Redis) -> dict[str, str]:
    """The optional abilities that workers have published."""
    return {
        (k.decode() if isinstance(k, bytes) else k): (v.decode() if isinstance(v, bytes) else v)
        for k, v in redis.hgetall(FEATURES_KEY).items()
    }


def enqueue_compose(redis: Redis, request: ComposeRequest, *, timeout_s: int = 600) -> Job:
    """Enqueue the job for ``request`` (by dotted path; the job id is the track id), fairly across users."""
    return enqueue_tracks(redis, [request], timeout_s=timeout_s)[0]


def enqueue_tracks(redis: Redis, requests: list[ComposeRequest], *, timeout_s: int = 600) -> list[Job]:
    """Enqueue several track jobs at once; each goes after every other user's jobs of the same round
    (``worker.contract.fairqueue``), atomically, so one user's many requests do not starve the others.

    Idempotent (the job id is the track id): a request whose job Redis already holds is not enqueued again,
    so the bot can enqueue from its database whenever it is unsure (its outbox, ``bot.poster``); the returned
    jobs, one per request, are then the existing ones."""
    from rq import Retry

    from worker.contract.fairqueue import fair_enqueue

    queue = compose_queue(redis)
    # One retry, spent only if a worker dies mid-job (worker.jobs.lease); at the front, where the job already was.
    datas = [
        queue.prepare_data(
            JOB_FUNCS.get(r.kind, COMPOSE_JOB),
            [r.to_dict()],
            job_id=r.track_id,
            timeout=timeout_s,
            result_ttl=7 * 24 * 3600,
            failure_ttl=7 * 24 * 3600,
            retry=Retry(max=1, enqueue_at_front=True),
        )
        for r in requests
    ]
    added = {job.id: job for job in fair_enqueue(queue, datas, [r.user_id or "" for r in requests])}
    return [added.get(r.track_id) or fetch_job(redis, r.track_id) for r in requests]


def enqueue_outputs(redis: Redis, track_id: str, kind: str, size_limit: int, *, timeout_s: int = 300) -> Job:
    """Enqueue the small job that engraves (``score``) or exports (``exports``, ``stems``) a finished track, at
    the front of the compose queue: it takes a second or two, and someone is waiting for it."""
    if kind not in OUTPUT_KINDS or not is_track_id(track_id or ""):
        raise BadRequest("Unknown output or track.")
    queue = compose_queue(redis)
    return queue.enqueue(
        OUTPUTS_JOB,
        {"track_id": track_id, "kind": kind, "size_limit": int(size_limit)},
        job_id=f"out-{kind}-{track_id}-{secrets.token_hex(4)}",
        at_front=True,
        job_timeout=timeout_s,
        result_ttl=3600,
        failure_ttl=3600,
    )


def compose_queue(redis: Redis, name: str = QUEUE_COMPOSE) -> Queue:
    """The RQ queue ``name`` with the JSON serializer every side of the contract uses."""
    from rq import Queue

    return Queue(name, connection=redis, serializer=SERIALIZER)


def fetch_job(redis: Redis, job_id: str) -> Job:
    """Fetch a job by id with the JSON serializer.

    Raises:
        rq.exceptions.NoSuchJobError: no such job (or it expired).
    """
    from rq.job import Job

    return Job.fetch(job_id, connection=redis, serializer=SERIALIZER)


def job_progress(job: Job) -> dict[str, Any]:
    """The progress a running job last reported in ``job.meta``."""
    meta = job.get_meta(refresh=True) if hasattr(job, "get_meta") else job.meta
    return dict(meta.get("progress", {}))
