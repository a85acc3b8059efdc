"""A PyTorch model as a trial's learner: one epoch of mini-batch training per step."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from hpray.data import Split

EVAL_BATCH = 4096


@dataclass
class TorchLearner:
    """Model, optimizer and shuffling RNG, trained on ``train`` and scored on ``val``."""

    model: torch.nn.Module
    optimizer: torch.optim.Optimizer
    shuffle: torch.Generator
    train: Split
    val: Split
    batch_size: int
    iterative = True  # it learns epoch by epoch: the scheduler may stop it between epochs

    def step(self, epoch: int, budget: int) -> float:
        """Train epoch ``epoch`` of ``budget``; the mean training loss."""
        del epoch, budget  # every epoch is one pass over the training split
        return train_epoch(self.model, self.optimizer, self.shuffle, self.train, self.batch_size)

    def score(self) -> tuple[float, float]:
        """Validation loss (cross-entropy) and accuracy."""
        return evaluate(self.model, self.val)

    def state_dict(self) -> dict[str, Any]:
        """Everything the next epoch depends on: weights, optimizer, and both RNG streams."""
        return {
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "shuffle_rng": self.shuffle.get_state(),
            "torch_rng": torch.get_rng_state(),
            "cuda_rng": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else None,
        }

    def load_state_dict(self, saved: dict[str, Any], device: torch.device) -> None:
        del device  # the checkpoint was loaded onto the trial's device
        self.model.load_state_dict(saved["model"])
        self.optimizer.load_state_dict(saved["optimizer"])
        self.shuffle.set_state(saved["shuffle_rng"].cpu())
        torch.set_rng_state(saved["torch_rng"].cpu())
        if saved["cuda_rng"] is not None and torch.cuda.is_available():
            torch.cuda.set_rng_state_all([s.cpu() for s in saved["cuda_rng"]])

    def export(self, stem: Path) -> Path:
        """The trained weights, as ``<stem>.pt`` (a state dict)."""
        path = stem.with_suffix(".pt")
        torch.save(self.model.state_dict(), path)
        return path


def train_epoch(
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    shuffle: torch.Generator,
    train: Split,
    batch_size: int,
) -> float:
    """One pass over the training split in shuffled mini-batches; the mean training loss."""
    model.train()
    order = torch.randperm(len(train), generator=shuffle, device=train.y.device)
    total = torch.zeros((), device=train.y.device)
    for start in range(0, len(train), batch_size):
        batch = order[start : start + batch_size]
        loss = F.cross_entropy(model(train.x[batch]), train.y[batch])
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        total += loss.detach() * len(batch)
    # One device-to-host sync per epoch, not per batch.
    return float(total) / len(train)


@torch.no_grad()
def evaluate(model: torch.nn.Module, split: Split) -> tuple[float, float]:
    """Mean cross-entropy and accuracy over ``split``."""
    model.eval()
    loss = torch.zeros((), device=split.y.device)
    correct = torch.zeros((), device=split.y.device)
    for start in range(0, len(split), EVAL_BATCH):
        logits = model(split.x[start : start + EVAL_BATCH])
        targets = split.y[start : start + EVAL_BATCH]
        loss += F.cross_entropy(logits, targets, reduction="sum")
        correct += (logits.argmax(dim=1) == targets).sum()
    return float(loss) / len(split), float(correct) / len(split)
