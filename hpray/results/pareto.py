"""Several objectives: the Pareto front of a study's trials and the best among it."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from hpray.results.trials import TrialRow


def mark_front(rows: Sequence[TrialRow], objectives: Sequence[tuple[str, str]]) -> None:
    """Set ``pareto`` on the trials no other beats: as good in every objective (final values)
    and better in one. Diverged and errored trials, and those missing a value, are never on it.
    """
    scored = [
        r
        for r in rows
        if not r.failed
        and all(
            v is not None and math.isfinite(v) for v in (r.values.get(m) for m, _ in objectives)
        )
    ]
    if not scored:
        return
    sign = np.array([-1.0 if mode == "max" else 1.0 for _, mode in objectives])
    points = np.array([[r.values[m] for m, _ in objectives] for r in scored]) * sign  # minimise
    for start in range(0, len(points), 256):  # (256, n, k) at a time: thousands of trials
        chunk = points[start : start + 256, None, :]
        beaten = ((points[None] <= chunk).all(-1) & (points[None] < chunk).any(-1)).any(-1)
        for row, lost in zip(scored[start : start + 256], beaten, strict=True):
            row.pareto = not bool(lost)


def front_best(rows: Sequence[TrialRow], metric: str, mode: str) -> TrialRow | None:
    """The trial on the Pareto front with the best final value of the first objective."""
    front = [r for r in rows if r.pareto]
    if not front:
        return None
    pick = max if mode == "max" else min
    return pick(front, key=lambda r: r.values[metric] or 0.0)
