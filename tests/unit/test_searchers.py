"""Searcher plans, and the Optuna searchers' seeding (driven without Ray)."""

from pathlib import Path
from typing import Any

import optuna
import pytest
from hydra.utils import instantiate

from hpray import space
from hpray.errors import ConfigError
from hpray.search.searchers import SearchPlan, grid_search, optuna_search, random_search
from hpray.search.slots import SlotLimiter
from tests.helpers.compose import compose_study

SPACE = {
    "optim": {"lr": {"type": "loguniform", "low": 1e-4, "high": 0.1}},
    "model": {
        "units": {"type": "int", "low": 8, "high": 64},
        "activation": {"type": "choice", "values": ["relu", "tanh"]},
    },
}


STUDY = {"metric": "val_acc", "mode": "max"}


def suggestions(sampler: optuna.samplers.BaseSampler, n: int = 5) -> list[dict]:
    plan = optuna_search(space.parse_space(SPACE), num_samples=n, limit=0, sampler=sampler, **STUDY)
    return [plan.search_alg.searcher.suggest(f"t{i}") for i in range(2)]


@pytest.mark.parametrize("sampler", [optuna.samplers.TPESampler, optuna.samplers.GPSampler])
def test_optuna_searchers_are_seeded(sampler: type) -> None:
    first = suggestions(sampler(seed=3))
    assert first == suggestions(sampler(seed=3))
    assert first != suggestions(sampler(seed=4))
    assert set(first[0]) == {"optim.lr", "model.units", "model.activation"}


def test_optuna_plans_fill_the_cluster_unless_a_number_caps_them() -> None:
    params = space.parse_space(SPACE)

    def plan(limit: int, **searcher: Any) -> SearchPlan:
        sampler = optuna.samplers.TPESampler()
        return optuna_search(
            params, num_samples=9, limit=limit, sampler=sampler, **searcher, **STUDY
        )

    auto = plan(0)
    assert (auto.cap, auto.num_samples) == (0, 9)  # auto: the slots Ray reports, counted later
    assert isinstance(auto.search_alg.searcher, SlotLimiter)
    assert (plan(0, max_concurrent=3).cap, plan(0, max_concurrent=3).cap_key) == (
        3,
        "searcher.max_concurrent",
    )
    lower = plan(2, max_concurrent=3)  # the study's limit wins when lower
    assert (lower.cap, lower.cap_key) == (2, "study.max_concurrent")
    assert (plan(2).cap, plan(2).cap_key) == (2, "study.max_concurrent")
    for bad in (0, "all", 2.5):
        with pytest.raises(ConfigError, match=r"searcher\.max_concurrent"):
            plan(0, max_concurrent=bad)


def test_random_plan_samples_every_leaf() -> None:
    plan = random_search(space.parse_space(SPACE), num_samples=7, limit=0, seed=1, **STUDY)
    assert plan.num_samples == 7 and set(plan.param_space) == {
        "optim.lr",
        "model.units",
        "model.activation",
    }


def test_grid_plan_counts_combinations() -> None:
    params = space.parse_space(
        {"a": {"type": "choice", "values": [1, 2]}, "b": {"type": "int", "low": 1, "high": 3}}
    )
    plan = grid_search(params, num_samples=50, limit=0, repeats=2, **STUDY)
    assert plan.num_samples == 2 and "6 combinations x 2 = 12 trials" in plan.description
    with pytest.raises(ConfigError):
        grid_search(space.parse_space(SPACE), num_samples=1, limit=0, **STUDY)


def test_botorch_proposes_trials_together_as_plain_numbers(tmp_path: Path) -> None:
    """searcher=botorch, two trials at a time: the model's proposals reach the trial as Python
    floats (BoTorch clips some to a bound as numpy's, which OmegaConf refuses), and the two
    proposed while both run are different points."""
    from optuna_integration import BoTorchSampler

    node = compose_study(tmp_path, "searcher=botorch").searcher.sampler
    sampler = instantiate(node, n_startup_trials=2)
    assert isinstance(sampler, BoTorchSampler)
    branin = {"x1": {"type": "uniform", "low": -5.0, "high": 10.0}}
    branin["x2"] = {"type": "uniform", "low": 0.0, "high": 15.0}
    plan = optuna_search(
        space.parse_space(branin), num_samples=14, limit=2, sampler=sampler, **STUDY
    )
    searcher = plan.search_alg.searcher
    pending: list[tuple[str, dict[str, Any]]] = []
    proposed = []
    for _ in range(12):
        while len(pending) < 2:
            pending.append((f"t{len(proposed)}", searcher.suggest(f"t{len(proposed)}")))
            proposed.append(pending[-1][1])
        assert pending[0][1] != pending[1][1]
        trial_id, config = pending.pop(0)
        # Best at a corner (x1 = 0, x2 = 0): proposals end up on x2's bound.
        searcher.on_trial_complete(trial_id, {"val_acc": -(config["x1"] ** 2) - config["x2"]})
    assert all(type(v) is float for config in proposed for v in config.values())
    assert all(-5.0 <= c["x1"] <= 10.0 and 0.0 <= c["x2"] <= 15.0 for c in proposed)


def test_a_searcher_whose_package_is_missing_says_what_to_install() -> None:
    from hpray.config.build import build_search

    node = {
        "_target_": "hpray.search.searchers.optuna_search",
        "_partial_": True,
        "sampler": {"_target_": "optuna_integration.NoSuchSampler"},
    }
    with pytest.raises(ConfigError, match=r"pip install 'hpray\[botorch\]'") as caught:
        build_search(node, space.parse_space(SPACE), num_samples=2, limit=0, **STUDY)
    assert caught.value.key == "searcher"


@pytest.mark.parametrize("objectives", [1, 2])
def test_botorch_acquires_for_one_objective_or_several(objectives: int) -> None:
    import torch

    from hpray.search.batch import candidates

    generator = torch.Generator().manual_seed(0)
    train_x = torch.rand(8, 2, generator=generator, dtype=torch.float64)
    train_obj = torch.rand(8, objectives, generator=generator, dtype=torch.float64)
    bounds = torch.tensor([[0.0, 0.0], [1.0, 1.0]], dtype=torch.float64)
    pending = torch.rand(1, 2, generator=generator, dtype=torch.float64)
    proposed = candidates(train_x, train_obj, None, bounds, pending)
    assert proposed.shape == (1, 2) and bool(((proposed >= 0) & (proposed <= 1)).all())
