"""Every private name of Ray, torch, scikit-learn and Lightning that hpray touches, fenced here.

Each use says why no public API serves and the version it was checked against. ``FENCED``
lists them all; ``tests/unit/test_internals.py`` fails, naming the name, when an upgrade moves
one, so a new Ray breaks CI rather than a user's study. Libraries are imported inside the
functions: importing this module costs nothing.

Checked against Ray 2.60.0, torch 2.13.0, scikit-learn 1.8 and Lightning 2.6.
"""

from __future__ import annotations

import contextlib
import fnmatch
import importlib
import importlib.util
import itertools
import json
import statistics
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

# (module, dotted attribute) of every private name used below, for the upgrade check.
FENCED: tuple[tuple[str, str], ...] = (
    ("ray.train._internal.session", "get_session"),
    ("ray.train._internal.storage", "StorageContext.experiment_driver_staging_path"),
    ("ray.train._internal.storage", "_pyarrow_fs_copy_files"),  # checked_copies
    ("ray.tune.execution.experiment_state", "_ExperimentCheckpointManager.on_trial_checkpoint"),
    (
        "ray.tune.execution.experiment_state",
        "_ExperimentCheckpointManager._update_auto_checkpoint_time",
    ),
    (
        "ray.tune.execution.experiment_state",
        "_ExperimentCheckpointManager.sync_up_experiment_state",
    ),
    ("ray.air._internal.usage", "tag_callbacks"),
    ("ray._private.state", "GlobalState.get_cluster_config"),
    ("ray.tune.execution.tune_controller", "TuneController._maybe_reuse_cached_actor"),
    ("ray.tune.logger", "TBXLoggerCallback"),  # its _trial_writer: see INSTANCE_FENCED
    ("ray.tune.trainable.metadata", "_TrainingRunMetadata"),  # num_failures: INSTANCE_FENCED
    ("ray.tune.logger.logger", "LoggerCallback._restore_from_remote"),
    ("ray.tune.search.basic_variant", "_TrialIterator"),
    ("ray.tune.schedulers.pbt", "_PBTTrialState"),  # and PBT's _trial_state: see missing()
    ("torch.optim", "Optimizer.add_param_group.__wrapped__"),
    ("sklearn.base", "BaseEstimator._validate_params"),
    ("ray.train.v2.api.data_parallel_trainer", "DataParallelTrainer._create_default_callbacks"),
    (
        "ray.train.v2._internal.callbacks.placement_group_callback",
        "PlacementGroupCleanerCallback",
    ),
    (
        "lightning.pytorch.trainer.connectors.checkpoint_connector",
        "_CheckpointConnector.resume_start",
    ),
    ("lightning.pytorch", "Trainer._checkpoint_connector"),  # set in __init__: see resume_lightning
)
OPTIONAL = ("lightning",)  # an extra: its names are checked where it is installed
# Private attributes that exist on instances only: (class path, attribute, how to build one).
INSTANCE_FENCED: tuple[tuple[str, str], ...] = (
    ("ray.tune.search.BasicVariantGenerator", "_iterators"),
    ("ray.tune.search.BasicVariantGenerator", "_uuid_prefix"),
    ("ray.tune.search.BasicVariantGenerator", "_constant_grid_search"),
    ("ray.tune.search.BasicVariantGenerator", "_total_samples"),
    ("ray.tune.search.BasicVariantGenerator", "_random_state"),
    ("ray.tune.search.BasicVariantGenerator", "_trial_generator"),
    ("ray.tune.search.BasicVariantGenerator", "_finished"),
    ("ray.tune.logger.TBXLoggerCallback", "_trial_writer"),
    ("ray.tune.trainable.metadata._TrainingRunMetadata", "num_failures"),
)


