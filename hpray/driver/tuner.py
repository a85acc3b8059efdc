"""The study as a Ray Tune Tuner: a new one, or the stored one restored; and Ray to run it on."""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import threading
from collections.abc import Callable, Iterator
from typing import Any

import ray
from ray import tune
from ray.tune.schedulers import PopulationBasedTraining

from hpray import internals
from hpray.config.prepare import Study
from hpray.config.schema import RaySettings, Resources
from hpray.driver import resume, signals
from hpray.driver.budget import RuleEnd
from hpray.driver.failfast import RepeatedFailure
from hpray.driver.lighter import TensorBoardLogger
from hpray.driver.phases import FirstResult
from hpray.driver.progress import Progress
from hpray.driver.scheduler_state import SchedulerState
from hpray.search.rules import Budgeted, RuleStopper
from hpray.store.layout import trial_dir_name, trial_name
from hpray.store.location import StudyDir

# Ray's new console output ignores verbose=0 and repeats itself; hpray prints its own progress.
# Snapshots (trial states, searcher and scheduler state) at Ray's adaptive period, from 2 s
# (driver.lighter): a hard kill of a small study loses at most 2 s of progress, and a study of
# thousands of trials spends at most 5% of the driver on them. Each can be overridden.
# A trial's failure is one line of hpray's (driver.failfast), its traceback in its error.txt.
RAY_ENV_DEFAULTS = {
    "RAY_AIR_NEW_OUTPUT": "0",
    "TUNE_GLOBAL_CHECKPOINT_S": "auto",
    "TUNE_PRINT_ALL_TRIAL_ERRORS": "0",
}


# A gang's lead: no CPU (its workers have theirs), a token of memory (Ray asks for something).
LEAD_RESOURCES: dict[str, float] = {"cpu": 0, "memory": 64 * 2**20}


class RaySession:
    """The Ray a study runs on; a local one this run started can end beside other work."""

    def __init__(self, started: bool) -> None:
        self.started = started  # this run started a local Ray, which it shuts down
        self._ending: threading.Thread | None = None

    def end_in_background(self, then: Callable[[], None]) -> None:
        """Shut the local Ray down in a thread, then call ``then``: the study's outputs are
        written from its directory meanwhile, not after (Ray stops its processes one kind at a
        time, a second or more)."""
        if not self.started:
            then()
            return
        self.started = False

        def end() -> None:
            ray.shutdown()
            then()

        self._ending = threading.Thread(target=end, name="hpray-ray-shutdown", daemon=True)
        self._ending.start()
        signals.rearm_when_lost(self._ending)

    def join(self) -> None:
        if self._ending is not None:
            self._ending.join()
        signals.rearm()


@contextlib.contextmanager
def ray_session(ray_cfg: RaySettings) -> Iterator[RaySession]:
    """Ray for the study: the configured cluster, or a local Ray shut down afterwards."""
    for name, value in RAY_ENV_DEFAULTS.items():
        os.environ.setdefault(name, value)
    with signals.watched() as signalled:
        session = RaySession(connect(ray_cfg))
        interrupted = signalled()  # during Ray's start, where Python may drop its exception
    try:
        if interrupted:
            raise KeyboardInterrupt
        yield session
    finally:
        if session.started:
            ray.shutdown()
        session.join()  # and the signal handlers Ray's shutdown dropped put back


