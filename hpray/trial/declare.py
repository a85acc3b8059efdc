"""What a trial function declares of itself, for the driver's checks before Ray starts.

Light on purpose: a trial module imports it without pulling in the built-in trial's torch.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

F_ = TypeVar("F_", bound=Callable[..., Any])


def reports(*metrics: str) -> Callable[[F_], F_]:
    """Declare the metrics a trial function reports, so the driver can check study.metric."""

    def mark(fn: F_) -> F_:
        fn.metrics = metrics  # type: ignore[attr-defined]
        return fn

    return mark


def builds(*groups: str) -> Callable[[F_], F_]:
    """Declare the config groups a trial function builds (``model``, ``data``, ``optim``): the
    driver requires them and builds each option once on the CPU before any trial runs."""

    def mark(fn: F_) -> F_:
        fn.builds = groups  # type: ignore[attr-defined]
        return fn

    return mark
