"""The stand-in compose job (tests.fakes.stand_in_worker) run by the real worker class, connection and loop.

``python -m tests.reliability.stand_in`` with REDIS_URL and TUNESMITH_DATA_DIR set: the same ``run_worker``
code path as ``tunesmith worker`` (ComposeWorker with its lease, JSON serializer, reconnects), but the job
writes three tiny files instead of sampling a model, and no checkpoint is loaded. For faults and load where
the model is not the point.
"""

from __future__ import annotations

import os
import sys
import types

from tests.fakes import stand_in_worker


def main() -> int:
    import worker.runner as runner

    module = types.ModuleType("worker.jobs")
    module.compose = stand_in_worker.compose  # type: ignore[attr-defined]
    sys.modules["worker.jobs"] = module
    runner.preload = lambda: None  # nothing to import ahead: no model
    runner.announce_styles = lambda conn: _announce(conn)
    return runner.run_worker(os.environ["REDIS_URL"], log_level=os.environ.get("STAND_IN_LOG_LEVEL", "WARNING"))


def _announce(conn: object) -> list[str]:
    from worker.contract import publish_styles

    publish_styles(conn, stand_in_worker.STYLES)  # type: ignore[arg-type]
    return sorted(stand_in_worker.STYLES)


if __name__ == "__main__":
    sys.exit(main())
