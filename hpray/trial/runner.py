"""The Ray Tune trainable that runs a trial function written on hpray's API.

Ray calls it with the trial's sampled values and the study's base config; it applies the values,
opens the trial's session (resuming from its newest checkpoint), and calls the function named by
``trainable`` with the whole config as a DictConfig. What the function returns, if anything, is
its final metrics: a mapping, or a number for the study's metric.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from omegaconf import OmegaConf

from hpray import space
from hpray.config.locate import locate
from hpray.trial.api import Session, TrialStopped, plain_number, report, session

if TYPE_CHECKING:
    import torch

# How long a trial started after the time budget was spent waits for the driver to end the
# run before it trains after all (to its first report, where it is paused). Short: on a
# loaded machine an actor the driver saw start in time may begin its function only after
# the deadline, and the driver then waits for that trial's report (a 420 s hang, seen).
LATE_WAIT_S = 30.0


def run(config: dict[str, Any], base: dict[str, Any], deadline: float | None = None) -> None:
    """One trial: ``base`` (the study config) with the sampled ``config`` values applied;
    ``deadline`` is when the study's time budget is spent."""
    wait_if_late(deadline)
    # Ray logs a line per persisted checkpoint at INFO; one per epoch drowns the progress.
    logging.getLogger("ray.train").setLevel(logging.WARNING)
    cfg = space.apply(base, config)
    function = locate("trainable", str(cfg["trainable"]))
    # The device is found when a checkpoint is loaded: a function that never touches torch
    # runs without importing it (a trial process then starts in a fraction of the time).
    opened = Session.of(cfg["study"], None, deadline=deadline, values=config)
    in_session(opened, lambda: function(OmegaConf.create(cfg)))


def wait_if_late(deadline: float | None) -> None:
    """A trial queued before the time budget was spent and started after it trains nothing:
    it waits for the driver to end the run, and starts afresh when the study continues."""
    if deadline is not None and time.time() >= deadline:
        time.sleep(max(0.0, deadline + LATE_WAIT_S - time.time()))


def in_session(opened: Session, call: Callable[[], Any]) -> None:
    """``call`` the trial's function inside its session, resumed from its newest checkpoint;
    what it returns is reported as its final metrics when it reported nothing itself."""
    metrics = opened.metrics
    with session(opened):
        opened.restore()
        try:
            returned = call()
        except TrialStopped:
            return
        # A function that reported has its last report as its final value (an app returns
        # it once more at its end, maybe one metric of several); one that did not reports
        # what it returns, at the budget.
        if opened.trial.history:
            return
        final = final_metrics(returned, metrics)
        if final is None and metrics:  # no retry or other trial would report it either
            raise ValueError(
                f"study.metric {metrics[0]!r} was never reported: the trial function reported "
                "nothing and returned nothing. Report it each epoch (hpray.report) or return it."
            )
        if final is not None:
            report({"epoch": opened.epochs, **final})


def run_final(
    function: Callable[..., Any], cfg: dict[str, Any], device: torch.device
) -> dict[str, Any]:
    """The final retrain of a trial function, outside Ray: ``function(cfg, final=True)`` trains
    on training + validation data and reports the test data's metrics; they are returned.

    Its reports are kept here, not sent to Ray Tune, and no checkpoint is stored.
    """
    reported: list[dict[str, Any]] = []
    opened = Session.of(
        cfg["study"],
        device,
        sink=lambda metrics, **_: reported.append(dict(metrics)),
        checkpoints=False,
    )
    # The final fit reports test metrics, not study.metric; a bare number is its test value.
    tested = f"test_{opened.metric.removeprefix('val_')}" if opened.metric else "test_value"
    opened.metric = None
    returned = None
    with session(opened), contextlib.suppress(TrialStopped):  # diverged: its report says so
        returned = function(OmegaConf.create(cfg), final=True)
    return {**(reported[-1] if reported else {}), **(final_metrics(returned, tested) or {})}


def final_metrics(returned: Any, metrics: str | Sequence[str]) -> dict[str, Any] | None:
    """What a trial function returned, as metrics: a mapping as it is, a number as the metric,
    a sequence of numbers as the study's metrics in order (Hydra's Optuna sweeper's way with
    several objectives).

    Example:
        >>> final_metrics(0.93, "val_acc"), final_metrics({"val_acc": 0.9}, "val_acc")
        ({'val_acc': 0.93}, {'val_acc': 0.9})
        >>> final_metrics((0.9, 1200), ["val_acc", "params"])
        {'val_acc': 0.9, 'params': 1200.0}
    """
    names = [metrics] if isinstance(metrics, str) else list(metrics)
    if returned is None:
        return None
    if isinstance(returned, Mapping):
        return dict(returned)
    if isinstance(returned, (list, tuple)) and len(returned) == len(names) > 1:
        values = [plain_number(v) for v in returned]
        if all(_number(v) for v in values):
            return {name: float(v) for name, v in zip(names, values, strict=True)}
    returned = plain_number(returned)  # a numpy or torch scalar (Lightning's logged metrics)
    if _number(returned) and len(names) == 1:
        return {names[0]: float(returned)}
    raise TypeError(
        f"the trial function returned {type(returned).__name__}; return nothing, "
        + (
            f"a number (the study's metric, {names[0]})"
            if len(names) == 1
            else f"a sequence of {len(names)} numbers (the study's metrics, {', '.join(names)})"
        )
        + ", or a mapping of metrics."
    )


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)
