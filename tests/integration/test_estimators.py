"""scikit-learn estimators as trials, and K-fold cross-validation, on a real local Ray."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
from sklearn.datasets import load_digits
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold, cross_validate, train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer, StandardScaler

from hpray.data import TASK_METRICS
from tests.helpers.studies import history, results, run_study, stored_state, summary

pytestmark = pytest.mark.integration

GROWN = {"gradient_boosting": "n_estimators_", "random_forest": "estimators_"}
SMALL = {  # small ensembles and a sensible SVM range keep each study to seconds
    "gradient_boosting": ["space.model.n_estimators.low=6", "space.model.n_estimators.high=24"],
    "random_forest": ["space.model.n_estimators.low=6", "space.model.n_estimators.high=40"],
    "svm": ["space.model.C.low=1", "space.model.gamma.high=0.05", "space.model.kernel=rbf"],
    "logreg": [],
}


def newest_checkpoint(trial_dir: Path) -> Path:
    return max(trial_dir.glob("checkpoint_*"), key=lambda p: p.name)


@pytest.mark.parametrize("model", sorted(SMALL))
def test_every_sklearn_model_runs_a_tiny_study(local_ray, tmp_path: Path, model: str) -> None:
    code, directory = run_study(
        tmp_path,
        f"model={model}",
        f"study.name={model}",
        "study.num_samples=2",
        "study.epochs=3",
        "scheduler=fifo",
        *SMALL[model],
    )
    assert code == 0
    rows = results(directory)
    assert [r["status"] for r in rows] == ["completed", "completed"]
    assert max(float(r["best_val_acc"]) for r in rows) > 0.8  # digits is easy for all four
    for row in rows:
        raw = history(directory, row["trial_id"])
        # The torch models' metric names for a classification task.
        assert all({*TASK_METRICS["classification"], "train_loss", "epoch"} <= set(r) for r in raw)
        assert all(math.isfinite(r[m]) for r in raw for m in ("val_loss", "train_loss"))
        if model in GROWN:  # grown over the budget: a report per epoch, full size at the end
            assert [r["epoch"] for r in raw] == [1, 2, 3]
            state = stored_state(newest_checkpoint(directory / f"trial_{row['trial_id']}"))
            estimator = state["learners"][0]["estimator"]
            fitted = getattr(estimator, GROWN[model])
            size = fitted if isinstance(fitted, int) else len(fitted)
            assert size == int(row["model.n_estimators"]) == estimator.n_estimators
        else:  # fitted once: one report, at the full budget
            assert [r["epoch"] for r in raw] == [3]


def test_a_cv_trials_metric_is_the_mean_of_its_folds(local_ray, tmp_path: Path) -> None:
    folds = 4
    code, directory = run_study(
        tmp_path,
        "model=logreg",
        "study.name=cv",
        f"study.cv_folds={folds}",
        "study.num_samples=2",
        "study.epochs=2",
    )
    assert code == 0
    rows = results(directory)
    assert "best_val_acc_std" in rows[0]
    x, y = load_digits(return_X_y=True)
    # The same rows as hpray's: the test split (seed 0, 20%) set aside, the rest in K folds.
    rest, _ = train_test_split(np.arange(len(y)), test_size=0.2, random_state=0, stratify=y)
    rest = np.sort(rest)
    for row in rows:
        (reported,) = history(directory, row["trial_id"])  # fitted once: one report
        assert reported["folds"] == folds
        weight = row["model.class_weight"] or None
        pipeline = make_pipeline(
            StandardScaler(),
            FunctionTransformer(lambda a: a.astype(np.float32)),  # hpray's features are float32
            LogisticRegression(C=float(row["model.C"]), class_weight=weight, max_iter=1000),
        )
        scores = cross_validate(
            pipeline,
            x[rest].astype(np.float32),
            y[rest],
            cv=StratifiedKFold(folds, shuffle=True, random_state=0),
        )["test_score"]
        assert reported["val_acc"] == pytest.approx(scores.mean(), abs=1e-12)
        assert reported["val_acc_std"] == pytest.approx(scores.std(), abs=1e-12)
        assert float(row["best_val_acc_std"]) == reported["val_acc_std"]
    best = summary(directory)["best"]
    assert best["std"] == pytest.approx(
        next(float(r["best_val_acc_std"]) for r in rows if r["trial_id"] == best["trial_id"])
    )


def test_cv_trains_the_folds_side_by_side_so_asha_stops_by_epoch(local_ray, tmp_path: Path) -> None:
    code, directory = run_study(
        tmp_path,
        "study.name=cv_mlp",
        "study.cv_folds=3",
        "study.num_samples=3",
        "study.epochs=3",
        "scheduler.grace_period=1",
        "space.model.units.high=64",
    )
    assert code == 0
    rows = results(directory)
    assert len(rows) == 3 and {r["status"] for r in rows} <= {"completed", "early_stopped"}
    for row in rows:
        raw = history(directory, row["trial_id"])
        assert [r["epoch"] for r in raw] == list(range(1, int(row["epochs"]) + 1))
        assert all(r["folds"] == 3 and r["val_acc_std"] >= 0 for r in raw)
        checkpoint = newest_checkpoint(directory / f"trial_{row['trial_id']}")
        assert len(stored_state(checkpoint)["learners"]) == 3  # the three folds' learners
