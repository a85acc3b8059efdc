"""The driver: a prepared study -> Ray Tune Tuner (new or restored) -> fit -> outputs."""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import sys
import threading
import time
from collections.abc import Iterator
from typing import Any

import ray
import yaml
from ray import tune

from hpray import amend, outputs, resume, storage
from hpray.best import write_best
from hpray.config import Study
from hpray.driver_load import TensorBoardLogger, lighter_driver
from hpray.errors import EXIT_ERROR, EXIT_INTERRUPTED, EXIT_OK
from hpray.lock import StudyBusy, StudyLock
from hpray.progress import Progress
from hpray.scheduler_state import SchedulerState
from hpray.storage import StudyDir

# Ray's new console output ignores verbose=0 and repeats itself; hpray prints its own progress.
# Snapshots (trial states, searcher and scheduler state, result files) every 2 s instead of
# Ray's >= 10 s, so a hard kill loses at most 2 s of progress. Each can be overridden.
RAY_ENV_DEFAULTS = {
    "RAY_AIR_NEW_OUTPUT": "0",
    "TUNE_GLOBAL_CHECKPOINT_S": "2",
}


def run(study: Study, fresh: bool = False) -> int:
    """Run (or resume) the study; returns the exit code of the contract."""
    started = time.monotonic()
    directory = study.location
    settings = study.settings
    try:
        if fresh:
            StudyLock(directory).check_free()  # never move a study another driver is running
            moved = resume.set_aside(directory)
            if moved:
                print(f"[hpray] --fresh: the previous study was moved to {moved}", file=sys.stderr)
        resume.check_resumable(directory, study.config)  # before anything is written
        if _finished(directory) and not resume.grows(directory, study.config):
            print(f"[hpray] study {directory} is already complete; nothing to run", file=sys.stderr)
            _report(directory, settings, study.plan.num_samples, wall_s=None)
            return EXIT_OK
        storage.check_writable(directory)
        StudyLock(directory).check_not_owned_here()  # a second driver here: refused before Ray
        with ray_session(study.config["ray"]):
            storage.check_shared(directory.parent, bool(settings["shared_storage"]))
            with StudyLock(directory):
                _fit(study, directory)
    except StudyBusy as busy:
        print(f"hpray: {busy}", file=sys.stderr)
        return EXIT_INTERRUPTED
    summary = _report(
        directory, settings, study.plan.num_samples, wall_s=time.monotonic() - started
    )
    if summary["complete"]:
        resume.remove_placeholders(directory)
    else:
        print(
            f"[hpray] the study stopped before all trials finished; run the same command "
            f"again to resume it from {directory}",
            file=sys.stderr,
        )
        return EXIT_INTERRUPTED
    if summary["best"] is None:
        print("[hpray] no trial produced a result (see the errors above)", file=sys.stderr)
        return EXIT_ERROR
    return EXIT_OK


@contextlib.contextmanager
def ray_session(ray_cfg: dict[str, Any]) -> Iterator[None]:
    """Ray for the study: the configured cluster, or a local Ray shut down afterwards."""
    for name, value in RAY_ENV_DEFAULTS.items():
        os.environ.setdefault(name, value)
    started_ray = connect(ray_cfg)
    try:
        yield
    finally:
        if started_ray:
            ray.shutdown()


def _fit(study: Study, directory: StudyDir) -> None:
    resources = trial_resources(study.config["resources"], study.uses_torch)
    study.base["resources"] = {"cpu": resources["cpu"], "gpu": resources["gpu"]}
    (directory / resume.CONFIG_FILE).write_text(yaml.safe_dump(study.config, sort_keys=False))
    print(
        f"[hpray] study {directory}: {study.plan.description}; "
        f"{resources['cpu']:g} CPU + {resources['gpu']:g} GPU per trial",
        file=sys.stderr,
    )
    amend.set_target(study.plan.num_samples)  # a restored study grows to this count
    tuner = make_tuner(study, resources, directory)
    # _sigterm_as_sigint after ray.init, which installs a SIGTERM handler of its own.
    with _sigterm_as_sigint(), lighter_driver():
        tuner.fit()


