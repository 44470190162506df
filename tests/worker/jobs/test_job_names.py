"""The RQ job names that travel over Redis resolve to the job functions, the old layout's names included."""

from __future__ import annotations

import pytest
from rq.utils import import_attribute

from worker.contract.tracks import COMPOSE_JOB, JOB_FUNCS, OUTPUTS_JOB
from worker.contract.training import FINETUNE_JOB, ROLLBACK_JOB

NAMES = sorted({COMPOSE_JOB, OUTPUTS_JOB, FINETUNE_JOB, ROLLBACK_JOB, *JOB_FUNCS.values()})
# Jobs queued by a release before the package layout (a bot restarted onto new workers must not lose them).
OLD_NAMES = [
    "worker.jobs.compose",
    "worker.track_jobs.extend",
    "worker.track_jobs.harmonize",
    "worker.finetune_job.finetune",
    "worker.finetune_job.rollback",
]


@pytest.mark.parametrize("name", NAMES + OLD_NAMES)
def test_a_job_name_resolves_to_its_function(name: str) -> None:
    func = import_attribute(name)
    assert callable(func) and func.__name__ == name.rsplit(".", 1)[1]


def test_the_contract_names_every_job_under_worker_jobs() -> None:
    assert all(n.startswith("worker.jobs.") and n.count(".") == 2 for n in NAMES)


def test_an_unknown_job_name_does_not_resolve() -> None:
    with pytest.raises((AttributeError, ValueError)):
        import_attribute("worker.jobs.no_such_job")
