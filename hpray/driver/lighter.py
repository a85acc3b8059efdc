"""Ray Tune driver work that hpray does not need, and the cuts to it.

A function trainable waits for the driver after every report, so the driver's time per result
is time every trial spends idle. With a checkpoint per epoch of short epochs (the default), two
pieces of Ray Tune's own bookkeeping took most of it on 2 CPUs (benchmarks/overhead.py):

- a forced experiment snapshot whenever one trial has saved ``num_to_keep`` checkpoints since
  the last one (Ray's note on it: a non-performant workaround, so that a snapshot never names a
  checkpoint already deleted). hpray's resume already handles such a snapshot
  (``driver.resume.fill_checkpoint_gaps``, ``trial.state.TrialState.resume``), so snapshots keep to
  their period (``TUNE_GLOBAL_CHECKPOINT_S``) alone;
- an fsync of the trial's TensorBoard file after every result. It is flushed at most every
  2 s instead (the snapshot period, which already bounds what a hard kill keeps from the study
  directory) and when the trial ends.

Ray snapshots the experiment (every trial's state, the searcher's and the scheduler's) at a
fixed period, or, by default, at 19 times what the last snapshot took with a floor of 10 s. A
fixed 2 s rewrote a study of thousands of trials (a 50 MB snapshot) in full every 2 s and took
a quarter of the driver; Ray's 10 s floor lets a small study's hard kill lose 10 s of results.
hpray uses the adaptive period with a floor of ``SNAPSHOT_FLOOR_S``: small studies are
snapshotted every 2 s, large ones at most 5% of the driver's time.

With reused actors, Ray Tune hands a finished trial's actor to a trial whose own new actor is
already starting, and kills the new one; with trials shorter than a process's start that
repeats (internals.no_actor_stealing): the new actor is kept instead.

Before the first trial, Ray's usage telemetry imports the MLflow, W&B, Comet and Aim
integrations to name the callbacks it was given (about a second with mlflow installed, the
driver's single busiest import); the callbacks are not tagged instead.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator
from typing import Any

from ray.tune.logger import TBXLoggerCallback

from hpray import internals

SNAPSHOT_FLOOR_S = 2.0


@contextlib.contextmanager
def lighter_driver() -> Iterator[None]:
    """While the block runs, trial checkpoints never force an experiment snapshot, the
    snapshot period adapts from ``SNAPSHOT_FLOOR_S``, Ray's telemetry does not tag the
    callbacks, and a retried trial keeps the result file the driver wrote for it."""
    with (
        internals.no_forced_snapshots(),
        internals.snapshot_period_from(SNAPSHOT_FLOOR_S),
        internals.no_actor_stealing(),
        internals.no_callback_tagging(),
        internals.result_files_kept(),
    ):
        yield


class TensorBoardLogger(TBXLoggerCallback):
    """Ray Tune's TensorBoard logger, flushing a trial's file at most every ``flush_s``."""

    flush_s = SNAPSHOT_FLOOR_S

    def log_trial_start(self, trial: Any) -> None:
        super().log_trial_start(trial)
        # The instance's flush only: close() at the trial's end still flushes the file.
        writer = internals.trial_writer(self, trial)
        writer.flush = Throttled(writer.flush, self.flush_s)


class Throttled:
    """Calls ``action`` when ``every_s`` seconds have passed since it last ran (or was set up)."""

    def __init__(self, action: Callable[[], None], every_s: float) -> None:
        self.action, self.every_s = action, every_s
        self.last = time.monotonic()  # a trial shorter than every_s is flushed once, at its end

    def __call__(self) -> None:
        now = time.monotonic()
        if now - self.last >= self.every_s:
            self.last = now
            self.action()
