"""How long each phase of a run took, for summary.json: what a user waits for, and where.

``before_ray`` runs from the process's start (the interpreter, imports, composing and checking
the config) to ``ray.init``; ``ray_start`` is Ray's start (or joining a cluster);
``first_trial`` ends with the first result any trial reports (a trial process started, imported
what it trains with and trained an epoch); ``trials`` ends when Ray Tune's fit returns;
``shutdown`` is Ray's shutdown and ``results`` writing results.csv, summary.json, best.yaml and
report.html (from the study's directory), side by side: both count from the trials' end. A
resumed study whose experiment predates the phase clock has no ``first_trial``: its trials
phase starts when Ray is ready.
"""

from __future__ import annotations

import os
import time
from typing import Any

from ray import tune

ORDER = ("ray_init", "ray_ready", "first_result", "fit_end", "shut_down", "outputs_written")
NAMES = ("before_ray", "ray_start", "first_trial", "trials", "shutdown", "results")
SIDE_BY_SIDE = ("shut_down", "outputs_written")


class Phases:
    """Wall-clock marks of one run of the driver, from the process's start."""

    def __init__(self) -> None:
        self.started = process_start()
        self.marks: dict[str, float] = {}

    def mark(self, name: str) -> None:
        self.marks.setdefault(name, time.time())

    def durations(self) -> dict[str, float]:
        """Seconds per phase reached, in order; a phase without its mark joins the next. Ray's
        shutdown and the results run side by side: both count from the trials' end."""
        out, since = {}, self.started
        for mark, name in zip(ORDER, NAMES, strict=True):
            at = self.marks.get(mark)
            if at is not None:
                out[name] = round(at - since, 3)
                if mark not in SIDE_BY_SIDE:
                    since = at
        return out


def process_start() -> float:
    """When this process started, on the wall clock, to the kernel's tick (10 ms).

    Read from its start time in clock ticks since boot, against the boot-time clock now: a
    create time on the wall clock (as psutil gives) rests on the boot time in whole seconds
    and was up to a second off. Where /proc is missing: when this module was imported.
    """
    try:
        with open("/proc/self/stat") as stat:
            ticks = int(stat.read().rsplit(")", 1)[1].split()[19])
        age = time.clock_gettime(time.CLOCK_BOOTTIME) - ticks / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError, AttributeError):
        return _IMPORTED
    return time.time() - age


_IMPORTED = time.time()
_current = Phases()  # this process's run; replaced by each run of the driver


def current() -> Phases:
    return _current


def restart() -> Phases:
    """A new clock for a run (the process's start stays its first mark)."""
    global _current
    _current = Phases()
    return _current


class FirstResult(tune.Callback):
    """Marks the first result of the run; stateless, so a restored experiment's copy marks the
    clock of the process that restored it."""

    def on_trial_result(
        self, iteration: int, trials: Any, trial: Any, result: Any, **info: Any
    ) -> None:
        current().mark("first_result")
