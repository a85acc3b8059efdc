"""The study the storage fault tests run: the package's paced function (epochs of a set length,
``val_rmse`` = 1 / (epoch * lr), so the best is known), a grid of learning rates, two at a
time on CPUs."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.helpers.studies import assert_trained_once, history, results, summary


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


def assert_nothing_lost(directory: Path, lrs: tuple[str, ...], epochs: int) -> None:
    """The study completed as an unfaulted run would: every trial once, each epoch trained
    once, the unfaulted best."""
    rows = results(directory)
    assert {r["status"] for r in rows} == {"completed"}
    assert sorted(r["faults.lr"] for r in rows) == sorted(lrs)  # every trial, once
    for row in rows:
        assert_trained_once(history(directory, row["trial_id"]), epochs)
    assert summary(directory)["best"]["value"] == pytest.approx(best_of(lrs, epochs))
