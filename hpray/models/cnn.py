"""A small VGG-style convolutional net for (channels, height, width) inputs."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from hpray.models.layers import activation as make_activation
from hpray.models.layers import initialise


class CNN(nn.Module):
    """``blocks`` conv blocks (two convs, then 2x2 max-pool), then a dense head.

    The first block has ``channels`` filters and each next block doubles them. Pooling stops once
    the feature map is 1 pixel wide, so small images (digits' 8x8) take any block count.

    Example:
        >>> model = CNN(input_shape=(1, 8, 8), n_classes=10, channels=8, blocks=2)
        >>> model(torch.zeros(5, 1, 8, 8)).shape
        torch.Size([5, 10])
    """

    def __init__(
        self,
        input_shape: Sequence[int],
        n_classes: int,
        channels: int = 32,
        blocks: int = 2,
        kernel_size: int = 3,
        units: int = 128,
        dropout: float = 0.0,
        activation: str = "relu",
        init: str = "kaiming",
    ) -> None:
        super().__init__()
        if len(input_shape) != 3:
            raise ValueError(
                f"CNN needs image-shaped data (channels, height, width), "
                f"got shape {list(input_shape)}; "
                "set data.shape, e.g. data.shape=[1,28,28]"
            )
        in_ch, height, width = (int(s) for s in input_shape)
        layers: list[nn.Module] = []
        out_ch = channels
        for _ in range(blocks):
            layers += [
                nn.Conv2d(in_ch, out_ch, kernel_size, padding="same"),
                make_activation(activation),
                nn.Conv2d(out_ch, out_ch, kernel_size, padding="same"),
                make_activation(activation),
            ]
            if min(height, width) >= 2:
                layers.append(nn.MaxPool2d(2))
                height, width = height // 2, width // 2
            in_ch, out_ch = out_ch, out_ch * 2
        self.features = nn.Sequential(*layers)
        self.head = nn.Sequential(
            nn.Flatten(),
            nn.Linear(in_ch * height * width, units),
            make_activation(activation),
            nn.Dropout(dropout),
            nn.Linear(units, n_classes),
        )
        initialise(self, init, activation)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))  # type: ignore[no-any-return]
