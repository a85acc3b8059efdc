"""The composed study config, resolved and checked before anything runs or is written."""

from __future__ import annotations

import inspect
import json
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from omegaconf import DictConfig
from ray.tune.schedulers import FIFOScheduler, PopulationBasedTraining, TrialScheduler
from ray.tune.search import BasicVariantGenerator

from hpray import space
from hpray.config.build import (
    build_estimator,
    build_loss,
    build_model,
    build_optimizer,
    build_scheduler,
    build_search,
    build_tracking,
    is_estimator,
    load_folds,
)
from hpray.config.compose import resolve
from hpray.config.locate import locate
from hpray.config.schema import RaySettings, Resources, StudySettings
from hpray.config.settings import (
    duration_s,
    ray_settings,
    report_settings,
    study_settings,
    trial_resources,
)
from hpray.data import CLASSIFICATION, MODEL_METRICS, TASK_METRICS
from hpray.errors import ConfigError
from hpray.internals import optimizers_without_compiler
from hpray.search.searchers import SearchPlan
from hpray.search.warm import WARM_KEY, Known, known
from hpray.store.layout import read_results, stored_config
from hpray.store.location import PATIENCE_S, StudyDir

RUNNER = "hpray.trial.runner.run"  # the Ray trainable of every function on hpray's API
GANG = "hpray.trial.gang.lead"  # a trial of several workers: it runs the runner on each
STUDY_GROUPS = ("study", "space", "searcher", "scheduler", "resources")


@dataclass
class Study:
    """Everything the driver needs, built and validated."""

    config: dict[str, Any]  # the resolved composed config (what config.yaml records)
    base: dict[str, Any]  # the config every trial starts from: space removed, fixed leaves applied
    settings: StudySettings
    resources: Resources
    ray: RaySettings
    plan: SearchPlan
    scheduler: TrialScheduler
    trainable: Callable[..., None]  # what Ray runs: the runner, calling the trial function
    per_worker: Callable[..., None] | None  # resources.workers > 1: the runner each worker runs
    tracking: list[Any]  # extra Ray Tune logger callbacks (MLflow); TensorBoard is built in
    uses_torch: bool = True  # some trial trains a torch model (else resources.gpu=auto is 0)
    live_every: float = 0.0  # seconds between redraws of report.html while it runs (0: none)

    @property
    def location(self) -> StudyDir:
        """The study's directory, on a path or behind a URI."""
        patience = duration_s("study.storage_retry", self.settings.storage_retry)
        return StudyDir.at(self.settings.storage, self.settings.name, patience or PATIENCE_S)


def search_plan(
    searcher: Mapping[str, Any], settings: StudySettings, parsed: space.Space
) -> SearchPlan:
    """The plan of the ``searcher:`` node for the study's settings over its parsed space."""
    # Passed only when set: a searcher factory of the user's need not take them.
    warm: dict[str, Any] = {}
    if settings.enqueue:
        warm["enqueue"] = list(settings.enqueue)
    if settings.warm_start:
        warm["seen"] = earlier_trials(settings, parsed)
    return build_search(
        searcher,
        parsed,
        num_samples=settings.num_samples,
        limit=settings.max_concurrent,
        metric=settings.metric,
        mode=settings.mode,
        **warm,
    )


def earlier_trials(settings: StudySettings, parsed: space.Space) -> Known:
    """The finished trials of the study ``study.warm_start`` names, read and never written."""
    source = str(settings.warm_start).rstrip("/")
    storage, _, name = source.rpartition("/")
    earlier = StudyDir.at(storage or ".", name)
    if earlier.path == StudyDir.at(settings.storage, settings.name).path:
        raise ConfigError(WARM_KEY, f"{source} is this study; name an earlier one.")
    config = stored_config(earlier)
    if config is None:
        raise ConfigError(
            WARM_KEY,
            f"{source} is not a study directory (no config.yaml in it): give "
            "<study.storage>/<study.name> of a study that ran.",
        )
    theirs = config.get("study", {})
    if (theirs.get("metric"), theirs.get("mode")) != (settings.metric, settings.mode):
        raise ConfigError(
            WARM_KEY,
            f"{source} studied {theirs.get('metric')} ({theirs.get('mode')}), this study "
            f"{settings.metric} ({settings.mode}): a warm start needs the same metric and mode.",
        )
    rows = read_results(earlier)
    if rows is None:
        raise ConfigError(
            WARM_KEY, f"{source} has no results.csv yet: `hpray report {source}` writes it."
        )
    return known(parsed, rows, settings.metrics, source)


