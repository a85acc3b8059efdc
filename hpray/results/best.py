"""``best.yaml``: the best trial's whole config, as a Hydra config that trains that model again.

It is the study's config with the search space resolved to the best trial's values: every key a
trial reads (model, data, optimizer, budget, seed), nothing left to sample. ``hpray retrain``
reads it, and so does Hydra (``hpray tune --config-path <study> --config-name best``).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml
from omegaconf import DictConfig, OmegaConf

from hpray import space
from hpray.config.app import best_header, best_line
from hpray.results.table import number
from hpray.store.layout import (
    BEST_FILE,
    BEST_OVERRIDES_FILE,
    PARAMS_FILE,
    stored_config,
    trial_dir_name,
)
from hpray.store.location import StudyDir, as_dir

# A run from best.yaml writes nothing through Hydra either, and does not chdir.
HYDRA = {"run": {"dir": "."}, "output_subdir": None, "job": {"chdir": False}}


def best_config(config: Mapping[str, Any], params: Mapping[str, Any]) -> dict[str, Any]:
    """The study ``config`` with its fixed space values and the trial's ``params`` applied."""
    best = space.apply(space.trial_base(config), params)
    best["space"] = {}  # nothing to search: a study from it is this one model
    best["study"] = {**best["study"], "num_samples": 1}
    best["hydra"] = HYDRA
    return best


def write_best(
    directory: StudyDir | Path, config: Mapping[str, Any], summary: Mapping[str, Any]
) -> bool:
    """Write best.yaml for the summary's best trial; False when there is none yet."""
    best = summary.get("best")
    if not best or "app" in config:  # a Hydra app's best is its own config: the sweeper writes it
        return False
    header = (
        f"# The best trial of study {config['study']['name']}: {best['trial_id']}, "
        f"{_shown(best)}"
        f"{'' if summary.get('complete') else ' (so far: the study is unfinished)'}.\n"
        "# Train it again: hpray retrain <this study's directory>\n"
        "# or run it as a study: hpray tune --config-path <this directory> --config-name best "
        "study.name=<new name>\n"
    )
    content = yaml.safe_dump(best_config(config, best["params"]), sort_keys=False)
    (as_dir(directory) / BEST_FILE).write_text(header + content)
    return True


def write_app_best(
    directory: StudyDir | Path, config: Mapping[str, Any], summary: Mapping[str, Any]
) -> str | None:
    """An app's best.yaml and best_overrides.txt made the summary's best trial's (``hpray
    report --pick``): the app config the sweeper composed for the best, with this trial's
    values at the space's keys. Returns why best.yaml was left as it is, or None."""
    directory, best = as_dir(directory), summary["best"]
    line = best_line(config["app"]["command"], best["params"])
    (directory / BEST_OVERRIDES_FILE).write_text(line + "\n")
    file = directory / BEST_FILE
    if not file.is_file():
        return f"{file} is not there (the sweep writes it at its end)"
    composed = OmegaConf.create(file.read_text())
    for key, value in best["params"].items():
        if isinstance(OmegaConf.select(composed, key), DictConfig):  # a config group chosen
            return f"{key!r} chooses a config group: the app composes it anew; run: {line}"
        OmegaConf.update(composed, key, value, merge=False)
    header = best_header(
        config["study"]["name"], best, bool(summary.get("complete")), directory, line
    )
    file.write_text(header + OmegaConf.to_yaml(composed))
    return None


def _shown(best: Mapping[str, Any]) -> str:
    values = best.get("values") or {best["metric"]: best["value"]}
    return ", ".join(f"{k}={number(v)}" for k, v in values.items() if v is not None)


def trial_config(directory: StudyDir | Path, trial_id: str) -> dict[str, Any] | None:
    """Trial ``trial_id``'s whole config, as best.yaml holds the best's; None if no such trial."""
    if not re.fullmatch(r"[\w-]+", trial_id):  # a name inside the study, never a path
        return None
    params = (
        as_dir(directory) / trial_dir_name(trial_id) / PARAMS_FILE
    )  # Ray's record of its values
    study = stored_config(directory)
    if study is None or not params.is_file():
        return None
    return best_config(study, json.loads(params.read_text()))
