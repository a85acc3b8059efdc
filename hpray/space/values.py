"""A trial's values applied to the study config, and the values a space can give.

A trial's values map dotted config paths to what was sampled; a branch's path maps to the name
of the option picked (``{"model": "random_forest", "model.max_depth": 7}``).
"""

from __future__ import annotations

import copy
import math
from collections.abc import Mapping, Sequence
from typing import Any

from hpray.errors import ConfigError
from hpray.space.leaves import Param
from hpray.space.tree import CONDITIONAL, Space, parse_space


def apply(base: Mapping[str, Any], values: Mapping[str, Any]) -> dict[str, Any]:
    """A copy of ``base`` with each dotted path set to its value: a trial's config.

    When the space has branches (``base`` then holds it), each branch's path first becomes
    the node of the option the values pick, with that option's ``_with_`` values.
    """
    out = copy.deepcopy(dict(base))
    tree = out.pop(CONDITIONAL, None)
    picked: set[str] = set()
    if tree is not None:
        picked = _pick(parse_space(tree), values, out)
    for path, value in values.items():
        if path not in picked:
            _set(out, path, value)
    return out


def _pick(space: Space, values: Mapping[str, Any], out: dict[str, Any]) -> set[str]:
    picked = set()
    for branch in space.branches:
        name = values.get(branch.path)
        if name not in branch.options:
            raise ConfigError(
                branch.key, f"a trial picked {name!r}, not one of {sorted(branch.options)}."
            )
        option = branch.options[name]
        _set(out, branch.path, copy.deepcopy(option.node))
        for path, value in option.space.fixed.items():
            _set(out, path, copy.deepcopy(value))
        picked |= {branch.path} | _pick(option.space, values, out)
    return picked


def _set(config: dict[str, Any], path: str, value: Any) -> None:
    *parents, last = path.split(".")
    node = config
    for part in parents:
        node = node[part]
    node[last] = value


def trial_base(config: Mapping[str, Any]) -> dict[str, Any]:
    """The config every trial starts from: the space's fixed values applied, the space gone.

    A conditional space stays in it (under ``_space_``): ``apply`` needs its options' nodes.
    """
    parsed = parse_space(config["space"])
    base = apply({k: v for k, v in config.items() if k != "space"}, parsed.fixed)
    if parsed.conditional:
        base[CONDITIONAL] = copy.deepcopy(dict(config["space"]))
    return base


def grid_size(params: Sequence[Param]) -> int:
    """How many combinations grid search enumerates (raises on a continuous leaf)."""
    return math.prod(len(p.grid_values()) for p in params)


def examples(space: Space) -> list[dict[str, Any]]:
    """A few trials' values between which every option of every branch is picked once.

    Example:
        >>> s = parse_space({"m": {"type": "branch", "options": {
        ...     "a": {"_target_": "A"}, "b": {"_target_": "B"}}}, "x": {"type": "choice",
        ...     "values": [3, 4]}})
        >>> examples(s)
        [{'x': 3, 'm': 'a'}, {'x': 3, 'm': 'b'}]
    """
    found = [{p.path: p.example() for p in space.params}]
    for branch in space.branches:
        alternatives = [
            {branch.path: name, **sub}
            for name, option in branch.options.items()
            for sub in examples(option.space)
        ]
        count = max(len(found), len(alternatives))
        found = [
            {**found[i % len(found)], **alternatives[i % len(alternatives)]} for i in range(count)
        ]
    return found


def grid_points(space: Space) -> list[dict[str, Any]]:
    """Every combination grid search runs: each branch's options, each with its own grid.

    Example:
        >>> s = parse_space({"m": {"type": "branch", "options": {
        ...     "a": {"_target_": "A", "k": {"type": "choice", "values": [1, 2]}},
        ...     "b": {"_target_": "B"}}}})
        >>> grid_points(s)
        [{'m': 'a', 'm.k': 1}, {'m': 'a', 'm.k': 2}, {'m': 'b'}]
    """
    points: list[dict[str, Any]] = [{}]
    for param in space.params:
        points = [{**point, param.path: v} for point in points for v in param.grid_values()]
    for branch in space.branches:
        alternatives = [
            {branch.path: name, **sub}
            for name, option in branch.options.items()
            for sub in grid_points(option.space)
        ]
        points = [{**point, **alt} for point in points for alt in alternatives]
    return points
