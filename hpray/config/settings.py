"""The settings blocks of a study config, typed and checked before anything runs.

Hydra checks types and keys as it composes (``schema.py``); a config read back from a study
directory or given whole (``best.yaml``) is checked the same way here, and the ranges and rules
a type cannot say are checked on the typed blocks. Each error names its key (exit 2).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, TypeVar

from omegaconf import OmegaConf
from omegaconf.errors import MissingMandatoryValue, OmegaConfBaseException

from hpray.config.schema import (
    K8sSettings,
    RaySettings,
    ReportSettings,
    Resources,
    StudySettings,
)
from hpray.errors import ConfigError

NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
DURATION = re.compile("^" + "".join(rf"(?:(\d+(?:\.\d+)?){unit})?" for unit in "dhms") + "$")
T = TypeVar("T")


def typed(schema: type[T], block: Any, key: str) -> T:
    """``block`` (the config's ``key:`` node, plain values) as an instance of ``schema``."""
    if not isinstance(block, Mapping):
        raise ConfigError(key, f"must be a mapping of settings, got {block!r}.")
    try:
        merged = OmegaConf.merge(OmegaConf.structured(schema), dict(block))
        return OmegaConf.to_object(merged)  # type: ignore[return-value]
    except MissingMandatoryValue as err:
        where = f"{key}.{err.full_key}"
        raise ConfigError(where, f"is required; set it, e.g. {where}=...") from err
    except OmegaConfBaseException as err:
        where = f"{key}.{err.full_key}" if err.full_key else key
        raise ConfigError(where, str(err.msg)) from err


def study_settings(config: Mapping[str, Any]) -> StudySettings:
    """The ``study:`` block: names, budgets and the metric's direction."""
    settings = typed(StudySettings, config.get("study"), "study")
    if not NAME.match(settings.name):
        raise ConfigError(
            "study.name",
            f"{settings.name!r} must be letters, digits, '.', '_' or '-' (it names the study's "
            "directory).",
        )
    for key, least in (
        ("num_samples", 1),
        ("epochs", 1),
        ("checkpoint_every", 1),
        ("max_concurrent", 0),
        ("max_failures", 0),
    ):
        value = getattr(settings, key)
        if value < least:
            raise ConfigError(f"study.{key}", f"must be a whole number >= {least}, got {value!r}.")
    check_objectives(settings)
    for key in ("time_budget", "trial_timeout", "storage_retry"):
        duration_s(f"study.{key}", getattr(settings, key))
    if settings.cv_folds < 0 or settings.cv_folds == 1:
        raise ConfigError(
            "study.cv_folds",
            "must be 0 (one fixed validation split) or a number of folds >= 2, "
            f"got {settings.cv_folds!r}.",
        )
    return settings


def check_objectives(settings: StudySettings) -> None:
    """One metric and its mode, or a list of distinct metrics with one mode each."""
    metrics, modes = settings.metrics, settings.modes
    if not metrics or not all(isinstance(m, str) and m for m in metrics):
        raise ConfigError(
            "study.metric", f"must be a metric's name or a list of them, got {settings.metric!r}."
        )
    twice = sorted({m for m in metrics if metrics.count(m) > 1})
    if twice:
        raise ConfigError("study.metric", f"lists {twice[0]!r} twice; list each metric once.")
    if len(modes) != len(metrics):
        raise ConfigError(
            "study.mode",
            f"gives {len(modes)} mode(s) for {len(metrics)} metric(s) {metrics}: give one per "
            f"metric, in order, e.g. study.mode=[{','.join(['max', 'min'][:1] * len(metrics))}].",
        )
    for mode in modes:
        if mode not in ("min", "max"):
            raise ConfigError("study.mode", f"must be 'min' or 'max', got {mode!r}.")


def duration_s(key: str, value: Any) -> float | None:
    """A duration setting in seconds: a number of seconds, or days, hours, minutes and seconds
    written as ``2h``, ``30m``, ``90s``, ``1h30m``, ``1d``; None when not set.

    Example:
        >>> duration_s("study.time_budget", "1h30m"), duration_s("study.time_budget", 90)
        (5400.0, 90.0)
    """
    if value is None:
        return None
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        seconds = float(value)
    else:
        match = DURATION.match(str(value).replace(" ", "").lower())
        if not match or not any(match.groups()):
            raise ConfigError(
                key,
                f"{value!r} is not a duration: write it as 2h, 30m, 90s, 1h30m or 1d, or as "
                "a number of seconds.",
            )
        days, hours, minutes, secs = (float(g or 0) for g in match.groups())
        seconds = ((days * 24 + hours) * 60 + minutes) * 60 + secs
    if not seconds > 0:
        raise ConfigError(key, f"must be a duration > 0, got {value!r}.")
    return seconds


PLACEMENTS = ("pack", "spread")


def trial_resources(config: Mapping[str, Any]) -> Resources:
    """Per-trial CPUs and GPUs: ``gpu`` is auto, a fraction of one GPU, or whole GPUs."""
    resources = typed(Resources, config.get("resources"), "resources")
    if resources.cpu <= 0:
        raise ConfigError("resources.cpu", f"must be a number > 0, got {resources.cpu!r}.")
    if resources.workers < 1:
        raise ConfigError(
            "resources.workers", f"must be a number of processes >= 1, got {resources.workers!r}."
        )
    if resources.placement not in PLACEMENTS:
        raise ConfigError(
            "resources.placement",
            f"must be one of {', '.join(PLACEMENTS)}, got {resources.placement!r}.",
        )
    gpu = resources.gpu
    if gpu == "auto":
        return resources
    if (
        not isinstance(gpu, (int, float))
        or isinstance(gpu, bool)
        or gpu < 0
        or (gpu > 1 and not float(gpu).is_integer())
    ):
        raise ConfigError(
            "resources.gpu", f"must be 'auto', a fraction in (0, 1], or whole GPUs; got {gpu!r}."
        )
    if resources.workers > 1 and not float(gpu).is_integer():
        raise ConfigError(
            "resources.gpu",
            f"a trial of {resources.workers} workers (resources.workers) takes whole GPUs per "
            f"worker (NCCL shares no GPU between ranks); got {gpu!r}: set 1, or 0 for CPUs.",
        )
    return resources


def ray_settings(config: Mapping[str, Any]) -> RaySettings:
    """The ``ray:`` block: the cluster to join, or the local Ray to start."""
    return typed(RaySettings, config.get("ray") or {}, "ray")


def report_settings(config: Mapping[str, Any]) -> ReportSettings:
    """The ``report:`` block: how often report.html is redrawn while the study runs."""
    report = typed(ReportSettings, config.get("report") or {}, "report")
    if report.every < 0:
        raise ConfigError(
            "report.every", f"must be seconds >= 0 (0: at the end only), got {report.every!r}."
        )
    return report


def k8s_settings(config: Mapping[str, Any]) -> K8sSettings:
    """The ``k8s:`` block; what the API server or the operator would refuse, refused here first."""
    k8s = typed(K8sSettings, config.get("k8s"), "k8s")
    for key in ("retries", "pod_retries", "ttl_s", "workers.min", "workers.max"):
        group, _, leaf = key.rpartition(".")
        value = getattr(getattr(k8s, group) if group else k8s, leaf)
        if value < 0:
            raise ConfigError(f"k8s.{key}", f"must be a whole number >= 0, got {value!r}.")
    for key in ("deadline_s", "stop_wait_s"):
        if getattr(k8s, key) <= 0:
            raise ConfigError(
                f"k8s.{key}", f"must be a whole number > 0, got {getattr(k8s, key)!r}."
            )
    if k8s.workers.min > k8s.workers.max:
        raise ConfigError(
            "k8s.workers.min",
            f"({k8s.workers.min}) is more than k8s.workers.max ({k8s.workers.max}).",
        )
    if not k8s.image.strip():
        raise ConfigError("k8s.image", "is empty; give the image you built from k8s/Dockerfile.")
    return k8s
