"""Regression errors in the target's own units, from standardised predictions and targets."""

from __future__ import annotations

import torch


def regression_metrics(
    predicted: torch.Tensor, target: torch.Tensor, scale: tuple[float, float]
) -> dict[str, float]:
    """RMSE and MAE in the target's units (``scale`` = its training mean and std), and R².

    Example:
        >>> m = regression_metrics(torch.tensor([0.0, 1.0]), torch.tensor([0.0, 2.0]), (5.0, 2.0))
        >>> round(m["rmse"], 4), round(m["mae"], 4), round(m["r2"], 4)
        (1.4142, 1.0, 0.5)
    """
    error = (predicted.double() - target.double()) * scale[1]
    truth = target.double()
    spread = float(((truth - truth.mean()) ** 2).sum())
    r2 = 1.0 - float((error / scale[1]).pow(2).sum()) / spread if spread > 0 else 0.0
    return {
        "rmse": float(error.pow(2).mean().sqrt()),
        "mae": float(error.abs().mean()),
        "r2": r2,
    }