def missing() -> list[str]:
    """The fenced names this installation lacks, each as ``module:attribute``."""
    gone = []
    for module, dotted in FENCED:
        if (
            module.split(".")[0] in OPTIONAL
            and importlib.util.find_spec(module.split(".")[0]) is None
        ):
            continue
        if dotted == "Trainer._checkpoint_connector":
            continue  # an instance attribute: resume_lightning checks it where it is used
        try:
            found: Any = importlib.import_module(module)
            for part in dotted.split("."):
                found = getattr(found, part)
        except (ImportError, AttributeError):
            gone.append(f"{module}:{dotted}")
    for path, attribute in INSTANCE_FENCED:
        module, _, name = path.rpartition(".")
        try:
            instance = getattr(importlib.import_module(module), name)()
        except (ImportError, AttributeError):
            gone.append(f"{path} (the class)")
            continue
        if not hasattr(instance, attribute):
            gone.append(f"{path}.{attribute}")
    import inspect

    import ray

    if '"_temp_dir"' not in inspect.getsource(ray.init):  # read from its **kwargs
        gone.append("ray.init(_temp_dir=...)")
    from ray.tune.execution.tune_controller import TuneController

    if "self._trial_to_actor" not in inspect.getsource(TuneController.__init__):
        gone.append("TuneController._trial_to_actor")
    if TuneController.CKPT_FILE_TMPL.format("*") != SNAPSHOT_PATTERN:
        gone.append(f"TuneController.CKPT_FILE_TMPL (was {SNAPSHOT_PATTERN})")
    from ray.tune.schedulers import pbt

    # Per-trial state that pbt_trial_states keeps (PBT takes mutations to build).
    for attribute in ("_trial_state",):
        if f"self.{attribute}" not in inspect.getsource(pbt.PopulationBasedTraining.__init__):
            gone.append(f"PopulationBasedTraining.{attribute}")
    for attribute in PBT_KEPT:
        if f"self.{attribute}" not in inspect.getsource(pbt._PBTTrialState.__init__):
            gone.append(f"_PBTTrialState.{attribute}")
    from ray.tune.execution.experiment_state import _ExperimentCheckpointManager as manager

    # Instance attributes that snapshot_period_from sets and after_each_snapshot reads (the
    # class takes a storage to build).
    for attribute in ("_auto_checkpoint_enabled", "_checkpoint_period", "_storage"):
        if f"self.{attribute}" not in inspect.getsource(manager.__init__):
            gone.append(f"_ExperimentCheckpointManager.{attribute}")
    return gone


# --- Ray: a local Ray's session directory ------------------------------------------------------


def temp_dir_option(temp_dir: str | None) -> dict[str, Any]:
    """``ray.init``'s argument for a local Ray's session and log directory.

    ``ray start`` has ``--temp-dir``; ``ray.init`` takes the same only as ``_temp_dir``.
    """
    return {"_temp_dir": temp_dir}


# --- Ray: the autoscaler's node groups -----------------------------------------------------


def autoscaling_node_groups() -> list[tuple[dict[str, float], int]]:
    """(resources of one node, largest node count; -1: unbounded) of each node group an
    autoscaler may grow; empty when the cluster does not autoscale.

    Ray has no public API for the cluster an autoscaler may build; the autoscaler publishes it
    in the GCS, where Ray Train reads it the same way to refuse a worker group that can never
    fit (``GlobalState.get_cluster_config``).
    """
    from ray._private.state import state

    config = state.get_cluster_config()
    if config is None:
        return []
    groups = [
        (dict(group.resources), int(group.max_count))
        for group in config.node_group_configs
        if group.resources and group.max_count != 0
    ]
    grows = any(
        group.max_count == -1 or group.max_count > group.min_count
        for group in config.node_group_configs
    )
    return groups if grows else []


# --- Ray: the trial's storage, from inside a trial --------------------------------------------


def trial_storage() -> tuple[Any, str] | None:
    """(filesystem, path) of the running trial's directory in the study's storage, or None.

    Ray's public context gives the trial's local directory only; a restored trial must look
    in storage for checkpoints and results its snapshot did not know of (a hard kill between
    the two). Ray 2.60 keeps that location on the train session's ``storage``.
    """
    from ray.train._internal.session import get_session

    storage = getattr(get_session(), "storage", None)
    if storage is None:
        return None
    return storage.storage_filesystem, str(storage.trial_fs_path)


# --- Ray: the experiment's snapshot, read without building its trials ------------------------


SNAPSHOT_PATTERN = "experiment_state-*.json"


