"""Trials at a time: slots counted node by node, the start line's reason, and the limiter that
follows the cluster (counted without Ray: ``slots.count`` is replaced by a fixed cluster)."""

from __future__ import annotations

import optuna
import pytest
from ray.tune.search.optuna import OptunaSearch

from hpray.search import slots
from hpray.search.slots import Count, SlotLimiter, fits

GPU_NODE = {"CPU": 8.0, "GPU": 2.0}
CPU_NODE = {"CPU": 4.0}


@pytest.mark.parametrize(
    ("request_", "expected"),
    [
        ({"CPU": 1, "GPU": 0}, 12),  # 8 + 4
        ({"CPU": 1, "GPU": 0.25}, 8),  # 2 GPUs in quarters; the CPU node has none
        ({"CPU": 2, "GPU": 1}, 2),
        ({"CPU": 3, "GPU": 0}, 3),  # 2 on the first node, 1 on the second: not 12 // 3 = 4
        ({"CPU": 0.1, "GPU": 0}, 120),  # 4 / 0.1 is 39.999...: still 40
        ({"CPU": 0, "GPU": 0}, 0),  # nothing asked: nothing bounds it
    ],
)
def test_slots_are_counted_node_by_node(request_: dict[str, float], expected: int) -> None:
    assert fits([GPU_NODE, CPU_NODE], request_) == expected


def test_the_start_line_says_how_many_run_at_once_and_why() -> None:
    assert Count(8, 0, "study.max_concurrent").describe() == "8 at a time (the cluster fits 8)"
    assert Count(8, 2, "searcher.max_concurrent").describe() == (
        "2 at a time (searcher.max_concurrent=2; the cluster fits 8)"
    )
    assert Count(2, 4, "study.max_concurrent").describe() == (
        "up to 4 at a time (study.max_concurrent=4; the cluster fits 2 now)"
    )
    assert Count(64, 0, "", autoscaling=True).describe() == (
        "64 at a time (the autoscaling cluster fits 64)"
    )
    assert Count(0, 0, "").describe() == "as many as start at a time (no resource bounds them)"


def test_the_limiter_asks_for_no_more_trials_than_slots_and_follows_the_cluster(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    cluster = {"slots": 2}
    monkeypatch.setattr(slots, "count", lambda request, workers=1: (cluster["slots"], False))
    searcher = OptunaSearch(
        space={"x": optuna.distributions.FloatDistribution(0, 1)},
        metric="value",
        mode="min",
        sampler=optuna.samplers.RandomSampler(seed=0),
    )
    limiter = SlotLimiter(searcher)
    with slots.asking({"CPU": 1, "GPU": 0}, cap=0):
        limiter.settle()
        assert limiter.max_concurrent == 2
        asked = [limiter.suggest(f"t{i}") for i in range(3)]
        assert asked[2] is None and None not in asked[:2]  # both slots taken
        cluster["slots"] = 5  # a node joined
        monkeypatch.setattr(slots, "RECOUNT_S", 0.0)
        assert limiter.suggest("t3") is not None and limiter.max_concurrent == 5
    with slots.asking({"CPU": 1, "GPU": 0}, cap=3):  # resumed with a cap: the cap holds
        limiter.settle()
        assert limiter.max_concurrent == 3 and limiter.suggest("t4") is None
    with slots.asking({"CPU": 1, "GPU": 0}, cap=8):  # above the slots: the rest wait pending
        limiter.settle()
        assert limiter.max_concurrent == 8 and limiter.suggest("t4") is not None


def test_trials_of_several_workers_are_counted_in_gangs(monkeypatch) -> None:
    """A gang's Ray Tune trial asks for no CPU, so random and grid search hold to the gangs
    the cluster fits: 4 one-CPU slots hold 2 gangs of 2; a set cap wins; one-process trials
    are left to Ray Tune's own accounting."""
    nodes = [{"CPU": 3.0}, {"CPU": 1.0}]
    monkeypatch.setattr("ray.nodes", lambda: [{"Alive": True, "Resources": n} for n in nodes])
    monkeypatch.setattr(slots.internals, "autoscaling_node_groups", lambda: [])
    assert slots.count({"CPU": 1.0}, workers=2) == (2, False)
    assert slots.count({"CPU": 2.0}, workers=2) == (0, False)  # one 2-CPU share fits, not two
    with slots.asking({"CPU": 1.0, "GPU": 0.0}, 0, workers=2):
        assert slots.gang_limit() == 2
    with slots.asking({"CPU": 1.0, "GPU": 0.0}, 1, workers=2):
        assert slots.gang_limit() == 1
    with slots.asking({"CPU": 1.0, "GPU": 0.0}, 0):
        assert slots.gang_limit() is None
