"""The job contract shared by the bot, the CLI and the worker: torch-free, import-light. Validating a request
against the styles on offer, the queues and jobs, and the styles and features workers publish in Redis. The
request and result types live in worker.contract.requests (re-exported here), key parsing in
worker.contract.keys, the checks of the musical controls in worker.contract.controls."""

from __future__ import annotations

import json
import secrets
from dataclasses import asdict
from typing import TYPE_CHECKING, Any

from worker.contract.controls import check_arrangement, checked_controls, folded
from worker.contract.ids import is_track_id
from worker.contract.requests import (  # noqa: F401 - re-exported: the contract's types, imported from here
    ARRANGEMENTS,
    DEFAULT_ARRANGEMENT,
    DEFAULT_TEMPERATURE,
    DEFAULT_TOP_K,
    DRUM_PROGRAMS,
    HARMONIZER_ARCH,
    KEY_ARCHES,
    LOOP_ARCHES,
    MAX_SECONDS,
    MAX_TEMPO,
    MIN_SECONDS,
    MIN_TEMPO,
    VARY_ARCHES,
    VARY_SHARE,
    BadRequest,
    ComposeRequest,
    ComposeResult,
    StyleInfo,
    parse_length,
)

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
STYLES_KEY = "tunesmith:styles"
FEATURES_KEY = "tunesmith:features"
# Jobs, their arguments, meta and results travel as JSON, never pickle: nothing a user influences is unpickled.
# The bot, the CLI and the worker must all use it (``compose_queue``, ``fetch_job``, worker.jobs.runner).
SERIALIZER = "rq.serializers.JSONSerializer"

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


def validate_request(request: ComposeRequest, styles: dict[str, StyleInfo]) -> ComposeRequest:
    """Check a request against the styles on offer; fill in the default architecture.

    Raises:
        BadRequest: unknown style, unsupported architecture, or bad sampling settings.
    """
    request = folded(request)
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
    request = checked_controls(request, info, arch)
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
