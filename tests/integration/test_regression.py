"""Regression studies of the built-in models on a real local Ray: the MLP with its loss under
ASHA, scikit-learn regressors with K-fold CV, and the final retrain scored in the target's units."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from hpray.cli import main
from tests.helpers.studies import history, results, run_study, summary

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("local_ray")]

REGRESSION = ("study.metric=val_rmse", "study.mode=min", "data=diabetes")


def test_an_mlp_regresses_diabetes_under_asha_and_retrains(tmp_path: Path, capsys) -> None:
    code, directory = run_study(
        tmp_path,
        "experiment=diabetes",
        "study.num_samples=4",
        "study.epochs=4",
        "scheduler.grace_period=1",
        "scheduler.reduction_factor=2",
    )
    assert code == 0
    rows = results(directory)
    assert len(rows) == 4 and {r["status"] for r in rows} <= {"completed", "early_stopped"}
    for row in rows:
        reported = history(directory, row["trial_id"])
        assert [r["epoch"] for r in reported] == list(range(1, int(row["epochs"]) + 1))
        assert {"val_rmse", "val_mae", "val_r2", "val_loss", "train_loss"} <= set(reported[-1])
        assert reported[-1]["val_rmse"] > 30  # disease progression, in its own units
    best = summary(directory)["best"]
    assert best["metric"] == "val_rmse"
    assert best["value"] == min(float(r["best_val_rmse"]) for r in rows)
    assert best["value"] < 80  # predicting the mean is about 77 off

    with pytest.raises(SystemExit) as exit_:
        main(["retrain", str(directory)])
    assert exit_.value.code == 0, capsys.readouterr().err
    final = json.loads((directory / "final.json").read_text())
    assert {"test_rmse", "test_mae", "test_r2", "test_loss"} <= set(final)
    assert final["test_rmse"]["mean"] > 30 and final["test_rows"] == 89


@pytest.mark.parametrize("model", ["ridge", "gradient_boosting_regressor"])
def test_a_regressor_is_tuned_by_k_fold_cross_validation(tmp_path: Path, model: str) -> None:
    code, directory = run_study(
        tmp_path,
        *REGRESSION,
        f"model={model}",
        "study.cv_folds=3",
        "study.num_samples=3",
        "study.epochs=2",
        "scheduler=fifo",
        "space.model.n_estimators.high=40" if model != "ridge" else "study.seed=0",
    )
    assert code == 0
    rows = results(directory)
    assert len(rows) == 3 and all(r["status"] == "completed" for r in rows)
    for row in rows:
        reported = history(directory, row["trial_id"])
        assert all(r["folds"] == 3 and r["val_rmse_std"] >= 0 for r in reported)
        assert 40 < reported[-1]["val_rmse"] < 90 and reported[-1]["val_r2"] > 0
    assert "best_val_rmse_std" in rows[0]
