"""Old RQ job names (``worker.finetune_job.finetune``/``.rollback``, before the package layout): jobs queued by an
older bot still run."""

from worker.jobs.finetune_job import finetune, rollback

__all__ = ["finetune", "rollback"]
