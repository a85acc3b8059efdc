"""hpray: hyperparameter tuning for PyTorch and scikit-learn on Ray Tune, composed by Hydra.

The public API is what ``__all__`` lists; every other module is hpray's own and may change.
A trial function reports with ``hpray.report`` and resumes with ``hpray.get_checkpoint``
(``hpray.trial.api``); they are loaded on first use, so ``import hpray`` stays light.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from hpray.trial.api import get_checkpoint, report

__version__ = "0.1.0"

__all__ = ["__version__", "get_checkpoint", "report"]


def __getattr__(name: str) -> Any:
    if name in ("get_checkpoint", "report"):
        from hpray.trial import api

        return getattr(api, name)
    raise AttributeError(f"module 'hpray' has no attribute {name!r}")
