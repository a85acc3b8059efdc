"""Regression with the built-in learners, without Ray: standardised targets, errors in the
target's own units, plain K folds, and the torch and scikit-learn learners learning diabetes."""

import numpy as np
import pytest
import torch
from sklearn.datasets import load_diabetes

from hpray.config.build import build_estimator, build_loss, build_model, build_optimizer
from hpray.data import REGRESSION, make_folds, make_splits
from hpray.trial.estimator_learner import EstimatorLearner
from hpray.trial.torch_learner import TorchLearner

X, Y = load_diabetes(return_X_y=True)
DATA = make_splits(X, Y, shape=None, seed=0, val=0.2, test=0.2, task=REGRESSION)


def test_targets_are_standardised_with_the_training_rows_and_kept_as_values() -> None:
    assert DATA.task == REGRESSION and DATA.n_classes == 1
    assert DATA.train.y.dtype == torch.float32
    assert abs(float(DATA.train.y.mean())) < 1e-5 and abs(float(DATA.train.y.std()) - 1) < 0.01
    mean, std = DATA.target_scale
    first = float(DATA.train.y[0]) * std + mean
    assert np.isclose(Y, first, atol=1e-3).any()  # a real target, scaled back
    assert 140 < mean < 165 and 70 < std < 85  # disease progression, in its own units


def test_regression_folds_are_plain_k_folds_of_the_tuning_rows() -> None:
    folds = make_folds(X, Y, shape=None, seed=0, val=0.2, test=0.2, folds=4, task=REGRESSION)
    sizes = [len(f.val) for f in folds]
    assert sum(sizes) == len(DATA.train) + len(DATA.val) and max(sizes) - min(sizes) <= 1
    held = np.concatenate([f.val.x.numpy()[:, 0] for f in folds])
    assert len(held) == sum(sizes)


def test_an_mlp_learns_to_regress_with_its_loss_and_reports_errors_in_units() -> None:
    torch.manual_seed(0)
    model = build_model({"_target_": "hpray.models.MLP", "layers": 1, "units": 32}, (10,), 1)
    learner = TorchLearner(
        model,
        build_optimizer({"_target_": "torch.optim.AdamW", "lr": 0.01}, model.parameters()),
        torch.Generator().manual_seed(0),
        DATA.train,
        DATA.val,
        batch_size=32,
        loss=build_loss({"_target_": "torch.nn.HuberLoss", "delta": 1.0}, REGRESSION),
        task=REGRESSION,
        target_scale=DATA.target_scale,
    )
    before = learner.score()
    for epoch in range(1, 31):
        learner.step(epoch, 30)
    after = learner.score()
    assert set(after) == {"val_loss", "val_rmse", "val_mae", "val_r2", "params", "latency_ms"}
    assert after["params"] == sum(p.numel() for p in learner.model.parameters())
    assert after["latency_ms"] > 0
    # Predicting the mean is about one std (~77) off; a fitted model does much better.
    assert after["val_rmse"] < 65 < before["val_rmse"] and after["val_r2"] > 0.3
    assert after["val_mae"] < after["val_rmse"]


@pytest.mark.parametrize(
    "target",
    [
        "sklearn.linear_model.Ridge",
        "sklearn.svm.SVR",
        "sklearn.ensemble.RandomForestRegressor",
        "sklearn.ensemble.GradientBoostingRegressor",
    ],
)
def test_every_regressor_learns_diabetes(target: str) -> None:
    estimator = build_estimator({"_target_": target}, seed=0, n_jobs=1, task=REGRESSION)
    learner = EstimatorLearner(estimator, DATA.train, DATA.val, REGRESSION, DATA.target_scale)
    train_loss = learner.step(4, 4)
    scored = learner.score()
    assert 40 < scored["val_rmse"] < 70 and scored["val_r2"] > 0.2
    assert train_loss >= 0 and scored["val_loss"] > 0
