"""Composes study configs the way `hpray tune` does, with Hydra's compose API."""

from __future__ import annotations

from pathlib import Path

import pytest
from hydra import compose, initialize_config_module
from omegaconf import DictConfig

from hpray.branch_groups import expand


def compose_study(storage: Path, *overrides: str) -> DictConfig:
    with initialize_config_module("hpray.conf", version_base="1.3"):
        return expand(compose("study", overrides=[f"study.storage={storage}", *overrides]))


@pytest.fixture
def study_cfg(tmp_path: Path):  # type: ignore[no-untyped-def]
    """compose(*overrides) -> DictConfig, storing studies under the test's tmp_path."""
    return lambda *overrides: compose_study(tmp_path / "studies", *overrides)
