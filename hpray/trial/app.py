"""The Ray Tune trainable that runs an existing Hydra app's task function as a trial.

The app's config is composed in the trial's process as a run of the app composes it: its primary
config with the command line's overrides and this trial's values as overrides, by the app's own
config loader (``load_sweep_config``, as Hydra's launchers do), so its defaults list,
interpolations and ``${hydra:...}`` resolvers mean what they mean in a run of the app. Hydra's
``run_job`` then runs the task function in the trial's output directory
(``hydra.sweep.dir``/``hydra.sweep.subdir``; ``hydra.job.num`` numbers the trials in the
order they were made, as a multirun numbers its jobs) with the app's
logging and callbacks. The trial's session is open around it: ``hpray.report`` and hpray's
Lightning callback report through it, and a returned number is the study's metric.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hydra.core.singleton import Singleton
from hydra.core.utils import run_job, setup_globals
from hydra.types import HydraContext
from omegaconf import DictConfig, open_dict

from hpray.config.app import override
from hpray.store.layout import trial_number
from hpray.trial import context
from hpray.trial.api import Session
from hpray.trial.runner import in_session, wait_if_late

CONSOLE_LOG = "console.log"  # a trial's app output, in its output directory


@dataclass
class AppJob:
    """What a trial needs of the app: Ray pickles it to the trial's process (by value when the
    task function lives in the app's script, as Hydra's Ray launcher sends it)."""

    hydra_context: HydraContext
    task_function: Callable[[DictConfig], Any]
    config: DictConfig  # the sweep's config (Hydra's master config), composed by the driver
    overrides: list[str]  # the command line's fixed overrides, the space's fixed values
    sweep_dir: str  # hydra.sweep.dir as the sweep's first run resolved it (kept on resume)
    singletons: Any  # Hydra's singletons (config store, resolvers) as the driver holds them
    threads: int = 0  # torch's threads in a trial, as best_overrides.txt reruns it (0: Ray's)
    verbose: bool = False  # the app's output streams to the terminal too, not only to its log
    import_path: list[str] = field(default_factory=lambda: list(sys.path))  # the driver's
    cwd: str = field(default_factory=os.getcwd)

    def importable(self) -> None:
        """Whatever the app imported from in the driver, the trial imports from too.

        An app puts its root on ``sys.path`` in its script (lightning-hydra-template's
        ``rootutils``), which the trial never runs; its configs' ``_target_``s need that root.
        A path under the driver's working directory is found under the trial's when it is not
        where it was (a Ray job's ``--working-dir`` is unpacked elsewhere on each node).
        """
        missing = []
        for entry in self.import_path:
            found = Path(entry or self.cwd)
            if not found.is_dir() and found.is_relative_to(self.cwd):
                found = Path.cwd() / found.relative_to(self.cwd)
            if found.is_dir() and str(found) not in sys.path:
                missing.append(str(found))
        sys.path[:0] = missing

    def launch_dir(self) -> str:
        """Where the sweep was started: a trial works there, as a run of a Hydra multirun does
        (``hydra.runtime.cwd``; with ``hydra.job.chdir`` Hydra then enters the trial's output
        directory). On a node where that path is not, the job's working directory there, which
        Ray Tune names before it enters the trial's own folder under Ray's session directory."""
        if os.path.isdir(self.cwd):
            return self.cwd
        return os.environ.get("TUNE_ORIG_WORKING_DIR", os.getcwd())

    def compose(self, values: dict[str, Any], trial_id: str, number: int) -> DictConfig:
        """The app's config for a trial with these values (dotted config paths); ``number``
        is its ``hydra.job.num``."""
        self.importable()
        setup_globals()  # Hydra's resolvers (hydra:, now:), as in a run of the app
        Singleton.set_state(self.singletons)
        overrides = [
            *self.overrides,
            *(override(k, v) for k, v in values.items()),
            override("hydra.sweep.dir", self.sweep_dir),
        ]
        composed = self.hydra_context.config_loader.load_sweep_config(self.config, overrides)
        with open_dict(composed):
            composed.hydra.job.id = trial_id
            composed.hydra.job.num = number
        return composed

    def run(self, composed: DictConfig) -> Any:
        """The task function's return value (its exception, raised, when it failed)."""
        with self.console(composed):
            returned = run_job(
                task_function=self.task_function,
                config=composed,
                job_dir_key="hydra.sweep.dir",
                job_subdir_key="hydra.sweep.subdir",
                hydra_context=self.hydra_context,
            )
        return returned.return_value

    @contextlib.contextmanager
    def console(self, composed: DictConfig) -> Iterator[None]:
        """What the app prints (its config tree, its log's console copy, progress bars) goes
        to ``console.log`` in the trial's output directory, beside Hydra's job log, not to the
        sweep's terminal: one line per trial there is hpray's. ``verbose``: to both."""
        if self.verbose:
            yield
            return
        directory = Path(str(composed.hydra.sweep.dir)) / str(composed.hydra.sweep.subdir)
        directory.mkdir(parents=True, exist_ok=True)
        with (
            (directory / CONSOLE_LOG).open("a", buffering=1) as log,
            contextlib.redirect_stdout(log),
            contextlib.redirect_stderr(log),
        ):
            yield


def run(config: dict[str, Any], base: dict[str, Any], deadline: float | None = None) -> None:
    """One trial of an app's sweep: ``config`` holds the trial's sampled values; ``deadline``
    is when the study's time budget is spent."""
    wait_if_late(deadline)
    logging.getLogger("ray.train").setLevel(logging.WARNING)
    job: AppJob = base["app"]
    torch = sys.modules.get("torch")  # an app's torch, loaded with its task function
    if torch is not None and job.threads:  # a reused actor's last trial may have changed it
        torch.set_num_threads(job.threads)
    with working_in(job.launch_dir()):  # composed there too: hydra.runtime.cwd is that
        trial_id = context.trial_id()
        number = trial_number(context.trial_name())
        if number is None:  # a trial of a study started before trials were numbered
            suffix = trial_id.rsplit("_", 1)[-1]
            number = int(suffix) if suffix.isdigit() else int(suffix, 16)
        composed = job.compose(dict(config), trial_id, number)
        # The device is found when a checkpoint is loaded.
        opened = Session.of(base["study"], None, deadline=deadline, values=dict(config))
        in_session(opened, lambda: job.run(composed))


@contextlib.contextmanager
def working_in(directory: str) -> Iterator[None]:
    """The block runs in ``directory``; the process's own comes back after (a reused actor)."""
    before = os.getcwd()
    os.chdir(directory)
    try:
        yield
    finally:
        os.chdir(before)
