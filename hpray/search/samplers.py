"""Optuna samplers that pickle, whatever Optuna release is installed.

Ray Tune pickles the searcher, and the sampler in it, when a study starts and with every
experiment snapshot. Optuna 5.1's genetic samplers (NSGA-II, NSGA-III) hold a ``threading.Lock``,
which pickle refuses. These are Optuna's own samplers, less the lock in their pickled state: a
lock guards one process's threads, so the unpickled sampler gets a new one. Nothing else changes.
"""

from __future__ import annotations

import threading
from typing import Any

import optuna

_LOCK_TYPES = {type(threading.Lock()): threading.Lock, type(threading.RLock()): threading.RLock}


class _NewLock:
    """Stands in a pickled state for a lock, and names which kind to make again."""

    def __init__(self, kind: str) -> None:
        self.kind = kind


class LockFree:
    """Mixed into a sampler: pickles its attributes but its locks, which come back new."""

    def __getstate__(self) -> dict[str, Any]:
        return {
            name: _NewLock(type(value).__name__) if type(value) in _LOCK_TYPES else value
            for name, value in self.__dict__.items()
        }

    def __setstate__(self, state: dict[str, Any]) -> None:
        kinds = {kind.__name__: make for kind, make in _LOCK_TYPES.items()}
        self.__dict__.update(
            {
                name: kinds[value.kind]() if isinstance(value, _NewLock) else value
                for name, value in state.items()
            }
        )


class NSGAIISampler(LockFree, optuna.samplers.NSGAIISampler):
    """Optuna's NSGA-II sampler (same arguments), picklable."""


class NSGAIIISampler(LockFree, optuna.samplers.NSGAIIISampler):
    """Optuna's NSGA-III sampler (same arguments), picklable."""
