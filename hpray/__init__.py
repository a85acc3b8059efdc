"""hpray: hyperparameter tuning for PyTorch and scikit-learn on Ray Tune, composed by Hydra.

The public API is what ``__all__`` lists; every other module is hpray's own and may change.
"""

__version__ = "0.1.0"

__all__ = ["__version__"]
