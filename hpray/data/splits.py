"""Fixed train/validation/test splits as tensors: tuning gets train and validation only."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from sklearn.model_selection import StratifiedKFold, train_test_split
from sklearn.preprocessing import LabelEncoder, StandardScaler


@dataclass(frozen=True)
class Split:
    """Features (N, *shape) float32 and labels (N,) int64, on one device."""

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
    n_classes: int

    def to(self, device: torch.device) -> Splits:
        """The same splits on ``device``, copied once (batches are then slices on the device)."""
        return Splits(self.train.to(device), self.val.to(device), self.input_shape, self.n_classes)


@dataclass(frozen=True)
class FinalSplits:
    """What the final fit sees: training and validation together, and the held-out test split."""

    train: Split
    test: Split
    input_shape: tuple[int, ...]
    n_classes: int

    def to(self, device: torch.device) -> FinalSplits:
        return FinalSplits(
            self.train.to(device), self.test.to(device), self.input_shape, self.n_classes
        )


@dataclass(frozen=True)
class _Partition:
    x: np.ndarray
    labels: np.ndarray
    train: np.ndarray  # row indices
    val: np.ndarray
    test: np.ndarray
    input_shape: tuple[int, ...]

    def tensors(self, rows: np.ndarray, scaler: StandardScaler) -> Split:
        scaled = scaler.transform(self.x[rows]).astype(np.float32).reshape(-1, *self.input_shape)
        return Split(torch.from_numpy(scaled), torch.from_numpy(self.labels[rows].astype(np.int64)))

    @property
    def n_classes(self) -> int:
        return int(self.labels.max()) + 1


def _partition(
    x: np.ndarray, y: np.ndarray, shape: Sequence[int] | None, seed: int, val: float, test: float
) -> _Partition:
    """Stratified row indices, fixed by ``seed``: the same test rows for tuning and final fit."""
    if not (0 < val < 1 and 0 < test < 1 and val + test < 1):
        raise ValueError(
            f"split fractions must be in (0, 1) and sum below 1, got val={val} test={test}"
        )
    x = np.asarray(x, dtype=np.float32).reshape(len(x), -1)
    labels = LabelEncoder().fit_transform(np.asarray(y))
    rows = np.arange(len(x))
    rest, test_rows = train_test_split(rows, test_size=test, random_state=seed, stratify=labels)
    train_rows, val_rows = train_test_split(
        rest, test_size=val / (1 - test), random_state=seed, stratify=labels[rest]
    )
    input_shape = tuple(int(s) for s in shape) if shape else (x.shape[1],)
    if int(np.prod(input_shape)) != x.shape[1]:
        raise ValueError(
            f"data.shape {list(input_shape)} does not hold {x.shape[1]} features per sample"
        )
    return _Partition(x, labels, train_rows, val_rows, test_rows, input_shape)


def make_splits(
    x: np.ndarray,
    y: np.ndarray,
    *,
    shape: Sequence[int] | None,
    seed: int,
    val: float,
    test: float,
) -> Splits:
    """Stratified splits for tuning, fixed by ``seed``; scaled with training statistics.

    The test rows are set aside and never scaled or copied: only ``final_splits`` reads them.

    Example:
        >>> from sklearn.datasets import load_digits
        >>> x, y = load_digits(return_X_y=True)
        >>> s = make_splits(x, y, shape=[1, 8, 8], seed=0, val=0.2, test=0.2)
        >>> len(s.train), len(s.val), s.input_shape, s.n_classes
        (1077, 360, (1, 8, 8), 10)
    """
    part = _partition(x, y, shape, seed, val, test)
    scaler = StandardScaler().fit(part.x[part.train])
    return Splits(
        part.tensors(part.train, scaler),
        part.tensors(part.val, scaler),
        part.input_shape,
        part.n_classes,
    )


def make_folds(
    x: np.ndarray,
    y: np.ndarray,
    *,
    shape: Sequence[int] | None,
    seed: int,
    val: float,
    test: float,
    folds: int,
) -> list[Splits]:
    """K stratified folds of the training + validation rows (the test rows stay out).

    Fold k trains on the other folds and validates on fold k, scaled with its own training
    statistics. The folds are fixed by ``seed``, like the single split.

    Example:
        >>> from sklearn.datasets import load_digits
        >>> x, y = load_digits(return_X_y=True)
        >>> f = make_folds(x, y, shape=None, seed=0, val=0.2, test=0.2, folds=5)
        >>> [len(s.val) for s in f], len(f[0].train) + len(f[0].val)
        ([288, 288, 287, 287, 287], 1437)
    """
    part = _partition(x, y, shape, seed, val, test)
    rows = np.sort(np.concatenate([part.train, part.val]))
    splitter = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
    out = []
    for fit, held in splitter.split(rows, part.labels[rows]):
        scaler = StandardScaler().fit(part.x[rows[fit]])
        out.append(
            Splits(
                part.tensors(rows[fit], scaler),
                part.tensors(rows[held], scaler),
                part.input_shape,
                part.n_classes,
            )
        )
    return out


def final_splits(
    x: np.ndarray,
    y: np.ndarray,
    *,
    shape: Sequence[int] | None,
    seed: int,
    val: float,
    test: float,
) -> FinalSplits:
    """Training and validation rows together (scaled with their statistics) and the test rows.

    Example:
        >>> from sklearn.datasets import load_digits
        >>> x, y = load_digits(return_X_y=True)
        >>> f = final_splits(x, y, shape=None, seed=0, val=0.2, test=0.2)
        >>> len(f.train), len(f.test)
        (1437, 360)
    """
    part = _partition(x, y, shape, seed, val, test)
    fit_rows = np.concatenate([part.train, part.val])
    scaler = StandardScaler().fit(part.x[fit_rows])
    return FinalSplits(
        part.tensors(fit_rows, scaler),
        part.tensors(part.test, scaler),
        part.input_shape,
        part.n_classes,
    )
