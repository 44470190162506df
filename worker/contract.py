"""The job contract shared by the bot, the CLI and the worker: torch-free, import-light."""

from __future__ import annotations

import json
import re
import uuid
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover
    from redis import Redis
    from rq import Queue
    from rq.job import Job

QUEUE_COMPOSE = "compose"
QUEUE_TRAIN = "train"
COMPOSE_JOB = "worker.jobs.compose"
# Which RQ job makes each kind of track: a new piece, a continuation of one, or a four-voice harmonisation.
JOB_FUNCS = {"compose": COMPOSE_JOB, "extend": "worker.jobs.track_jobs.extend", "harmonize": "worker.jobs.track_jobs.harmonize"}
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
_ID_RE = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
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

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> StyleInfo:
        fields = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        fields["arches"] = list(fields.get("arches", []))
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
    track_id: str = field(default_factory=lambda: uuid.uuid4().hex)
    user_id: str | None = None
    kind: str = "compose"  # compose | extend | harmonize (see JOB_FUNCS)
    parent_id: str | None = None  # the track an extend or harmonize job starts from
    tempo: float | None = None  # play at this many quarter notes per minute instead of the style's tempo
    instrument: int | None = None  # General MIDI program (0-127) instead of the style's instrument

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
    if request.kind == "harmonize":  # any style's melody; only the harmonizer's model is needed
        name, arch = request.style.strip().lower(), HARMONIZER_ARCH
    else:
        if not styles:
            raise BadRequest("No worker is online yet, so no style can be composed. Try again in a minute.")
        info = styles.get(request.style.strip().lower())
        if info is None:
            raise BadRequest(f"Unknown style `{request.style[:40]}`. Styles: {', '.join(sorted(styles))}.")
        name, arch = info.name, (request.arch or info.default_arch).strip().lower()
        if arch not in info.arches:
            raise BadRequest(f"Style `{info.name}` has no `{arch}` model. Architectures: {', '.join(info.arches)}.")
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
    if request.kind not in JOB_FUNCS:
        raise BadRequest(f"Unknown kind of job `{request.kind[:20]}`.")
    if request.kind != "compose" and not (request.parent_id and _ID_RE.fullmatch(request.parent_id)):
        raise BadRequest(f"A {request.kind} job needs the id of the track it starts from.")
    return ComposeRequest(**{**request.to_dict(), "style": name, "arch": arch})


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
        redis.hset(FEATURES_KEY, mapping=features)


def read_features(redis: Redis) -> dict[str, str]:
    """The optional abilities that workers have published."""
    return {(k.decode() if isinstance(k, bytes) else k): (v.decode() if isinstance(v, bytes) else v)
            for k, v in redis.hgetall(FEATURES_KEY).items()}


def enqueue_compose(redis: Redis, request: ComposeRequest, *, timeout_s: int = 600) -> Job:
    """Enqueue the job for ``request`` (by dotted path; the job id is the track id), fairly across users."""
    return enqueue_tracks(redis, [request], timeout_s=timeout_s)[0]


def enqueue_tracks(redis: Redis, requests: list[ComposeRequest], *, timeout_s: int = 600) -> list[Job]:
    """Enqueue several track jobs at once; each goes after every other user's jobs of the same round
    (``worker.contract.fairqueue``), atomically, so one user's many requests do not starve the others."""
    from rq import Retry

    from worker.contract.fairqueue import fair_enqueue

    queue = compose_queue(redis)
    # One retry, spent only if a worker dies mid-job (worker.jobs.lease); at the front, where the job already was.
    datas = [queue.prepare_data(JOB_FUNCS.get(r.kind, COMPOSE_JOB), [r.to_dict()], job_id=r.track_id,
                                timeout=timeout_s, result_ttl=7 * 24 * 3600, failure_ttl=7 * 24 * 3600,
                                retry=Retry(max=1, enqueue_at_front=True))
             for r in requests]
    return fair_enqueue(queue, datas, [r.user_id or "" for r in requests])


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
