"""Old RQ job names (``worker.track_jobs.extend``/``.harmonize``, before the package layout): jobs queued by an
older bot still run."""

from worker.jobs.track_jobs import extend, harmonize

__all__ = ["extend", "harmonize"]
