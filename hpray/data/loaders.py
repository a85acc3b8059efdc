"""Loaders for the user's own data files. Each returns (features, integer labels)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from hpray.errors import ConfigError

Arrays = tuple[np.ndarray, np.ndarray]


def _existing(path: str) -> Path:
    file = Path(path).expanduser()
    if not file.is_file():
        raise ConfigError(
            "data.source.path", f"no such file: {file}. Point data.source.path at your data file."
        )
    return file


def load_npz(path: str, x_key: str = "X", y_key: str = "y") -> Arrays:
    """Features and labels stored under ``x_key`` and ``y_key`` in a ``.npz`` file."""
    file = _existing(path)
    try:
        with np.load(file, allow_pickle=False) as archive:
            missing = [k for k in (x_key, y_key) if k not in archive.files]
            if missing:
                raise ConfigError(
                    "data.source.x_key" if x_key in missing else "data.source.y_key",
                    f"{file} has no array {missing[0]!r}; it holds {sorted(archive.files)}.",
                )
            return np.asarray(archive[x_key]), np.asarray(archive[y_key])
    except (OSError, ValueError) as err:
        raise ConfigError(
            "data.source.path", f"{file} is not a readable .npz file ({err})."
        ) from err


def load_csv(path: str, target: str = "label") -> Arrays:
    """Every column but ``target`` as numeric features; ``target`` as the class label."""
    file = _existing(path)
    try:
        table = pd.read_csv(file)
    except (OSError, ValueError) as err:
        raise ConfigError(
            "data.source.path", f"{file} is not a readable CSV file ({err})."
        ) from err
    if target not in table.columns:
        raise ConfigError(
            "data.source.target",
            f"{file} has no column {target!r}; its columns: {list(table.columns)}.",
        )
    features = table.drop(columns=[target])
    non_numeric = [c for c in features.columns if not pd.api.types.is_numeric_dtype(features[c])]
    if non_numeric:
        raise ConfigError(
            "data.source.path",
            f"{file}: feature columns must be numeric; not numeric: {non_numeric}.",
        )
    return features.to_numpy(dtype=np.float32), table[target].to_numpy()
