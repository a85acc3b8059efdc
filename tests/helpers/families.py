"""What a trial of each family (and optimizer) of ``space=families`` may hold, and must hold."""

from __future__ import annotations

from typing import Any

FAMILY_KEYS = {
    "random_forest": {"model.n_estimators", "model.max_depth", "model.max_features"},
    "svm": {"model.C", "model.gamma"},
    "logreg": {"model.C"},
    "mlp": {"model.layers", "model.units", "model.dropout", "optim", "data.batch_size"},
}
OPTIM_KEYS = {
    "sgd": {"optim.lr", "optim.momentum"},
    "adamw": {"optim.lr", "optim.momentum", "optim.beta2"},
}


def expected_keys(config: dict[str, Any]) -> set[str]:
    keys = {"model"} | FAMILY_KEYS[config["model"]]
    if config["model"] == "mlp":
        keys |= OPTIM_KEYS[config["optim"]]
    return keys
