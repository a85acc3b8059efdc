"""The one place that turns config nodes into objects (Hydra's instantiate).

Everything else receives built objects or plain values. Config nodes arrive as plain dicts
(trials) or DictConfigs (the driver); both instantiate the same way.
"""

from __future__ import annotations

import inspect
import pickle
import re
import warnings
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import numpy as np
import optuna
import torch
from hydra.errors import InstantiationException
from hydra.utils import instantiate
from ray import cloudpickle
from ray.tune.schedulers import TrialScheduler
from sklearn.base import BaseEstimator, is_classifier, is_regressor

from hpray import internals
from hpray.config.locate import locate
from hpray.data import (
    CLASSIFICATION,
    FinalSplits,
    Splits,
    final_splits,
    make_folds,
    make_splits,
)
from hpray.errors import ConfigError
from hpray.search.searchers import SearchPlan
from hpray.space import Space

UNEXPECTED = re.compile(r"unexpected keyword argument '(\w+)'")


def _instantiate(key: str, node: Any, **kwargs: Any) -> Any:
    """Instantiate ``node``; a bad target or argument becomes a ConfigError naming the key."""
    try:
        return instantiate(node, **kwargs)
    except InstantiationException as err:
        cause = err.__cause__ or err
        if isinstance(cause, ConfigError):
            raise cause from None
        target = node.get("_target_") if isinstance(node, Mapping) else None
        unknown = UNEXPECTED.search(str(cause))
        if unknown:  # a misspelled or foreign key: name it, never drop it silently
            raise ConfigError(
                f"{key}.{unknown.group(1)}",
                f"{target} takes no argument {unknown.group(1)!r}; "
                "remove or rename it (see `hpray tune --cfg job`).",
            ) from err
        raise ConfigError(key, f"building {target} failed: {cause}") from err


def build_model(
    node: Mapping[str, Any], input_shape: Sequence[int], n_classes: int
) -> torch.nn.Module:
    """The model of ``node`` (``model:``), sized for the data."""
    model = _instantiate("model", node, input_shape=list(input_shape), n_classes=n_classes)
    if not isinstance(model, torch.nn.Module):
        raise ConfigError(
            "model._target_", f"must build a torch.nn.Module, built {type(model).__name__}."
        )
    return model


def build_loss(node: Mapping[str, Any] | None, task: str) -> torch.nn.Module:
    """The torch loss of ``node`` (``loss:``); none given, the task's own: cross-entropy for
    classification, mean squared error (on standardised targets) for regression."""
    if not node:
        return torch.nn.CrossEntropyLoss() if task == CLASSIFICATION else torch.nn.MSELoss()
    loss = _instantiate("loss", node)
    if not isinstance(loss, torch.nn.Module):
        raise ConfigError("loss._target_", f"must build a torch loss, built {type(loss).__name__}.")
    classifies = isinstance(loss, (torch.nn.CrossEntropyLoss, torch.nn.NLLLoss))
    if classifies != (task == CLASSIFICATION):
        raise ConfigError(
            "loss",
            f"{node.get('_target_')} does not fit a {task} task (data.task={task}): pick "
            + ("loss=cross_entropy." if task == CLASSIFICATION else "loss=mse, mae or huber."),
        )
    return loss


def is_estimator(node: Mapping[str, Any]) -> bool:
    """Whether the ``model:`` node builds a scikit-learn estimator (else a torch module)."""
    target = locate("model._target_", str(node.get("_target_")))
    return isinstance(target, type) and issubclass(target, BaseEstimator)


def build_estimator(
    node: Mapping[str, Any], *, seed: int, n_jobs: int, task: str = CLASSIFICATION
) -> Any:
    """The scikit-learn estimator of ``node`` (``model:``), its arguments checked, a classifier
    or a regressor as the data's ``task`` asks.

    ``random_state`` left unset (null) becomes the trial's seed; ``n_jobs: null`` in the node
    becomes the trial's CPUs (not set where the node omits it: some estimators ignore it).
    """
    estimator = _instantiate("model", node)
    params = estimator.get_params()
    if "random_state" in params and params["random_state"] is None:
        estimator.set_params(random_state=seed % 2**32)
    if "n_jobs" in node and node["n_jobs"] is None:
        estimator.set_params(n_jobs=n_jobs)
    try:  # scikit-learn checks argument values at fit; check them before any trial runs
        internals.validate_estimator_params(estimator)
    except (ValueError, TypeError) as err:
        raise ConfigError("model", f"{node.get('_target_')}: {err}") from err
    if not hasattr(estimator, "predict"):
        raise ConfigError(
            "model._target_", f"{node.get('_target_')} has no predict(): not an estimator."
        )
    fits = is_classifier(estimator) if task == CLASSIFICATION else is_regressor(estimator)
    if not fits:
        kind = "classifier" if task == CLASSIFICATION else "regressor"
        raise ConfigError(
            "model._target_",
            f"{node.get('_target_')} is not a {kind}, and the data's task is {task} "
            f"(data.task={task}): pick a {kind} (see `hpray tune --help`, group model).",
        )
    return estimator


