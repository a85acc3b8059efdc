"""The stop rules in the driver: the time budget left to this run, ending the run once it is
spent and the trials running then have paused, and what the rules decided (``stops.json``).

The time a study spends is its runs' time in the fit (Ray's start and the outputs not
counted), kept in ``summary.json`` as ``time_spent_s``. While a study with a time budget runs,
``time_spent.json`` counts it every few seconds, so a run ended by SIGKILL counts too.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import time
from collections.abc import Iterator
from typing import Any

from ray import tune
from ray.tune.experiment import Trial

from hpray.config.schema import StudySettings
from hpray.config.settings import duration_s
from hpray.driver.periodic import every
from hpray.search.rules import STOP_AT, TIME_BUDGET, Rules, current
from hpray.store.layout import read_spent, read_stops, read_summary, write_spent, write_stops
from hpray.store.location import StudyDir


def spent_before(directory: StudyDir) -> float:
    """Seconds the study's earlier runs spent in their fits (a killed one's up to its last
    count)."""
    summary = float((read_summary(directory) or {}).get("time_spent_s", 0.0))
    return max(summary, read_spent(directory))


# How often a run with a time budget counts its time: a kill loses at most this much of it.
COUNT_EVERY_S = 5.0


@contextlib.contextmanager
def counted(directory: StudyDir, rules: Rules, before: float) -> Iterator[None]:
    """Count the block's time, after ``before`` seconds, in time_spent.json every few seconds
    and at its end; only where a time budget is in force."""
    if rules.deadline is None:
        yield
        return
    started = time.monotonic()

    def count() -> float:
        write_spent(directory, before + time.monotonic() - started)
        return COUNT_EVERY_S

    try:
        with every(COUNT_EVERY_S, count, "hpray-time-spent"):
            yield
    finally:
        write_spent(directory, before + time.monotonic() - started)


def left_s(settings: StudySettings, directory: StudyDir) -> float | None:
    """Seconds of ``study.time_budget`` left; None without a budget."""
    budget = duration_s("study.time_budget", settings.time_budget)
    return None if budget is None else budget - spent_before(directory)


def rules_for(settings: StudySettings, directory: StudyDir) -> Rules:
    """This run's rules, its deadline counted from now."""
    left = left_s(settings, directory)
    return Rules(
        metric=settings.metrics[0],  # stop_at is a value of the first
        mode=settings.modes[0],
        deadline=None if left is None else time.time() + left,
        stop_at=settings.stop_at,
        trial_timeout_s=duration_s("study.trial_timeout", settings.trial_timeout),
    )


def spent_line(settings: StudySettings, directory: StudyDir) -> str:
    return (
        f"the study's time budget (study.time_budget={settings.time_budget}) is spent: "
        f"{_clock(spent_before(directory))} in its runs so far; raise study.time_budget and "
        "run the same command again to continue"
    )


# A trial started this close before the time budget was spent may not have begun its function
# by then (it then waits for the run's end, trial.runner.wait_if_late): it is waited for only
# once it reports.
START_SLACK_S = 5.0


class RuleEnd(tune.Callback):
    """Ends the run (as Ray Tune's own SIGUSR1 does, saving the experiment) once the time
    budget is spent and every trial that was training before it has paused at a report;
    notes the trials that ``study.stop_at`` ended."""

    def __init__(self) -> None:
        self._started: dict[str, float] = {}
        self._reported: set[str] = set()
        self._live: list[str] = []
        self._sent = False

    def __getstate__(self) -> dict[str, Any]:
        return {"_started": {}, "_reported": set(), "_live": [], "_sent": False}  # this run's

    def on_trial_start(
        self, iteration: int, trials: list[Trial], trial: Trial, **info: Any
    ) -> None:
        self._started[trial.trial_id] = time.time()

    def on_trial_result(
        self, iteration: int, trials: list[Trial], trial: Trial, result: dict[str, Any], **info: Any
    ) -> None:
        self._reported.add(trial.trial_id)

    def on_step_begin(self, iteration: int, trials: list[Trial], **info: Any) -> None:
        rules = current()
        if rules is not None and rules.stop_at is not None and rules.reached is None:
            # The trials stop_at will end, if it is reached in this step (Ray ends them
            # without telling the callbacks).
            self._live = [t.trial_id for t in trials if not t.is_finished()]

    def on_experiment_end(self, trials: list[Trial], **info: Any) -> None:
        rules = current()
        if rules is not None and rules.reached is not None:
            for trial_id in self._live:
                rules.stopped.setdefault(trial_id, STOP_AT)

    def on_step_end(self, iteration: int, trials: list[Trial], **info: Any) -> None:
        rules = current()
        if self._sent or rules is None or rules.deadline is None or not rules.spent():
            return
        training_by = rules.deadline - START_SLACK_S
        waiting = [
            t
            for t in trials
            if t.status == Trial.RUNNING
            and (t.trial_id in self._reported or self._started.get(t.trial_id, 0.0) < training_by)
        ]
        if not waiting:
            self._sent = True
            rules.stopped_study = TIME_BUDGET
            # Ray's lines for a stop by Ctrl-C would say the study was interrupted: it was not.
            logging.getLogger("ray.tune.tune").addFilter(not_an_interrupt)
            os.kill(os.getpid(), signal.SIGUSR1)


def not_an_interrupt(record: logging.LogRecord) -> bool:
    message = record.getMessage()
    return not message.startswith(
        ("Stop signal received", "Experiment has been interrupted", "Trials did not complete")
    )


def record(directory: StudyDir, rules: Rules) -> None:
    """Add what the rules decided in this run to ``stops.json``."""
    stops = read_stops(directory)
    trials = {**stops.get("trials", {}), **rules.stopped}
    # A spent budget ended this run alone; stop_at ended the study.
    rule = rules.stopped_study or (STOP_AT if stops.get("rule") == STOP_AT else None)
    reached = rules.reached or stops.get("reached")
    failed = {"error": rules.failure, "failures": rules.failures} if rules.failure else {}
    if trials or rule or stops:
        write_stops(directory, {"rule": rule, "reached": reached, "trials": trials, **failed})


def _clock(seconds: float) -> str:
    minutes, secs = divmod(round(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m{secs:02d}s" if hours else f"{minutes}m{secs:02d}s"
