"""Progress while a study runs: trials done, stopped, errored and running, and the best so far.

A few lines a minute however many trials end: a line when a trial ends at most every
``gap_s`` seconds, and every ``every_s`` seconds otherwise; in an interactive terminal, a bar
(tqdm) redrawn in place instead.
"""

from __future__ import annotations

import math
import sys
import time
from typing import Any

from ray import tune
from ray.tune.experiment import Trial

from hpray.results.table import number
from hpray.search.rules import REPEATED_FAILURE, STORAGE, TIME_BUDGET, current

REDRAW_S = 0.5  # a terminal's bar


class Progress(tune.Callback):
    """Prints a line when a trial ends (at most every ``gap_s``), else every ``every_s``."""

    def __init__(
        self,
        metric: str,
        mode: str,
        total: int,
        budget: int,
        every_s: float = 30.0,
        gap_s: float = 5.0,
    ) -> None:
        self.metric, self.mode, self.total, self.budget = metric, mode, total, budget
        self.every_s, self.gap_s = every_s, gap_s
        self._bar: Any = None  # a tqdm bar when stderr is a terminal; never pickled
        self.bests: dict[str, float] = {}  # each trial's best value; diverged, errored removed
        self.last_print = time.monotonic()
        self.peak = 0  # most trials seen running at once: shows how the resources packed
        self._running: set[Trial] = set()  # never pickled

    @property
    def best(self) -> tuple[float, str] | None:
        if not self.bests:
            return None
        pick = max if self.mode == "max" else min
        trial_id = pick(self.bests, key=self.bests.__getitem__)
        return self.bests[trial_id], trial_id

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "_bar": None, "_running": set()}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update({"_running": set(), **state})  # a study's older pickle lacks it

    def get_state(self) -> dict[str, Any] | None:
        return {"bests": dict(self.bests), "peak": self.peak}

    def set_state(self, state: dict[str, Any]) -> None:
        self.bests, self.peak = dict(state["bests"]), int(state["peak"])

    def on_trial_result(
        self, iteration: int, trials: list[Trial], trial: Trial, result: dict[str, Any], **info: Any
    ) -> None:
        value = result.get(self.metric)
        if result.get("diverged"):
            self.bests.pop(trial.trial_id, None)
        elif isinstance(value, (int, float)) and math.isfinite(value):
            old = self.bests.get(trial.trial_id)
            if old is None or (value > old if self.mode == "max" else value < old):
                self.bests[trial.trial_id] = float(value)
        self._count_running(trial)
        self._show(trials, self.every_s)

    def on_trial_start(
        self, iteration: int, trials: list[Trial], trial: Trial, **info: Any
    ) -> None:
        self._count_running(trial)

    def _count_running(self, trial: Trial) -> None:
        """The peak from the trials seen running, rechecked: a cost of the trials running,
        not of the study's size (a study of thousands ends a trial many times a second)."""
        self._running.add(trial)
        # Ray Tune calls on_trial_start just before it marks the trial RUNNING.
        self._running = {t for t in self._running if t is trial or t.status == Trial.RUNNING}
        self.peak = max(self.peak, len(self._running))

    def on_trial_complete(
        self, iteration: int, trials: list[Trial], trial: Trial, **info: Any
    ) -> None:
        self._show(trials, self.gap_s)

    def on_trial_error(
        self, iteration: int, trials: list[Trial], trial: Trial, **info: Any
    ) -> None:
        self.bests.pop(trial.trial_id, None)  # failed for good: never the best (as the summary)
        self._show(trials, self.gap_s)

    def on_experiment_end(self, trials: list[Trial], **info: Any) -> None:
        rules = current()
        if rules is not None and rules.stopped_study == TIME_BUDGET:
            # Ray has stopped the paused and the waiting trials by now: they are not done.
            print("[hpray] the time budget is spent; trials pause", file=sys.stderr, flush=True)
        elif rules is None or rules.stopped_study not in (REPEATED_FAILURE, STORAGE):
            self._show(trials, 0.0)  # else the driver says why, and Ray's stop is no end
        if self._bar is not None:
            self._bar.close()
            self._bar = None
        print(f"[hpray] ran up to {self.peak} trials at a time", file=sys.stderr, flush=True)

    def _show(self, trials: list[Trial], after_s: float) -> None:
        if sys.stderr.isatty():
            if time.monotonic() - self.last_print >= min(after_s, REDRAW_S):
                self._draw(trials)
        elif time.monotonic() - self.last_print >= after_s:
            self._print(trials)

    def _draw(self, trials: list[Trial]) -> None:
        from tqdm import tqdm  # a terminal's bar, redrawn in place at most a few times a second

        self.last_print = time.monotonic()
        if self._bar is None:
            self._bar = tqdm(total=max(self.total, len(trials)), file=sys.stderr, unit="trial")
        done, stopped, errored, running, best = self._counts(trials)
        self._bar.total = max(self.total, len(trials))
        self._bar.n = done
        self._bar.set_postfix_str(
            f"{stopped} stopped early, {errored} errored, {running} running | {best}"
        )  # redraws: at most every REDRAW_S

    def _counts(self, trials: list[Trial]) -> tuple[int, int, int, int, str]:
        done = [t for t in trials if t.status in (Trial.TERMINATED, Trial.ERROR)]
        stopped = sum(
            # One with no result was ended before it ran (study.stop_at): not stopped early.
            t.status == Trial.TERMINATED and 0 < (t.last_result or {}).get("epoch", 0) < self.budget
            for t in done
        )
        errored = sum(t.status == Trial.ERROR for t in done)
        running = sum(t.status == Trial.RUNNING for t in trials)
        best = (
            f"best {self.metric}={number(self.best[0])} (trial {self.best[1]})"
            if self.best
            else "no result yet"
        )
        return len(done), stopped, errored, running, best

    def _print(self, trials: list[Trial]) -> None:
        self.last_print = time.monotonic()
        done, stopped, errored, running, best = self._counts(trials)
        print(
            f"[hpray] {done}/{max(self.total, len(trials))} done "
            f"({stopped} stopped early, {errored} errored), {running} running | {best}",
            file=sys.stderr,
            flush=True,
        )
