"""A gang's placement group removed once its lead is gone, however it went.

Ray Train's controller makes the placement group a gang's workers run in, and a placement group
lives as long as the job (the study's driver) that made it, not as long as the actor: a lead
that Ray Tune stops (ASHA) or kills takes its controller with it before the controller removes
the group, which then holds the gang's CPUs and GPUs for the rest of the study; later trials
wait for them for ever. Ray Train's own cleaner asks Ray's state API (the dashboard) whether the
controller lives; hpray's local Ray has no dashboard. The janitor asks the lead itself: a call
to a dead actor fails at once. It is detached, so that it outlives the lead, and ends itself.
"""

from __future__ import annotations

import contextlib
import threading
from typing import Any

import ray
from ray.util.placement_group import PlacementGroup

CHECK_S = 1.0


class Janitor:
    def __init__(self, lead: Any) -> None:
        self.lead = lead
        self.groups: list[Any] = []
        self.finished = threading.Event()
        threading.Thread(target=self._watch, name="hpray-janitor", daemon=True).start()

    def watch(self, group_id: str) -> None:
        """The placement group a run of the gang got (rank 0 says so at its start, as its
        runtime context gives it: ``get_current_placement_group`` is None in Ray Train's
        workers, which do not capture their child tasks)."""
        self.groups.append(PlacementGroup(ray.PlacementGroupID(bytes.fromhex(group_id))))

    def done(self) -> None:
        """The lead ended as it should: whatever its controller left is removed, then the
        janitor goes."""
        self.finished.set()
        self._remove()
        ray.actor.exit_actor()

    def _watch(self) -> None:
        asked = None
        while not self.finished.is_set():
            asked = asked or self.lead.__ray_ready__.remote()
            ready, _ = ray.wait([asked], timeout=CHECK_S)
            if not ready:
                continue  # busy (a long epoch), or its death is on its way
            try:
                ray.get(ready[0])
            except ray.exceptions.RayActorError:
                self._remove()
                ray.get_runtime_context().current_actor.done.remote()
                return
            asked = None
            self.finished.wait(CHECK_S)

    def _remove(self) -> None:
        for group in self.groups:
            state = ray.util.placement_group_table(group).get("state")
            if state not in (None, "REMOVED"):
                with contextlib.suppress(Exception):  # removed meanwhile
                    ray.util.remove_placement_group(group)
        self.groups.clear()


def start_janitor() -> Any:
    """A janitor for the calling lead (an actor: Ray Tune's trial). Outside the trial's
    placement group, which would take it along when Ray Tune removes the group."""
    lead = ray.get_runtime_context().current_actor
    janitor = ray.remote(Janitor).options(
        num_cpus=0, lifetime="detached", scheduling_strategy="DEFAULT"
    )
    return janitor.remote(lead)
