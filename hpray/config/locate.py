"""A class or function named by a dotted path in the config, imported.

Imports nothing heavy itself: a trial process locates its function with it before it knows
whether that function needs torch.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

from hpray.errors import ConfigError


def locate(key: str, path: str) -> Callable[..., Any]:
    """The class or function at dotted ``path`` (the value of config key ``key``)."""
    module, _, name = path.rpartition(".")
    try:
        found = getattr(importlib.import_module(module), name)
    except (ImportError, AttributeError, ValueError) as err:
        raise ConfigError(key, f"cannot import {path!r}: check the dotted path.") from err
    if not callable(found):
        raise ConfigError(key, f"{path!r} is not a class or function.")
    return found  # type: ignore[no-any-return]
