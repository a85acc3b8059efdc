"""Searcher factories: each turns the parsed space into a Ray Tune search plan.

Config options in ``conf/searcher/`` name these by ``_target_`` with ``_partial_: true``; the
driver calls them with the space, the study's trial count, its concurrency limit (0: none),
and its metric and mode.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import optuna
from ray import tune
from ray.tune.search import BasicVariantGenerator, ConcurrencyLimiter, SearchAlgorithm, Searcher
from ray.tune.search.optuna import OptunaSearch

from hpray.amend import AmendableSearchGenerator, AmendableVariants
from hpray.errors import ConfigError
from hpray.space import Param, grid_size


@dataclass
class SearchPlan:
    """What the Tuner needs from a searcher."""

    search_alg: SearchAlgorithm | Searcher
    num_samples: int
    param_space: dict[str, Any] = field(default_factory=dict)
    description: str = ""


def random_search(
    params: Sequence[Param], *, num_samples: int, limit: int, metric: str, mode: str, seed: int
) -> SearchPlan:
    """Independent draws from every leaf; the same seed gives the same configurations."""
    return SearchPlan(
        AmendableVariants(max_concurrent=limit, random_state=seed),
        num_samples,
        {p.path: tune_domain(p) for p in params},
        f"random search, {num_samples} trials, seed {seed}",
    )


def grid_search(
    params: Sequence[Param],
    *,
    num_samples: int,
    limit: int,
    metric: str,
    mode: str,
    repeats: int = 1,
) -> SearchPlan:
    """Every combination of the discrete leaves, ``repeats`` times (num_samples does not apply)."""
    del num_samples, metric, mode  # the grid's size decides the trial count; order is fixed
    if repeats < 1:
        raise ConfigError("searcher.repeats", f"must be >= 1, got {repeats}.")
    size = grid_size(params)  # raises, naming the leaf, on a continuous one
    return SearchPlan(
        BasicVariantGenerator(max_concurrent=limit),
        repeats,
        {p.path: tune.grid_search(p.grid_values()) for p in params},
        f"grid search, {size} combinations x {repeats} = {size * repeats} trials",
    )


def optuna_search(
    params: Sequence[Param],
    *,
    num_samples: int,
    limit: int,
    metric: str,
    mode: str,
    sampler: optuna.samplers.BaseSampler,
    max_concurrent: int = 2,
) -> SearchPlan:
    """Optuna's sampler through Ray Tune's OptunaSearch, with at most ``max_concurrent`` pending.

    Bayesian samplers propose from the history; many pending trials at once mean proposals from
    the same history, so the limit keeps parallel search from collapsing onto near-duplicates.
    """
    if max_concurrent < 1:
        raise ConfigError("searcher.max_concurrent", f"must be >= 1, got {max_concurrent}.")
    if not params:
        raise ConfigError("space", "Bayesian search needs at least one sampled leaf in the space.")
    concurrent = min(max_concurrent, limit) if limit > 0 else max_concurrent
    # Metric and mode go in here: OptunaSearch given its own space ignores TuneConfig's.
    searcher = OptunaSearch(
        space={p.path: optuna_distribution(p) for p in params},
        metric=metric,
        mode=mode,
        sampler=sampler,
    )
    return SearchPlan(
        AmendableSearchGenerator(ConcurrencyLimiter(searcher, max_concurrent=concurrent)),
        num_samples,
        {},
        f"{type(sampler).__name__}, {num_samples} trials, {concurrent} at a time",
    )


def tune_domain(p: Param) -> Any:
    """The Ray Tune domain of a leaf. Int ranges are inclusive of ``high``, as in the YAML."""
    if p.type in ("choice", "grid"):
        return tune.choice(list(p.values))
    if p.type == "normal":
        return tune.qrandn(p.mean, p.std, p.q) if p.q else tune.randn(p.mean, p.std)
    if p.type == "int":
        low, high = int(p.low), int(p.high)
        if p.log:  # lograndint excludes its upper bound; qlograndint includes it
            return tune.qlograndint(low, high, int(p.q)) if p.q else tune.lograndint(low, high + 1)
        return tune.qrandint(low, high, int(p.q)) if p.q else tune.randint(low, high + 1)
    if p.log:
        return tune.qloguniform(p.low, p.high, p.q) if p.q else tune.loguniform(p.low, p.high)
    return tune.quniform(p.low, p.high, p.q) if p.q else tune.uniform(p.low, p.high)


def optuna_distribution(p: Param) -> optuna.distributions.BaseDistribution:
    """The Optuna distribution of a leaf; says which leaves Optuna cannot sample."""
    unsupported = None
    if p.type == "normal":
        unsupported = "Optuna's samplers have no normal distribution"
    elif p.log and p.q and not (p.type == "int" and p.q == 1):
        unsupported = "Optuna cannot quantize a log-scale range"
    elif p.type in ("choice", "grid") and not all(
        v is None or isinstance(v, (bool, int, float, str)) for v in p.values
    ):
        unsupported = "Optuna's choices must be numbers, strings, booleans or null"
    if unsupported:
        raise ConfigError(
            p.key,
            f"{unsupported}. Change this leaf (e.g. uniform/loguniform), or use searcher=random.",
        )
    if p.type in ("choice", "grid"):
        return optuna.distributions.CategoricalDistribution(list(p.values))
    if p.type == "int":
        return optuna.distributions.IntDistribution(
            int(p.low), int(p.high), log=p.log, step=int(p.q or 1)
        )
    return optuna.distributions.FloatDistribution(p.low, p.high, log=p.log, step=p.q)
