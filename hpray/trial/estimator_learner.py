"""A scikit-learn classifier or regressor as a trial's learner.

An ensemble that can grow (``warm_start`` and ``n_estimators``: random forests, gradient
boosting) is grown over the epoch budget: at epoch e of E it has ceil(n_estimators * e / E)
trees, so ASHA stops it by trees fitted, as it stops a network by epochs. Any other estimator
is fitted once and reports once, at the full budget.

The metrics are the torch models': for a classifier ``val_acc`` is accuracy; ``val_loss`` and
``train_loss`` are the log loss of ``predict_proba``, or, for an estimator without probabilities
(an SVM), the multiclass hinge loss of its ``decision_function``. A regressor is fitted on
standardised targets: its losses are the mean squared error there, and ``val_rmse``,
``val_mae`` and ``val_r2`` are in the target's own units.
"""

from __future__ import annotations

import math
import pickle
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from sklearn.metrics import accuracy_score, hinge_loss, log_loss, mean_squared_error

from hpray.data import CLASSIFICATION, Split
from hpray.trial.metrics import regression_metrics


@dataclass
class EstimatorLearner:
    """An estimator fitted on ``train`` and scored on ``val`` (features flattened)."""

    estimator: Any
    train: Split
    val: Split
    task: str = CLASSIFICATION
    target_scale: tuple[float, float] = (0.0, 1.0)  # regression: targets' mean and std
    fitted: int = 0  # trees fitted so far (growable ensembles); 1 once fitted (others)
    total: int = 0  # the ensemble's full size: the config's n_estimators
    _arrays: dict[str, np.ndarray] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        self.iterative = growable(self.estimator)  # grown over the budget by warm start
        if self.iterative and not self.total:
            self.total = int(self.estimator.get_params()["n_estimators"])

    def step(self, epoch: int, budget: int) -> float:
        """Fit as far as epoch ``epoch`` of ``budget`` asks; the training loss."""
        x, y = self._xy("train")
        if self.iterative:
            trees = max(1, math.ceil(self.total * epoch / budget))
            if trees > self.fitted:
                self.estimator.set_params(n_estimators=trees, warm_start=True)
                self.estimator.fit(x, y)
                self.fitted = trees
        elif not self.fitted:
            self.estimator.fit(x, y)
            self.fitted = 1
        return self._loss(x, y)

    def score(self) -> dict[str, float]:
        """The validation metrics: loss and accuracy, or loss, RMSE, MAE and R²."""
        x, y = self._xy("val")
        if self.task != CLASSIFICATION:
            predicted = torch.from_numpy(np.asarray(self.estimator.predict(x), dtype=np.float64))
            errors = regression_metrics(predicted, torch.from_numpy(y), self.target_scale)
            return {"val_loss": self._loss(x, y), **{f"val_{k}": v for k, v in errors.items()}}
        accuracy = float(accuracy_score(y, self.estimator.predict(x)))
        return {"val_loss": loss(self.estimator, x, y), "val_acc": accuracy}

    def state_dict(self) -> dict[str, Any]:
        """The fitted estimator (pickled with the checkpoint) and how far it is grown."""
        return {"estimator": self.estimator, "fitted": self.fitted}

    def load_state_dict(self, saved: dict[str, Any], device: torch.device) -> None:
        del device  # scikit-learn runs on the CPU
        self.estimator, self.fitted = saved["estimator"], int(saved["fitted"])

    def export(self, stem: Path) -> Path:
        """The fitted estimator, pickled as ``<stem>.pkl``."""
        path = stem.with_suffix(".pkl")
        with path.open("wb") as f:
            pickle.dump(self.estimator, f, protocol=5)
        return path

    def _loss(self, x: np.ndarray, y: np.ndarray) -> float:
        return (
            loss(self.estimator, x, y) if self.task == CLASSIFICATION else mse(self.estimator, x, y)
        )

    def _xy(self, name: str) -> tuple[np.ndarray, np.ndarray]:
        if name not in self._arrays:
            split = self.train if name == "train" else self.val
            self._arrays[name] = split.x.reshape(len(split), -1).cpu().numpy()
            self._arrays[name + "_y"] = split.y.cpu().numpy()
        return self._arrays[name], self._arrays[name + "_y"]


def growable(estimator: Any) -> bool:
    """An ensemble fitted stage by stage: it has warm_start and n_estimators."""
    params = estimator.get_params()
    return "warm_start" in params and "n_estimators" in params


def mse(estimator: Any, x: np.ndarray, y: np.ndarray) -> float:
    """Mean squared error of the predictions (on the standardised targets it was fitted to)."""
    return float(mean_squared_error(y, estimator.predict(x)))


def loss(estimator: Any, x: np.ndarray, y: np.ndarray) -> float:
    """Log loss of the predicted probabilities; hinge loss without them; else 1 - accuracy."""
    labels = estimator.classes_
    if hasattr(estimator, "predict_proba"):
        return float(log_loss(y, estimator.predict_proba(x), labels=labels))
    if hasattr(estimator, "decision_function"):
        return float(hinge_loss(y, estimator.decision_function(x), labels=labels))
    return 1.0 - float(accuracy_score(y, estimator.predict(x)))
