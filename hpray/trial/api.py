"""hpray's trial API: what a trial function calls to report its metrics and resume.

A trial function takes one argument, the study's config with this trial's values applied (an
OmegaConf ``DictConfig``, nested: ``cfg.train.lr``). It calls ``report`` after each epoch, with
the state it needs to continue as ``checkpoint=``, and ``get_checkpoint`` once at its start:
after a kill, a retry or a move to another node it gets back the newest state it reported, and
hpray has already reported the finished epochs again, so no epoch is trained twice.

The runner (``runner.py``) opens a session for each trial; these functions act on it.
"""

from __future__ import annotations

import contextlib
import math
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ray import tune

from hpray.trial import context
from hpray.trial.state import SavedState, TrialState, restore, values_id

if TYPE_CHECKING:
    import torch

__all__ = ["get_checkpoint", "report"]


class TrialStopped(BaseException):
    """Ends the trial function where it stands (a diverged metric); the trial ends normally.

    A BaseException, so that a function's own ``except Exception`` does not swallow it.
    """


@dataclass
class Session:
    """One trial's reporting: the study's metric and budgets, and what has been reported."""

    metric: str | None  # the study's (its first, of several); None: the final retrain
    epochs: int  # the budget: the last epoch always checkpoints
    checkpoint_every: int
    device: torch.device | None  # None: the trial's own (context.trial_device), when needed
    sink: Callable[..., None] = tune.report  # where reports go: Ray Tune, or hpray retrain
    checkpoints: bool = True  # the final retrain stores none
    deadline: float | None = None  # time.time() when the study's time budget is spent
    also: tuple[str, ...] = ()  # the study's other metrics, when it has several objectives
    trial: TrialState = field(default_factory=TrialState)
    reports: int = 0
    copied: bool = False  # resumed from another trial's checkpoint (population based training)
    values: Mapping[str, Any] | None = None  # the trial's sampled values (Ray's trial config)
    judge: bool = True  # its reports are the trial's (False: a rank but 0, checked and dropped)

    def __post_init__(self) -> None:
        # Each checkpoint records which values it was trained with (population based training
        # changes them while the trial runs).
        self.trial.values_id = values_id(self.values)

    @classmethod
    def of(cls, study: Mapping[str, Any], device: torch.device | None, **more: Any) -> Session:
        """The session of a trial of the study whose ``study:`` block is ``study``."""
        metrics = study["metric"]
        metrics = [str(m) for m in metrics] if isinstance(metrics, (list, tuple)) else [metrics]
        gang = context.member()
        if gang is not None:  # a worker of a distributed trial: rank 0's reports are the trial's
            more = {"sink": gang.sink, "judge": gang.rank == 0, **more}
            more["checkpoints"] = more.get("checkpoints", True) and gang.rank == 0
        return cls(
            metric=str(metrics[0]),
            also=tuple(metrics[1:]),
            epochs=int(study["epochs"]),
            checkpoint_every=int(study["checkpoint_every"]),
            device=device,
            **more,
        )

    @property
    def metrics(self) -> list[str]:
        """The study's metrics every report holds (none in the final retrain)."""
        return [] if self.metric is None else [self.metric, *self.also]

    def due(self, epoch: int) -> bool:
        """A checkpoint is stored with this epoch's report: every ``checkpoint_every`` epochs,
        at the last, and once the study's time budget is spent (the trial pauses there, and
        continues from it when the study does)."""
        return (
            epoch % self.checkpoint_every == 0
            or epoch >= self.epochs
            or (self.deadline is not None and time.time() >= self.deadline)
        )

    @property
    def saved(self) -> SavedState:
        return self.trial.saved

    def restore(self) -> None:
        """Load the newest readable checkpoint, reporting its finished epochs again (a worker
        of a distributed trial: the state its lead restored and reported)."""
        gang = context.member()
        if gang is not None:
            self.copied = gang.restored.load(self.trial, self.device, gang.rank)
            return
        self.copied = restore(self.trial, self.device, self.sink)

    def report(
        self,
        metrics: Mapping[str, Any],
        checkpoint: Mapping[str, Any] | None,
        per_rank: bool = False,
    ) -> None:
        values = {str(k): plain_number(v) for k, v in metrics.items()}
        # ASHA counts epochs: the function's own, else its reports since the start.
        values["epoch"] = int(values.get("epoch", self.trial.epoch + 1))
        missing = [m for m in self.metrics if m not in values]
        if missing:
            raise ValueError(
                f"study.metric {missing[0]!r} is not among the reported metrics "
                f"{sorted(values)}: report it, or set study.metric to one of those."
            )
        self.reports += 1
        if not self.judge:  # another rank's: rank 0 judges, stores and reports
            self.trial.epoch = values["epoch"]
            self.trial.history.append(values)
            if per_rank and checkpoint is not None and self.due(values["epoch"]):
                self.saved.state = dict(checkpoint)  # stored beside rank 0's, by the lead
                self._store(values, per_rank)
            return
        if not all(_finite(values[k]) for k in values if k in self.metrics or "loss" in k):
            # Diverged: more epochs cannot help, and the trial must never count as best.
            self.sink({**values, "diverged": True})
            raise TrialStopped(f"{self.metric} or a loss is not finite at epoch {values['epoch']}")
        self.trial.epoch = values["epoch"]
        self.trial.history.append(values)
        if checkpoint is None or not self.checkpoints:
            self.sink(values)
            return
        self.saved.state = dict(checkpoint)
        if not self.due(values["epoch"]):
            self.sink(values)
            return
        self._store(values, per_rank)

    def _store(self, values: dict[str, Any], per_rank: bool) -> None:
        """Report ``values`` with the trial's state as a checkpoint (a worker of a distributed
        trial that stores one per rank says so: the lead then waits for every rank's)."""
        gang = {"per_rank": True} if per_rank and context.member() is not None else {}
        with tempfile.TemporaryDirectory() as directory:
            self.trial.save(directory)
            self.sink(values, checkpoint=tune.Checkpoint.from_directory(directory), **gang)


