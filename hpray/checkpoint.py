"""A trial's checkpoint: model, optimizer, RNG states and the epoch it finished."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

import pyarrow.fs
import torch
from ray import tune

log = logging.getLogger("hpray")

STATE_FILE = "state.pt"


@dataclass
class TrialState:
    """Everything a trial needs to continue exactly where it stopped."""

    model: torch.nn.Module
    optimizer: torch.optim.Optimizer
    shuffle: torch.Generator
    epoch: int = 0

    def save(self, directory: str | Path) -> None:
        """Write the state into ``directory`` (a checkpoint directory Ray then persists)."""
        torch.save(
            {
                "epoch": self.epoch,
                "model": self.model.state_dict(),
                "optimizer": self.optimizer.state_dict(),
                "shuffle_rng": self.shuffle.get_state(),
                "torch_rng": torch.get_rng_state(),
                "cuda_rng": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else None,
            },
            Path(directory) / STATE_FILE,
        )

    def load(self, directory: str | Path, device: torch.device) -> None:
        """Restore the state saved in ``directory``; the trial resumes after ``self.epoch``."""
        saved = torch.load(Path(directory) / STATE_FILE, map_location=device, weights_only=True)
        self.model.load_state_dict(saved["model"])
        self.optimizer.load_state_dict(saved["optimizer"])
        self.shuffle.set_state(saved["shuffle_rng"].cpu())
        torch.set_rng_state(saved["torch_rng"].cpu())
        if saved["cuda_rng"] is not None and torch.cuda.is_available():
            torch.cuda.set_rng_state_all([s.cpu() for s in saved["cuda_rng"]])
        self.epoch = int(saved["epoch"])

    def resume(self, checkpoint: tune.Checkpoint, device: torch.device) -> str | None:
        """Load the newest readable checkpoint: ``checkpoint``, else its older siblings.

        A damaged checkpoint (a torn write, a full disk) costs the epochs since the previous
        one, not the trial: returns the path loaded, or None after a warning to start afresh.
        """
        for candidate in [checkpoint, *_older_siblings(checkpoint)]:
            try:
                with candidate.as_directory() as directory:
                    self.load(directory, device)
                return str(candidate.path)
            except Exception as err:  # any unreadable file: try the previous checkpoint
                log.warning(
                    "checkpoint %s is unreadable (%s); trying an older one", candidate.path, err
                )
        log.warning("no readable checkpoint left; the trial starts again from epoch 0")
        self.epoch = 0
        return None


def _older_siblings(checkpoint: tune.Checkpoint) -> list[tune.Checkpoint]:
    """Checkpoints next to ``checkpoint`` (Ray names them checkpoint_NNNNNN), newest first."""
    path, filesystem = PurePosixPath(checkpoint.path), checkpoint.filesystem
    if filesystem is None:
        return []
    try:
        infos = filesystem.get_file_info(pyarrow.fs.FileSelector(str(path.parent)))
    except OSError:
        return []
    older = sorted(
        (
            PurePosixPath(info.path)
            for info in infos
            if info.type == pyarrow.fs.FileType.Directory
            and PurePosixPath(info.path).name.startswith("checkpoint_")
            and PurePosixPath(info.path).name < path.name
        ),
        reverse=True,
    )
    return [tune.Checkpoint(str(p), filesystem=filesystem) for p in older]
