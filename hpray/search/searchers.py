"""Searcher factories: each turns the parsed space into a Ray Tune search plan.

Config options in ``conf/searcher/`` name these by ``_target_`` with ``_partial_: true``; the
driver calls them with the parsed space, the study's trial count, its concurrency limit
(0: none), and its metric and mode.

A space with branches is sampled define-by-run, through Optuna (its samplers take a space
whose parameters depend on earlier choices); grid search enumerates its branches' grids.
"""

from __future__ import annotations

import pickle
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import optuna
from ray import tune
from ray.tune.search import ConcurrencyLimiter, SearchAlgorithm, Searcher
from ray.tune.search.optuna import OptunaSearch

from hpray.errors import ConfigError
from hpray.search.grow import AmendableSearchGenerator, AmendableVariants, Variants
from hpray.search.slots import AUTO, SlotLimiter
from hpray.search.warm import ENQUEUE_KEY, WARM_KEY, Known, enqueued, optuna_start
from hpray.space import Space, grid_points, grid_size
from hpray.space.leaves import Param

optuna.logging.set_verbosity(optuna.logging.WARNING)  # not a line per study it creates


@dataclass
class SearchPlan:
    """What the Tuner needs from a searcher."""

    search_alg: SearchAlgorithm | Searcher
    num_samples: int
    param_space: dict[str, Any] = field(default_factory=dict)
    description: str = ""
    cap: int = 0  # trials at a time at most (0: as many as the cluster fits), set by cap_key
    cap_key: str = "study.max_concurrent"


def random_search(
    space: Space,
    *,
    num_samples: int,
    limit: int,
    metric: str,
    mode: str,
    seed: int,
    enqueue: Sequence[Any] = (),
    seen: Known | None = None,
) -> SearchPlan:
    """Independent draws from every leaf; the same seed gives the same configurations.
    ``enqueue``: configurations to run first (counted in ``num_samples``)."""
    if seen is not None:
        raise ConfigError(
            WARM_KEY,
            "random search does not learn from finished trials; use searcher=bayes or "
            "searcher=gp to start from an earlier study's.",
        )
    first = enqueued(space, enqueue)
    if space.conditional:  # Optuna's random sampler walks the branches a draw picks
        searcher = define_by_run(
            space,
            metric,
            mode,
            optuna.samplers.RandomSampler(seed=seed),
            **_started(space, mode, None, first),
        )
        return SearchPlan(
            AmendableSearchGenerator(
                ConcurrencyLimiter(searcher, max_concurrent=limit) if limit > 0 else searcher
            ),
            num_samples,
            {},
            f"random search over branches (Optuna's RandomSampler), {num_samples} trials, "
            f"seed {seed}",
            limit,
        )
    params = space.params
    return SearchPlan(
        AmendableVariants(max_concurrent=limit, random_state=seed, points_to_evaluate=first),
        num_samples,
        {p.path: tune_domain(p) for p in params},
        f"random search, {num_samples} trials, seed {seed}",
        limit,
    )


def grid_search(
    space: Space,
    *,
    num_samples: int,
    limit: int,
    metric: str,
    mode: str,
    repeats: int = 1,
    enqueue: Sequence[Any] = (),
    seen: Known | None = None,
) -> SearchPlan:
    """Every combination of the discrete leaves, ``repeats`` times (num_samples does not apply)."""
    del num_samples, metric, mode  # the grid's size decides the trial count; order is fixed
    if enqueue or seen is not None:
        raise ConfigError(
            ENQUEUE_KEY if enqueue else WARM_KEY,
            "grid search runs every combination of the grid, in order; configurations to run "
            "first and earlier trials are for searcher=random, bayes or gp.",
        )
    if repeats < 1:
        raise ConfigError("searcher.repeats", f"must be >= 1, got {repeats}.")
    if space.conditional:  # Ray's grid is a product of axes; branches are a sum of grids
        points = grid_points(space)  # raises, naming the leaf, on a continuous one
        return SearchPlan(
            AmendableSearchGenerator(GridPoints(points * repeats, limit)),
            len(points) * repeats,
            {},
            f"grid search over branches, {len(points)} combinations x {repeats} = "
            f"{len(points) * repeats} trials",
            limit,
        )
    params = space.params
    size = grid_size(params)  # raises, naming the leaf, on a continuous one
    return SearchPlan(
        Variants(max_concurrent=limit),
        repeats,
        {p.path: tune.grid_search(p.grid_values()) for p in params},
        f"grid search, {size} combinations x {repeats} = {size * repeats} trials",
        limit,
    )


