"""A PyTorch model as a trial's learner: one epoch of mini-batch training per step.

It classifies (the model's outputs are class scores) or regresses (one output, trained on
standardised targets and scored in the target's own units), with the loss it is given.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from hpray.data import CLASSIFICATION, Split
from hpray.trial.metrics import regression_metrics

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
    loss: torch.nn.Module = field(default_factory=torch.nn.CrossEntropyLoss)
    task: str = CLASSIFICATION
    target_scale: tuple[float, float] = (0.0, 1.0)  # regression: targets' mean and std
    # A worker of a distributed trial: the model as it trains (Ray Train's DDP wrapper), and
    # this rank's share of each batch (rank, workers). ``model`` stays the plain module.
    wrapped: torch.nn.Module | None = None
    share: tuple[int, int] = (0, 1)
    iterative = True  # it learns epoch by epoch: the scheduler may stop it between epochs

    def step(self, epoch: int, budget: int) -> float:
        """Train epoch ``epoch`` of ``budget``; the mean training loss."""
        del epoch, budget  # every epoch is one pass over the training split
        return train_epoch(self)

    def score(self) -> dict[str, float]:
        """The validation metrics: loss and accuracy, or loss, RMSE, MAE and R²."""
        return evaluate(self)

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
        # The optimizer's state (momentum, Adam's moments) is the checkpoint's, its settings
        # this trial's: the same on a resume, new values when PBT changed them (built-in
        # trials schedule no learning rate, so a group's settings are the config's).
        settings = [
            {k: v for k, v in g.items() if k != "params"} for g in self.optimizer.param_groups
        ]
        self.optimizer.load_state_dict(saved["optimizer"])
        for group, own in zip(self.optimizer.param_groups, settings, strict=True):
            group.update(own)
        self.shuffle.set_state(saved["shuffle_rng"].cpu())
        torch.set_rng_state(saved["torch_rng"].cpu())
        if saved["cuda_rng"] is not None and torch.cuda.is_available():
            torch.cuda.set_rng_state_all([s.cpu() for s in saved["cuda_rng"]])

    def export(self, stem: Path) -> Path:
        """The trained weights, as ``<stem>.pt`` (a state dict)."""
        path = stem.with_suffix(".pt")
        torch.save(self.model.state_dict(), path)
        return path


def outputs(model: torch.nn.Module, x: torch.Tensor, task: str) -> torch.Tensor:
    """Class scores (N, classes), or the regression outputs (N,)."""
    out: torch.Tensor = model(x)
    return out if task == CLASSIFICATION else out.reshape(len(x))


def train_epoch(learner: TorchLearner) -> float:
    """One pass over the training split in shuffled mini-batches; the mean training loss.

    On a worker of a distributed trial each rank takes its share of every batch (the same
    shuffle on every rank), and its loss is weighted by that share, so that DDP's mean of the
    ranks' gradients is the gradient of the whole batch's mean loss: the global batch size and
    the learning rate mean what they mean in one process.
    """
    model, train = learner.wrapped or learner.model, learner.train
    rank, workers = learner.share
    model.train()
    order = torch.randperm(len(train), generator=learner.shuffle, device=train.y.device)
    total = torch.zeros((), device=train.y.device)
    seen = 0
    for start in range(0, len(train), learner.batch_size):
        batch = order[start : start + learner.batch_size]
        mine = batch[rank::workers]
        if len(mine) == 0:  # a last batch smaller than the gang: still in step with the rest
            loss = outputs(model, train.x[batch[:1]], learner.task).sum() * 0.0
        else:
            mean = learner.loss(outputs(model, train.x[mine], learner.task), train.y[mine])
            loss = mean * (len(mine) * workers / len(batch))
            total += mean.detach() * len(mine)
            seen += len(mine)
        learner.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        learner.optimizer.step()
    # One device-to-host sync per epoch, not per batch.
    return float(total) / max(1, seen)


@torch.no_grad()
def evaluate(learner: TorchLearner) -> dict[str, float]:
    """The loss over the validation split (in the training loss's terms), accuracy or the
    regression errors in the target's own units, and the model's own figures: its parameter
    count (``params``) and the validation pass's time per sample (``latency_ms``, batched as
    the pass is)."""
    model, split = learner.model, learner.val
    model.eval()
    started = time.perf_counter()
    scored = torch.cat(
        [
            outputs(model, split.x[start : start + EVAL_BATCH], learner.task)
            for start in range(0, len(split), EVAL_BATCH)
        ]
    )
    if scored.is_cuda:
        torch.cuda.synchronize(scored.device)  # the time of the pass, not of its launch
    own = {
        "params": float(sum(p.numel() for p in model.parameters())),
        "latency_ms": (time.perf_counter() - started) * 1000.0 / max(1, len(split)),
    }
    # The losses average over a batch: weighted by its rows, as train_epoch does.
    loss = float(learner.loss(scored, split.y))
    if learner.task == CLASSIFICATION:
        accuracy = float((scored.argmax(dim=1) == split.y).float().mean())
        return {"val_loss": loss, "val_acc": accuracy, **own}
    errors = regression_metrics(scored, split.y, learner.target_scale)
    return {"val_loss": loss, **{f"val_{name}": value for name, value in errors.items()}, **own}
