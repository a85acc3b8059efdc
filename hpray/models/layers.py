"""Activation and weight-initialisation choices shared by the models."""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal

from torch import nn

ACTIVATIONS: dict[str, Callable[[], nn.Module]] = {
    "relu": nn.ReLU,
    "gelu": nn.GELU,
    "tanh": nn.Tanh,
    "silu": nn.SiLU,
    "leaky_relu": nn.LeakyReLU,
}
INITS = ("kaiming", "xavier", "orthogonal", "default")


def activation(name: str) -> nn.Module:
    """A fresh activation module by name."""
    if name not in ACTIVATIONS:
        raise ValueError(f"activation {name!r} is not one of {sorted(ACTIVATIONS)}")
    return ACTIVATIONS[name]()


def initialise(model: nn.Module, scheme: str, activation_name: str) -> None:
    """Initialise every linear and conv weight with ``scheme``; biases start at zero."""
    if scheme not in INITS:
        raise ValueError(f"init {scheme!r} is not one of {list(INITS)}")
    if scheme == "default":
        return  # PyTorch's own per-layer defaults
    # kaiming_normal_ supports relu/leaky_relu gains; the others use relu's, a close fit.
    nonlinearity: Literal["leaky_relu", "relu"] = (
        "leaky_relu" if activation_name == "leaky_relu" else "relu"
    )
    for module in model.modules():
        if isinstance(module, (nn.Linear, nn.Conv2d)):
            if scheme == "kaiming":
                nn.init.kaiming_normal_(module.weight, nonlinearity=nonlinearity)
            elif scheme == "xavier":
                nn.init.xavier_uniform_(module.weight)
            else:
                nn.init.orthogonal_(module.weight)
            if module.bias is not None:
                nn.init.zeros_(module.bias)
