"""A plain PyTorch Hydra app, regression on scikit-learn's diabetes data, tuned by hpray as it is.

Run on its own:     python examples/hydra_plain/train.py optimizer.lr=0.01
Tuned by hpray:     python examples/hydra_plain/train.py -m hparams_search=diabetes

It calls ``hpray.report`` after each epoch with the state to resume from, so a sweep gets ASHA
and a killed sweep resumes each trial from its last epoch; run on its own, those calls do
nothing. It returns the final validation RMSE, as an app made for Hydra's Optuna sweeper does.
"""

from __future__ import annotations

import logging

import hydra
import torch
from omegaconf import DictConfig
from sklearn.datasets import load_diabetes
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler
from torch import nn
from torch.nn import functional

import hpray

log = logging.getLogger(__name__)


def load(data: DictConfig, seed: int) -> list[torch.Tensor]:
    """Standardised features and targets: training and validation splits."""
    x, y = load_diabetes(return_X_y=True)
    x_train, x_val, y_train, y_val = train_test_split(
        x, y, test_size=data.val_size, random_state=seed
    )
    scale = StandardScaler().fit(x_train)
    return [
        torch.tensor(a, dtype=torch.float32)
        for a in (scale.transform(x_train), y_train, scale.transform(x_val), y_val)
    ]


def build(model: DictConfig, features: int) -> nn.Module:
    layers: list[nn.Module] = []
    for width in [model.hidden] * model.layers:
        layers += [nn.Linear(features, width), nn.ReLU(), nn.Dropout(model.dropout)]
        features = width
    return nn.Sequential(*layers, nn.Linear(features, 1))


def rmse(model: nn.Module, x: torch.Tensor, y: torch.Tensor, scale: float) -> float:
    model.eval()
    with torch.no_grad():
        return float(functional.mse_loss(model(x).squeeze(1) * scale, y).sqrt())


@hydra.main(version_base="1.3", config_path="configs", config_name="train")
def main(cfg: DictConfig) -> float:
    torch.manual_seed(cfg.seed)
    x_train, y_train, x_val, y_val = load(cfg.data, cfg.seed)
    scale = float(y_train.std())  # the net predicts targets in units of their spread
    model = build(cfg.model, x_train.shape[1])
    optimizer = torch.optim.Adam(
        model.parameters(), lr=cfg.optimizer.lr, weight_decay=cfg.optimizer.weight_decay
    )
    size = sum(p.numel() for p in model.parameters())
    start = 0
    state = hpray.get_checkpoint()  # a resumed trial's last state; None otherwise
    if state is not None:
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        # Under population based training the state may be another trial's, copied: torch
        # brought back that trial's settings with it; this trial trains on with its own.
        for group in optimizer.param_groups:
            group.update(lr=cfg.optimizer.lr, weight_decay=cfg.optimizer.weight_decay)
        start = state["epoch"]
    for epoch in range(start + 1, cfg.epochs + 1):
        model.train()
        for batch in torch.randperm(len(x_train)).split(cfg.data.batch_size):
            optimizer.zero_grad()
            predicted = model(x_train[batch]).squeeze(1)
            functional.mse_loss(predicted, y_train[batch] / scale).backward()
            optimizer.step()
        val_rmse = rmse(model, x_val, y_val, scale)
        log.info("epoch %d: val_rmse %.2f", epoch, val_rmse)
        hpray.report(
            # params: the model's size, a second objective for a study of two metrics.
            {"val_rmse": val_rmse, "params": size, "epoch": epoch},
            checkpoint={
                "model": model.state_dict(),
                "optimizer": optimizer.state_dict(),
                "epoch": epoch,
            },
        )
    torch.save(model.state_dict(), cfg.output.weights)
    return rmse(model, x_val, y_val, scale)


if __name__ == "__main__":
    main()