def planned_trials(config: Mapping[str, Any]) -> int:
    """How many trials a resolved study config runs: its searcher's plan (grid: the grid)."""
    parsed = space.parse_space(config["space"])
    return search_plan(config["searcher"], study_settings(config), parsed).num_samples


def prepare(cfg: DictConfig) -> Study:
    """Resolve, validate and build every part of the study; raises ConfigError on bad input."""
    config = resolve(cfg)
    trainable = trial_function(str(config.get("trainable")))
    # The built-in trial builds model, data and optim; a user's function brings its own.
    for group in (*STUDY_GROUPS, *getattr(trainable, "builds", ())):
        if not isinstance(config.get(group), Mapping):
            raise ConfigError(
                group,
                "missing from the composed config; pick an option, e.g. "
                f"{group}=<option> (see `hpray tune --help`).",
            )
    settings = study_settings(config)
    reported = getattr(trainable, "metrics", ())
    for metric in settings.metrics:
        if reported and metric not in reported:
            raise ConfigError(
                "study.metric",
                f"{metric!r} is not reported by {config['trainable']}; it reports "
                f"{list(reported)}.",
            )
        if "data" in getattr(trainable, "builds", ()):
            check_task_metric(metric, str(config["data"].get("task", CLASSIFICATION)))

    parsed = space.parse_space(config["space"])
    space.check_paths(parsed, {k: v for k, v in config.items() if k != "space"})
    if not hasattr(trainable, "builds"):
        warn_of_built_in_keys(parsed, str(config["trainable"]))
    for param in parsed.all_params():
        if param.path.endswith("_target_"):  # a typo here would only fail inside the trials
            for value in param.values:
                locate(param.key, str(value))
    base = space.trial_base(config)
    study = build_study(config, base, RUNNER)
    # The built-in trial's models are built once here; torch decides resources.gpu=auto.
    if hasattr(trainable, "builds"):
        study.uses_torch = dry_build(base, parsed, study.settings)
    return study


def build_study(config: dict[str, Any], base: dict[str, Any], runner: str) -> Study:
    """The study of a resolved config whose trials Ray runs through ``runner`` (a dotted path,
    found here so that a typo fails before Ray starts), each starting from ``base``."""
    settings = study_settings(config)
    parsed = space.parse_space(config["space"])
    plan = search_plan(config["searcher"], settings, parsed)
    scheduler = ranking_scheduler(config["scheduler"], settings, parsed)
    if isinstance(scheduler, PopulationBasedTraining):
        check_pbt(plan)
    resources = trial_resources(config)
    trainable, per_worker = locate("trainable", runner), None
    if resources.workers > 1:  # Ray runs the gang's lead, which runs the runner on each worker
        trainable, per_worker = locate("trainable", GANG), trainable
    return Study(
        config,
        base,
        settings,
        resources,
        ray_settings(config),
        plan,
        scheduler,
        trainable,
        per_worker,
        build_tracking(config.get("tracking")),
        live_every=report_settings(config).every,
    )


def ranking_scheduler(
    node: Mapping[str, Any], settings: StudySettings, parsed: space.Space | None = None
) -> TrialScheduler:
    """The ``scheduler:`` node's scheduler. One that ranks trials (ASHA) ranks them by one
    metric: the study's, or with several objectives the one ``scheduler.metric`` names (its
    mode the study's for it)."""
    node = dict(node)
    named = node.pop("metric", None)
    node.pop("mode", None)
    if named is not None and named not in settings.metrics:
        raise ConfigError(
            "scheduler.metric",
            f"{named!r} is not a metric of the study; give one of {settings.metrics}.",
        )
    scheduler = build_scheduler(node, parsed)
    if not settings.several or type(scheduler) is FIFOScheduler:
        return scheduler
    if named is None:
        raise ConfigError(
            "scheduler.metric",
            f"{type(scheduler).__name__} ranks trials by one metric and the study has "
            f"{len(settings.metrics)} ({', '.join(settings.metrics)}): name the one it ranks "
            f"by, e.g. scheduler.metric={settings.metrics[0]}, or use scheduler=fifo.",
        )
    mode = settings.modes[settings.metrics.index(named)]
    return build_scheduler({**node, "metric": named, "mode": mode}, parsed)


