"""Trial schedulers: Ray Tune's, with what hpray's trials need of them."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ray.tune.schedulers import ASHAScheduler as RayASHA
from ray.tune.schedulers import PopulationBasedTraining, TrialScheduler
from ray.tune.schedulers.pb2 import PB2 as RayPB2

from hpray import internals
from hpray.errors import ConfigError
from hpray.search.searchers import tune_domain
from hpray.space import Space


class ASHAScheduler(RayASHA):
    """Ray Tune's ASHA, except that a trial at its full budget is never stopped.

    Stopping it there saves no epoch, but it would cut off the trial function's own code
    after training (an app saving its model or scoring its test data), and Ray's ASHA stops a
    trial below the cut at a rung that falls on ``max_t`` (``max_t / grace_period`` a power
    of ``reduction_factor``). The result still counts in that rung.
    """

    def __init__(self, time_attr: str = "epoch", max_t: int = 100, **kwargs: Any) -> None:
        kwargs.pop("stop_last_trials", None)
        super().__init__(time_attr=time_attr, max_t=max_t, stop_last_trials=False, **kwargs)
        self.budget = (time_attr, max_t)

    def on_trial_result(self, tune_controller: Any, trial: Any, result: dict[str, Any]) -> str:
        action = super().on_trial_result(tune_controller, trial, result)
        attr, max_t = self.budget
        return TrialScheduler.CONTINUE if result.get(attr, 0) >= max_t else action


def pbt(space: Space, **options: Any) -> PopulationBasedTraining:
    """Ray Tune's PopulationBasedTraining over ``space``: the leaves at or under the paths in
    ``mutate`` are what it changes in a running trial (resampled from the leaf, or moved by
    its perturbation factors and kept inside the leaf's range); the rest come from the trial
    it copies. ``options``: ``population``'s, and PopulationBasedTraining's own
    (quantile_fraction, ...).
    """
    return population(space, "PBT", **options)


def pb2(space: Space, **options: Any) -> PopulationBasedTraining:
    """Ray Tune's PB2 (population based bandits) over ``space``: as ``pbt``, but a copy's new
    values are chosen by a Gaussian process fitted to how the population's changes paid off,
    within the leaves' ranges. It moves continuous values only: each leaf under ``mutate``
    must be a uniform or log-uniform float.
    """
    return population(space, "PB2", **options)


def population(
    space: Space,
    name: str,
    *,
    mutate: Sequence[str] = ("optim",),
    time_attr: str = "epoch",
    perturbation_interval: int = 2,
    checkpoint_every: int = 1,
    budget: int | None = None,
    **options: Any,
) -> PopulationBasedTraining:
    """PBT or PB2 (``name``) evolving the leaves under ``mutate``. ``checkpoint_every`` (the
    study's) must divide the interval: a trial is copied from the checkpoint it has at a
    perturbation. ``budget`` (the study's epochs): a trial there has ended, and is left as it
    is."""
    chosen = _mutated(space, mutate, perturbation_interval, checkpoint_every, name)
    # Kept inside the leaves' ranges: PBT's factors would leave them, and PB2's float32
    # arithmetic lands a hair outside a bound (9.999999747378752e-05 for 1e-4).
    within = Within(
        {p.path: (p.low, p.high) for p in chosen if p.type not in ("choice", "grid", "normal")}
    )
    common = {"budget": budget, "time_attr": time_attr, "custom_explore_fn": within, **options}
    if name == "PB2":
        other = [p.path for p in chosen if p.type not in ("uniform", "loguniform")]
        if other:
            raise ConfigError(
                "scheduler.mutate",
                f"takes in {', '.join(other)}, which PB2 cannot move (it fits continuous "
                "values within bounds): list only uniform or log-uniform leaves, or use "
                "scheduler=pbt.",
            )
        bounds = {p.path: [p.low, p.high] for p in chosen}
        return PB2(perturbation_interval=perturbation_interval, hyperparam_bounds=bounds, **common)
    return PBT(
        perturbation_interval=perturbation_interval,
        hyperparam_mutations={
            p.path: list(p.values) if p.type in ("choice", "grid") else tune_domain(p)
            for p in chosen
        },
        **common,
    )


def _mutated(
    space: Space,
    mutate: Sequence[str],
    perturbation_interval: int,
    checkpoint_every: int,
    name: str,
) -> list[Any]:
    """The space's leaves at or under ``mutate``, once the study can run population based."""
    if perturbation_interval % checkpoint_every:
        raise ConfigError(
            "study.checkpoint_every",
            f"is {checkpoint_every}; {name} copies the checkpoint a trial has at each "
            f"perturbation (scheduler.perturbation_interval={perturbation_interval}): make it "
            "divide that.",
        )
    if space.conditional:
        raise ConfigError(
            "scheduler",
            f"{name} evolves one set of keys; this space has branches (options with their own "
            "keys): use ASHA, or a space without branches.",
        )
    chosen = [
        p
        for p in space.params
        if not p.path.endswith("_target_")  # another class cannot load the copied state
        and any(p.path == m or p.path.startswith(f"{m}.") for m in mutate)
    ]
    if not chosen:
        raise ConfigError(
            "scheduler.mutate",
            f"{list(mutate)} names no sampled leaf of the space "
            f"({', '.join(p.path for p in space.params)}): list the keys {name} may change "
            "while a trial trains, e.g. scheduler.mutate=[optim].",
        )
    return chosen


class Population:
    """What hpray's population schedulers add to Ray Tune's: a trial at its full budget is
    never perturbed (its new config would be recorded as the trial's without an epoch
    trained on it), and what PBT knows of each trial survives a resume (``trial_states``,
    ``kept``)."""

    def __init__(self, budget: int | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.budget = (kwargs.get("time_attr", "time_total_s"), budget)
        self.kept: dict[str, dict[str, Any]] = {}  # by trial id, from the snapshot resumed

    def trial_states(self) -> dict[str, dict[str, Any]]:
        """What a snapshot keeps of each trial (hpray.driver.scheduler_state)."""
        return internals.pbt_trial_states(self)

    def on_trial_add(self, tune_controller: Any, trial: Any) -> None:
        super().on_trial_add(tune_controller, trial)  # type: ignore[misc]
        if trial.trial_id in self.kept:
            internals.pbt_trial_state_restored(self, trial, self.kept.pop(trial.trial_id))

    def on_trial_result(self, tune_controller: Any, trial: Any, result: dict[str, Any]) -> str:
        attr, budget = self.budget
        if budget is not None and result.get(attr, 0) >= budget:
            return TrialScheduler.CONTINUE
        return str(super().on_trial_result(tune_controller, trial, result))  # type: ignore[misc]


class PBT(Population, PopulationBasedTraining):
    """Ray Tune's PopulationBasedTraining, with ``Population``'s additions."""


class PB2(Population, RayPB2):
    """Ray Tune's PB2, with ``Population``'s additions."""


class Within:
    """PBT's explore step, kept inside the leaves' ranges (its factors would leave them)."""

    def __init__(self, bounds: dict[str, tuple[float, float]]) -> None:
        self.bounds = bounds

    def __call__(self, config: dict[str, Any]) -> dict[str, Any]:
        for key, (low, high) in self.bounds.items():
            if key in config and isinstance(config[key], (int, float)):
                config[key] = type(config[key])(min(max(config[key], low), high))
        return config
