"""One search-space leaf: its YAML forms, their validation, and the parsed parameter.

A leaf is a mapping whose ``type`` is one of ``LEAF_FIELDS`` (``{type: loguniform, low: 1e-4,
high: 0.1}``); ``space.py`` walks a space and hands each leaf here.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from hpray.errors import ConfigError

BRANCH = "branch"  # the one other `type`: a choice among options (see space.py)

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
    where: str = ""  # the key it is written at, when not space.<path> (inside a branch)

    @property
    def key(self) -> str:
        """The config key the user writes to change this leaf."""
        return self.where or f"space.{self.path}"

    def example(self) -> Any:
        """One value this leaf can take (its lowest), to build a trial before any is run."""
        if self.type in ("choice", "grid"):
            return self.values[0]
        if self.type == "normal":
            return self.mean
        return int(self.low) if self.type == "int" else self.low

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


def parse_leaf(path: str, node: Mapping[str, Any]) -> Param:
    key = f"space.{path}"
    kind = node["type"]
    if kind not in LEAF_FIELDS:
        raise ConfigError(
            f"{key}.type", f"unknown type {kind!r}; use one of {sorted(LEAF_FIELDS)} or {BRANCH}."
        )
    required, optional = LEAF_FIELDS[kind]
    for name in node:
        if name != "type" and name not in required + optional:
            allowed = ", ".join(required + optional)
            raise ConfigError(
                f"{key}.{name}", f"not a field of a {kind} leaf (it takes: {allowed})."
            )
    for name in required:
        if node.get(name) is None:
            raise ConfigError(f"{key}.{name}", f"a {kind} leaf needs {name}.")
    q = node.get("q")
    if q is not None and not (_is_number(q) and q > 0):
        raise ConfigError(
            f"{key}.q", f"the quantization step must be a positive number, got {q!r}."
        )
    if kind in ("choice", "grid"):
        values = node["values"]
        if isinstance(values, str) or not isinstance(values, Sequence) or len(values) == 0:
            raise ConfigError(f"{key}.values", "needs a non-empty list, e.g. values=[32,64,128].")
        return Param(path, kind, values=tuple(plain(v) for v in values))
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


def plain(value: Any) -> Any:
    # Lists arrive as OmegaConf ListConfig when parsed from a DictConfig; Ray wants plain values.
    if isinstance(value, Sequence) and not isinstance(value, str):
        return [plain(v) for v in value]
    return value
