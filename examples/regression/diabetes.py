"""A plain PyTorch regression loop (its own model, loss and data), tuned by hpray as it is.

scikit-learn's diabetes data (442 patients, 10 features): predict disease progression a year on.
The loop reads its settings from ``cfg.train``, reports validation RMSE each epoch, and keeps
its model and optimizer in the checkpoint it reports, so a killed study goes on where it was.

    PYTHONPATH=examples/regression hpray tune --config-dir examples/regression/conf \\
        --config-name diabetes
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from sklearn.datasets import load_diabetes
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler
from torch import nn

import hpray


def splits(seed: int, final: bool) -> tuple[torch.Tensor, ...]:
    """Standardised training and held-out tensors; targets scaled, their scale returned.

    The test rows are fixed and never seen while tuning: tuning holds out validation rows of
    the rest, the final fit trains on all the rest and holds out the test rows.
    """
    x, y = load_diabetes(return_X_y=True)
    x_rest, x_test, y_rest, y_test = train_test_split(x, y, test_size=0.2, random_state=0)
    if final:
        x_train, x_val, y_train, y_val = x_rest, x_test, y_rest, y_test
    else:
        x_train, x_val, y_train, y_val = train_test_split(
            x_rest, y_rest, test_size=0.25, random_state=seed
        )
    scaler = StandardScaler().fit(x_train)
    mean, std = float(y_train.mean()), float(y_train.std())
    as_tensor = lambda a: torch.tensor(a, dtype=torch.float32)  # noqa: E731
    return (
        as_tensor(scaler.transform(x_train)),
        as_tensor((y_train - mean) / std),
        as_tensor(scaler.transform(x_val)),
        as_tensor(y_val),
        torch.tensor([mean, std]),
    )


def model(hidden: int, dropout: float) -> nn.Module:
    return nn.Sequential(
        nn.Linear(10, hidden), nn.ReLU(), nn.Dropout(dropout), nn.Linear(hidden, 1)
    )


def errors(net: nn.Module, x: torch.Tensor, y: torch.Tensor, scale: torch.Tensor) -> dict:
    """RMSE and MAE of the predictions, in the target's own units."""
    net.eval()
    with torch.no_grad():
        error = net(x).squeeze(1) * scale[1] + scale[0] - y
    return {"rmse": float(error.pow(2).mean().sqrt()), "mae": float(error.abs().mean())}


def train(cfg: Any, final: bool = False) -> None:
    """One trial: ``cfg`` is the study's config with this trial's values in ``cfg.train``.

    ``final`` (hpray retrain): train on training + validation rows for the whole budget and
    report the test rows' errors once.
    """
    torch.manual_seed(cfg.study.seed)
    x_train, y_train, x_val, y_val, scale = splits(cfg.study.seed, final)
    net = model(cfg.train.hidden, cfg.train.dropout)
    opt = torch.optim.AdamW(net.parameters(), lr=cfg.train.lr, weight_decay=cfg.train.weight_decay)
    loss_fn = nn.HuberLoss(delta=cfg.train.huber_delta)
    shuffle = torch.Generator().manual_seed(cfg.study.seed)

    start = 0
    state = None if final else hpray.get_checkpoint()
    if state is not None:  # resumed: go on after the last epoch it reported
        net.load_state_dict(state["model"])
        opt.load_state_dict(state["opt"])
        for group in opt.param_groups:  # the state's moments, this trial's settings (PBT)
            group.update(lr=cfg.train.lr, weight_decay=cfg.train.weight_decay)
        shuffle.set_state(state["shuffle"])
        start = state["epoch"]

    for epoch in range(start + 1, cfg.study.epochs + 1):
        net.train()
        order = torch.randperm(len(x_train), generator=shuffle)
        total = 0.0
        for batch in order.split(cfg.train.batch_size):
            loss = loss_fn(net(x_train[batch]).squeeze(1), y_train[batch])
            opt.zero_grad()
            loss.backward()
            opt.step()
            total += loss.item() * len(batch)
        if final:
            continue  # the test rows are scored once, after the last epoch
        held_out = errors(net, x_val, y_val, scale)
        hpray.report(
            {
                "val_rmse": held_out["rmse"],
                "val_mae": held_out["mae"],
                "train_loss": total / len(x_train),
                "epoch": epoch,
            },
            checkpoint={
                "model": net.state_dict(),
                "opt": opt.state_dict(),
                "shuffle": shuffle.get_state(),
                "epoch": epoch,
            },
        )
        if cfg.train.log:  # the loop's own record of each epoch it trained and reported
            with Path(cfg.train.log).open("a") as log:
                log.write(f"{cfg.train.lr!r} {cfg.train.hidden} {epoch}\n")
    if final:
        tested = errors(net, x_val, y_val, scale)
        hpray.report({"test_rmse": tested["rmse"], "test_mae": tested["mae"]})
