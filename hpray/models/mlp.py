"""A multilayer perceptron over flattened inputs."""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import nn

from hpray.models.layers import activation as make_activation
from hpray.models.layers import initialise


class MLP(nn.Module):
    """``layers`` hidden layers of ``units`` each, then a linear classifier.

    Example:
        >>> model = MLP(input_shape=(1, 8, 8), n_classes=10, layers=2, units=64)
        >>> model(torch.zeros(5, 1, 8, 8)).shape
        torch.Size([5, 10])
    """

    def __init__(
        self,
        input_shape: Sequence[int],
        n_classes: int,
        layers: int = 2,
        units: int = 128,
        dropout: float = 0.0,
        activation: str = "relu",
        init: str = "kaiming",
    ) -> None:
        super().__init__()
        if layers < 0 or units < 1:
            raise ValueError(f"MLP needs layers >= 0 and units >= 1, got {layers} and {units}")
        width = math.prod(input_shape)
        blocks: list[nn.Module] = [nn.Flatten()]
        for _ in range(layers):
            blocks += [nn.Linear(width, units), make_activation(activation), nn.Dropout(dropout)]
            width = units
        blocks.append(nn.Linear(width, n_classes))
        self.net = nn.Sequential(*blocks)
        initialise(self, init, activation)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)  # type: ignore[no-any-return]
