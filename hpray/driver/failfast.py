"""Trial failures: each one line on the terminal; one that repeats before any trial
succeeds ends the run instead of being retried.

A failure is said once, as the exception's type and message, with where its traceback is
(the trial's ``error.txt``) and whether Ray tries the trial again; Ray's own report of it, the
whole traceback, is turned off (``TUNE_PRINT_ALL_TRIAL_ERRORS=0``, ``driver.tuner``).

``study.max_failures`` retries a trial that failed where others succeeded, or that lost its
node. An error every trial meets at once (a bug, a metric the function never reports, a file
that is not there) would be retried that many times over, each trial running in full; so, while
no trial has ended well, the second failure with the same exception (its type and message)
ends the run, as Ray Tune's own SIGUSR1 does: the experiment saved, the study resumable by the
same command once the cause is fixed. A report without the study's metric ends it at the first.
A lost worker or node is never counted: it says nothing about the next try. Nor is a write
the storage refused (a full disk): the study pauses on it at once (driver.pause).
"""

from __future__ import annotations

import logging
import os
import signal
import sys
from collections import Counter
from pathlib import Path
from typing import Any

from ray import tune
from ray.tune.experiment import Trial

from hpray import internals
from hpray.driver.budget import not_an_interrupt
from hpray.driver.pause import pause
from hpray.results.failures import exception_line
from hpray.search.rules import REPEATED_FAILURE, current
from hpray.store import full
from hpray.store.layout import ERROR_FILE

REPEATS = 2  # the same exception this many times, and no trial ended well: the run ends
AT_ONCE = ("ValueError: study.metric ",)  # the trial API's refusal of a report: no retry helps
# Ray's exceptions for a lost worker or node (and its OOM killer): the next try may well pass.
LOST = (
    "ActorDiedError",
    "RayActorError",
    "NodeDiedError",
    "WorkerCrashedError",
    "OutOfMemory",
    "WorkerHealthCheckFailedError",  # Ray Train's, for a worker of a distributed trial
)
RAY_PREFIXES = ("ray.exceptions.", "ray.")


class RepeatedFailure(tune.Callback):
    """Counts this run's trial failures by their exception; ends the run on a repeat."""

    def __init__(self) -> None:
        self._seen: Counter[str] = Counter()
        self._sent = False

    def __getstate__(self) -> dict[str, Any]:
        return {"_seen": Counter(), "_sent": False}  # this run's

    def on_trial_recover(
        self, iteration: int, trials: list[Trial], trial: Trial, **info: Any
    ) -> None:
        self._failed(trials, trial, "tried again")

    def on_trial_error(
        self, iteration: int, trials: list[Trial], trial: Trial, **info: Any
    ) -> None:
        self._failed(trials, trial, "failed for good")

    def _failed(self, trials: list[Trial], trial: Trial, then: str) -> None:
        error = last_error(trial)
        print(
            f"[hpray] trial {trial.trial_id} failed, {then}: {error or 'see its error.txt'}"
            f" (the traceback: {trial.path}/{ERROR_FILE})",
            file=sys.stderr,
            flush=True,
        )
        if error and full.fault_text(error, str(Path(str(trial.path)).parent.parent)):
            internals.forgive_failure(trial)  # the storage's fault, not the trial's
            pause(error)
            return
        rules = current()
        if self._sent or rules is None or any(t.status == Trial.TERMINATED for t in trials):
            return
        if not error or any(name in error.split(":", 1)[0] for name in LOST):
            return
        self._seen[error] += 1
        if self._seen[error] >= REPEATS or error.startswith(AT_ONCE):
            self._sent = True
            rules.stopped_study = REPEATED_FAILURE
            rules.failure = error
            rules.failures = self._seen[error]
            logging.getLogger("ray.tune.tune").addFilter(not_an_interrupt)
            os.kill(os.getpid(), signal.SIGUSR1)  # Ray Tune saves the experiment and returns


def last_error(trial: Trial) -> str:
    """The exception of the trial's latest failure, on one line ("" if Ray wrote none)."""
    path = trial.error_file
    if not path or not Path(path).is_file():
        return ""
    last = Path(path).read_text(errors="replace").rsplit("Failure # ", 1)[-1]
    line = exception_line(last)
    for prefix in RAY_PREFIXES:  # Ray's wrapper names its own exceptions with their module
        line = line.removeprefix(prefix)
    return line
