"""An hparams_search written for Hydra's Optuna sweeper, read as hpray's settings and space.

Apps tuned with Hydra's Optuna sweeper describe their space as ``params:`` entries in Hydra's
own grammar: ``choice(...)``, ``range(...)``, ``interval(...)``, ``tag(log, interval(...))``.
Each becomes the hpray leaf with the meaning Hydra's Optuna sweeper gives it, so an
``hparams_search`` file written for that sweeper means the same study here:

- ``choice(a, b)``: a choice of the values;
- ``range(start, stop, step)``: whole numbers from ``start`` to ``stop``, ``stop`` included (as
  Optuna's integer distribution takes it); with a float, a quantized uniform; ``shuffle(...)``
  of a range: a choice of its values;
- ``interval(low, high)``: uniform between them (Hydra reads its bounds as floats); whole
  numbers with ``int(interval(...))``; with the ``log`` tag, on a log scale;
- a plain value: fixed.

Keys stay dotted config paths (``model.optimizer.lr``), as in the app's config.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.core.override_parser.types import (
    ChoiceSweep,
    IntervalSweep,
    Override,
    RangeSweep,
    Transformer,
)
from hydra.errors import HydraException

from hpray.errors import ConfigError

WHERE = "hydra.sweeper.params"


def space_from_params(params: Mapping[str, Any], where: str = WHERE) -> dict[str, Any]:
    """The hpray space (nested by the keys' dots) of a sweeper's ``params``.

    Example:
        >>> space_from_params({"model.lr": "tag(log, interval(1e-4, 1e-1))",
        ...                    "model.units": "choice(32, 64)", "trainer.epochs": 5})
        ... # doctest: +NORMALIZE_WHITESPACE
        {'model': {'lr': {'type': 'loguniform', 'low': 0.0001, 'high': 0.1},
                   'units': {'type': 'choice', 'values': [32, 64]}},
         'trainer': {'epochs': 5}}
    """
    parser = OverridesParser.create()
    space: dict[str, Any] = {}
    for key, text in params.items():
        try:
            override = parser.parse_override(f"{key}={text}")
        except HydraException as err:
            raise ConfigError(f"{where}.{key}", f"{text!r} is not Hydra's grammar: {err}") from err
        put(space, str(key), leaf(override, f"{where}.{key}"), f"{where}.{key}")
    return space


def put(tree: dict[str, Any], path: str, value: Any, key: str) -> None:
    """Set ``path`` (dotted) in ``tree``, making the nodes on the way; ``key`` names it in an
    error (a path given twice, or one inside another's value)."""
    node = tree
    *parents, last = path.split(".")
    for part in parents:
        node = node.setdefault(part, {})
        if not isinstance(node, dict):
            raise ConfigError(key, "sets a key inside another key's value.")
    if last in node:
        raise ConfigError(key, "is given twice (space and params name the same key).")
    node[last] = value


def leaf(override: Override, key: str) -> Any:
    """The hpray leaf (or fixed value) of one parsed override."""
    if not override.is_sweep_override():
        return override.value()
    value = override.value()
    if isinstance(value, ChoiceSweep) or (isinstance(value, RangeSweep) and value.shuffle):
        values = list(override.sweep_iterator(transformer=Transformer.identity))
        return {"type": "choice", "values": values}
    if isinstance(value, RangeSweep):
        start, stop, step = value.start, value.stop, value.step
        if any(isinstance(v, float) for v in (start, stop, step)):
            return {"type": "uniform", "low": start, "high": stop, "q": step}
        whole = {"type": "int", "low": int(start), "high": int(stop)}  # type: ignore[arg-type]
        return whole if step == 1 else {**whole, "q": int(step)}
    if isinstance(value, IntervalSweep):
        low, high, log = value.start, value.end, "log" in value.tags
        if isinstance(low, int) and isinstance(high, int):
            return {"type": "int", "low": low, "high": high, **({"log": True} if log else {})}
        return {"type": "loguniform" if log else "uniform", "low": low, "high": high}
    raise ConfigError(
        key,
        f"{override.input_line!r}: hpray takes choice(...), range(...) and interval(...) "
        "(with tag(log, ...)), as Hydra's Optuna sweeper does; write the search as one of them.",
    )


GRID = "optuna.samplers.GridSampler"  # needs its grid up front: hpray's grid search enumerates it


def settings_from_sweeper(node: Mapping[str, Any], where: str = "hydra.sweeper") -> dict[str, Any]:
    """hpray's study settings, searcher and space from an Optuna sweeper's keys.

    ``direction`` is ``study.mode``, ``n_trials`` ``study.num_samples``, ``n_jobs`` the trials
    run at once (``study.max_concurrent``), ``study_name`` ``study.name``; ``sampler`` (an Optuna
    sampler's ``_target_`` and arguments) runs through hpray's Optuna searcher (a grid sampler:
    hpray's grid search); ``params`` is the space.

    Example:
        >>> settings = settings_from_sweeper({"direction": "minimize", "n_trials": 20,
        ...     "n_jobs": 4, "study_name": "mnist", "params": {"model.lr": "interval(0.1, 1)"},
        ...     "sampler": {"_target_": "optuna.samplers.TPESampler", "seed": 1}})
        >>> settings["study"], settings["searcher"]["sampler"]["seed"]
        ({'mode': 'min', 'num_samples': 20, 'max_concurrent': 4, 'name': 'mnist'}, 1)
    """
    study: dict[str, Any] = {}
    direction = node.get("direction")
    if direction is not None:
        several = isinstance(direction, (list, tuple))
        directions = list(direction) if several else [direction]
        if not directions or any(d not in ("minimize", "maximize") for d in directions):
            raise ConfigError(
                f"{where}.direction",
                f"must be minimize or maximize, or a list of them (one per metric of "
                f"{where}.study.metric), got {direction!r}.",
            )
        modes = ["min" if d == "minimize" else "max" for d in directions]
        study["mode"] = modes if several else modes[0]
    for key, setting in (("n_trials", "num_samples"), ("n_jobs", "max_concurrent")):
        if node.get(key) is not None:
            study[setting] = node[key]
    if node.get("study_name"):
        study["name"] = str(node["study_name"])
    if node.get("custom_search_space"):
        raise ConfigError(
            f"{where}.custom_search_space",
            "hpray does not call a search-space function; write the space in params (or as a "
            "space with branches, see the README's 'Search spaces').",
        )
    settings: dict[str, Any] = {"study": study}
    sampler = node.get("sampler")
    if sampler:
        target = str(sampler.get("_target_", ""))
        if target == GRID:
            settings["searcher"] = {"_target_": "hpray.search.searchers.grid_search"}
        else:
            settings["searcher"] = {
                "_target_": "hpray.search.searchers.optuna_search",
                "sampler": {k: v for k, v in sampler.items() if k != "search_space"},
            }
        settings["searcher"]["_partial_"] = True
    if node.get("params"):
        settings["space"] = space_from_params(node["params"], f"{where}.params")
    return settings
