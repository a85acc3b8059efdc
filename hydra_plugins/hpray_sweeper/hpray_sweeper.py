"""The ``hpray`` option of Hydra's ``hydra/sweeper`` group, and the sweeper it instantiates.

Its settings are hpray's study blocks (``study``, ``searcher``, ``scheduler``, ``resources``,
``ray``, ``k8s``, ``tracking``, ``space``) and the Optuna sweeper's keys (``params``,
``direction``, ``n_trials``, ``n_jobs``, ``sampler``, ``study_name``, ``storage``); every one
is optional (null: hpray's default). The node is a mapping, not a dataclass, so that hpray, not
the composition, refuses a key it does not take (added in an hparams_search file, or with ``+``
on the command line): with exit code 2 and the list of the keys it takes.
"""

from __future__ import annotations

import sys
from typing import Any

from hydra.core.config_store import ConfigStore
from hydra.plugins.sweeper import Sweeper
from hydra.types import HydraContext, TaskFunction
from omegaconf import DictConfig

from hpray.config.app import sweeper_node

TARGET = "hydra_plugins.hpray_sweeper.hpray_sweeper.HpraySweeper"

ConfigStore.instance().store(
    group="hydra/sweeper", name="hpray", node=sweeper_node(TARGET), provider="hpray"
)


class HpraySweeper(Sweeper):
    """Runs ``python app.py -m ...`` as an hpray study: Ray Tune trials of the app's task."""

    def __init__(self, **settings: Any) -> None:
        # The settings are read from the config at sweep time (hydra.sweeper), where their
        # interpolations resolve against the app's whole config.
        super().__init__()
        self.hydra_context: HydraContext | None = None
        self.task_function: TaskFunction | None = None
        self.config: DictConfig | None = None

    def setup(
        self, *, hydra_context: HydraContext, task_function: TaskFunction, config: DictConfig
    ) -> None:
        self.hydra_context = hydra_context
        self.task_function = task_function
        self.config = config

    def sweep(self, arguments: list[str]) -> Any:
        # Imported here: Hydra imports every plugin module on each start of every app.
        from hpray.sweeper import sweep

        assert self.hydra_context and self.task_function and self.config is not None
        code = sweep(
            self.config.hydra.sweeper,
            self.hydra_context,
            self.task_function,
            self.config,
            list(arguments),
        )
        if code:
            sys.exit(code)  # SystemExit passes Hydra's error report: the contract's exit code
        return []
