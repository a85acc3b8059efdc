"""Study configs composed the way `hpray tune` composes them, with Hydra's compose API."""

from __future__ import annotations

from pathlib import Path

import yaml
from hydra import compose, initialize_config_module
from omegaconf import DictConfig

from hpray.config.branch_groups import expand
from hpray.config.prepare import Study, prepare
from hpray.space import Param, parse_space
from hpray.store.layout import CONFIG_FILE


def compose_study(storage: Path, *overrides: str) -> DictConfig:
    with initialize_config_module("hpray.conf", version_base="1.3"):
        return expand(compose("study", overrides=[f"study.storage={storage}", *overrides]))


def study_dir(study: Study) -> Path:
    """The study's directory, for a study stored on a path."""
    return Path(study.location.path)


def params_of(study: Study) -> list[Param]:
    """Every parameter the study's space samples (a branch as a choice of its options)."""
    return parse_space(study.config["space"]).all_params()


def stored(study_cfg, *overrides: str) -> Study:  # type: ignore[no-untyped-def]
    """A study directory holding only its config record, as `hpray tune` writes it first."""
    study = prepare(study_cfg(*overrides))
    study_dir(study).mkdir(parents=True)
    (study_dir(study) / CONFIG_FILE).write_text(yaml.safe_dump(study.config))
    return study
