"""A trial's checkpoint: model, optimizer, RNG states and the epoch it finished."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch

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
