"""The study the storage fault tests run: the package's paced function (epochs of a set length,
``val_rmse`` = 1 / (epoch * lr), so the best is known), a grid of learning rates, two at a
time on CPUs."""

from __future__ import annotations


def paced_grid(lrs: tuple[str, ...], epochs: int, epoch_s: float) -> tuple[str, ...]:
    return (
        "trainable=hpray.trial.faults.paced",
        "searcher=grid",
        "scheduler=fifo",
        "resources=cpu",
        f"study.epochs={epochs}",
        "study.metric=val_rmse",
        "study.mode=min",
        "+faults.lr=1.0",
        f"+faults.epoch_s={epoch_s}",
        "~space",
        f"+space.faults.lr={{type:choice,values:[{','.join(lrs)}]}}",
    )


def best_of(lrs: tuple[str, ...], epochs: int) -> float:
    """The best val_rmse of an unfaulted run: the largest rate's last epoch."""
    return 1 / (epochs * max(float(lr) for lr in lrs))
