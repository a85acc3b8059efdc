"""The hpray Hydra sweeper's work: an existing Hydra app's ``-m`` run as an hpray study.

``hydra_plugins/hpray_sweeper`` is the plugin Hydra finds; it hands its settings, the app's task
function and config here. The study is checked before Ray starts (settings, space paths in the
app's config, the metric), run by hpray's driver (resume, lock, progress, outputs), and its best
trial written as the app's own config.
"""

from __future__ import annotations

import ast
import difflib
import inspect
import math
import os
import re
import sys
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

from hydra.core.hydra_config import HydraConfig
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.core.singleton import Singleton
from hydra.errors import HydraException
from hydra.types import HydraContext
from omegaconf import DictConfig, OmegaConf, open_dict

from hpray import space
from hpray.config.app import (
    METRIC_KEY,
    RUNNER,
    VERBOSE,
    WHERE,
    best_header,
    best_line,
    flat_keys,
    override,
    study_config,
    unresolved,
)
from hpray.config.prepare import Study, build_study
from hpray.driver.run import run_reporting
from hpray.errors import EXIT_CONFIG, ConfigError
from hpray.store.layout import (
    BEST_FILE,
    BEST_OVERRIDES_FILE,
    REPORT_FILE,
    RESULTS_FILE,
    SUMMARY_FILE,
    read_summary,
    stored_config,
)
from hpray.store.location import StudyDir, as_dir
from hpray.trial.app import AppJob

MISSING = object()
SCANNED_FILES = 2000  # the app's own sources read for metric names, at most


def sweep(
    settings: DictConfig,
    hydra_context: HydraContext,
    task_function: Callable[[DictConfig], Any],
    config: DictConfig,
    arguments: list[str],
) -> int:
    """Run the sweep ``arguments`` (the command line's overrides) describe; an exit code."""
    try:
        study, job = prepare_sweep(settings, hydra_context, task_function, config, arguments)
    except ConfigError as err:
        print(f"hpray: invalid config: {err}", file=sys.stderr)
        return EXIT_CONFIG
    code = run_reporting(study)
    if code != EXIT_CONFIG:  # refused (a resume with other settings): nothing is written
        write_best(study, job)
        copy_outputs(study.location, Path(job.sweep_dir))
    return code


def prepare_sweep(
    settings: DictConfig,
    hydra_context: HydraContext,
    task_function: Callable[[DictConfig], Any],
    config: DictConfig,
    arguments: list[str],
) -> tuple[Study, AppJob]:
    """The study and the trials' job, checked; raises ConfigError before anything is written."""
    HydraConfig.instance().set_config(config)  # the app's ${hydra:...} resolve as in its runs
    fixed, swept = split_arguments(arguments)
    node: dict[str, Any] = OmegaConf.to_container(settings, resolve=True)  # type: ignore[assignment]
    if swept:  # sweeps on the command line join the params, as with the Optuna sweeper
        node["params"] = {**(node.get("params") or {}), **swept}
    app = compose(hydra_context, config, fixed)
    choices = config.hydra.runtime.choices
    name = str(choices.get("hparams_search") or config.hydra.job.name)
    study_cfg = study_config(node, app, name)
    parsed = space.parse_space(study_cfg["space"])
    if parsed.conditional:
        raise ConfigError(
            f"{WHERE}.space",
            "branches (options with their own spaces) are for hpray's own studies; an app's "
            "sweep samples config paths: give each leaf at its path.",
        )
    for param in parsed.params:
        check_path(hydra_context, app, param.path, given_as(node, param.path))
    for path in parsed.fixed:
        check_path(hydra_context, app, path, given_as(node, path))
    metrics = study_cfg["study"]["metric"]
    for metric in metrics if isinstance(metrics, list) else [metrics]:
        check_metric(metric, task_function, app)
    location = StudyDir.at(study_cfg["study"]["storage"], study_cfg["study"]["name"])
    stored = (stored_config(location) or {}).get("app") or {}
    sweep_dir = stored.get("sweep_dir") or str(Path(str(config.hydra.sweep.dir)).absolute())
    threads = trial_threads(study_cfg["resources"])
    study_cfg["app"] = {
        "task": f"{task_function.__module__}.{task_function.__qualname__}",
        "config_name": config.hydra.job.config_name,
        "overrides": fixed,
        "sweep_dir": sweep_dir,
        "threads": threads,
        "command": command_line(fixed, threads),
    }
    job = AppJob(
        hydra_context,
        task_function,
        config,
        [*fixed, *(override(k, v) for k, v in parsed.fixed.items())],
        sweep_dir,
        Singleton.get_state(),
        threads=threads,
        verbose=verbose(settings),
    )
    study = build_study(study_cfg, {"study": study_cfg["study"], "app": job}, RUNNER)
    return study, job


