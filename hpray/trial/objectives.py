"""Test functions with known optima, as trials: how well a searcher searches, measured cheaply.

``experiment=branin`` and ``experiment=hartmann6`` run them as ordinary studies (the whole
driver, any searcher); each trial evaluates the function once at its sampled point and reports
``value`` (to minimise) and ``regret`` (value minus the known minimum).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
from omegaconf import DictConfig

from hpray.trial import api
from hpray.trial.declare import reports


def branin(x1: float, x2: float) -> float:
    """Branin-Hoo on [-5, 10] x [0, 15]; minimum 0.397887 at three points.

    Example:
        >>> round(branin(math.pi, 2.275), 6)
        0.397887
    """
    b, c, t = 5.1 / (4 * math.pi**2), 5 / math.pi, 1 / (8 * math.pi)
    return (x2 - b * x1**2 + c * x1 - 6) ** 2 + 10 * (1 - t) * math.cos(x1) + 10


_A = np.array(
    [
        [10, 3, 17, 3.5, 1.7, 8],
        [0.05, 10, 17, 0.1, 8, 14],
        [3, 3.5, 1.7, 10, 17, 8],
        [17, 8, 0.05, 10, 0.1, 14],
    ]
)
_P = 1e-4 * np.array(
    [
        [1312, 1696, 5569, 124, 8283, 5886],
        [2329, 4135, 8307, 3736, 1004, 9991],
        [2348, 1451, 3522, 2883, 3047, 6650],
        [4047, 8828, 8732, 5743, 1091, 381],
    ]
)
_ALPHA = np.array([1.0, 1.2, 3.0, 3.2])


def hartmann6(*x: float) -> float:
    """Hartmann 6-D on [0, 1]^6; minimum -3.32237.

    Example:
        >>> round(hartmann6(0.20169, 0.150011, 0.476874, 0.275332, 0.311652, 0.6573), 5)
        -3.32237
    """
    point = np.asarray(x, dtype=float)
    return float(-np.sum(_ALPHA * np.exp(-np.sum(_A * (point - _P) ** 2, axis=1))))


FUNCTIONS: dict[str, tuple[Callable[..., float], float]] = {
    "branin": (branin, 0.397887),
    "hartmann6": (hartmann6, -3.32237),
}


@reports("value", "regret", "epoch")
def evaluate(cfg: DictConfig) -> None:
    """One trial: the objective at the sampled ``objective.x1, x2, ...``, after
    ``objective.seconds`` (default 0: a trial of that length, for the scale benchmarks).

    Reported once, or with ``study.epochs`` > 1 as a learning curve that ends at it: epoch e
    reports value + (epochs - e) / e, so early stopping has rungs to compare.
    """
    value, regret = point_value(cfg["objective"])
    epochs = int(cfg["study"].get("epochs", 1))
    for epoch in range(1, epochs + 1):
        time.sleep(float(cfg["objective"].get("seconds", 0)) / epochs)
        still = (epochs - epoch) / epoch
        api.report({"value": value + still, "regret": regret + still, "epoch": epoch})


def point_value(objective: Mapping[str, Any]) -> tuple[float, float]:
    """The function named by ``objective.name`` at ``x1, x2, ...``: (value, regret)."""
    function, minimum = FUNCTIONS[str(objective["name"])]
    names = sorted((k for k in objective if k.startswith("x")), key=lambda k: int(k[1:]))
    value = function(*(float(objective[k]) for k in names))
    return value, value - minimum