_current: Session | None = None


@contextlib.contextmanager
def session(opened: Session) -> Iterator[Session]:
    """Make ``opened`` the session ``report`` and ``get_checkpoint`` act on, for the block."""
    global _current
    _current, previous = opened, _current
    try:
        yield opened
    finally:
        _current = previous


def current() -> Session | None:
    """The open session; None outside a trial (an app run on its own, not tuned)."""
    return _current


def report(
    metrics: Mapping[str, Any],
    *,
    checkpoint: Mapping[str, Any] | None = None,
    per_rank: bool = False,
) -> None:
    """Report this epoch's metrics, and the state to resume from (any dict ``torch.save`` takes).

    ``metrics`` holds the study's metric (``study.metric``); ``epoch`` in it is the budget ASHA
    counts (without it, hpray counts reports). The state is stored every
    ``study.checkpoint_every`` reports and at the last epoch. A NaN or infinite metric (or loss)
    ends the trial as ``diverged``: it is never the best. Outside a trial (the same code run on
    its own) it does nothing, so an app calls it unconditionally.

    In a trial of several workers (``resources.workers``) every rank calls it; rank 0's metrics
    are the trial's and its state the one stored, which every rank gets back from
    ``get_checkpoint``. ``per_rank=True`` (on every rank) stores each rank's own state (a
    sharded optimizer's, a rank's RNG) and gives each rank back its own.

    Example:
        >>> import hpray
        >>> def train(cfg):
        ...     state = hpray.get_checkpoint()
        ...     start = 0 if state is None else state["epoch"]
        ...     for epoch in range(start + 1, cfg.study.epochs + 1):
        ...         hpray.report({"val_rmse": 1.0 / epoch, "epoch": epoch},
        ...                      checkpoint={"epoch": epoch})
    """
    if _current is not None:  # outside a trial (the code run on its own) nothing to do
        _current.report(metrics, checkpoint, per_rank)


def get_checkpoint() -> dict[str, Any] | None:
    """The newest state this trial reported, or None on a fresh start.

    Call it once, before training: on a resumed, retried or moved trial it is the state of the
    last checkpoint (and its finished epochs have been reported again). Outside a trial: None.

    Example:
        >>> import hpray
        >>> def train(cfg):
        ...     state = hpray.get_checkpoint() or {"epoch": 0}
        ...     ...  # load the model and optimizer from state, go on after state["epoch"]
    """
    return None if _current is None else _current.saved.state


def plain_number(value: Any) -> Any:
    """A number of numpy or torch as a Python number, so the history stores as JSON."""
    if getattr(value, "ndim", None) == 0 and hasattr(value, "item"):
        return value.item()
    return value


def _finite(value: Any) -> bool:
    return not isinstance(value, (int, float)) or isinstance(value, bool) or math.isfinite(value)
