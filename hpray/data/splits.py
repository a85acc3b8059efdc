"""Fixed train/validation/test splits as tensors: tuning gets train and validation only.

A classification task's labels are class indices, its splits stratified; a regression task's
targets are standardised with the training rows' mean and spread (kept as ``target_scale``, so
that errors are reported in the target's own units), its splits and folds plain.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from sklearn.model_selection import KFold, StratifiedKFold, train_test_split
from sklearn.preprocessing import LabelEncoder, StandardScaler

CLASSIFICATION, REGRESSION = "classification", "regression"
# What the built-in trial reports for each task, besides train_loss and epoch.
TASK_METRICS = {
    CLASSIFICATION: ("val_acc", "val_loss"),
    REGRESSION: ("val_rmse", "val_mae", "val_r2", "val_loss"),
}
# What the built-in torch models report of themselves, for a second objective: the parameter
# count and the validation pass's time per sample, in milliseconds.
MODEL_METRICS = ("params", "latency_ms")


@dataclass(frozen=True)
class Split:
    """Features (N, *shape) float32 and targets (N,): int64 classes or float32 values."""

    x: torch.Tensor
    y: torch.Tensor

    def __len__(self) -> int:
        return int(self.y.shape[0])

    def to(self, device: torch.device) -> Split:
        return Split(self.x.to(device), self.y.to(device))


@dataclass(frozen=True)
class Splits:
    """What tuning sees: the training and validation splits. The test split is not in it."""

    train: Split
    val: Split
    input_shape: tuple[int, ...]
    n_classes: int  # a model's outputs: the classes, or 1 for regression
    task: str = CLASSIFICATION
    target_scale: tuple[float, float] = (0.0, 1.0)  # regression: training targets' mean, std

    def to(self, device: torch.device) -> Splits:
        """The same splits on ``device``, copied once (batches are then slices on the device)."""
        return Splits(
            self.train.to(device),
            self.val.to(device),
            self.input_shape,
            self.n_classes,
            self.task,
            self.target_scale,
        )


@dataclass(frozen=True)
class FinalSplits:
    """What the final fit sees: training and validation together, and the held-out test split."""

    train: Split
    test: Split
    input_shape: tuple[int, ...]
    n_classes: int
    task: str = CLASSIFICATION
    target_scale: tuple[float, float] = (0.0, 1.0)

    def tuning(self) -> Splits:
        """The final fit as a tuning split would be: train on ``train``, score ``test``."""
        return Splits(
            self.train, self.test, self.input_shape, self.n_classes, self.task, self.target_scale
        )


@dataclass(frozen=True)
class _Partition:
    x: np.ndarray
    targets: np.ndarray  # class indices, or float values
    train: np.ndarray  # row indices
    val: np.ndarray
    test: np.ndarray
    input_shape: tuple[int, ...]
    task: str

    def splits(self, fit: np.ndarray, held: np.ndarray) -> Splits:
        """``fit`` rows to train on and ``held`` rows to score, scaled with ``fit``'s statistics."""
        scaler = StandardScaler().fit(self.x[fit])
        if self.task == REGRESSION:
            mean, std = float(self.targets[fit].mean()), float(self.targets[fit].std()) or 1.0
        else:
            mean, std = 0.0, 1.0
        return Splits(
            self._tensors(fit, scaler, mean, std),
            self._tensors(held, scaler, mean, std),
            self.input_shape,
            int(self.targets.max()) + 1 if self.task == CLASSIFICATION else 1,
            self.task,
            (mean, std),
        )

    def _tensors(self, rows: np.ndarray, scaler: StandardScaler, mean: float, std: float) -> Split:
        scaled = scaler.transform(self.x[rows]).astype(np.float32).reshape(-1, *self.input_shape)
        if self.task == REGRESSION:
            y = torch.from_numpy(((self.targets[rows] - mean) / std).astype(np.float32))
        else:
            y = torch.from_numpy(self.targets[rows].astype(np.int64))
        return Split(torch.from_numpy(scaled), y)