def make_tuner(
    study: Study, resources: dict[str, float], directory: StudyDir, deadline: float | None = None
) -> tune.Tuner:
    """A new Tuner, or the stored one restored when the directory holds an unfinished study.

    ``deadline``: when the time budget is spent, which the trials see (they checkpoint at
    their first report after it, where the scheduler pauses them).
    """
    settings = study.settings
    # Trials see the resources they got (gpu: auto resolved), e.g. for their thread count.
    workers = study.resources.workers
    base = {
        **study.base,
        "resources": {**resources, "workers": workers, "placement": study.resources.placement},
    }
    parameters: dict[str, Any] = {"base": base, "deadline": deadline}
    if study.per_worker is not None:
        parameters["per_worker"] = study.per_worker
    # A gang's workers ask Ray Train for their resources; its lead (Tune's trial) for nearly
    # none, so that the gang's own can be had (the slots bound how many trials run at once).
    trainable = tune.with_resources(
        tune.with_parameters(study.trainable, **parameters),
        LEAD_RESOURCES if workers > 1 else resources,
    )
    # Ray writes local paths itself; anything else through the filesystem the URI named.
    filesystem = None if directory.local else directory.fs
    if tune.Tuner.can_restore(directory.path, storage_filesystem=filesystem):
        print(f"[hpray] resuming the unfinished study in {directory}", file=sys.stderr)
        resume.fill_checkpoint_gaps(directory)
        resume.set_torn_errors_aside(directory)
        resume.complete_result_files(directory)
        return tune.Tuner.restore(
            directory.path,
            trainable,
            storage_filesystem=filesystem,
            resume_unfinished=True,
            resume_errored=True,
            param_space=study.plan.param_space,
        )
    return tune.Tuner(
        trainable,
        param_space=study.plan.param_space,
        tune_config=tune.TuneConfig(
            # Several objectives: the searcher and the scheduler have their own (Ray's one
            # metric would be checked against theirs).
            metric=None if settings.several else settings.metric,
            mode=None if settings.several else settings.mode,
            search_alg=study.plan.search_alg,
            scheduler=Budgeted(study.scheduler),
            num_samples=study.plan.num_samples,
            reuse_actors=settings.reuse_actors,
            trial_dirname_creator=trial_dirname,
            trial_name_creator=named,
        ),
        run_config=tune.RunConfig(
            name=directory.name,
            storage_path=directory.parent.path,
            storage_filesystem=filesystem,
            failure_config=tune.FailureConfig(max_failures=settings.max_failures),
            stop=RuleStopper(),  # study.stop_at and study.trial_timeout, as this run sets them
            # Two kept, so a damaged newest checkpoint still leaves one to fall back on. PBT:
            # all, as a trial copies another's checkpoint of some epochs ago, which the
            # other's newer ones would have removed by then.
            checkpoint_config=tune.CheckpointConfig(
                num_to_keep=None if isinstance(study.scheduler, PopulationBasedTraining) else 2
            ),
            verbose=0,
            # Ray restores callback state by position: keep this order.
            callbacks=[
                SchedulerState(study.scheduler),
                Progress(
                    settings.metrics[0],
                    settings.modes[0],
                    total=study.plan.num_samples,
                    budget=settings.epochs,
                ),
                *study.tracking,
                TensorBoardLogger(),
                FirstResult(),  # stateless, so last: studies started before it restore alike
                RuleEnd(),  # the same
                RepeatedFailure(),  # the same
            ],
        ),
    )


def trial_dirname(trial: Any) -> str:
    """Short trial directory names (Ray's default embeds every parameter value)."""
    return trial_dir_name(trial.trial_id)


def named(trial: Any) -> str:
    """The trial's number in the study goes with its name to its process (hydra.job.num)."""
    return trial_name(trial.trial_id, trial.experiment_tag)


def connect(ray_cfg: RaySettings) -> bool:
    """Join the configured cluster, or start a local Ray; True when this call started it."""
    if ray.is_initialized():
        return False
    address = ray_cfg.address or os.environ.get("RAY_ADDRESS")
    if address:
        ray.init(address=address, logging_level=logging.WARNING)
    else:
        ray.init(
            num_cpus=ray_cfg.num_cpus,
            num_gpus=ray_cfg.num_gpus,
            include_dashboard=ray_cfg.dashboard,
            dashboard_host="127.0.0.1",
            **internals.temp_dir_option(ray_cfg.temp_dir),
            logging_level=logging.WARNING,
        )
    return True


def ray_resources(resources: Resources, uses_torch: bool = True) -> dict[str, float]:
    """Per-trial resources as Ray asks for them; ``gpu: auto`` is one GPU when the cluster has
    any, else none.

    A study of scikit-learn models alone runs on CPUs: ``auto`` then asks for no GPU.
    """
    gpu = resources.gpu
    if gpu == "auto":
        gpu = 1 if uses_torch and ray.cluster_resources().get("GPU", 0) >= 1 else 0
    return {"cpu": float(resources.cpu), "gpu": float(gpu)}
