"""worker.bench.scale: the latency model and the queue-cost probe (the worker bursts run by hand)."""

from __future__ import annotations

import math

import pytest

from worker.bench.scale import mmc_latency, queue_costs


def test_mmc_latency_matches_closed_forms() -> None:
    assert mmc_latency(4.0, 1, 7.5) == pytest.approx(8.0)  # M/M/1: S / (1 - rho), rho = 0.5
    assert mmc_latency(4.0, 2, 15.0) == pytest.approx(4.0 / (1 - 0.5**2))  # M/M/2: S / (1 - rho^2)
    assert mmc_latency(4.0, 2, 0.001) == pytest.approx(4.0, rel=1e-3)  # idle: just the service time
    assert math.isinf(mmc_latency(4.0, 1, 15.0))


def test_queue_costs_on_a_real_redis() -> None:
    out = queue_costs(depths=(0, 50), sample=3)
    assert set(out["enqueue_ms_at_depth"]) == {0, 50}
    assert all(ms > 0 for ms in out["enqueue_ms_at_depth"].values())
