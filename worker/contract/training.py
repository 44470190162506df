"""The fine-tuning side of the job contract (/finetune, /models, /rollback): torch-free, import-light."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from worker.contract.ids import is_style_name, new_finetune_job_id, new_rollback_job_id
from worker.contract.tracks import QUEUE_COMPOSE, QUEUE_TRAIN, BadRequest, StyleInfo, compose_queue

if TYPE_CHECKING:  # pragma: no cover
    from redis import Redis
    from rq.job import Job

FINETUNE_JOB = "worker.jobs.finetune"
ROLLBACK_JOB = "worker.jobs.rollback"
MODELS_KEY = "tunesmith:models"  # style → JSON {arch: {"active": n, "versions": [...]}}
CANCEL_KEY = "tunesmith:cancel:{job_id}"
FINETUNE_ARCHES = ("lstm", "wavenet", "gan")
DEFAULT_BASE_STYLE = "folk"  # new styles start from the broadest melody corpus (8,069 Essen songs)
DEFAULT_STEPS, MIN_STEPS, MAX_STEPS = 300, 10, 3000
FINETUNE_TIMEOUT_S = 1800
VOTE_THRESHOLD = 1  # tracks with a net score at or above this become training data with from_votes
MAX_VOTE_TRACKS = 200


def check_style_name(name: str) -> str:
    """A new style's name, lower-cased.

    Raises:
        BadRequest: not 2–24 letters, digits or underscores starting with a letter, or a reserved word.
    """
    key = (name or "").strip().lower()
    if not is_style_name(key):
        raise BadRequest(
            f"`{key[:30]}` can't be a style name: use 2–24 lowercase letters, digits or `_`, "
            "starting with a letter (e.g. `pokemon`)."
        )
    return key


def vote_weight(score: int) -> int:
    """How many copies of a voted track's tunes go into a fine-tune: its net score, capped at 4 (a +1 track
    counts once, a +4-or-better track four times), so the crowd's favourites pull hardest without drowning
    the uploads."""
    return max(1, min(4, int(score)))


@dataclass(frozen=True)
class FinetuneRequest:
    """A fine-tune of ``style`` (new or existing) from ``base``'s checkpoint, on uploads and/or voted tracks."""

    style: str
    arch: str = "lstm"
    base: str | None = None
    steps: int = DEFAULT_STEPS
    uploads: list[dict[str, str]] = field(default_factory=list)  # {"name", "data": base64}
    vote_tracks: list[dict[str, Any]] = field(default_factory=list)  # {"track_id", "score"}
    user_id: str | None = None
    job_id: str = field(default_factory=new_finetune_job_id)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> FinetuneRequest:
        return cls(**{k: v for k, v in data.items() if k in cls.__dataclass_fields__})


def validate_finetune(request: FinetuneRequest, styles: dict[str, StyleInfo]) -> FinetuneRequest:
    """Check a fine-tune request; fill in the base style.

    Raises:
        BadRequest: a bad name, architecture, base, step count, or nothing to learn from.
    """
    style = check_style_name(request.style)
    arch = (request.arch or "lstm").strip().lower()
    if arch not in FINETUNE_ARCHES:
        raise BadRequest(f"Fine-tuning works for {', '.join(FINETUNE_ARCHES)}, not `{arch[:20]}`.")
    offer = sorted(s for s, info in styles.items() if arch in info.arches)
    if request.base:
        base = request.base.strip().lower()
    elif style in offer:
        base = style  # train an existing style further
    else:  # a new style starts from the broad folk model, or whatever this deployment has
        base = DEFAULT_BASE_STYLE if DEFAULT_BASE_STYLE in offer or not offer else offer[0]
    if styles and base not in offer:
        raise BadRequest(f"Can't start from `{base[:30]}` with `{arch}`: bases with {arch}: {', '.join(offer)}.")
    if not MIN_STEPS <= int(request.steps) <= MAX_STEPS:
        raise BadRequest(f"Steps must lie between {MIN_STEPS} and {MAX_STEPS} (default {DEFAULT_STEPS}).")
    if not request.uploads and not request.vote_tracks:
        raise BadRequest(
            "Nothing to learn from: attach MIDI files (or one .zip of them), or set from_votes "
            "with tracks voted up in this style."
        )
    return FinetuneRequest(
        **{**request.to_dict(), "style": style, "arch": arch, "base": base, "steps": int(request.steps)}
    )


def enqueue_finetune(redis: Redis, request: FinetuneRequest) -> Job:
    """Queue a fine-tune on the ``train`` queue, so compositions never wait behind it."""
    return compose_queue(redis, QUEUE_TRAIN).enqueue(
        FINETUNE_JOB,
        request.to_dict(),
        job_id=request.job_id,
        job_timeout=FINETUNE_TIMEOUT_S,
        result_ttl=7 * 24 * 3600,
        failure_ttl=7 * 24 * 3600,
    )


def enqueue_rollback(redis: Redis, style: str, arch: str, version: int, user_id: str | None) -> Job:
    """Queue a switch of the serving version at the front of the compose queue (it takes milliseconds)."""
    return compose_queue(redis, QUEUE_COMPOSE).enqueue(
        ROLLBACK_JOB,
        {"style": style, "arch": arch, "version": int(version), "user_id": user_id},
        job_id=new_rollback_job_id(),
        at_front=True,
        job_timeout=60,
        result_ttl=3600,
        failure_ttl=3600,
    )


def request_cancel(redis: Redis, job_id: str) -> None:
    """Ask a running fine-tune to stop (checked every step; nothing it made is kept)."""
    redis.set(CANCEL_KEY.format(job_id=job_id), "1", ex=FINETUNE_TIMEOUT_S * 2)


def cancel_requested(redis: Redis, job_id: str) -> bool:
    return bool(redis.exists(CANCEL_KEY.format(job_id=job_id)))


def publish_models(redis: Redis, summary: dict[str, dict]) -> None:
    """Record each style's fine-tuned versions (``models.core.versions.summary``) for ``/models``."""
    if summary:
        redis.hset(MODELS_KEY, mapping={style: json.dumps(info) for style, info in summary.items()})


def read_models(redis: Redis) -> dict[str, dict]:
    """style → arch → {"active": n, "versions": [...]} as the workers published them."""
    return {(k.decode() if isinstance(k, bytes) else k): json.loads(v) for k, v in redis.hgetall(MODELS_KEY).items()}
