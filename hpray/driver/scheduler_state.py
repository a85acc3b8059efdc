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
        # What is kept per Trial object (PBT's trial states) is rebuilt as the restored trials
        # are added again; copies of those objects would be trials that never report. A
        # scheduler that needs it back keeps it by trial id, as ``kept``.
        kept = {k: v for k, v in self.scheduler.__dict__.items() if not _by_trial(v)}
        by_id = getattr(self.scheduler, "trial_states", None)
        if by_id is not None:
            kept["kept"] = by_id()
        return {"scheduler": pickle.dumps(kept)}

    def set_state(self, state: dict[str, Any]) -> None:
        self.scheduler.__dict__.update(pickle.loads(state["scheduler"]))


def _by_trial(value: Any) -> bool:
    return isinstance(value, dict) and any(hasattr(key, "trial_id") for key in value)