@contextlib.contextmanager
def _sigterm_as_sigint() -> Iterator[None]:
    """Ray Tune saves the experiment on SIGINT only; schedulers and Kubernetes send SIGTERM."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGTERM, lambda *_: os.kill(os.getpid(), signal.SIGINT))
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def make_tuner(study: Study, resources: dict[str, float], directory: StudyDir) -> tune.Tuner:
    """A new Tuner, or the stored one restored when the directory holds an unfinished study."""
    settings = study.settings
    trainable = tune.with_resources(
        tune.with_parameters(study.trainable, base=study.base), resources
    )
    # Ray writes local paths itself; anything else through the filesystem the URI named.
    filesystem = None if directory.local else directory.fs
    if tune.Tuner.can_restore(directory.path, storage_filesystem=filesystem):
        print(f"[hpray] resuming the unfinished study in {directory}", file=sys.stderr)
        resume.fill_checkpoint_gaps(directory)
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
            metric=settings["metric"],
            mode=settings["mode"],
            search_alg=study.plan.search_alg,
            scheduler=study.scheduler,
            num_samples=study.plan.num_samples,
            reuse_actors=bool(settings["reuse_actors"]),
            trial_dirname_creator=trial_dirname,
        ),
        run_config=tune.RunConfig(
            name=directory.name,
            storage_path=directory.parent.path,
            storage_filesystem=filesystem,
            failure_config=tune.FailureConfig(max_failures=settings["max_failures"]),
            # Two kept, so a damaged newest checkpoint still leaves one to fall back on.
            checkpoint_config=tune.CheckpointConfig(num_to_keep=2),
            verbose=0,
            # Ray restores callback state by position: keep this order.
            callbacks=[
                SchedulerState(study.scheduler),
                Progress(
                    settings["metric"],
                    settings["mode"],
                    total=study.plan.num_samples,
                    budget=settings["epochs"],
                ),
                *study.tracking,
                TensorBoardLogger(),
            ],
        ),
    )


def trial_dirname(trial: Any) -> str:
    """Short trial directory names (Ray's default embeds every parameter value)."""
    return f"trial_{trial.trial_id}"


def connect(ray_cfg: dict[str, Any]) -> bool:
    """Join the configured cluster, or start a local Ray; True when this call started it."""
    if ray.is_initialized():
        return False
    address = ray_cfg.get("address") or os.environ.get("RAY_ADDRESS")
    if address:
        ray.init(address=address, logging_level=logging.WARNING)
    else:
        ray.init(
            num_cpus=ray_cfg.get("num_cpus"),
            num_gpus=ray_cfg.get("num_gpus"),
            include_dashboard=bool(ray_cfg.get("dashboard")),
            dashboard_host="127.0.0.1",
            _temp_dir=ray_cfg.get("temp_dir"),
            logging_level=logging.WARNING,
        )
    return True


def trial_resources(resources: dict[str, Any], uses_torch: bool = True) -> dict[str, float]:
    """Per-trial resources; ``gpu: auto`` is one GPU when the cluster has any, else none.

    A study of scikit-learn models alone runs on CPUs: ``auto`` then asks for no GPU.
    """
    gpu = resources["gpu"]
    if gpu == "auto":
        gpu = 1 if uses_torch and ray.cluster_resources().get("GPU", 0) >= 1 else 0
    return {"cpu": float(resources["cpu"]), "gpu": float(gpu)}


def _write_html(
    directory: StudyDir, config: dict[str, Any], rows: Any, summary: dict[str, Any]
) -> None:
    """report.html; a report that cannot be drawn never fails the study it reports on."""
    from hpray.report import write_html

    try:
        print(f"[hpray] report: {write_html(directory, config, rows, summary)}", file=sys.stderr)
    except Exception as err:
        print(f"[hpray] report.html not written: {err!r}", file=sys.stderr)


def _finished(directory: StudyDir) -> bool:
    summary = outputs.read_summary(directory)
    return bool(summary and summary.get("complete"))


def _report(
    directory: StudyDir, settings: dict[str, Any], planned: int, wall_s: float | None
) -> dict[str, Any]:
    """Write results.csv and summary.json from the experiment, and print the summary table."""
    rows = outputs.collect(directory, settings["metric"], settings["mode"], settings["epochs"])
    stored = outputs.read_summary(directory)
    if wall_s is None and stored is not None:
        summary = stored
    else:
        if stored is not None and not stored.get("complete"):  # earlier runs of a resumed study
            wall_s = (wall_s or 0.0) + float(stored.get("wall_s", 0.0))
        summary = outputs.summarise(
            rows, settings["metric"], settings["mode"], wall_s or 0.0, planned
        )
        outputs.write_results(directory, rows, settings["metric"])
        outputs.write_summary(directory, summary)
        config = resume.stored_config(directory)
        if config is not None:
            write_best(directory, config, summary)
            _write_html(directory, config, rows, summary)
    print(outputs.format_table(summary, rows, settings["mode"]))
    return summary
