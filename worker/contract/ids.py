"""Every id and name rule of the job contract, in one place (torch-free, standard library only).

The bot, the CLI and the worker check ids and names only through these functions (or embed the patterns
below in a larger one, as the buttons' custom ids do), so a rule changes here or nowhere. Each check is a
full match: ``re.match`` with ``$`` would let a trailing newline through.
"""

from __future__ import annotations

import re
import uuid

# Patterns, without anchors, for embedding (e.g. in a button's custom_id template).
TRACK_ID = r"[A-Za-z0-9_-]{1,64}"  # any track id the contract accepts: safe as a file name
NEW_TRACK_ID = r"[0-9a-f]{32}"  # the ids new_track_id() makes (the bot's buttons carry only these)
TRACK_ID_PREFIX = r"[0-9a-f]{6,32}"  # /track: the start of a made id, as shown under each track
STYLE_NAME = r"[a-z][a-z0-9_]{1,23}"  # a new (fine-tuned) style's name
STYLE_QUERY = r"[a-z0-9_-]{1,40}"  # a style as a user may ask for one (/top): a single word
FINETUNE_JOB_ID = r"ft-[0-9a-f]{32}"
ROLLBACK_JOB_ID = r"rb-[0-9a-f]{32}"
RESERVED_STYLE_NAMES = frozenset({"all", "none", "default", "random", "help", "shipped"})

_TRACK_ID_RE = re.compile(TRACK_ID)
_NEW_TRACK_ID_RE = re.compile(NEW_TRACK_ID)
_TRACK_ID_PREFIX_RE = re.compile(TRACK_ID_PREFIX)
_STYLE_NAME_RE = re.compile(STYLE_NAME)
_STYLE_QUERY_RE = re.compile(STYLE_QUERY)
_FINETUNE_JOB_ID_RE = re.compile(FINETUNE_JOB_ID)


def _full(pattern: re.Pattern[str], value: object) -> bool:
    return isinstance(value, str) and pattern.fullmatch(value) is not None


def new_track_id() -> str:
    """A fresh track id (32 lowercase hex digits)."""
    return uuid.uuid4().hex


def new_finetune_job_id() -> str:
    """A fresh fine-tune job id (``ft-`` and 32 hex digits)."""
    return f"ft-{uuid.uuid4().hex}"


def new_rollback_job_id() -> str:
    """A fresh rollback job id (``rb-`` and 32 hex digits)."""
    return f"rb-{uuid.uuid4().hex}"


def is_track_id(value: object) -> bool:
    """1–64 letters, digits, ``-`` or ``_``: safe as a file and directory name."""
    return _full(_TRACK_ID_RE, value)


def is_new_track_id(value: object) -> bool:
    """An id as :func:`new_track_id` makes them."""
    return _full(_NEW_TRACK_ID_RE, value)


def is_track_id_prefix(value: object) -> bool:
    """6–32 lowercase hex digits: enough of a made id to look it up."""
    return _full(_TRACK_ID_PREFIX_RE, value)


def is_style_name(value: object) -> bool:
    """A name a new style may take: 2–24 lowercase letters, digits or ``_``, starting with a letter, and not a
    reserved word (callers lower-case and strip what a user typed first)."""
    return _full(_STYLE_NAME_RE, value) and value not in RESERVED_STYLE_NAMES


def is_style_query(value: object) -> bool:
    """A style as a user may ask for one: a single word of lowercase letters, digits, ``-`` or ``_`` (≤ 40)."""
    return _full(_STYLE_QUERY_RE, value)


def is_finetune_job_id(value: object) -> bool:
    """An id as :func:`new_finetune_job_id` makes them."""
    return _full(_FINETUNE_JOB_ID_RE, value)
