"""Warm starts: configurations to evaluate first (``study.enqueue``) and the finished trials of
an earlier study for the searcher to learn from (``study.warm_start``).

Both go into the Optuna study that Ray Tune's OptunaSearch then loads: finished trials as
complete Optuna trials, with the parameters this space shares with theirs; configurations to
evaluate first as Optuna's enqueued trials, which the sampler hands out before its own (a
partial one has the rest sampled). Random search takes its configurations to evaluate first
through Ray Tune's ``points_to_evaluate``.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import optuna

from hpray.errors import ConfigError
from hpray.space import Space
from hpray.space.leaves import Param

ENQUEUE_KEY = "study.enqueue"
WARM_KEY = "study.warm_start"
FIXED_COLUMNS = ("trial_id", "status", "epochs", "stop_reason")  # results.csv's, not parameters
USED = ("completed", "early_stopped")  # what a trial showed before it ended, as ASHA's are told


@dataclass
class Known:
    """The finished trials of an earlier study, as this space sees them."""

    source: str
    trials: list[tuple[dict[str, Any], list[float]]] = field(default_factory=list)  # values
    shared: list[str] = field(default_factory=list)  # parameters both spaces have
    left_out: list[str] = field(default_factory=list)  # the earlier study's, not in this space

    def describe(self) -> str:
        out = f"; not in this space: {', '.join(self.left_out)}" if self.left_out else ""
        return (
            f"warm start: {len(self.trials)} finished trials of {self.source} "
            f"(shared parameters: {', '.join(self.shared) or 'none'}{out})"
        )


def flat(point: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """A configuration as config paths: ``{"optim": {"lr": 0.1}}`` -> ``{"optim.lr": 0.1}``."""
    out: dict[str, Any] = {}
    for key, value in point.items():
        if isinstance(value, Mapping):
            out.update(flat(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out


def enqueued(space: Space, points: Sequence[Any]) -> list[dict[str, Any]]:
    """``study.enqueue`` as config paths, each value checked against the space's leaf."""
    leaves = {p.path: p for p in space.all_params()}
    out = []
    for index, point in enumerate(points):
        where = f"{ENQUEUE_KEY}[{index}]"
        if not isinstance(point, Mapping) or not point:
            raise ConfigError(
                where,
                f"must be a configuration: a mapping of the space's keys to values, e.g. "
                f"{{{next(iter(leaves), 'optim.lr')}: ...}}; got {point!r}.",
            )
        values = flat(point)
        for path, value in values.items():
            leaf = leaves.get(path)
            if leaf is None:
                raise ConfigError(
                    f"{where}.{path}",
                    f"is not a key of the search space; its keys are {', '.join(leaves)}.",
                )
            problem = outside(leaf, value)
            if problem:
                raise ConfigError(f"{where}.{path}", f"{value!r} is outside the space: {problem}.")
        out.append(values)
    return out


def outside(leaf: Param, value: Any) -> str:
    """Why ``value`` is not one the leaf can take; empty when it can."""
    if leaf.type in ("choice", "grid"):
        return "" if value in leaf.values else f"its choices are {list(leaf.values)}"
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        return f"{leaf.path} takes a number"
    if leaf.type == "normal":
        return ""
    if leaf.type == "int" and not float(value).is_integer():
        return f"{leaf.path} takes a whole number"
    if not leaf.low <= value <= leaf.high:
        return f"{leaf.path} ranges from {leaf.low:g} to {leaf.high:g}"
    return ""


def known(
    space: Space, rows: Iterable[Mapping[str, str]], metrics: Sequence[str], source: str
) -> Known:
    """The finished trials among an earlier study's results.csv ``rows``, with the values this
    space can take of the parameters both studies have (read from text, as results.csv has
    them) and their final value of each metric; trials without a finite one are left out."""
    leaves = {p.path: p for p in space.all_params()}
    found = Known(source)
    theirs: set[str] = set()
    for row in rows:
        names = [k for k in row if k not in FIXED_COLUMNS and not k.startswith(("final_", "best_"))]
        theirs.update(names)
        try:
            values = [float(row.get(f"final_{metric}", "")) for metric in metrics]
        except ValueError:
            continue
        if row.get("status") not in USED or not all(math.isfinite(v) for v in values):
            continue
        params = {}
        for name in names:
            parsed = _parse(leaves[name], row[name]) if name in leaves and row[name] else None
            if parsed is not None and not outside(leaves[name], parsed):
                params[name] = parsed
        if params:
            found.trials.append((params, values))
    found.shared = sorted(theirs & set(leaves))
    found.left_out = sorted(theirs - set(leaves))
    return found


def _parse(leaf: Param, text: str) -> Any:
    """A results.csv cell as the leaf's value; None when it is not one."""
    if leaf.type in ("choice", "grid"):
        return next((v for v in leaf.values if str(v) == text), None)
    try:
        number = float(text)
    except ValueError:
        return None
    return int(number) if leaf.type == "int" and number.is_integer() else number


def optuna_start(
    storage: optuna.storages.BaseStorage,
    study_name: str,
    mode: str | Sequence[str],
    distributions: Mapping[str, optuna.distributions.BaseDistribution],
    seen: Known | None,
    first: Sequence[Mapping[str, Any]],
) -> None:
    """Put the finished trials and the configurations to evaluate first into the Optuna study
    ``study_name`` of ``storage``, unless it has trials already (a study kept in a database,
    resumed)."""
    modes = [mode] if isinstance(mode, str) else list(mode)
    study = optuna.create_study(
        storage=storage,
        study_name=study_name,
        directions=["maximize" if m == "max" else "minimize" for m in modes],
        load_if_exists=True,
    )
    if study.trials:
        return
    for params, values in seen.trials if seen else ():
        study.add_trial(
            optuna.trial.create_trial(
                params=params,
                distributions={k: distributions[k] for k in params},
                values=values,
            )
        )
    for point in first:
        study.enqueue_trial(dict(point))
