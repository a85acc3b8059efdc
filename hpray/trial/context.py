"""Where a trial runs: its id and directory, its device (the GPU Ray assigned, else the CPU),
its seed, and, in a trial of several workers (``resources.workers``), this process's rank.

A trial of one process asks Ray Tune's context. A worker of a distributed trial runs under Ray
Train, where Tune's context is not: `joined` tells it which trial it serves for the block.
"""

from __future__ import annotations

import contextlib
import zlib
from collections.abc import Iterator
from contextvars import ContextVar
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ray import tune

if TYPE_CHECKING:
    import torch


@dataclass(frozen=True)
class Member:
    """This process's place in a distributed trial: a Ray Train worker of the trial's gang."""

    rank: int  # Ray Train's world rank: rank 0's reports are the trial's
    size: int  # the trial's workers
    trial_id: str
    trial_name: str
    trial_dir: str  # in the study's storage when that is a path, else Ray's local one
    sink: Any  # where this rank's session reports go: rank 0's to the trial's lead
    restored: Any  # the state the lead restored, loaded by every rank (gang.Restored)


_member: ContextVar[Member | None] = ContextVar("hpray_member", default=None)


@contextlib.contextmanager
def joined(member: Member) -> Iterator[Member]:
    """For the block, this process is ``member`` of its trial's gang."""
    token = _member.set(member)
    try:
        yield member
    finally:
        _member.reset(token)


def member() -> Member | None:
    """This process's place in its trial's gang; None in a trial of one process."""
    return _member.get()


def rank() -> int:
    """This process's rank in its trial (0 in a trial of one process).

    Example:
        >>> rank()
        0
    """
    found = _member.get()
    return 0 if found is None else found.rank


def trial_id() -> str:
    found = _member.get()
    return found.trial_id if found is not None else tune.get_context().get_trial_id()


def trial_name() -> str:
    found = _member.get()
    return found.trial_name if found is not None else tune.get_context().get_trial_name()


def trial_dir() -> str:
    found = _member.get()
    return found.trial_dir if found is not None else tune.get_context().get_trial_dir()


def trial_seed(study_seed: int, trial_id: str) -> int:
    """A trial's seed, from the study seed and the trial's index; the same after a resume.

    Ray's trial ids are ``<experiment hash>_<index>``; the hash differs between runs of the same
    study, so only the index is used.

    Example:
        >>> trial_seed(0, "0a7df_00003") == trial_seed(0, "f00ba_00003")
        True
    """
    index = trial_id.rsplit("_", 1)[-1]
    return zlib.crc32(f"{study_seed}:{index}".encode())


def trial_device() -> torch.device:
    """The GPU Ray assigned to this process (Ray sets CUDA_VISIBLE_DEVICES), else the CPU; a
    worker of a distributed trial gets Ray Train's device for its rank."""
    import ray
    import torch  # here: the trial API's functions without state never import it

    if _member.get() is not None:
        from ray.train.torch import get_device

        return get_device()
    if torch.cuda.is_available() and ray.get_gpu_ids():
        return torch.device("cuda", 0)
    return torch.device("cpu")
