"""The search-space YAML: parsing, validation, and conversion for each searcher.

A leaf is a mapping whose ``type`` is one of ``LEAF_FIELDS``; any other mapping nests, and any
other value is fixed. Paths are dotted keys into the composed config (``optim.lr``).
"""

from __future__ import annotations

import copy
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from hpray.errors import ConfigError

# Fields each leaf type takes: required, then optional.
LEAF_FIELDS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "choice": (("values",), ()),
    "grid": (("values",), ()),  # same as choice: a value list that grid search enumerates
    "uniform": (("low", "high"), ("q",)),
    "loguniform": (("low", "high"), ("q",)),
    "int": (("low", "high"), ("log", "q")),
    "normal": (("mean", "std"), ("q",)),
}
DISCRETE = ("choice", "grid", "int")


@dataclass(frozen=True)
class Param:
    """One sampled hyperparameter: its config path, distribution type and arguments."""

    path: str
    type: str
    values: tuple[Any, ...] = ()
    low: float = 0.0
    high: float = 0.0
    log: bool = False
    q: float | None = None
    mean: float = 0.0
    std: float = 1.0

    @property
    def key(self) -> str:
        """The config key the user writes to change this leaf."""
        return f"space.{self.path}"

    def grid_values(self) -> list[Any]:
        """Every value grid search takes for this leaf, in order."""
        if self.type in ("choice", "grid"):
            return list(self.values)
        if self.type == "int":
            return list(range(int(self.low), int(self.high) + 1, int(self.q or 1)))
        raise ConfigError(
            self.key,
            f"grid search needs discrete leaves, but this one is continuous ({self.type}). "
            "Make it a choice (e.g. {type: choice, values: [...]}), fix it to one value, "
            "or pick another searcher (searcher=random).",
        )


def parse(space: Mapping[str, Any]) -> tuple[dict[str, Any], list[Param]]:
    """Split a space into fixed values and sampled parameters, validating every leaf.

    Example:
        >>> fixed, params = parse({"optim": {"lr": {"type": "loguniform", "low": 1e-4,
        ...     "high": 0.1}, "momentum": 0.9}})
        >>> fixed, [p.path for p in params]
        ({'optim.momentum': 0.9}, ['optim.lr'])
    """
    fixed: dict[str, Any] = {}
    params: list[Param] = []
    _walk(space, "", fixed, params)
    return fixed, params


def _is_leaf(node: Any) -> bool:
    return isinstance(node, Mapping) and isinstance(node.get("type"), str)


def _walk(node: Mapping[str, Any], prefix: str, fixed: dict[str, Any], params: list[Param]) -> None:
    for name, value in node.items():
        path = f"{prefix}{name}"
        if _is_leaf(value):
            params.append(_leaf(path, value))
        elif isinstance(value, Mapping) and value:
            _walk(value, f"{path}.", fixed, params)
        else:
            fixed[path] = value


def _leaf(path: str, node: Mapping[str, Any]) -> Param:
    key = f"space.{path}"
    kind = node["type"]
    if kind not in LEAF_FIELDS:
        raise ConfigError(
            f"{key}.type", f"unknown type {kind!r}; use one of {sorted(LEAF_FIELDS)}."
        )
    required, optional = LEAF_FIELDS[kind]
    for field in node:
        if field != "type" and field not in required + optional:
            allowed = ", ".join(required + optional)
            raise ConfigError(
                f"{key}.{field}", f"not a field of a {kind} leaf (it takes: {allowed})."
            )
    for field in required:
        if node.get(field) is None:
            raise ConfigError(f"{key}.{field}", f"a {kind} leaf needs {field}.")
    q = node.get("q")
    if q is not None and not (_is_number(q) and q > 0):
        raise ConfigError(
            f"{key}.q", f"the quantization step must be a positive number, got {q!r}."
        )
    if kind in ("choice", "grid"):
        values = node["values"]
        if isinstance(values, str) or not isinstance(values, Sequence) or len(values) == 0:
            raise ConfigError(f"{key}.values", "needs a non-empty list, e.g. values=[32,64,128].")
        return Param(path, kind, values=tuple(_plain(v) for v in values))
    if kind == "normal":
        mean, std = node["mean"], node["std"]
        _need_number(f"{key}.mean", mean)
        _need_number(f"{key}.std", std)
        if std <= 0:
            raise ConfigError(f"{key}.std", f"must be > 0, got {std}.")
        return Param(path, kind, mean=float(mean), std=float(std), q=q)
    low, high = node["low"], node["high"]
    _need_number(f"{key}.low", low)
    _need_number(f"{key}.high", high)
    if low >= high:
        raise ConfigError(f"{key}", f"low ({low}) must be less than high ({high}).")
    log = bool(node.get("log", False)) or kind == "loguniform"
    if log and low <= 0:
        raise ConfigError(f"{key}.low", f"a log-scale range needs low > 0, got {low}.")
    if kind == "int":
        for field in ("low", "high") + (("q",) if q is not None else ()):
            if not float(node[field]).is_integer():
                raise ConfigError(
                    f"{key}.{field}", f"an int leaf needs whole numbers, got {node[field]}."
                )
        return Param(path, kind, low=int(low), high=int(high), log=log, q=int(q) if q else None)
    return Param(path, kind, low=float(low), high=float(high), log=log, q=q)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _need_number(key: str, value: Any) -> None:
    if not _is_number(value):
        raise ConfigError(key, f"must be a finite number, got {value!r}.")


def _plain(value: Any) -> Any:
    # Lists arrive as OmegaConf ListConfig when parsed from a DictConfig; Ray wants plain values.
    if isinstance(value, Sequence) and not isinstance(value, str):
        return [_plain(v) for v in value]
    return value


def check_paths(params: Sequence[Param], fixed: Mapping[str, Any], base: Mapping[str, Any]) -> None:
    """Every space key must name an existing key of the composed config."""
    for path in [p.path for p in params] + list(fixed):
        node: Any = base
        for part in path.split("."):
            if not isinstance(node, Mapping) or part not in node:
                raise ConfigError(
                    f"space.{path}",
                    f"'{path}' is not a key of the composed config, so a sampled value would "
                    "change nothing. Check the spelling against `hpray tune --cfg job`.",
                )
            node = node[part]


def apply(base: Mapping[str, Any], values: Mapping[str, Any]) -> dict[str, Any]:
    """A copy of ``base`` with each dotted path set to its value: a trial's config."""
    out = copy.deepcopy(dict(base))
    for path, value in values.items():
        *parents, last = path.split(".")
        node = out
        for part in parents:
            node = node[part]
        node[last] = value
    return out


def grid_size(params: Sequence[Param]) -> int:
    """How many combinations grid search enumerates (raises on a continuous leaf)."""
    return math.prod(len(p.grid_values()) for p in params)
