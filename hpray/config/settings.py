"""The settings blocks of a study config (`study`, `resources`), checked before anything runs."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from hpray.errors import ConfigError

NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")


def check_settings(settings: Mapping[str, Any]) -> None:
    """The ``study:`` block: names, budgets and the metric's direction."""
    name = str(settings.get("name", ""))
    if not NAME.match(name):
        raise ConfigError(
            "study.name",
            f"{name!r} must be letters, digits, '.', '_' or '-' (it names the study's directory).",
        )
    for key, least in (
        ("num_samples", 1),
        ("epochs", 1),
        ("checkpoint_every", 1),
        ("max_concurrent", 0),
        ("max_failures", 0),
    ):
        value = settings.get(key)
        if not isinstance(value, int) or isinstance(value, bool) or value < least:
            raise ConfigError(f"study.{key}", f"must be a whole number >= {least}, got {value!r}.")
    if settings.get("mode") not in ("min", "max"):
        raise ConfigError("study.mode", f"must be 'min' or 'max', got {settings.get('mode')!r}.")
    shared = settings.get("shared_storage")
    if not isinstance(shared, bool):
        raise ConfigError("study.shared_storage", f"must be true or false, got {shared!r}.")
    folds = settings.get("cv_folds", 0)
    if not isinstance(folds, int) or isinstance(folds, bool) or folds < 0 or folds == 1:
        raise ConfigError(
            "study.cv_folds",
            f"must be 0 (one fixed validation split) or a number of folds >= 2, got {folds!r}.",
        )
    if not isinstance(settings.get("seed"), int):
        raise ConfigError("study.seed", f"must be a whole number, got {settings.get('seed')!r}.")


def check_resources(resources: Mapping[str, Any]) -> None:
    """Per-trial CPUs and GPUs: ``gpu`` is auto, a fraction of one GPU, or whole GPUs."""
    cpu, gpu = resources.get("cpu"), resources.get("gpu")
    if not isinstance(cpu, (int, float)) or isinstance(cpu, bool) or cpu <= 0:
        raise ConfigError("resources.cpu", f"must be a number > 0, got {cpu!r}.")
    if gpu == "auto":
        return
    if (
        not isinstance(gpu, (int, float))
        or isinstance(gpu, bool)
        or gpu < 0
        or (gpu > 1 and not float(gpu).is_integer())
    ):
        raise ConfigError(
            "resources.gpu", f"must be 'auto', a fraction in (0, 1], or whole GPUs; got {gpu!r}."
        )
