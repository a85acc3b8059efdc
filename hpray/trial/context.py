"""Where a trial runs: its device (the GPU Ray assigned, else the CPU) and its seed."""

from __future__ import annotations

import zlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import torch


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
    """The GPU Ray assigned to this trial (Ray sets CUDA_VISIBLE_DEVICES), else the CPU."""
    import ray
    import torch  # here: the trial API's functions without state never import it

    if torch.cuda.is_available() and ray.get_gpu_ids():
        return torch.device("cuda", 0)
    return torch.device("cpu")