def check_pbt(plan: SearchPlan) -> None:
    """PBT evolves its population itself, from random or grid starts."""
    if not isinstance(plan.search_alg, BasicVariantGenerator):
        raise ConfigError(
            "searcher",
            "population based training (scheduler=pbt, pb2) evolves the population itself: its "
            "first configurations come from "
            "searcher=random (or grid), not from a model of the results.",
        )


BUILT_IN_GROUPS = ("model", "data", "optim", "loss")


def warn_of_built_in_keys(parsed: space.Space, trainable: str) -> None:
    """A function of the user's given the built-in trial's space (the default ``space: mlp``)
    would be tuned over keys it may never read: say so, once, before anything runs."""
    built_in = sorted(
        p.path for p in parsed.all_params() if p.path.split(".")[0] in BUILT_IN_GROUPS
    )
    if built_in:
        print(
            f"[hpray] warning: the space samples {', '.join(built_in)}, the built-in trial's "
            f"keys; if {trainable} does not read them, its best values will mean nothing. Give "
            "the study its own space (space=<yours> with --config-dir, or ~space and "
            "+space.<key>=...); see the README's 'Tune your own code'.",
            file=sys.stderr,
        )


def check_task_metric(metric: str, task: str) -> None:
    """The built-in trial reports the metrics of its data's task; a metric of the other task
    would never be reported."""
    if task not in TASK_METRICS:
        raise ConfigError("data.task", f"must be one of {sorted(TASK_METRICS)}, got {task!r}.")
    own = (*TASK_METRICS[task], "train_loss", *MODEL_METRICS)
    if metric not in own:
        raise ConfigError(
            "study.metric",
            f"{metric!r} is not a metric of a {task} study (data.task={task}): pick one of "
            f"{list(own)} (and study.mode to match).",
        )


def trial_function(path: str) -> Callable[..., Any]:
    """The trial function ``trainable`` names: one that takes one argument, the trial's config."""
    function = locate("trainable", path)
    try:
        inspect.signature(function).bind(None)
    except ValueError as err:  # no signature to read (some builtins)
        raise ConfigError("trainable", f"{path!r} is not a function hpray can call.") from err
    except TypeError as err:
        raise ConfigError(
            "trainable",
            f"{path}{inspect.signature(function)} cannot be called with the trial's config: a "
            "trial function takes one argument, e.g. `def train(cfg): ...` (see the README's "
            "'Tune your own code').",
        ) from err
    return function


def dry_build(base: Mapping[str, Any], parsed: space.Space, settings: StudySettings) -> bool:
    """Load the data and build each model (and optimizer) a trial can get, on the CPU.

    Catches a missing data file, a model that does not fit the data, a misspelled argument or
    more folds than a class has rows before Ray starts, instead of in every trial. A space
    with branches is built once per option. True when some trial trains a torch model.
    """
    uses_torch, loaded = False, {}
    for example in space.examples(parsed):
        trial = space.apply(base, example)
        picks = {k: v for k, v in example.items() if k in parsed.branch_paths()}
        try:
            source = json.dumps(trial["data"], sort_keys=True, default=str)
            if source not in loaded:  # options may differ in data (batch size), rarely in rows
                loaded[source] = load_folds(trial["data"], settings.cv_folds)[0]
            data = loaded[source]
            if is_estimator(trial["model"]):
                workers = int(trial.get("resources", {}).get("workers", 1))
                if workers > 1:
                    raise ConfigError(
                        "resources.workers",
                        f"{trial['model'].get('_target_')} is a scikit-learn estimator, which "
                        f"trains in one process; a trial of {workers} workers is for torch "
                        "models. Set resources.workers=1 (and resources.cpu for its n_jobs).",
                    )
                own = [m for m in settings.metrics if m in MODEL_METRICS]
                if own:
                    raise ConfigError(
                        "study.metric",
                        f"{own[0]!r} is reported by the torch models only; "
                        f"{trial['model'].get('_target_')} is a scikit-learn estimator.",
                    )
                build_estimator(trial["model"], seed=0, n_jobs=1, task=data.task)
                continue
            model = build_model(trial["model"], data.input_shape, data.n_classes)
            with optimizers_without_compiler():
                build_optimizer(trial["optim"], model.parameters())
            build_loss(trial.get("loss"), data.task)
            uses_torch = True
        except ConfigError as err:
            if not picks:
                raise
            chosen = ", ".join(f"{k}={v}" for k, v in picks.items())
            raise ConfigError(err.key, f"{err.message} (in a trial that picks {chosen})") from err
    return uses_torch