@dataclass
class StoredTrial:
    """A trial as the experiment's newest snapshot holds it."""

    trial_id: str
    status: str  # Ray's: PENDING, RUNNING, PAUSED, TERMINATED, ERROR
    config: dict[str, Any]
    dirname: str  # its directory, relative to the experiment's


def stored_trials(fs: Any, experiment_path: str) -> list[StoredTrial] | None:
    """Every trial of the experiment's newest snapshot (None when it has none yet).

    Ray's public reader (``ExperimentAnalysis``) rebuilds each trial, unpickling its storage
    and run metadata, and a pandas frame of every trial's results: 6 s for 5000 one-report
    trials, for the four fields a report needs. The snapshot is Ray's own JSON (checked with
    Ray 2.60): a list of (trial state, run metadata); a trial's state holds its id, status,
    config (JSON, pickled values where JSON cannot say them) and directory. The snapshot is
    the study's own, written by its driver: its pickled config values are trusted as Ray's
    restore trusts them.
    """
    import pyarrow.fs

    # Ray's TuneController.CKPT_FILE_TMPL; the newest by the timestamp in its name, as Ray
    # picks it (its own finder imports all of Ray Tune, most of a report's time).
    found = fs.get_file_info(pyarrow.fs.FileSelector(experiment_path, allow_not_found=True))
    names = fnmatch.filter((info.base_name for info in found), SNAPSHOT_PATTERN)
    if not names:
        return None
    with fs.open_input_stream(f"{experiment_path}/{max(names)}") as stream:
        state = json.loads(stream.readall())
    trials = []
    for trial_state, _metadata in state["trial_data"]:
        raw = json.loads(trial_state)  # the pickled fields (storage, resources) left as they are
        config, text = raw["config"], json.dumps(raw["config"])
        if "CLOUDPICKLE_FALLBACK" in text:  # a value JSON cannot say: Ray's decoder unpickles it
            from ray.tune.utils.serialization import TuneFunctionDecoder

            config = TuneFunctionDecoder(allow_cloudpickle=True).decode(text)
        trials.append(
            StoredTrial(
                str(raw["trial_id"]),
                str(raw["status"]),
                dict(config),
                str(raw.get("relative_logdir") or raw["custom_dirname"]),
            )
        )
    return trials


# --- Ray: driver work hpray does not need ----------------------------------------------------


@contextlib.contextmanager
def no_forced_snapshots() -> Iterator[None]:
    """Trial checkpoints never force an experiment snapshot while the block runs.

    Ray forces one whenever a trial has saved ``num_to_keep`` checkpoints since the last (its
    own note calls it a non-performant workaround); hpray's resume handles a snapshot that
    names a deleted checkpoint, so snapshots keep to their period. No setting turns it off.
    """
    from ray.tune.execution import experiment_state

    def count_nothing(self: Any, trial: Any) -> None:
        """Ray counts each trial's checkpoints here to force a snapshot."""

    with _replaced(
        experiment_state._ExperimentCheckpointManager, "on_trial_checkpoint", count_nothing
    ):
        yield


@contextlib.contextmanager
def snapshot_period_from(floor_s: float) -> Iterator[None]:
    """Ray's adaptive snapshot period (``TUNE_GLOBAL_CHECKPOINT_S=auto``: 19 times what the
    last snapshot took, so snapshots take at most 5% of the driver) with a floor of ``floor_s``
    instead of Ray's fixed 10 s, and from the median of the last five snapshots' times.

    A study of a few dozen trials snapshots every ``floor_s``; one of thousands, whose snapshot
    holds every trial, no more often than its cost allows. Ray has no setting for the floor.
    """
    from ray.tune.execution import experiment_state

    def update(self: Any, time_taken: float) -> None:
        if self._auto_checkpoint_enabled:
            # The median of the last five (the first ones padded with 0): a snapshot slowed by a
            # busy moment must not stretch the period to many seconds, and with it the time
            # until result files reach the study directory; three slow ones in five do.
            recent = [*getattr(self, "_hpray_snapshot_s", [])[-4:], time_taken]
            self._hpray_snapshot_s = recent
            padded = recent + [0.0] * (5 - len(recent))
            self._checkpoint_period = max(floor_s, statistics.median(padded) * 19)

    with _replaced(
        experiment_state._ExperimentCheckpointManager, "_update_auto_checkpoint_time", update
    ):
        yield


