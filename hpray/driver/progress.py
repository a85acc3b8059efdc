"""A one-line progress report while a study runs: trials running/done and the best so far."""

from __future__ import annotations

import math
import sys
import time
from typing import Any

from ray import tune
from ray.tune.experiment import Trial


class Progress(tune.Callback):
    """Prints a line when a trial ends, and at most every ``every_s`` seconds otherwise."""

    def __init__(
        self, metric: str, mode: str, total: int, budget: int, every_s: float = 15.0
    ) -> None:
        self.metric, self.mode, self.total, self.budget = metric, mode, total, budget
        self.every_s = every_s
        self.bests: dict[str, float] = {}  # each trial's best value; diverged trials removed
        self.last_print = time.monotonic()
        self.peak = 0  # most trials seen running at once: shows how the resources packed

    @property
    def best(self) -> tuple[float, str] | None:
        if not self.bests:
            return None
        pick = max if self.mode == "max" else min
        trial_id = pick(self.bests, key=self.bests.__getitem__)
        return self.bests[trial_id], trial_id

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
        self.peak = max(self.peak, sum(t.status == Trial.RUNNING for t in trials))
        if time.monotonic() - self.last_print >= self.every_s:
            self._print(trials)

    def on_trial_complete(
        self, iteration: int, trials: list[Trial], trial: Trial, **info: Any
    ) -> None:
        self._print(trials)

    def on_trial_error(
        self, iteration: int, trials: list[Trial], trial: Trial, **info: Any
    ) -> None:
        self._print(trials)

    def on_experiment_end(self, trials: list[Trial], **info: Any) -> None:
        print(f"[hpray] ran up to {self.peak} trials at a time", file=sys.stderr, flush=True)

    def _print(self, trials: list[Trial]) -> None:
        self.last_print = time.monotonic()
        done = [t for t in trials if t.status in (Trial.TERMINATED, Trial.ERROR)]
        stopped = sum(
            t.status == Trial.TERMINATED and (t.last_result or {}).get("epoch", 0) < self.budget
            for t in done
        )
        errored = sum(t.status == Trial.ERROR for t in done)
        running = sum(t.status == Trial.RUNNING for t in trials)
        best = (
            f"best {self.metric}={self.best[0]:.4f} (trial {self.best[1]})"
            if self.best
            else "no result yet"
        )
        print(
            f"[hpray] {len(done)}/{max(self.total, len(trials))} done "
            f"({stopped} stopped early, {errored} errored), "
            f"{running} running | {best}",
            file=sys.stderr,
            flush=True,
        )
