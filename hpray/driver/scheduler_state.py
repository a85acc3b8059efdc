"""Keeps the trial scheduler's decisions in the experiment's snapshots.

Ray Tune restores trials and the searcher on resume, not the scheduler: ASHA would come back
with empty rungs and judge resumed trials against nothing. Callback state is saved with every
experiment snapshot and handed back on restore, so this callback carries the scheduler's state.
"""

from __future__ import annotations

import pickle
from typing import Any

from ray import tune
from ray.tune.schedulers import TrialScheduler


class SchedulerState(tune.Callback):
    """Saves ``scheduler``'s attributes (ASHA: its rungs) and puts them back on restore."""

    def __init__(self, scheduler: TrialScheduler) -> None:
        self.scheduler = scheduler

    def get_state(self) -> dict[str, Any] | None:
        return {"scheduler": pickle.dumps(self.scheduler.__dict__)}

    def set_state(self, state: dict[str, Any]) -> None:
        self.scheduler.__dict__.update(pickle.loads(state["scheduler"]))