@contextlib.contextmanager
def after_each_snapshot(kept: Callable[[str], Any]) -> Iterator[None]:
    """``kept(staging)`` runs after each experiment snapshot Ray writes, with the local folder
    it wrote it to (its driver staging path), before Ray copies it to the study's storage.

    Ray copies the snapshot's files to storage in place, each in turn, in the background: a
    crash or a full disk can leave one torn. Right after Ray writes them locally, whole and
    consistent with each other, is the one moment to keep a copy; no callback runs there
    (a Tune callback's state is saved in the middle of it).
    """
    from ray.tune.execution import experiment_state

    manager = experiment_state._ExperimentCheckpointManager
    original = manager.sync_up_experiment_state

    def sync_up(self: Any, save_fn: Callable[[], None], *args: Any, **kwargs: Any) -> None:
        def save_and_keep() -> None:
            save_fn()
            kept(self._storage.experiment_driver_staging_path)

        original(self, save_and_keep, *args, **kwargs)

    with _replaced(manager, "sync_up_experiment_state", sync_up):
        yield


def checked_copies(copying: Callable[[Any, str], Any]) -> None:
    """Each copy Ray makes to storage runs inside ``copying(filesystem, destination)`` (a
    context manager), which can raise an error the copy dropped.

    Arrow's ``copy_files`` closes each file it writes and drops the error of that close
    (checked with pyarrow 26: it waits on the future of ``CloseAsync`` and never reads its
    status); an object store takes a file as it is closed, so a failed checkpoint upload would
    pass for a stored one. Ray Tune copies trial checkpoints and the experiment's files with it,
    through ``ray.train._internal.storage._pyarrow_fs_copy_files``, the one name it calls (by
    module lookup, so replacing it there reaches every caller). For the whole process: trial
    processes get it with their storage's filesystem. Idempotent.
    """
    from ray.train._internal import storage

    original = storage._pyarrow_fs_copy_files
    if getattr(original, "hpray_checked", False):
        return

    def copy(source: Any, destination: Any, *args: Any, **kwargs: Any) -> Any:
        with copying(kwargs.get("destination_filesystem"), str(destination)):
            return original(source, destination, *args, **kwargs)

    copy.hpray_checked = True  # type: ignore[attr-defined]
    storage._pyarrow_fs_copy_files = copy


# Ray's loggers that report each failed write while a paused run winds down, with a traceback,
# and the error of each trial stopped mid-write that nobody reads ("Unhandled error", logged
# by Ray's private worker module).
WINDING_DOWN_LOGGERS = ("ray.tune", "ray.train", "ray._private.worker")


def forgive_failure(trial: Any) -> None:
    """Take back the failure Ray just counted against the trial's ``max_failures``.

    Ray counts every error a trial raises; one that its storage caused (a full disk) says
    nothing of the trial, which must keep every retry it had. The count lives on the trial's
    run metadata (its ``num_failures``), which no public API sets.
    """
    metadata = trial.run_metadata
    metadata.num_failures = max(0, metadata.num_failures - 1)


@contextlib.contextmanager
def no_actor_stealing() -> Iterator[None]:
    """A cached actor is never handed to a trial whose own new actor is already placed.

    With reused actors Ray Tune gives a trial's freed actor to the next pending trial, even
    when that trial's own actor holds its resources and is starting: the new one is then
    killed. With trials shorter than a process's start (one-report trials) that repeats
    forever: a worker process started and killed every second or two, one trial running at a
    time, the study's trials taking twice as long (seen in 4 of 6 runs of 600 such trials).
    Kept, the new actor starts and both run from then on. A trial whose actor still waits for
    resources takes the cached one, as before. No setting changes this.
    """
    from ray.tune.execution.tune_controller import TuneController

    original = TuneController._maybe_reuse_cached_actor

    def reuse(self: Any, trial: Any) -> bool:
        own = self._trial_to_actor.get(trial)
        if own is not None and self._actor_manager.is_actor_started(own):
            return False  # placed and starting: it takes the trial in a moment
        return bool(original(self, trial))

    with _replaced(TuneController, "_maybe_reuse_cached_actor", reuse):
        yield


