"""Data for trials: loaders that return (features, labels) arrays, and the fixed splits.

Config options in conf/data/ name a loader under ``source._target_`` (scikit-learn's own
loaders and generators, or the file loaders here); splitting and scaling are shared.
Imports torch, NumPy and scikit-learn, and of hpray only ``errors``; no Hydra.
"""

from hpray.data.loaders import load_csv, load_npz
from hpray.data.splits import (
    CLASSIFICATION,
    MODEL_METRICS,
    REGRESSION,
    TASK_METRICS,
    FinalSplits,
    Split,
    Splits,
    final_splits,
    make_folds,
    make_splits,
)

__all__ = [
    "CLASSIFICATION",
    "MODEL_METRICS",
    "REGRESSION",
    "TASK_METRICS",
    "FinalSplits",
    "Split",
    "Splits",
    "final_splits",
    "load_csv",
    "load_npz",
    "make_folds",
    "make_splits",
]