def build_optimizer(
    node: Mapping[str, Any], parameters: Iterable[torch.nn.Parameter]
) -> torch.optim.Optimizer:
    """The optimizer of ``node`` (``optim:``).

    ``momentum`` is one tunable across optimizers: SGD and RMSprop take it as is, Adam-style
    optimizers as their first beta (the literature's momentum term), ``beta2`` as the second.
    """
    node = dict(node)
    momentum, beta2 = node.pop("momentum", None), node.pop("beta2", None)
    target = locate("optim._target_", str(node.get("_target_")))
    accepted = inspect.signature(target).parameters
    if "betas" in accepted and (momentum is not None or beta2 is not None):
        node["betas"] = (0.9 if momentum is None else momentum, 0.999 if beta2 is None else beta2)
    elif momentum is not None and "momentum" in accepted:
        node["momentum"] = momentum  # beta2 means nothing here: dropped, as momentum for Adagrad
    optimizer = _instantiate("optim", node, params=parameters)
    assert isinstance(optimizer, torch.optim.Optimizer)
    return optimizer


def load_data(node: Mapping[str, Any]) -> Splits:
    """The fixed tuning splits of ``node`` (``data:``), on the CPU: no test rows in them."""
    return _splits(node, make_splits)  # type: ignore[no-any-return]


def load_final_data(node: Mapping[str, Any]) -> FinalSplits:
    """Training and validation together, and the held-out test split: for the final fit only."""
    return _splits(node, final_splits)  # type: ignore[no-any-return]


def load_folds(node: Mapping[str, Any], folds: int) -> list[Splits]:
    """The tuning splits: one train/validation split, or ``folds`` cross-validation folds."""
    if folds <= 1:
        return [load_data(node)]
    return _splits(node, make_folds, folds=folds)  # type: ignore[no-any-return]


def _splits(node: Mapping[str, Any], make: Callable[..., Any], **more: Any) -> Any:
    x, y = _instantiate("data.source", node["source"])
    split = node["split"]
    try:
        return make(
            np.asarray(x),
            np.asarray(y),
            shape=node.get("shape"),
            seed=split["seed"],
            val=split["val"],
            test=split["test"],
            task=node.get("task", CLASSIFICATION),
            **more,
        )
    except ValueError as err:
        if "n_splits" in str(err):
            raise ConfigError("study.cv_folds", f"{err}; use fewer folds.") from err
        raise ConfigError("data", str(err)) from err


def build_search(node: Mapping[str, Any], space: Space, **study: Any) -> SearchPlan:
    """The search plan of ``node`` (``searcher:``) over the parsed ``space``.

    ``study`` holds what every searcher factory takes: num_samples, limit, metric and mode.
    """
    with warnings.catch_warnings():  # TPE's `group` (bayes.yaml) is marked experimental
        warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)
        try:
            factory = _instantiate("searcher", node)
        except ConfigError as err:
            missing = "Error locating target" in err.message or "No module named" in err.message
            if missing and ("optuna_integration" in err.message or "botorch" in err.message):
                raise ConfigError(
                    "searcher",
                    f"{err.message} searcher=botorch needs BoTorch: pip install 'hpray[botorch]'.",
                ) from err
            raise
    try:
        plan = factory(space, **study)
    except TypeError as err:
        raise ConfigError("searcher", f"{err}. Check the searcher option's keys.") from err
    if not isinstance(plan, SearchPlan):
        raise ConfigError("searcher._target_", "must return an hpray.search.searchers.SearchPlan.")
    try:  # Ray Tune pickles the searcher when the study starts, to resume it
        cloudpickle.dumps(plan.search_alg)
    except (TypeError, AttributeError, pickle.PicklingError) as err:
        raise ConfigError(
            "searcher",
            f"cannot be saved with the study ({err}), so the study could not resume. Use a "
            "sampler that pickles (hpray.search.samplers holds Optuna's genetic samplers in "
            "a form that does).",
        ) from err
    return plan


def build_tracking(node: Mapping[str, Any] | None) -> list[Any]:
    """Ray Tune logger callbacks of ``node`` (``tracking:``): none for TensorBoard alone."""
    if not node:
        return []  # Ray Tune writes TensorBoard events by itself
    try:
        return [_instantiate("tracking", node)]
    except ConfigError as err:
        if "No module named" in err.message or "mlflow" in err.message.lower():
            raise ConfigError(
                "tracking",
                f"{err.message} Install the tracker's package (tracking=mlflow: "
                "pip install 'hpray[mlflow]'), or use tracking=tensorboard.",
            ) from err
        raise


def build_scheduler(node: Mapping[str, Any], space: Space | None = None) -> TrialScheduler:
    """The trial scheduler of ``node`` (``scheduler:``), e.g. Ray Tune's ASHAScheduler; an
    option with ``_partial_: true`` (PBT) is called with the study's parsed ``space``."""
    grace, budget = node.get("grace_period"), node.get("max_t")
    if isinstance(grace, int) and isinstance(budget, int) and grace > budget:
        raise ConfigError(
            "scheduler.grace_period",
            f"is {grace} epochs, more than a trial's budget (study.epochs={budget}); set "
            f"scheduler.grace_period={budget} or less, or use scheduler=fifo.",
        )
    scheduler = _instantiate("scheduler", node)  # Ray's own argument checks surface here too
    if callable(scheduler) and not isinstance(scheduler, TrialScheduler) and space is not None:
        try:
            scheduler = scheduler(space)
        except (TypeError, ValueError) as err:
            raise ConfigError("scheduler", f"{err}. Check the scheduler option's keys.") from err
    if not isinstance(scheduler, TrialScheduler):
        raise ConfigError("scheduler._target_", "must build a ray.tune.schedulers.TrialScheduler.")
    return scheduler