@contextlib.contextmanager
def no_callback_tagging() -> Iterator[None]:
    """Ray's usage telemetry does not tag the callbacks while the block runs.

    ``tune.run`` calls it whenever callbacks are given, and it imports the MLflow, W&B, Comet
    and Aim integrations to name them (about a second with mlflow installed). Ray's
    ``RAY_USAGE_STATS_ENABLED=0`` turns reporting off, not this import.
    """
    from ray.air._internal import usage

    def tag_nothing(callbacks: Any) -> bool:
        return False  # what Ray's tag_callbacks returns when it records nothing

    with _replaced(usage, "tag_callbacks", tag_nothing):
        yield


@contextlib.contextmanager
def result_files_kept() -> Iterator[None]:
    """A trial restarted in this run keeps the result files the driver wrote for it.

    When a trial starts from a checkpoint, Ray's loggers copy its stored ``result.json`` (and
    ``progress.csv``) over the driver's own, to continue after a driver restart. In the same
    run the stored copy lags the driver's by up to a snapshot period (the driver's are synced
    to storage at snapshots), so a trial that failed and was retried within that period lost
    its first reports (seen under load: a retried trial's result.json held epochs 3 and 4 of
    1 to 4). The copy is made only when the driver has no file of its own for the trial: a
    new run, which hpray's resume completes from the snapshot (driver.resume).
    """
    from pathlib import Path

    from ray.tune.logger.logger import LoggerCallback

    original = LoggerCallback._restore_from_remote

    def restore_when_absent(self: Any, file_name: str, trial: Any) -> None:
        if not Path(trial.local_path, file_name).exists():
            original(self, file_name, trial)

    with _replaced(LoggerCallback, "_restore_from_remote", restore_when_absent):
        yield


# What PBT knows of a trial that a resumed run needs to go on perturbing it as it would have.
PBT_KEPT = ("last_score", "last_perturbation_time", "last_train_time", "last_result")


def pbt_trial_states(scheduler: Any) -> dict[str, dict[str, Any]]:
    """PBT's state of each trial, by trial id, and whether it had a checkpoint to give.

    Ray keeps it by ``Trial`` object and does not save it with the experiment; a resumed
    run started from nothing (every trial at perturbation time 0), and in synchronous mode
    waited for trials to reach times they had passed. The checkpoint itself (a future or a
    Checkpoint of the old run) is not kept: a donor gives its latest stored one.
    """
    return {
        trial.trial_id: {
            **{key: getattr(state, key) for key in PBT_KEPT},
            "donor": state.last_checkpoint is not None,
        }
        for trial, state in scheduler._trial_state.items()
    }


def pbt_trial_state_restored(scheduler: Any, trial: Any, kept: dict[str, Any]) -> None:
    """Puts ``kept`` (from pbt_trial_states) back as PBT's state of the re-added ``trial``."""
    state = scheduler._trial_state[trial]
    for key in PBT_KEPT:
        setattr(state, key, kept[key])
    if kept["donor"]:
        state.last_checkpoint = trial.checkpoint


def trial_writer(callback: Any, trial: Any) -> Any:
    """The TensorBoard writer Ray's ``TBXLoggerCallback`` opened for ``trial`` (no accessor)."""
    return callback._trial_writer[trial]


@contextlib.contextmanager
def _replaced(owner: Any, name: str, value: Any) -> Iterator[None]:
    original = getattr(owner, name)
    setattr(owner, name, value)
    try:
        yield
    finally:
        setattr(owner, name, original)


# --- Ray: growing a restored search ----------------------------------------------------------


def grow_variants(generator: Any, target: int) -> None:
    """More random draws for a restored ``BasicVariantGenerator``, up to ``target`` trials.

    Ray restores the generator with the count it started with and has no call to raise it.
    One more trial iterator chains on, drawing from the generator's own seeded RNG (as Ray's
    ``add_configurations`` passes it), so the new trials are new, reproducible draws.
    """
    from ray.tune.search.basic_variant import _TrialIterator

    have = sum(iterator.num_samples for iterator in generator._iterators)
    if target <= have or not generator._iterators:
        return
    extra = _TrialIterator(
        uuid_prefix=generator._uuid_prefix,
        num_samples=target - have,
        unresolved_spec=generator._iterators[0].unresolved_spec,
        constant_grid_search=generator._constant_grid_search,
        start=generator._total_samples,
        random_state=generator._random_state,
    )
    generator._iterators.append(extra)
    generator._trial_generator = itertools.chain(generator._trial_generator, extra)
    generator._total_samples += target - have
    generator._finished = False


