"""How many trials run at once: as many as the cluster fits, unless a number is set.

A trial slot is one trial's resource request (``1 CPU + 0 GPU``, ``0.25`` GPU, ...) placed on
one node, so slots are counted node by node. On an autoscaling cluster the nodes it may add
count too (their groups' sizes and limits, as the autoscaler publishes them), so a study asks
for the cluster it can have, not the one that happens to be up.

``SlotLimiter`` holds a searcher (Optuna's) to that count and follows the cluster as it changes;
the driver states the per-trial request with ``asking`` around the fit.
"""

from __future__ import annotations

import contextlib
import math
import time
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from ray.tune.search import ConcurrencyLimiter, Searcher

from hpray import internals

AUTO = "auto"  # searcher.max_concurrent: as many as the cluster fits
RECOUNT_S = 10.0  # the cluster's nodes are read again at most this often
UNBOUNDED = 1 << 20  # no resource and no cap bounds the trials at a time
# The study being fitted: its per-process request (Ray's resource names), cap and processes
# per trial; see `asking`.
_asking: tuple[dict[str, float], int, int] | None = None
_gang_counted = (-RECOUNT_S, 0)  # gang_limit's last count: when (monotonic), and what


@dataclass(frozen=True)
class Count:
    """Trials at a time and why, as the start of a run says it."""

    slots: int  # what the cluster fits (0: nothing bounds it)
    cap: int  # the configured number (0: none)
    source: str  # the key the cap comes from
    autoscaling: bool = False

    @property
    def at_once(self) -> int:
        """The most trials live at once (0: no bound): a number set wins, even above the
        slots (the rest wait pending, which is what asks an autoscaler for nodes)."""
        return self.cap or self.slots

    def describe(self) -> str:
        """E.g. ``2 at a time (study.max_concurrent=2; the cluster fits 8)``."""
        fits = (
            f"the {'autoscaling ' if self.autoscaling else ''}cluster fits {self.slots}"
            if self.slots
            else "no resource bounds them"
        )
        if not self.cap:
            return f"{self.slots or 'as many as start'} at a time ({fits})"
        if self.slots and self.cap > self.slots:
            return f"up to {self.cap} at a time ({self.source}={self.cap}; {fits} now)"
        return f"{self.cap} at a time ({self.source}={self.cap}; {fits})"


def fits(nodes: Iterable[Mapping[str, float]], request: Mapping[str, float]) -> int:
    """How many ``request``s the nodes (each its resources) hold at once; 0: unbounded.

    Example:
        >>> fits([{"CPU": 8, "GPU": 2}, {"CPU": 4}], {"CPU": 1, "GPU": 0.25})
        8
    """
    asked = {name: amount for name, amount in request.items() if amount > 0}
    if not asked:
        return 0
    return sum(
        min(math.floor(node.get(name, 0) / amount + 1e-9) for name, amount in asked.items())
        for node in nodes
    )


def count(request: Mapping[str, float], workers: int = 1) -> tuple[int, bool]:
    """The slots of the running cluster for ``request``, and whether it autoscales.

    Nodes that are up count; on an autoscaling cluster, each node group counts at its largest
    size (an unbounded group leaves the count to the nodes up now). A trial of ``workers``
    processes takes that many ``request``s, on whichever nodes hold them (Ray Train's
    placement strategies are soft: a gang that cannot pack spreads).
    """
    import ray

    live = [node["Resources"] for node in ray.nodes() if node.get("Alive")]
    now = fits(live, request)
    groups = internals.autoscaling_node_groups()
    if not groups or any(size < 0 for _, size in groups):
        return now // workers, bool(groups)
    most = sum(fits([resources], request) * size for resources, size in groups)
    return max(now, most) // workers, True


@contextlib.contextmanager
def asking(request: Mapping[str, float], cap: int, workers: int = 1) -> Iterator[None]:
    """A ``SlotLimiter`` used inside the block counts slots of ``workers`` x ``request`` (per
    trial), or holds ``cap`` (0: none) when set: the running study's settings, also for a
    searcher restored from an earlier run."""
    global _asking, _gang_counted
    _asking, _gang_counted = (dict(request), cap, workers), (-RECOUNT_S, 0)
    try:
        yield
    finally:
        _asking = None


def gang_limit() -> int | None:
    """Trials at a time for a study of gangs (``resources.workers`` > 1), None otherwise.

    A gang's Ray Tune trial asks for no CPU (its workers ask Ray Train for theirs), so Ray
    Tune's own accounting no longer bounds random and grid search: they hold to this.
    """
    global _gang_counted
    if _asking is None or _asking[2] <= 1:
        return None
    request, cap, workers = _asking
    counted_at, limit = _gang_counted
    if time.monotonic() - counted_at >= RECOUNT_S:  # Ray Tune asks many times a second
        limit = Count(0 if cap else count(request, workers)[0], cap, "").at_once or UNBOUNDED
        _gang_counted = (time.monotonic(), limit)
    return limit


class SlotLimiter(ConcurrencyLimiter):
    """Ray Tune's ConcurrencyLimiter at the cluster's slot count, or at ``cap`` when set.

    Bayesian samplers propose from the results so far: a trial asked long before a slot frees
    is proposed from older results, so no more are asked than can run. The count is read again
    (at most every ``RECOUNT_S``) when a trial is asked for, so nodes that join are filled.
    """

    def __init__(self, searcher: Searcher, cap: int = 0) -> None:
        super().__init__(searcher, max_concurrent=cap or 1)
        self.cap = cap
        self._counted_at = 0.0  # wall clock: the limiter is pickled with the study

    def settle(self) -> None:
        """Count now (the driver does, before Ray Tune reads the limit)."""
        self._counted_at = 0.0
        self._recount()

    def suggest(self, trial_id: str) -> dict[str, Any] | None:
        self._recount()
        config = super().suggest(trial_id)
        return plain(config) if isinstance(config, dict) else config

    def _recount(self) -> None:
        if _asking is None or time.time() - self._counted_at < RECOUNT_S:
            return
        self._counted_at = time.time()
        request, self.cap, workers = _asking
        slots = 0 if self.cap else count(request, workers)[0]
        self.max_concurrent = Count(slots, self.cap, "").at_once or UNBOUNDED


def plain(value: Any) -> Any:
    """Numpy scalars (BoTorch's proposals) as Python's: a trial's config goes into OmegaConf,
    params.json and results.csv."""
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    return value.item() if type(value).__module__ == "numpy" and hasattr(value, "item") else value


def limiters(search_alg: Any) -> Iterator[SlotLimiter]:
    """The SlotLimiters a search algorithm wraps (Ray's wrappers each hold ``searcher``)."""
    node = search_alg
    while node is not None:
        if isinstance(node, SlotLimiter):
            yield node
        node = getattr(node, "searcher", None)
