"""hpray: hyperparameter tuning for PyTorch and scikit-learn on Ray Tune, composed by Hydra."""

__version__ = "0.1.0"
