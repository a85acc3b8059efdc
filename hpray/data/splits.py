"""Fixed train/validation/test splits, scaled on the training split, as device tensors."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from sklearn.model_selection import train_test_split
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
    """The three splits of one data config. Tuning reads train and val, never test."""

    train: Split
    val: Split
    test: Split
    input_shape: tuple[int, ...]
    n_classes: int

    def to(self, device: torch.device) -> Splits:
        """The same splits on ``device``, copied once (batches are then slices on the device)."""
        return Splits(
            self.train.to(device),
            self.val.to(device),
            self.test.to(device),
            self.input_shape,
            self.n_classes,
        )


def make_splits(
    x: np.ndarray,
    y: np.ndarray,
    *,
    shape: Sequence[int] | None,
    seed: int,
    val: float,
    test: float,
) -> Splits:
    """Stratified splits fixed by ``seed``; features standardised with training statistics.

    Example:
        >>> from sklearn.datasets import load_digits
        >>> x, y = load_digits(return_X_y=True)
        >>> s = make_splits(x, y, shape=[1, 8, 8], seed=0, val=0.2, test=0.2)
        >>> len(s.train), len(s.val), len(s.test), s.input_shape, s.n_classes
        (1077, 360, 360, (1, 8, 8), 10)
    """
    if not (0 < val < 1 and 0 < test < 1 and val + test < 1):
        raise ValueError(
            f"split fractions must be in (0, 1) and sum below 1, got val={val} test={test}"
        )
    x = np.asarray(x, dtype=np.float32).reshape(len(x), -1)
    labels = LabelEncoder().fit_transform(np.asarray(y))
    rest_x, test_x, rest_y, test_y = train_test_split(
        x, labels, test_size=test, random_state=seed, stratify=labels
    )
    train_x, val_x, train_y, val_y = train_test_split(
        rest_x, rest_y, test_size=val / (1 - test), random_state=seed, stratify=rest_y
    )
    scaler = StandardScaler().fit(train_x)
    input_shape = tuple(int(s) for s in shape) if shape else (x.shape[1],)
    if int(np.prod(input_shape)) != x.shape[1]:
        raise ValueError(
            f"data.shape {list(input_shape)} does not hold {x.shape[1]} features per sample"
        )

    def tensors(features: np.ndarray, targets: np.ndarray) -> Split:
        scaled = scaler.transform(features).astype(np.float32).reshape(-1, *input_shape)
        return Split(torch.from_numpy(scaled), torch.from_numpy(targets.astype(np.int64)))

    return Splits(
        tensors(train_x, train_y),
        tensors(val_x, val_y),
        tensors(test_x, test_y),
        input_shape,
        int(labels.max()) + 1,
    )