def verbose(settings: DictConfig) -> bool:
    """``hydra.sweeper.verbose``: stream each trial's app output to the terminal."""
    value = settings.get(VERBOSE, False)
    if not isinstance(value, bool):
        raise ConfigError(f"{WHERE}.{VERBOSE}", f"must be true or false, got {value!r}.")
    return value


def split_arguments(arguments: list[str]) -> tuple[list[str], dict[str, str]]:
    """The command line's fixed overrides, and its sweeps as params (Hydra's grammar)."""
    fixed: list[str] = []
    swept: dict[str, str] = {}
    try:
        parsed = OverridesParser.create().parse_overrides(arguments)
    except HydraException as err:
        raise ConfigError("overrides", str(err)) from err
    for item in parsed:
        if item.is_sweep_override():
            swept[item.get_key_element()] = str(item.input_line).split("=", 1)[1]
        else:
            fixed.append(str(item.input_line))
    return fixed, swept


def compose(hydra_context: HydraContext, config: DictConfig, overrides: list[str]) -> DictConfig:
    """The app's config as a trial starts from it (the ``hydra`` node gone)."""
    try:
        composed = hydra_context.config_loader.load_sweep_config(config, list(overrides))
    except HydraException as err:
        raise ConfigError("overrides", str(err)) from err
    with open_dict(composed):
        del composed["hydra"]
    return composed


def given_as(node: Mapping[str, Any], path: str) -> str:
    """A space path's key as the user wrote it: under the Optuna sweeper's ``params`` (or on
    the command line, which joins them) or under hpray's ``space``."""
    params = node.get("params") or {}
    return f"{WHERE}.{'params' if path in flat_keys(params) else 'space'}.{path}"


def check_path(hydra_context: HydraContext, app: DictConfig, path: str, key: str) -> None:
    """A space's path must be a key of the app's config, or one of its config groups."""
    if (
        OmegaConf.select(app, path, default=MISSING, throw_on_resolution_failure=False)
        is not MISSING
    ):
        return
    if hydra_context.config_loader.get_group_options(path.replace(".", "/")):
        return
    parent, _, _ = path.rpartition(".")
    known = OmegaConf.select(app, parent, default=None) if parent else app
    near = sorted(map(str, known.keys()))[:12] if isinstance(known, DictConfig) else []
    raise ConfigError(
        key,
        f"{path!r} is not a key of the app's config"
        + (f" (under {parent or 'its top'}: {', '.join(map(str, near))})" if near else "")
        + "; space keys are the app's config paths, as on its command line.",
    )


def check_metric(metric: str, task_function: Callable[..., Any], app: DictConfig) -> None:
    """The study's metric must be one the app reports, or the value its task function returns.

    Reported names are read without running the app: the string constants and f-string
    patterns of the sources next to the task function (``self.log("val/acc", ...)``,
    ``hpray.report({"val_rmse": ...})``) and the string values of its config
    (``monitor: val/acc``). A task function that returns a value returns the metric; when that
    metric is the app's ``optimized_metric``, the app looks the value up by that name among the
    metrics it logs (lightning-hydra-template's ``get_metric_value``), so a name its sources
    never show, next to one they do that is like it (``val/accuracy``, ``val/acc``), is refused.
    """
    returned = returns_value(task_function)
    optimized = OmegaConf.select(app, METRIC_KEY)
    if returned and metric == "objective":
        return
    source = inspect.getsourcefile(task_function)
    names, patterns = set(), []
    for path in _sources(Path(source).parent if source else None):
        found_names, found_patterns = _strings(path)
        names |= found_names
        patterns += found_patterns
    names |= {v for k, v in _config_strings(app) if k != METRIC_KEY}
    if metric in names or any(p.fullmatch(metric) for p in patterns):
        return
    alike = difflib.get_close_matches(metric, sorted(_metric_like(names)), n=3, cutoff=0.6)
    if returned and metric == optimized and not alike:
        return  # the returned value, under a name the sources cannot tell
    key = METRIC_KEY if metric == optimized else f"{WHERE}.study.metric"
    raise ConfigError(
        key,
        f"{metric!r} is never reported by the app: no such name in its sources "
        f"({Path(source).parent if source else '?'}) or its config"
        + (f"; it reports {', '.join(alike)}" if alike else "")
        + ". Report it (hpray.report, or log it in a LightningModule with hpray's callback), "
        f"return it from the task function, or set {key} to a name the app reports (e.g. "
        f"{', '.join(alike) or _examples(names)}).",
    )


