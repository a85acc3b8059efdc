"""The study of an existing Hydra app, from the hpray sweeper's settings (``hydra.sweeper``).

The sweeper's settings are a study's own blocks (``study``, ``searcher``, ``scheduler``,
``resources``, ``ray``, ``k8s``, ``tracking``, ``space``) with hpray's defaults
(``conf/hpray.yaml``); a searcher, scheduler, resources or tracking given by name is that option
of hpray's config group (``searcher: bayes``). The keys of Hydra's Optuna sweeper keep their
meaning (``optuna_sweeper.py``). What the app already says fills the rest: the metric is its
``optimized_metric`` (lightning-hydra-template's key), the epoch budget its
``trainer.max_epochs`` or ``epochs``. Keys of the space are the app's config paths
(``model.optimizer.lr``), nested or dotted.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import fields, is_dataclass
from importlib import resources
from typing import Any

from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException

from hpray.config.optuna_sweeper import put, settings_from_sweeper
from hpray.config.schema import K8sSettings, RaySettings, ReportSettings, StudySettings
from hpray.errors import ConfigError

WHERE = "hydra.sweeper"
OWN = (
    "study",
    "searcher",
    "scheduler",
    "resources",
    "ray",
    "k8s",
    "report",
    "tracking",
    "space",
)
GROUPS = ("searcher", "scheduler", "resources", "tracking")  # given by name: hpray's option
OPTUNA = (
    "params",
    "direction",
    "n_trials",
    "n_jobs",
    "sampler",
    "study_name",
    "storage",
    "max_failure_rate",
    "search_space",
    "custom_search_space",
)
VERBOSE = "verbose"  # true: each trial's app output streams to the terminal too
EPOCH_KEYS = ("trainer.max_epochs", "epochs", "max_epochs")  # where apps keep their budget
METRIC_KEY = "optimized_metric"
DEFAULT_METRIC = "objective"  # the returned value's name when the app names no metric
RUNNER = "hpray.trial.app.run"  # the Ray trainable that runs the app's task function


def sweeper_node(target: str) -> dict[str, Any]:
    """The ``hydra/sweeper: hpray`` config: every setting, null where hpray decides.

    Every key is there, so the command line overrides one without ``+``
    (``hydra.sweeper.study.num_samples=40``) and ``--cfg hydra`` lists them; null means
    hpray's default, or what the app says (the metric, the epoch budget).
    """

    def unset(schema: type) -> dict[str, Any]:
        return {
            f.name: unset(f.default_factory) if is_dataclass(f.default_factory) else None
            for f in fields(schema)
        }

    return {
        "_target_": target,
        "study": unset(StudySettings),
        **dict.fromkeys(("searcher", "scheduler", "resources", "tracking")),
        "space": {},
        "ray": unset(RaySettings),
        "k8s": unset(K8sSettings),
        "report": unset(ReportSettings),
        VERBOSE: False,
        **dict.fromkeys(OPTUNA),
    }


def _given(node: Any) -> Any:
    """A settings node without its nulls (not given: hpray's default applies)."""
    if isinstance(node, Mapping):
        kept = {k: _given(v) for k, v in node.items() if v is not None}
        return {k: v for k, v in kept.items() if v != {}}
    return node


def packaged(path: str) -> dict[str, Any]:
    """A YAML file of hpray's packaged config tree, as plain (unresolved) values."""
    text = resources.files("hpray.conf").joinpath(path).read_text()
    loaded = OmegaConf.to_container(OmegaConf.create(text), resolve=False)
    assert isinstance(loaded, dict)
    return {k: v for k, v in loaded.items() if k not in ("defaults", "hydra")}  # type: ignore[misc]


def option(group: str, chosen: Any) -> Any:
    """A group's node: given whole (a mapping with ``_target_``), by the name of hpray's
    option, or as a mapping naming the option (``name: pbt``) with some of its keys changed.
    ``resources`` has no ``_target_``: a mapping without a name changes ``auto``'s keys."""
    if group == "resources" and isinstance(chosen, Mapping) and "name" not in chosen:
        chosen = {"name": "auto", **chosen}
    if isinstance(chosen, Mapping) and "name" in chosen and "_target_" not in chosen:
        changed = {k: v for k, v in chosen.items() if k != "name"}
        merged = OmegaConf.merge(option(group, chosen["name"]), changed)
        return OmegaConf.to_container(merged, resolve=False)
    if isinstance(chosen, Mapping):
        return dict(chosen)
    names = sorted(
        p.name[:-5]
        for p in resources.files("hpray.conf").joinpath(group).iterdir()
        if p.name.endswith(".yaml")
    )
    if chosen not in names:
        raise ConfigError(
            f"{WHERE}.{group}",
            f"{chosen!r} is not one of hpray's {group} options {names} (or give a mapping "
            "with _target_).",
        )
    return packaged(f"{group}/{chosen}.yaml")


def app_value(app: Any, key: str) -> Any:
    """The app config's value at a dotted key, or None (missing, or not resolvable yet)."""
    try:
        app = app if isinstance(app, DictConfig) else OmegaConf.create(app)
        return OmegaConf.select(app, key, default=None, throw_on_resolution_failure=False)
    except OmegaConfBaseException:
        return None


def study_config(node: Mapping[str, Any], app: Any, name: str) -> dict[str, Any]:
    """The hpray study config (resolved) of the sweeper's settings ``node`` for ``app``.

    ``name`` is the study's name when neither ``study.name`` nor ``study_name`` gives one.
    """
    unknown = sorted(set(node) - set(OWN) - set(OPTUNA) - {"_target_", VERBOSE})
    if unknown:
        raise ConfigError(
            f"{WHERE}.{unknown[0]}",
            f"is not a setting of the hpray sweeper; it takes {', '.join(OWN)} (hpray's study "
            f"blocks), {VERBOSE} and the Optuna sweeper's {', '.join(OPTUNA[:7])}.",
        )
    for key in ("search_space", "max_failure_rate"):
        if node.get(key):
            raise ConfigError(
                f"{WHERE}.{key}",
                {
                    "search_space": "is the Optuna sweeper's old name for params: write the "
                    "space as params (Hydra's grammar) or space (hpray's).",
                    "max_failure_rate": "hpray ends a sweep on failures by their kind, not "
                    "their rate: a failing trial is retried from its checkpoint "
                    "(study.max_failures times) while the others go on, and the same error "
                    "twice before any trial ended well ends the sweep. Remove the key.",
                }[key],
            )
    own = {k: v for k, v in _given({k: node.get(k) for k in OWN}).items()}
    optuna = settings_from_sweeper(node, WHERE)
    study = _study(own.get("study") or {}, optuna["study"], app, name)
    config: dict[str, Any] = {
        "study": study,
        **{k: v for k, v in packaged("hpray.yaml").items() if k in ("ray", "k8s", "report")},
    }
    for block in ("ray", "k8s", "report"):
        merged = OmegaConf.merge(config[block], own.get(block) or {})
        config[block] = OmegaConf.to_container(merged, resolve=False)
    if "searcher" in own and "searcher" in optuna:
        raise ConfigError(f"{WHERE}.searcher", "give searcher or sampler, not both.")
    if "searcher" in optuna:
        config["searcher"] = optuna["searcher"]
    else:  # the Optuna sweeper's default sampler is TPE: params alone keep that meaning
        config["searcher"] = option(
            "searcher", own.get("searcher", "bayes" if "params" in node else "random")
        )
    budget = study["epochs"] is not None
    config["scheduler"] = option("scheduler", own.get("scheduler", "asha" if budget else "fifo"))
    if not budget:  # one report at the end: the whole budget is one step
        study["epochs"] = 1
    config["resources"] = option("resources", own.get("resources", "auto"))
    config["tracking"] = option("tracking", own.get("tracking", "tensorboard"))
    config["space"] = _space(own.get("space") or {}, optuna.get("space") or {})
    if node.get("storage"):
        config["searcher"] = _with_storage(config["searcher"], str(node["storage"]), study)
    try:  # hpray's options refer to the study (${study.epochs}, ${study.seed})
        resolved = OmegaConf.to_container(OmegaConf.create(config), resolve=True)
    except OmegaConfBaseException as err:
        raise ConfigError(f"{WHERE}.{err.full_key or ''}".rstrip("."), str(err)) from err
    assert isinstance(resolved, dict)
    return resolved  # type: ignore[return-value]


def _study(
    own: Mapping[str, Any], optuna: Mapping[str, Any], app: Any, name: str
) -> dict[str, Any]:
    """The study block: hpray's defaults, what the app says, the Optuna keys, hpray's keys."""
    for key in set(own) & set(optuna):
        if own[key] != optuna[key]:
            raise ConfigError(
                f"{WHERE}.study.{key}",
                f"is {own[key]!r}, but the Optuna sweeper's key for it says {optuna[key]!r}: "
                "give one of them.",
            )
    metric = app_value(app, METRIC_KEY)
    epochs = next((v for k in EPOCH_KEYS if isinstance(v := app_value(app, k), int)), None)
    study = {
        **packaged("hpray.yaml")["study"],
        "name": _name(name),
        "metric": metric if isinstance(metric, str) else DEFAULT_METRIC,
        "mode": "min",  # the Optuna sweeper's default direction
        "epochs": epochs if epochs and epochs > 0 else None,
        **optuna,
        **own,
    }
    return study


def _name(text: str) -> str:
    """A study name (letters, digits, ., _, -) from an app's name."""
    return re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("._-") or "study"


def _space(own: Mapping[str, Any], params: Mapping[str, Any]) -> dict[str, Any]:
    """hpray's space (dotted keys nested) with the Optuna sweeper's params added."""
    space: dict[str, Any] = {}
    for source, where in ((own, "space"), (params, "params")):
        for key, value in flat_keys(source).items():
            put(space, key, value, f"{WHERE}.{where}.{key}")
    return space


def flat_keys(tree: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """A space's entries by dotted path, down to its leaves (a mapping with ``type``, or a
    value) and its branches (a mapping holding ``options``)."""
    out: dict[str, Any] = {}
    for key, value in tree.items():
        path = f"{prefix}{key}"
        if isinstance(value, Mapping) and not ({"type", "options"} & set(value)):
            out.update(flat_keys(value, f"{path}."))
        else:
            out[path] = value
    return out


def _with_storage(searcher: Mapping[str, Any], url: str, study: Mapping[str, Any]) -> Any:
    """The Optuna sweeper's ``storage``: the Optuna study is kept in that database as well."""
    if not str(searcher.get("_target_", "")).endswith("optuna_search"):
        raise ConfigError(
            f"{WHERE}.storage",
            "an Optuna storage needs an Optuna searcher (searcher: bayes or gp, or a sampler); "
            "hpray itself keeps every study in study.storage.",
        )
    return {**searcher, "storage": url, "study_name": study["name"]}


def unresolved(node: Any, key: str) -> Any:
    """A config node's value at ``key`` as written (an interpolation stays one)."""
    plain = OmegaConf.to_container(node, resolve=False)
    return plain.get(key) if isinstance(plain, dict) else None


def best_line(command: str, params: Mapping[str, Any]) -> str:
    """The app's ``command`` with a trial's values: that trial as one command line."""
    return " ".join([command, *(override(k, v) for k, v in params.items())])


def best_header(
    name: str, best: Mapping[str, Any], complete: bool, location: Any, line: str
) -> str:
    """The comment best.yaml of an app's sweep starts with: which trial, and how to run it
    (``line``: the app's command with the trial's values)."""
    words = line.split()
    at = words.index("python") if "python" in words else 0  # after the environment it ran in
    run = " ".join([*words[:at], "python", words[at + 1]])
    return (
        f"# The best trial of {name}: {best['trial_id']}, {best['metric']}={best['value']:.6g}"
        f"{'' if complete else ' (so far: the sweep is unfinished)'}.\n"
        f"# Run it: {run} --config-path {location} --config-name best\n"
        f"# or: {line}\n"
    )


def override(key: str, value: Any) -> str:
    """``key=value`` as Hydra's command line reads it back to the same value.

    Example:
        >>> override("model.lr", 0.001), override("model.act", "relu"), override("a", "1")
        ('model.lr=0.001', 'model.act=relu', "a='1'")
    """
    return f"{key}={_text(value)}"


BARE = re.compile(r"[A-Za-z_][\w./-]*")


def _text(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, (list, tuple)):
        return "[" + ",".join(_text(v) for v in value) + "]"
    if isinstance(value, Mapping):
        return "{" + ",".join(f"{k}:{_text(v)}" for k, v in value.items()) + "}"
    text = str(value)
    if BARE.fullmatch(text) and text.lower() not in ("true", "false", "null", "nan", "inf"):
        return text
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"