def grow_search(generator: Any, target: int) -> None:
    """A restored ``SearchGenerator`` asks its searcher for up to ``target`` trials."""
    if target > generator._total_samples:
        generator._total_samples = target
        generator._finished = False


# --- torch: an optimizer built without its compiler -------------------------------------------


@contextlib.contextmanager
def optimizers_without_compiler() -> Iterator[None]:
    """Build optimizers without importing torch's compiler, for a check that never trains.

    ``Optimizer.add_param_group`` imports ``torch._dynamo`` (over a second) on its first call to
    wrap itself; the driver's dry build only checks that the optimizer can be built. torch
    looks for the wrapped function in ``__dynamo_disable`` first: set for the block, removed after.
    """
    import torch

    wrapped = getattr(torch.optim.Optimizer.add_param_group, "__wrapped__", None)
    if wrapped is None or hasattr(wrapped, "__dynamo_disable"):
        yield
        return
    wrapped.__dynamo_disable = wrapped
    try:
        yield
    finally:
        del wrapped.__dynamo_disable


# --- scikit-learn: argument values checked before fit ------------------------------------------


def validate_estimator_params(estimator: Any) -> None:
    """Raise ValueError or TypeError for an argument value ``estimator.fit`` would refuse.

    scikit-learn checks its parameter constraints at ``fit`` only; the driver checks them
    before any trial runs. An estimator without constraints passes.
    """
    validate = getattr(estimator, "_validate_params", None)
    if validate is not None:
        validate()


# --- Lightning: a trainer resumed from hpray's checkpoint ---------------------------------------


def resume_lightning(trainer: Any, path: str) -> None:
    """Make ``trainer.fit`` resume from the checkpoint file at ``path``, as ``ckpt_path`` would.

    Called from a callback's ``setup`` hook, after ``fit`` has chosen its (absent) ``ckpt_path``
    and before it restores: the public ``trainer.ckpt_path`` is read too early to serve, and a
    callback has no earlier hook. The connector's ``resume_start`` is what ``fit`` calls on a
    given path; ``fit`` then restores the model, callbacks, optimizers and loops from it. The
    checkpoint is the trial's own, so it loads whole (``weights_only=False``: Lightning stores
    hyperparameters as objects).
    """
    connector = getattr(trainer, "_checkpoint_connector", None)
    if connector is None:
        raise RuntimeError(
            "this Lightning version has no Trainer._checkpoint_connector: hpray cannot resume "
            "the trainer (hpray.lightning supports Lightning 2.2 to 2.6)."
        )
    import inspect

    whole = {"weights_only": False}  # Lightning >= 2.5 asks; older versions load whole
    takes = "weights_only" in inspect.signature(connector.resume_start).parameters
    connector.resume_start(path, **(whole if takes else {}))


def torch_trainer(*args: Any, **kwargs: Any) -> Any:
    """Ray Train's TorchTrainer without its placement-group cleaner.

    The cleaner is a detached actor that asks Ray's state API (the dashboard) every second
    whether the controller lives, to remove its placement group should it die: without a
    dashboard (hpray's local Ray), or beside another local Ray (the test suite's), it ends in a
    traceback on the terminal at every trial's start. The group goes with its creator anyway
    (Ray scopes a placement group to the actor that created it: the controller, itself owned
    by the trial's process). No public switch leaves it out; ``_create_default_callbacks``
    builds it (Ray 2.60).
    """
    from ray.train.torch import TorchTrainer
    from ray.train.v2._internal.callbacks.placement_group_callback import (
        PlacementGroupCleanerCallback,
    )

    class Trainer(TorchTrainer):
        def _create_default_callbacks(self) -> list[Any]:
            found = super()._create_default_callbacks()  # type: ignore[misc]
            return [c for c in found if not isinstance(c, PlacementGroupCleanerCallback)]

    return Trainer(*args, **kwargs)