def returns_value(function: Callable[..., Any]) -> bool:
    """Whether the function's own body returns something."""
    try:
        tree = ast.parse(inspect.getsource(function).lstrip())  # a method's source is indented
    except (OSError, TypeError, SyntaxError):
        return True  # cannot tell: do not refuse
    return any(
        isinstance(n, ast.Return)
        and n.value is not None
        and not (isinstance(n.value, ast.Constant) and n.value.value is None)
        for n in ast.walk(tree)
    )


def _sources(root: Path | None) -> Iterator[Path]:
    if root is None:
        return
    for count, path in enumerate(p for p in root.rglob("*.py") if "site-packages" not in p.parts):
        if count >= SCANNED_FILES:
            return
        yield path


def _strings(path: Path) -> tuple[set[str], list[re.Pattern[str]]]:
    try:
        tree = ast.parse(path.read_text())
    except (OSError, SyntaxError, UnicodeDecodeError, ValueError):
        return set(), []
    names = {
        n.value for n in ast.walk(tree) if isinstance(n, ast.Constant) and isinstance(n.value, str)
    }
    patterns = [
        re.compile(
            "".join(
                re.escape(str(v.value)) if isinstance(v, ast.Constant) else ".+" for v in n.values
            )
        )
        for n in ast.walk(tree)
        if isinstance(n, ast.JoinedStr)
    ]
    return names, patterns


def _config_strings(node: Any, key: str = "") -> Iterator[tuple[str, str]]:
    plain = OmegaConf.to_container(node, resolve=False) if isinstance(node, DictConfig) else node
    if isinstance(plain, Mapping):
        for k, v in plain.items():
            yield from _config_strings(v, str(k))
    elif isinstance(plain, list):
        for v in plain:
            yield from _config_strings(v, key)
    elif isinstance(plain, str):
        yield key, plain


def _metric_like(names: set[str]) -> list[str]:
    return sorted(n for n in names if re.fullmatch(r"(val|valid|test|train)[/_.]\w+", n))


def _examples(names: set[str]) -> str:
    return ", ".join(_metric_like(names)[:6]) or "val_loss"


def command_line(fixed: list[str], threads: int) -> str:
    """How the app was started, without the sweep, with the thread count its trials ran with:
    ``OMP_NUM_THREADS=<n> python <script> <fixed overrides>`` (a sum over more threads adds
    up in another order: the last digits of a metric differ)."""
    kept = [o for o in fixed if not o.startswith("hparams_search=")]
    return " ".join([f"OMP_NUM_THREADS={threads}", "python", sys.argv[0], *kept])


def trial_threads(resources: Mapping[str, Any]) -> int:
    """The threads each trial's torch and BLAS use: ``OMP_NUM_THREADS`` as the sweep was
    started with, which Ray's workers keep, else what Ray sets for a trial's CPUs (their
    whole number, at least 1)."""
    given = os.environ.get("OMP_NUM_THREADS", "")
    if given.isdigit() and int(given) > 0:
        return int(given)
    return max(1, math.floor(float(resources.get("cpu") or 1)))


def write_best(study: Study, job: AppJob) -> None:
    """best.yaml, the app's config with the best trial's values applied, and the same as one
    command line; runnable with ``--config-path <study dir> --config-name best``."""
    summary = read_summary(study.location) or {}
    best = summary.get("best")
    if not best:
        return
    values = [override(k, v) for k, v in best["params"].items()]
    try:
        composed = job.hydra_context.config_loader.load_sweep_config(
            job.config, [*job.overrides, *values]
        )
    except HydraException as err:  # a best trial always composed once; say so if not now
        print(f"[hpray] best.yaml not written: {err}", file=sys.stderr)
        return
    hydra = composed.hydra
    with open_dict(composed):
        del composed["hydra"]
    kept = {
        "run": {"dir": unresolved(hydra.run, "dir")},
        "job": {"chdir": hydra.job.chdir},
    }
    line = best_line(study.config["app"]["command"], best["params"])
    header = best_header(
        study.settings.name, best, bool(summary.get("complete")), study.location, line
    )
    body = OmegaConf.to_yaml(composed) + OmegaConf.to_yaml({"hydra": kept})
    (study.location / BEST_FILE).write_text(header + body)
    (study.location / BEST_OVERRIDES_FILE).write_text(line + "\n")


def copy_outputs(directory: StudyDir, sweep_dir: Path) -> None:
    """The sweep's outputs in Hydra's sweep directory too, where the app's users look."""
    sweep_dir.mkdir(parents=True, exist_ok=True)
    for name in (RESULTS_FILE, SUMMARY_FILE, REPORT_FILE, BEST_FILE, BEST_OVERRIDES_FILE):
        source = directory / name
        if source.is_file():
            as_dir(sweep_dir / name).write_bytes(source.read_bytes())  # whole, as in the study
