"""A scikit-learn Pipeline (a scaler, then an SVM) tuned with K-fold cross-validation.

scikit-learn's breast cancer data (569 tumours, 30 features): benign or malignant. The function
scores each configuration by scikit-learn's own ``cross_validate`` over stratified folds and
returns the mean and spread: a function that returns its metrics needs no ``hpray.report``.

    PYTHONPATH=examples/sklearn_pipeline hpray tune \\
        --config-dir examples/sklearn_pipeline/conf --config-name pipeline
"""

from __future__ import annotations

from typing import Any

from sklearn.datasets import load_breast_cancer
from sklearn.model_selection import StratifiedKFold, cross_validate, train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import MinMaxScaler, RobustScaler, StandardScaler
from sklearn.svm import SVC

SCALERS = {"standard": StandardScaler, "robust": RobustScaler, "minmax": MinMaxScaler}


def pipeline(cfg: Any) -> Any:
    """The scaler the config names, then an RBF SVM with its C and gamma."""
    return make_pipeline(
        SCALERS[cfg.model.scaler](), SVC(C=cfg.model.C, gamma=cfg.model.gamma, random_state=0)
    )


def train(cfg: Any, final: bool = False) -> dict[str, float]:
    """Cross-validated accuracy of the config's pipeline on the tuning rows.

    ``final`` (hpray retrain): fit on all the tuning rows, score the held-out test rows once.
    """
    x, y = load_breast_cancer(return_X_y=True)
    # The test rows are fixed and never seen while tuning.
    x_tune, x_test, y_tune, y_test = train_test_split(
        x, y, test_size=0.2, stratify=y, random_state=0
    )
    if final:
        fitted = pipeline(cfg).fit(x_tune, y_tune)
        return {"test_acc": float(fitted.score(x_test, y_test))}
    folds = StratifiedKFold(n_splits=cfg.cv.folds, shuffle=True, random_state=cfg.study.seed)
    scores = cross_validate(pipeline(cfg), x_tune, y_tune, cv=folds)["test_score"]
    return {"val_acc": float(scores.mean()), "val_acc_std": float(scores.std())}
