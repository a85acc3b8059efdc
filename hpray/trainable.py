"""The trial function Ray Tune runs: build, (resume,) train, evaluate, report, checkpoint."""

from __future__ import annotations

import functools
import json
import logging
import math
import tempfile
import zlib
from collections.abc import Callable
from typing import Any, TypeVar

import ray
import torch
import torch.nn.functional as F
from ray import tune

from hpray import space
from hpray.build import build_model, build_optimizer, load_data
from hpray.checkpoint import TrialState, stored_checkpoint
from hpray.data import Split, Splits

F_ = TypeVar("F_", bound=Callable[..., None])
EVAL_BATCH = 4096


def reports(*metrics: str) -> Callable[[F_], F_]:
    """Declare the metrics a trial function reports, so the driver can check study.metric."""

    def mark(fn: F_) -> F_:
        fn.metrics = metrics  # type: ignore[attr-defined]
        return fn

    return mark


METRICS = ("val_acc", "val_loss", "train_loss", "epoch")
Report = Callable[..., None]


@reports(*METRICS)
def train_torch(config: dict[str, Any], base: dict[str, Any], report: Report = tune.report) -> None:
    """One trial: ``base`` (the study config) with the sampled ``config`` values applied."""
    # Ray logs a line per persisted checkpoint at INFO; one per epoch drowns the progress.
    logging.getLogger("ray.train").setLevel(logging.WARNING)
    cfg = space.apply(base, config)
    study = cfg["study"]
    torch.manual_seed(trial_seed(study["seed"], tune.get_context().get_trial_id()))
    torch.set_num_threads(max(1, int(cfg["resources"]["cpu"])))
    device = trial_device()
    data = cached_splits(json.dumps(cfg["data"], sort_keys=True), str(device))
    model = build_model(cfg["model"], data.input_shape, data.n_classes).to(device)
    state = TrialState(
        model=model,
        optimizer=build_optimizer(cfg["optim"], model.parameters()),
        shuffle=torch.Generator(device=device).manual_seed(torch.initial_seed()),
    )
    handed = tune.get_checkpoint()
    checkpoint = handed or stored_checkpoint()
    if checkpoint is not None:
        seen = state.resume(checkpoint, device) if handed else 0
        for metrics in state.history[seen:]:  # epochs done, but not in Ray's restored view
            report({**metrics, "replayed": True})  # reported again, not trained again

    batch_size = int(cfg["data"]["batch_size"])
    for epoch in range(state.epoch + 1, int(study["epochs"]) + 1):
        train_loss = train_epoch(state, data.train, batch_size)
        val_loss, val_acc = evaluate(model, data.val)
        state.epoch = epoch
        metrics = {
            "val_acc": val_acc,
            "val_loss": val_loss,
            "train_loss": train_loss,
            "epoch": epoch,
        }
        if not (math.isfinite(train_loss) and math.isfinite(val_loss)):
            # Diverged: more epochs cannot help, and the trial must never count as best.
            report({**metrics, "diverged": True})
            return
        state.history.append(metrics)
        if epoch % int(study["checkpoint_every"]) == 0 or epoch == int(study["epochs"]):
            with tempfile.TemporaryDirectory() as directory:
                state.save(directory)
                report(metrics, checkpoint=tune.Checkpoint.from_directory(directory))
        else:
            report(metrics)


def train_epoch(state: TrialState, train: Split, batch_size: int) -> float:
    """One pass over the training split in shuffled mini-batches; the mean training loss."""
    state.model.train()
    order = torch.randperm(len(train), generator=state.shuffle, device=train.y.device)
    total = torch.zeros((), device=train.y.device)
    for start in range(0, len(train), batch_size):
        batch = order[start : start + batch_size]
        loss = F.cross_entropy(state.model(train.x[batch]), train.y[batch])
        state.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        state.optimizer.step()
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
    if torch.cuda.is_available() and ray.get_gpu_ids():
        return torch.device("cuda", 0)
    return torch.device("cpu")


@functools.lru_cache(maxsize=2)
def cached_splits(data_json: str, device: str) -> Splits:
    """The data splits on ``device``, loaded once per worker process: reused actors skip it."""
    return load_data(json.loads(data_json)).to(torch.device(device))
