"""The built-in trial, on hpray's trial API: build, (resume,) train, evaluate, report.

A trial trains a torch model or a scikit-learn estimator, whichever ``model._target_`` builds,
on the fixed train/validation split, or on ``study.cv_folds`` folds side by side: then every
reported metric is the mean over the folds at that epoch, with the spread beside it. Its
checkpoint is every fold's learner state (``learners``) and the epoch it finished.
"""

from __future__ import annotations

import functools
import json
import statistics
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import torch
from omegaconf import DictConfig, OmegaConf

from hpray.config.build import (
    build_estimator,
    build_loss,
    build_model,
    build_optimizer,
    is_estimator,
    load_folds,
)
from hpray.data import MODEL_METRICS, TASK_METRICS, Splits
from hpray.trial import api
from hpray.trial.context import member, trial_device, trial_id, trial_seed
from hpray.trial.declare import builds, reports
from hpray.trial.estimator_learner import EstimatorLearner
from hpray.trial.torch_learner import TorchLearner

# Every metric the built-in trial reports, for either task (data.task); prepare checks
# study.metric against the task's own (TASK_METRICS).
METRICS = (
    *dict.fromkeys(m for ms in TASK_METRICS.values() for m in ms),
    "train_loss",
    *MODEL_METRICS,
    "epoch",
)
Report = Callable[..., None]
Learner = TorchLearner | EstimatorLearner


@reports(*METRICS)
@builds("model", "data", "optim")
def train(cfg: DictConfig) -> None:
    """One trial of the built-in models: ``cfg`` is the study config with the trial's values."""
    fit(plain(cfg), api.report)


def plain(cfg: DictConfig) -> dict[str, Any]:
    config = OmegaConf.to_container(cfg, resolve=True)
    assert isinstance(config, dict)
    return config  # type: ignore[return-value]


def fit(cfg: Mapping[str, Any], report: Report) -> None:
    """Train the trial's learners epoch by epoch, reporting through ``report`` (``hpray.report``
    or a function that wraps it)."""
    study = cfg["study"]
    seed = trial_seed(study["seed"], trial_id())
    torch.set_num_threads(max(1, int(cfg["resources"]["cpu"])))
    estimator = is_estimator(cfg["model"])
    device = torch.device("cpu") if estimator else trial_device()
    rows = {k: v for k, v in cfg["data"].items() if k != "batch_size"}  # what loading reads
    folds = cached_folds(
        json.dumps(rows, sort_keys=True), int(study.get("cv_folds") or 0), str(device)
    )
    learners = [make_learner(cfg, fold, device, seed) for fold in folds]
    done = resume(learners, api.get_checkpoint(), device)

    budget = int(study["epochs"])
    # A learner that fits once (an SVM) reports once, at the full budget.
    steps = range(1, budget + 1) if learners[0].iterative else [budget]
    for epoch in (e for e in steps if e > done):
        metrics = fold_metrics([fold_step(learner, epoch, budget) for learner in learners])
        metrics["epoch"] = epoch
        report(metrics, checkpoint=checkpoint(learners, epoch))


def checkpoint(learners: Sequence[Learner], epoch: int) -> dict[str, Any]:
    """What the trial reports as its checkpoint: each fold's learner state, and the epoch."""
    return {"epoch": epoch, "learners": [learner.state_dict() for learner in learners]}


def resume(
    learners: Sequence[Learner], state: Mapping[str, Any] | None, device: torch.device
) -> int:
    """Load a checkpoint's learner states (None: a fresh start); the epoch it finished."""
    if state is None:
        return 0
    for learner, saved in zip(learners, state["learners"], strict=True):
        learner.load_state_dict(saved, device)
    return int(state["epoch"])


def make_learner(cfg: Mapping[str, Any], data: Splits, device: torch.device, seed: int) -> Learner:
    """The trial's learner on one split: ``cfg``'s model (and optimizer), seeded by ``seed``."""
    if is_estimator(cfg["model"]):
        cpus = max(1, int(cfg["resources"]["cpu"]))
        estimator = build_estimator(cfg["model"], seed=seed, n_jobs=cpus, task=data.task)
        return EstimatorLearner(estimator, data.train, data.val, data.task, data.target_scale)
    torch.manual_seed(seed)  # the same initial weights on every fold (and every rank)
    model = build_model(cfg["model"], data.input_shape, data.n_classes).to(device)
    gang = member()
    wrapped, share = None, (0, 1)
    if gang is not None:  # a worker of a distributed trial: Ray Train's DDP, a share of each batch
        from ray.train.torch import prepare_model

        wrapped, share = prepare_model(model, move_to_device=False), (gang.rank, gang.size)
    return TorchLearner(
        model=model,
        wrapped=wrapped,
        share=share,
        optimizer=build_optimizer(cfg["optim"], model.parameters()),
        shuffle=torch.Generator(device=device).manual_seed(seed),
        train=data.train,
        val=data.val,
        batch_size=int(cfg["data"]["batch_size"]),
        loss=build_loss(cfg.get("loss"), data.task),
        task=data.task,
        target_scale=data.target_scale,
    )


def fold_step(learner: Learner, epoch: int, budget: int) -> dict[str, float]:
    """Train one learner to ``epoch`` and score it."""
    train_loss = learner.step(epoch, budget)
    return {**learner.score(), "train_loss": train_loss}


def fold_metrics(per_fold: Sequence[dict[str, float]]) -> dict[str, Any]:
    """The metrics to report: one fold's as they are; K folds' means, with their spread.

    Example:
        >>> m = fold_metrics([{"val_acc": 0.9, "val_loss": 0.3, "train_loss": 0.2},
        ...                   {"val_acc": 0.8, "val_loss": 0.5, "train_loss": 0.4}])
        >>> round(m["val_acc"], 6), round(m["val_acc_std"], 6), m["folds"]
        (0.85, 0.05, 2)
    """
    if len(per_fold) == 1:
        return dict(per_fold[0])
    metrics: dict[str, Any] = {
        name: statistics.fmean(fold[name] for fold in per_fold) for name in per_fold[0]
    }
    for name in (n for n in per_fold[0] if n.startswith("val_")):
        # The population spread, as scikit-learn's cv_results_ report it.
        metrics[f"{name}_std"] = statistics.pstdev(fold[name] for fold in per_fold)
    metrics["folds"] = len(per_fold)
    return metrics


@functools.lru_cache(maxsize=2)
def cached_folds(data_json: str, folds: int, device: str) -> list[Splits]:
    """The tuning splits on ``device``, loaded once per worker process: reused actors skip it."""
    return [s.to(torch.device(device)) for s in load_folds(json.loads(data_json), folds)]
