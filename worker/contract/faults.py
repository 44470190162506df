"""Fault injection for the crash tests (torch-free): ``TUNESMITH_FAULT=after_dequeue:kill`` makes the process
SIGKILL itself the moment it reaches the ``after_dequeue`` boundary of a request's lifecycle.

``$TUNESMITH_FAULT`` is a comma-separated list of ``point:action``; the action is ``kill`` (SIGKILL: no clean-up
at all, as a crash or an OOM kill), ``term`` (SIGTERM: the process's own warm shutdown) or ``exit`` (exit
status 70 without clean-up). Unset, ``point`` costs one dictionary lookup. The points, in lifecycle order:

bot: ``before_acknowledge`` (recorded, not acknowledged), ``after_acknowledge`` (deferred, nothing queued
yet), ``after_enqueue`` (queued, not yet followed), ``mid_post`` (claimed for posting, message built, nothing
sent), ``after_post`` (sent, not yet recorded);
worker: ``after_dequeue`` (popped and claimed, not started), ``inside_claim`` (batch members claimed, not
started), ``after_start`` (recorded as started), ``mid_sample``, ``mid_render``, ``after_files`` (the track's
files are in place, the result not yet recorded).
"""

from __future__ import annotations

import logging
import os
import signal

log = logging.getLogger(__name__)

FAULT_ENV = "TUNESMITH_FAULT"
BOT_POINTS = ("before_acknowledge", "after_acknowledge", "after_enqueue", "mid_post", "after_post")
WORKER_POINTS = ("after_dequeue", "inside_claim", "after_start", "mid_sample", "mid_render", "after_files")
POINTS = BOT_POINTS + WORKER_POINTS
ACTIONS = ("kill", "term", "exit")


def planned(env: dict[str, str] | None = None) -> dict[str, str]:
    """The faults asked for: point → action.

    Raises:
        ValueError: an unknown point or action (a typo would otherwise make a crash test pass vacuously).
    """
    raw = (os.environ if env is None else env).get(FAULT_ENV, "").strip()
    out: dict[str, str] = {}
    for item in filter(None, (part.strip() for part in raw.split(","))):
        where, _, action = item.partition(":")
        action = action or "kill"
        if where not in POINTS or action not in ACTIONS:
            raise ValueError(
                f"{FAULT_ENV}: unknown fault {item!r}; points: {', '.join(POINTS)}; actions: {', '.join(ACTIONS)}"
            )
        out[where] = action
    return out


def point(name: str) -> None:
    """Crash here if ``$TUNESMITH_FAULT`` asks for it (see the module docstring); otherwise do nothing."""
    if FAULT_ENV not in os.environ:
        return
    action = planned().get(name)
    if action is None:
        return
    log.warning("fault injected at %s: %s", name, action)
    for handler in logging.getLogger().handlers:  # the line above must reach the log before the process dies
        handler.flush()
    if action == "kill":
        os.kill(os.getpid(), signal.SIGKILL)
    elif action == "term":
        os.kill(os.getpid(), signal.SIGTERM)
    else:
        os._exit(70)
