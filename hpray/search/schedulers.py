"""Trial schedulers: Ray Tune's, with what hpray's trials need of them."""

from __future__ import annotations

from typing import Any

from ray.tune.schedulers import ASHAScheduler as RayASHA
from ray.tune.schedulers import TrialScheduler


class ASHAScheduler(RayASHA):
    """Ray Tune's ASHA, except that a trial at its full budget is never stopped.

    Stopping it there saves no epoch, but it would cut off the trial function's own code
    after training (an app saving its model or scoring its test data), and Ray's ASHA stops a
    trial below the cut at a rung that falls on ``max_t`` (``max_t / grace_period`` a power
    of ``reduction_factor``). The result still counts in that rung.
    """

    def __init__(self, time_attr: str = "epoch", max_t: int = 100, **kwargs: Any) -> None:
        kwargs.pop("stop_last_trials", None)
        super().__init__(time_attr=time_attr, max_t=max_t, stop_last_trials=False, **kwargs)
        self.budget = (time_attr, max_t)

    def on_trial_result(self, tune_controller: Any, trial: Any, result: dict[str, Any]) -> str:
        action = super().on_trial_result(tune_controller, trial, result)
        attr, max_t = self.budget
        return TrialScheduler.CONTINUE if result.get(attr, 0) >= max_t else action