def _partition(
    x: np.ndarray,
    y: np.ndarray,
    shape: Sequence[int] | None,
    seed: int,
    val: float,
    test: float,
    task: str,
) -> _Partition:
    """Row indices fixed by ``seed`` (stratified for classification): the same test rows for
    tuning and for the final fit."""
    if not (0 < val < 1 and 0 < test < 1 and val + test < 1):
        raise ValueError(
            f"split fractions must be in (0, 1) and sum below 1, got val={val} test={test}"
        )
    if task not in TASK_METRICS:
        raise ValueError(f"data.task must be one of {sorted(TASK_METRICS)}, got {task!r}")
    x = np.asarray(x, dtype=np.float32).reshape(len(x), -1)
    if task == REGRESSION:
        targets = np.asarray(y, dtype=np.float64).reshape(-1)
        if not np.isfinite(targets).all():
            raise ValueError("a regression target must be numbers, all finite")
    else:
        targets = LabelEncoder().fit_transform(np.asarray(y))
    strata = targets if task == CLASSIFICATION else None
    rows = np.arange(len(x))
    rest, test_rows = train_test_split(rows, test_size=test, random_state=seed, stratify=strata)
    train_rows, val_rows = train_test_split(
        rest,
        test_size=val / (1 - test),
        random_state=seed,
        stratify=None if strata is None else strata[rest],
    )
    input_shape = tuple(int(s) for s in shape) if shape else (x.shape[1],)
    if int(np.prod(input_shape)) != x.shape[1]:
        raise ValueError(
            f"data.shape {list(input_shape)} does not hold {x.shape[1]} features per sample"
        )
    return _Partition(x, targets, train_rows, val_rows, test_rows, input_shape, task)


def make_splits(
    x: np.ndarray,
    y: np.ndarray,
    *,
    shape: Sequence[int] | None,
    seed: int,
    val: float,
    test: float,
    task: str = CLASSIFICATION,
) -> Splits:
    """Splits for tuning, fixed by ``seed``; scaled with training statistics.

    The test rows are set aside and never scaled or copied: only ``final_splits`` reads them.

    Example:
        >>> from sklearn.datasets import load_digits
        >>> x, y = load_digits(return_X_y=True)
        >>> s = make_splits(x, y, shape=[1, 8, 8], seed=0, val=0.2, test=0.2)
        >>> len(s.train), len(s.val), s.input_shape, s.n_classes
        (1077, 360, (1, 8, 8), 10)
    """
    part = _partition(x, y, shape, seed, val, test, task)
    return part.splits(part.train, part.val)


def make_folds(
    x: np.ndarray,
    y: np.ndarray,
    *,
    shape: Sequence[int] | None,
    seed: int,
    val: float,
    test: float,
    folds: int,
    task: str = CLASSIFICATION,
) -> list[Splits]:
    """K folds of the training + validation rows (the test rows stay out): stratified for
    classification, plain for regression.

    Fold k trains on the other folds and validates on fold k, scaled with its own training
    statistics. The folds are fixed by ``seed``, like the single split.

    Example:
        >>> from sklearn.datasets import load_digits
        >>> x, y = load_digits(return_X_y=True)
        >>> f = make_folds(x, y, shape=None, seed=0, val=0.2, test=0.2, folds=5)
        >>> [len(s.val) for s in f], len(f[0].train) + len(f[0].val)
        ([288, 288, 287, 287, 287], 1437)
    """
    part = _partition(x, y, shape, seed, val, test, task)
    rows = np.sort(np.concatenate([part.train, part.val]))
    if task == CLASSIFICATION:
        splitter = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
        pairs = splitter.split(rows, part.targets[rows])
    else:
        pairs = KFold(n_splits=folds, shuffle=True, random_state=seed).split(rows)
    return [part.splits(rows[fit], rows[held]) for fit, held in pairs]


def final_splits(
    x: np.ndarray,
    y: np.ndarray,
    *,
    shape: Sequence[int] | None,
    seed: int,
    val: float,
    test: float,
    task: str = CLASSIFICATION,
) -> FinalSplits:
    """Training and validation rows together (scaled with their statistics) and the test rows.

    Example:
        >>> from sklearn.datasets import load_digits
        >>> x, y = load_digits(return_X_y=True)
        >>> f = final_splits(x, y, shape=None, seed=0, val=0.2, test=0.2)
        >>> len(f.train), len(f.test)
        (1437, 360)
    """
    part = _partition(x, y, shape, seed, val, test, task)
    both = part.splits(np.concatenate([part.train, part.val]), part.test)
    return FinalSplits(
        both.train, both.val, both.input_shape, both.n_classes, both.task, both.target_scale
    )
