"""A study whose storage takes no more writes (a full disk, a spent quota, a path made
read-only) pauses instead of failing.

Whatever meets the fault first (a trial storing its checkpoint, the driver storing the
experiment's snapshot, its lock or its live report) calls ``pause``: the run ends as Ray Tune
ends one on SIGUSR1, each trial stopped where it is (its last stored checkpoint is where it
goes on from), and ``hpray tune`` exits 75 with one line that names the storage and its free
space (``StoragePaused``). A trial's failure on it is not counted against
``study.max_failures``. Nothing is half-written meanwhile: hpray's files are replaced whole,
and a torn Ray snapshot is replaced by the last whole one at the next run (store.snapshots).
"""

from __future__ import annotations

import logging
import os
import signal

from hpray import internals
from hpray.search.rules import STORAGE, current
from hpray.store import full
from hpray.store.location import StudyDir

_levels: dict[str, int] = {}  # their levels before the pause quieted them


class StoragePaused(Exception):
    """The run ended because its storage took no more writes; the message says what to do."""


def pause(what: str) -> None:
    """End this run for the storage fault ``what`` (once; a run without rules in force, e.g.
    a report, has none to end)."""
    rules = current()
    if rules is None or rules.stopped_study == STORAGE:
        return
    rules.stopped_study = STORAGE
    rules.failure = what
    # Every write of the winding down fails the same way: said once, by us.
    for name in internals.WINDING_DOWN_LOGGERS:
        logger = logging.getLogger(name)
        _levels.setdefault(name, logger.level)
        logger.setLevel(logging.CRITICAL)
    os.kill(os.getpid(), signal.SIGUSR1)  # Ray Tune stops every trial and returns


def speak_again() -> None:
    """Ray's loggers as they were before a pause (a process may run another study)."""
    for name, level in _levels.items():
        logging.getLogger(name).setLevel(level)
    _levels.clear()


def pause_on(err: BaseException, directory: StudyDir) -> bool:
    """Pause when ``err`` is a storage fault of the study's (True), else False."""
    what = full.fault(err, directory.parent.path)
    if what is None:
        return False
    pause(what)
    return True
