"""The study's stop rules: a time budget, a value to stop at, a limit on each trial's time.

Ray Tune restores a study's stopper and scheduler from the pickles its first run made, and
those cannot be given new settings; so they read the rules in force for this run from here
(``in_force``, opened by the driver around the fit), and a resumed study obeys the budget,
value and limit of the command that resumed it.

- ``study.trial_timeout``: a trial whose ``time_total_s`` (Ray's count, over its restarts)
  reaches the limit is stopped (``RuleStopper``).
- ``study.stop_at``: once a trial reports the value (or better), every trial is stopped and the
  study is complete (``RuleStopper.stop_all``).
- ``study.time_budget``: once spent, no trial is created or resumed, and each running trial is
  paused at its next report, with that report's checkpoint (``Budgeted``); the trial function
  stores one at that report whatever ``study.checkpoint_every`` says. Paused trials continue
  from it when the study is run again with a larger budget.
"""

from __future__ import annotations

import contextlib
import math
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from ray.tune.result import SHOULD_CHECKPOINT
from ray.tune.schedulers import TrialScheduler
from ray.tune.stopper import Stopper

TIMEOUT = "trial_timeout"
STOP_AT = "stop_at"
TIME_BUDGET = "time_budget"
REPEATED_FAILURE = "repeated_failure"  # the same error again before any trial ended well
STORAGE = "storage"  # the study's storage took no more writes (driver.pause)


@dataclass
class Rules:
    """The stop rules of this run, and what they decided."""

    metric: str
    mode: str
    deadline: float | None = None  # time.time() at which the time budget is spent
    stop_at: float | None = None
    trial_timeout_s: float | None = None
    reached: str | None = None  # the trial that reached stop_at
    stopped_study: str | None = None  # the rule that ended this run (STOP_AT, TIME_BUDGET)
    stopped: dict[str, str] = field(default_factory=dict)  # trial id -> the rule that stopped it
    failure: str | None = None  # the exception that repeated (REPEATED_FAILURE)
    failures: int = 0  # how many times this run

    def spent(self, now: float | None = None) -> bool:
        """The time budget is spent: nothing new starts, running trials pause."""
        return self.deadline is not None and (now or time.time()) >= self.deadline

    def reaches(self, value: Any) -> bool:
        if self.stop_at is None or not isinstance(value, (int, float)) or isinstance(value, bool):
            return False
        if not math.isfinite(value):
            return False
        return value >= self.stop_at if self.mode == "max" else value <= self.stop_at


_now: Rules | None = None


@contextlib.contextmanager
def in_force(rules: Rules) -> Iterator[Rules]:
    """The rules the stopper, the scheduler and the searches obey inside the block."""
    global _now
    _now, previous = rules, _now
    try:
        yield rules
    finally:
        _now = previous


def current() -> Rules | None:
    return _now


def closed() -> bool:
    """No new trial is to be created: the time budget is spent."""
    return _now is not None and _now.spent()


class RuleStopper(Stopper):
    """Stops a trial at ``study.trial_timeout``, and the study at ``study.stop_at``."""

    def __call__(self, trial_id: str, result: dict[str, Any]) -> bool:
        rules = _now
        if rules is None:
            return False
        if rules.reaches(result.get(rules.metric)):
            rules.reached = rules.reached or trial_id
            rules.stopped_study = STOP_AT
            rules.stopped.setdefault(trial_id, STOP_AT)
            return True
        limit = rules.trial_timeout_s
        if limit is not None and float(result.get("time_total_s", 0.0)) >= limit:
            rules.stopped.setdefault(trial_id, TIMEOUT)
            return True
        return False

    def stop_all(self) -> bool:
        return _now is not None and _now.reached is not None


class Budgeted(TrialScheduler):
    """The study's scheduler, which pauses trials and starts none once the budget is spent.

    A trial pauses at a report that stores a checkpoint: one sent just before the budget was
    spent (the trial's clock said not yet) stores none, and a pause there would make the trial
    train that epoch again when it continues; it trains one more epoch instead, whose report
    stores one. A trial that stores no checkpoint at all pauses at its second report after.

    Everything else is the wrapped scheduler's (``inner``: ASHA, FIFO, ...).
    """

    def __init__(self, inner: TrialScheduler) -> None:
        self.inner = inner
        self._let_on: set[str] = set()  # trials given one more report past the budget

    def __getstate__(self) -> dict[str, Any]:
        return {"inner": self.inner}  # what _let_on holds is this run's

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.inner, self._let_on = state["inner"], set()

    @property
    def metric(self) -> str | None:
        return self.inner.metric  # type: ignore[no-any-return]

    @property
    def supports_buffered_results(self) -> bool:
        return bool(self.inner.supports_buffered_results)

    def set_search_properties(self, metric: str | None, mode: str | None, **spec: Any) -> bool:
        return bool(self.inner.set_search_properties(metric, mode, **spec))

    def on_trial_add(self, tune_controller: Any, trial: Any) -> None:
        self.inner.on_trial_add(tune_controller, trial)

    def on_trial_error(self, tune_controller: Any, trial: Any) -> None:
        self.inner.on_trial_error(tune_controller, trial)

    def on_trial_result(self, tune_controller: Any, trial: Any, result: dict[str, Any]) -> str:
        action = str(self.inner.on_trial_result(tune_controller, trial, result))
        if action == TrialScheduler.CONTINUE and closed():
            trial_id = str(getattr(trial, "trial_id", trial))
            if result.get(SHOULD_CHECKPOINT) or trial_id in self._let_on:
                return TrialScheduler.PAUSE  # resumed from this report's checkpoint next run
            self._let_on.add(trial_id)
        return action

    def on_trial_complete(self, tune_controller: Any, trial: Any, result: dict[str, Any]) -> None:
        self.inner.on_trial_complete(tune_controller, trial, result)

    def on_trial_remove(self, tune_controller: Any, trial: Any) -> None:
        self.inner.on_trial_remove(tune_controller, trial)

    def choose_trial_to_run(self, tune_controller: Any) -> Any:
        return None if closed() else self.inner.choose_trial_to_run(tune_controller)

    def debug_string(self) -> str:
        return str(self.inner.debug_string())

    def save(self, checkpoint_path: str) -> None:
        self.inner.save(checkpoint_path)

    def restore(self, checkpoint_path: str) -> None:
        self.inner.restore(checkpoint_path)