def optuna_search(
    space: Space,
    *,
    num_samples: int,
    limit: int,
    metric: str,
    mode: str,
    sampler: optuna.samplers.BaseSampler,
    max_concurrent: int | str = AUTO,
    storage: str | None = None,
    study_name: str | None = None,
    enqueue: Sequence[Any] = (),
    seen: Known | None = None,
) -> SearchPlan:
    """Optuna's sampler through Ray Tune's OptunaSearch, as many trials at a time as the
    cluster fits (``max_concurrent: auto``), or at most a number.

    A trial is asked for only when a slot can run it (``SlotLimiter``): one asked earlier would
    be proposed from older results. Pending trials reach the sampler as running ones (TPE's
    constant liar; the GP sampler conditions on them), so proposals made together differ.
    ``storage`` (an Optuna database URL) keeps the Optuna study there too, as ``study_name``.
    ``enqueue``: configurations the sampler hands out first; ``seen``: an earlier study's
    finished trials, which the sampler learns from before it proposes.
    """
    cap, cap_key = limit, "study.max_concurrent"
    if max_concurrent != AUTO:
        if not isinstance(max_concurrent, int) or max_concurrent < 1:
            raise ConfigError(
                "searcher.max_concurrent",
                f"must be {AUTO} (as many as the cluster fits) or a number >= 1, "
                f"got {max_concurrent!r}.",
            )
        if not limit or max_concurrent < limit:
            cap, cap_key = max_concurrent, "searcher.max_concurrent"
    if not space.all_params():
        raise ConfigError("space", "Bayesian search needs at least one sampled leaf in the space.")
    kept: dict[str, Any] = {}
    if storage:
        kept = {"storage": optuna.storages.RDBStorage(storage), "study_name": study_name}
    kept = _started(space, mode, seen, enqueued(space, enqueue), **kept)
    if space.conditional:
        searcher = define_by_run(space, metric, mode, sampler, **kept)
    else:
        # Metric and mode go in here: OptunaSearch given its own space ignores TuneConfig's.
        searcher = OptunaSearch(
            space={p.path: optuna_distribution(p) for p in space.params},
            metric=metric,
            mode=mode,
            sampler=sampler,
            **kept,
        )
    return SearchPlan(
        AmendableSearchGenerator(SlotLimiter(searcher, cap)),
        num_samples,
        {},
        f"{type(sampler).__name__}, {num_samples} trials",
        cap,
        cap_key,
    )


def _started(
    space: Space,
    mode: str,
    seen: Known | None,
    first: Sequence[Mapping[str, Any]],
    **kept: Any,
) -> dict[str, Any]:
    """OptunaSearch's storage arguments, its Optuna study holding ``seen`` and ``first``
    (in memory unless ``kept`` names a database)."""
    if seen is None and not first:
        return kept
    storage = kept.get("storage") or optuna.storages.InMemoryStorage()
    name = kept.get("study_name") or "hpray"
    distributions = {p.path: optuna_distribution(p) for p in space.all_params()}
    optuna_start(storage, name, mode, distributions, seen, first)
    if seen is not None:
        print(f"[hpray] {seen.describe()}", file=sys.stderr)
    return {"storage": storage, "study_name": name}


def define_by_run(
    space: Space, metric: str, mode: str, sampler: optuna.samplers.BaseSampler, **kept: Any
) -> OptunaSearch:
    """Ray Tune's OptunaSearch asking ``sampler`` for each trial's branches and leaves."""
    first: dict[str, Param] = {}
    for param in space.every_param():
        dist = optuna_distribution(param)  # refuses, naming the key, a leaf Optuna cannot sample
        seen = first.setdefault(param.path, param)
        if dist != optuna_distribution(seen) and param.type in ("choice", "grid"):
            raise ConfigError(
                param.key,
                f"offers other choices for {param.path} than {seen.key} does; Optuna samples "
                "one key from one set of choices: give both the same values (or use "
                "searcher=grid, which runs each option's own values).",
            )
    return OptunaSearch(space=Suggest(space), metric=metric, mode=mode, sampler=sampler, **kept)


@dataclass
class Suggest:
    """The define-by-run space: picks each branch's option, then samples only that option.

    A plain object holding the parsed space, so Ray can pickle the searcher with it.
    """

    space: Space

    def __call__(self, trial: optuna.Trial) -> None:
        self._walk(self.space, trial)

    def _walk(self, space: Space, trial: optuna.Trial) -> None:
        for param in space.params:
            dist = optuna_distribution(param)
            if isinstance(dist, optuna.distributions.CategoricalDistribution):
                trial.suggest_categorical(param.path, dist.choices)
            elif isinstance(dist, optuna.distributions.IntDistribution):
                trial.suggest_int(param.path, dist.low, dist.high, step=dist.step, log=dist.log)
            else:
                assert isinstance(dist, optuna.distributions.FloatDistribution)
                trial.suggest_float(param.path, dist.low, dist.high, step=dist.step, log=dist.log)
        for branch in space.branches:
            name = trial.suggest_categorical(branch.path, list(branch.options))
            self._walk(branch.options[str(name)].space, trial)


class GridPoints(Searcher):
    """Hands out a list of configurations in order, at most ``limit`` running (0: no limit)."""

    def __init__(self, points: list[dict[str, Any]], limit: int = 0) -> None:
        super().__init__()
        self.points, self.limit = points, limit
        self.next, self.running = 0, 0

    def set_search_properties(
        self, metric: str | None, mode: str | None, config: dict[str, Any], **spec: Any
    ) -> bool:
        return True  # the points are the space; metric and mode do not change them

    def suggest(self, trial_id: str) -> dict[str, Any] | None:
        if self.next >= len(self.points):
            return Searcher.FINISHED  # type: ignore[return-value]  # Ray's "no more" marker
        if self.limit and self.running >= self.limit:
            return None  # asked again when a trial finishes
        self.next, self.running = self.next + 1, self.running + 1
        return dict(self.points[self.next - 1])

    def on_trial_complete(
        self, trial_id: str, result: dict[str, Any] | None = None, error: bool = False
    ) -> None:
        self.running = max(0, self.running - 1)

    def save(self, checkpoint_path: str) -> None:
        with open(checkpoint_path, "wb") as f:
            pickle.dump(self.__dict__, f)

    def restore(self, checkpoint_path: str) -> None:
        with open(checkpoint_path, "rb") as f:
            self.__dict__.update(pickle.load(f))


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
