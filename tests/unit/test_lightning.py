"""hpray's Lightning callback on a real Lightning trainer, in this process: what it reports, and a
trainer resumed from what it stored (no Ray: the session's reports are collected here)."""

from __future__ import annotations

import copy
from typing import Any

import torch
from lightning.pytorch import LightningModule, Trainer
from torch.utils.data import DataLoader, TensorDataset

from hpray.lightning import HprayCallback
from hpray.trial.api import Session, session
from hpray.trial.state import TrialState


class Regression(LightningModule):
    """y = 2x, learned by one linear layer; logs val_rmse each validation epoch."""

    def __init__(self) -> None:
        super().__init__()
        self.layer = torch.nn.Linear(1, 1)
        self.trained: list[int] = []  # the epochs this instance trained

    def training_step(self, batch: Any, batch_idx: int) -> torch.Tensor:
        x, y = batch
        return torch.nn.functional.mse_loss(self.layer(x), y)

    def on_train_epoch_start(self) -> None:
        self.trained.append(self.current_epoch + 1)

    def validation_step(self, batch: Any, batch_idx: int) -> None:
        x, y = batch
        self.log("val_rmse", torch.nn.functional.mse_loss(self.layer(x), y).sqrt())

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return torch.optim.SGD(self.parameters(), lr=0.1)


def fit(opened: Session, max_epochs: int) -> tuple[Regression, Trainer]:
    torch.manual_seed(0)
    x = torch.rand(64, 1)
    data = DataLoader(TensorDataset(x, 2 * x), batch_size=16)
    model = Regression()
    trainer = Trainer(
        max_epochs=max_epochs,
        callbacks=[HprayCallback()],
        logger=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        enable_checkpointing=False,
        num_sanity_val_steps=0,
    )
    with session(opened):
        trainer.fit(model, data, data)
    return model, trainer


def opened(reports: list[dict[str, Any]], epochs: int, state: TrialState | None = None) -> Session:
    sink = lambda metrics, **_: reports.append(dict(metrics))  # noqa: E731
    return Session(
        "val_rmse", epochs, 1, torch.device("cpu"), sink=sink, trial=state or TrialState()
    )


def test_each_epoch_s_logged_metrics_are_reported_with_the_trainer_s_checkpoint() -> None:
    reports: list[dict[str, Any]] = []
    first = opened(reports, epochs=2)
    fit(first, max_epochs=2)
    assert [r["epoch"] for r in reports] == [1, 2]
    assert reports[-1]["val_rmse"] < reports[0]["val_rmse"]  # it learned
    assert {"lightning.ckpt", "epoch"} <= set(first.saved.state or {})

    # Killed after its last epoch: resumed, nothing is trained or reported again, and the
    # trainer holds the last epoch's metrics for the app's code after fit.
    again: list[dict[str, Any]] = []
    model, trainer = fit(opened(again, 2, copy.deepcopy(first.trial)), max_epochs=2)
    assert again == [] and model.trained == []
    assert float(trainer.callback_metrics["val_rmse"]) == reports[-1]["val_rmse"]

    # With a larger budget it goes on from its checkpoint: epoch 3 only, from trained weights.
    more: list[dict[str, Any]] = []
    model, _ = fit(opened(more, 3, copy.deepcopy(first.trial)), max_epochs=3)
    assert model.trained == [3] and [r["epoch"] for r in more] == [3]
    assert more[0]["val_rmse"] < reports[0]["val_rmse"]


def test_outside_a_trial_the_callback_does_nothing() -> None:
    model = Regression()
    x = torch.rand(16, 1)
    data = DataLoader(TensorDataset(x, 2 * x), batch_size=16)
    trainer = Trainer(
        max_epochs=1,
        callbacks=[HprayCallback()],
        logger=False,
        enable_progress_bar=False,
        enable_checkpointing=False,
    )
    trainer.fit(model, data, data)
    assert model.trained == [1]
