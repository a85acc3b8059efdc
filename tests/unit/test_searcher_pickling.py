"""Every searcher option survives what Ray Tune does to it: pickled when the study starts and in
every snapshot, unpickled on resume, then asked for the next trial. The options are read from
the packaged conf/searcher/, so a new one is tested without a list to keep."""

from __future__ import annotations

import pickle
import threading
from importlib import resources
from pathlib import Path
from typing import Any

import optuna
import pytest
from omegaconf import OmegaConf
from ray import cloudpickle
from ray.tune.search import BasicVariantGenerator, SearchGenerator

from hpray import space
from hpray.config.build import build_search
from hpray.errors import ConfigError
from tests.helpers.compose import compose_study

SEARCHERS = sorted(
    p.name.removesuffix(".yaml")
    for p in resources.files("hpray.conf").joinpath("searcher").iterdir()
    if p.name.endswith(".yaml")
)
MIXED = {  # a continuous, an integer and a categorical leaf
    "x1": {"type": "uniform", "low": -5.0, "high": 10.0},
    "x2": {"type": "int", "low": 0, "high": 15},
    "kind": {"type": "choice", "values": ["a", "b"]},
}
DISCRETE = {
    "x1": {"type": "choice", "values": [-3.0, 3.0]},
    "x2": {"type": "int", "low": 0, "high": 2},
}


def plan_of(tmp_path: Path, searcher: str, spec: dict[str, Any], **study: Any) -> Any:
    cfg = compose_study(tmp_path, f"searcher={searcher}")
    node = OmegaConf.to_container(cfg.searcher, resolve=True)
    assert isinstance(node, dict)
    sampler = node.get("sampler")
    if isinstance(sampler, dict) and "n_startup_trials" in sampler:
        sampler["n_startup_trials"] = 1  # the proposal after the round trip is the model's
    return build_search(node, space.parse_space(spec), num_samples=4, limit=0, **study)


def trainable(config: dict[str, Any]) -> None:
    """Named in the experiment the variant generator expands; never run here."""


def proposal(search_alg: Any, trial_id: str, param_space: dict[str, Any]) -> dict[str, Any]:
    """The next configuration the search algorithm hands out, asked as Ray Tune asks it."""
    if isinstance(search_alg, SearchGenerator):
        config = search_alg.searcher.suggest(trial_id)
        assert isinstance(config, dict)
        return config
    assert isinstance(search_alg, BasicVariantGenerator)
    search_alg.add_configurations({"study": {"run": trainable, "config": param_space}})
    trial = search_alg.next_trial()
    return {k: v for k, v in trial.config.items() if k in param_space}


def test_the_searcher_group_is_read_from_the_packaged_tree() -> None:
    assert {"grid", "random", "bayes", "gp", "nsga2"} <= set(SEARCHERS)


@pytest.mark.parametrize("metric", ["one", "two"])
@pytest.mark.parametrize("searcher", SEARCHERS)
def test_every_searcher_pickles_unpickles_and_proposes(
    tmp_path: Path, searcher: str, metric: str
) -> None:
    study: dict[str, Any] = {"metric": "value", "mode": "min"}
    if metric == "two":  # a study of several objectives
        study = {"metric": ["value", "cost"], "mode": ["min", "min"]}
    spec = DISCRETE if searcher == "grid" else MIXED
    plan = plan_of(tmp_path, searcher, spec, **study)
    started = cloudpickle.dumps(plan.search_alg)  # as the Tuner pickles it at the start
    first = proposal(plan.search_alg, "t0", plan.param_space)
    if isinstance(plan.search_alg, SearchGenerator):  # told a result, saved as a snapshot saves
        metrics = dict.fromkeys(study["metric"] if metric == "two" else [study["metric"]], 1.0)
        plan.search_alg.searcher.on_trial_complete("t0", metrics)
        plan.search_alg.save_to_dir(str(tmp_path), "s1")

    restored = cloudpickle.loads(started)  # resumed: the start's searcher, then its snapshot
    if isinstance(restored, SearchGenerator):
        restored.restore_from_dir(str(tmp_path))
        assert restored.searcher.searcher is not plan.search_alg.searcher.searcher

    second = proposal(restored, "t1", plan.param_space)
    assert set(second) == set(first) == set(spec)
    for key, leaf in spec.items():
        if "values" in leaf:
            assert second[key] in leaf["values"]
        else:
            assert leaf["low"] <= second[key] <= leaf["high"]


class LockedSampler(optuna.samplers.RandomSampler):
    """A sampler holding a lock in its state, as Optuna 5.1's NSGA-II does."""

    def __init__(self, seed: int | None = None) -> None:
        super().__init__(seed=seed)
        self.lock = threading.Lock()


def test_a_searcher_that_cannot_be_pickled_is_refused_before_the_study_starts() -> None:
    node = {
        "_target_": "hpray.search.searchers.optuna_search",
        "_partial_": True,
        "sampler": {"_target_": f"{__name__}.LockedSampler", "seed": 0},
    }
    with pytest.raises(ConfigError, match="cannot be saved with the study") as caught:
        build_search(node, space.parse_space(MIXED), num_samples=2, limit=0, metric="v", mode="min")
    assert caught.value.key == "searcher"
    assert "hpray.search.samplers" in caught.value.message


def test_the_genetic_samplers_come_back_with_a_new_lock_and_their_state() -> None:
    from hpray.search.samplers import NSGAIISampler

    sampler = NSGAIISampler(seed=3, population_size=7)
    restored = pickle.loads(pickle.dumps(sampler))
    assert restored.population_size == 7
    locks = [v for v in vars(restored).values() if isinstance(v, type(threading.Lock()))]
    assert all(lock.acquire(blocking=False) for lock in locks)  # new, and not held
