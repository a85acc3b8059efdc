"""The driver: a prepared study -> Ray Tune Tuner (new or restored) -> fit -> outputs."""

from __future__ import annotations

import contextlib
import json
import logging
import os
import signal
import sys
import threading
import time
import traceback
from collections.abc import Iterator
from typing import Any

import yaml

from hpray import internals
from hpray.config.prepare import Study
from hpray.driver import budget, phases, resume, signals, storage
from hpray.driver.lighter import lighter_driver
from hpray.driver.live import live_report
from hpray.driver.lock import StudyBusy, StudyLock
from hpray.driver.pause import StoragePaused, pause_on, speak_again
from hpray.driver.tuner import make_tuner, ray_resources, ray_session
from hpray.errors import EXIT_CONFIG, EXIT_ERROR, EXIT_INTERRUPTED, EXIT_OK, ConfigError
from hpray.results.report import write_outputs
from hpray.results.trials import write_summary
from hpray.search import slots
from hpray.search.grow import growing_to
from hpray.search.rules import REPEATED_FAILURE, STORAGE, TIME_BUDGET, in_force
from hpray.store import full, snapshots
from hpray.store.layout import CONFIG_FILE, PLAN_FILE, read_results, read_summary
from hpray.store.location import StudyDir


def run_reporting(study: Study, fresh: bool = False) -> int:
    """``run``, with what a user can cause printed and turned into the contract's exit codes."""
    try:
        return run(study, fresh=fresh)
    except ConfigError as err:
        print(f"hpray: invalid config: {err}", file=sys.stderr)
        return EXIT_CONFIG
    except snapshots.Unrecoverable as err:
        print(f"hpray: {err}", file=sys.stderr)
        return EXIT_ERROR
    except StoragePaused as paused:
        print(f"hpray: {paused}", file=sys.stderr)
        return EXIT_INTERRUPTED
    except KeyboardInterrupt:
        print("hpray: interrupted; run the same command again to resume", file=sys.stderr)
        return EXIT_INTERRUPTED
    except SystemExit as exit_:
        if exit_.code != signal.SIGTERM:  # Ray's own SIGTERM handler, in place while it starts
            raise
        print("hpray: terminated; run the same command again to resume", file=sys.stderr)
        return EXIT_INTERRUPTED
    except Exception as err:
        what = full.fault(err, study.location.parent.path)
        if what is not None:  # a write refused where no pause caught it: said the same way
            print(f"hpray: {full.pause_line(study.location, what)}", file=sys.stderr)
            return EXIT_INTERRUPTED
        traceback.print_exc()
        return EXIT_ERROR


def run(study: Study, fresh: bool = False) -> int:
    """Run (or resume) the study; returns the exit code of the contract."""
    started = time.monotonic()
    clock = phases.restart()
    # Once the trials are over, a signal waits for the outputs; the handlers in place before
    # the run (Ray's start replaces SIGTERM's) come back after it.
    outputs = signals.Deferred(restore=signals.handlers())
    directory = study.location
    settings = study.settings
    try:
        if fresh:
            StudyLock(directory).check_free()  # never move a study another driver is running
            moved = resume.set_aside(directory)
            if moved:
                print(f"[hpray] --fresh: the previous study was moved to {moved}", file=sys.stderr)
        resume.check_resumable(directory, study.config)  # before anything is written
        _recover_snapshot(directory)
        if _finished(directory) and not resume.grows(directory, study.config):
            print(f"[hpray] study {directory} is already complete; nothing to run", file=sys.stderr)
            write_outputs(directory, settings, study.plan.num_samples, wall_s=None)
            return EXIT_OK
        left = budget.left_s(settings, directory)
        if left is not None and left <= 0:
            print(f"[hpray] {budget.spent_line(settings, directory)}", file=sys.stderr)
            return EXIT_OK
        storage.check_writable(directory)
        StudyLock(directory).check_not_owned_here()  # a second driver here: refused before Ray
        clock.mark("ray_init")
        with ray_session(study.ray) as session:
            clock.mark("ray_ready")
            storage.check_shared(directory.parent, settings.shared_storage)
            check_gang_fits(study)
            spent = budget.spent_before(directory)
            with StudyLock(directory):
                spent += _fit(study, directory, outputs)
                _snapshot_stored(directory)
                clock.mark("fit_end")
            # The outputs need only the study's directory: written while Ray shuts down.
            session.end_in_background(lambda: clock.mark("shut_down"))
            summary = write_outputs(
                directory, settings, study.plan.num_samples, wall_s=time.monotonic() - started
            )
            clock.mark("outputs_written")
            session.join()
        summary = {**summary, "time_spent_s": round(spent, 2), "phases": clock.durations()}
        write_summary(directory, summary)
        code = _exit_code(summary, directory)
        signals.decide(code)
    except StudyBusy as busy:
        print(f"hpray: {busy}", file=sys.stderr)
        return EXIT_INTERRUPTED
    finally:
        outputs.__exit__()
    if outputs.received:
        print(
            "[hpray] a signal came while the study's outputs were written; they are complete",
            file=sys.stderr,
        )
    return code


def _exit_code(summary: dict[str, Any], directory: StudyDir) -> int:
    stopped = summary.get("stopped") or {}
    if summary["complete"]:
        resume.remove_placeholders(directory)
    elif stopped.get("rule") == REPEATED_FAILURE:
        print(
            f"[hpray] stopped: trials failed {stopped['failures']} times with the same error "
            f"before any ended well, so a retry would too: {stopped['error']}\n"
            f"[hpray] fix it, then run the same command again to resume the study in "
            f"{directory} (or start it over with --fresh)",
            file=sys.stderr,
        )
        return EXIT_ERROR
    elif stopped.get("rule") == TIME_BUDGET:
        print(
            f"[hpray] stopped on the time budget: {stopped['paused']} trials paused, "
            f"{stopped['unstarted']} not started; raise study.time_budget and run the same "
            f"command again to continue the study in {directory}",
            file=sys.stderr,
        )
        return EXIT_OK
    else:
        print(
            f"[hpray] the study stopped before all trials finished; run the same command "
            f"again to resume it from {directory}",
            file=sys.stderr,
        )
        return EXIT_INTERRUPTED
    if summary["best"] is None:
        print(f"[hpray] {_no_result(summary, directory)}", file=sys.stderr)
        return EXIT_ERROR
    return EXIT_OK


def _no_result(summary: dict[str, Any], directory: StudyDir) -> str:
    """Why a finished study has no best: how its trials ended, and the first error."""
    errors = [
        row["stop_reason"].removeprefix("error: ")
        for row in read_results(directory) or []
        if row.get("status") == "errored" and row.get("stop_reason", "").startswith("error: ")
    ]
    return (
        f"no trial finished with a result: {summary['trials']['errored']} errored"
        + (f" (the first: {errors[0]})" if errors else " (see the errors above)")
        + f"; no best.yaml written in {directory}"
    )


def _fit(study: Study, directory: StudyDir, outputs: signals.Deferred) -> float:
    """Run the trials; returns the seconds it took (what the time budget counts)."""
    resources = ray_resources(study.resources, study.uses_torch)
    request = {"CPU": resources["cpu"], "GPU": resources["gpu"]}
    workers = study.resources.workers
    slots_now, autoscaling = slots.count(request, workers)
    at_once = slots.Count(slots_now, study.plan.cap, study.plan.cap_key, autoscaling)
    search = f"{study.plan.description}, {at_once.describe()}"
    (directory / CONFIG_FILE).write_text(yaml.safe_dump(study.config, sort_keys=False))
    (directory / PLAN_FILE).write_text(
        json.dumps({"trials": study.plan.num_samples, "search": search})
    )
    per_process = f"{resources['cpu']:g} CPU + {resources['gpu']:g} GPU"
    print(
        f"[hpray] study {directory}: {search}; "
        + (f"{workers} workers x ({per_process})" if workers > 1 else per_process)
        + " per trial",
        file=sys.stderr,
    )
    outputs.__enter__()  # left in run's finally
    with slots.asking(request, study.plan.cap, workers):
        for limiter in slots.limiters(study.plan.search_alg):
            limiter.settle()  # before the Tuner, which reads the limit once
        started = time.monotonic()
        rules = budget.rules_for(study.settings, directory)
        # hpray reads the results itself, never Ray's ResultGrid: Ray's warning, as it builds
        # one (at a restore, and after fit), of trials without a result file (not started yet,
        # or ended unstarted by a stop rule) is noise.
        logging.getLogger("ray.tune.analysis.experiment_analysis").setLevel(logging.ERROR)
        tuner = make_tuner(study, resources, directory, rules.deadline)
        spent = budget.counted(directory, rules, budget.spent_before(directory))
        # _sigterm_as_sigint after ray.init, which installs a SIGTERM handler of its own.
        # A restored search (restored inside fit) grows to the study's trial count.
        kept = internals.after_each_snapshot(lambda staging: _keep(directory, staging))
        with _sigterm_as_sigint(), lighter_driver(), growing_to(study.plan.num_samples), kept:
            with in_force(rules), live_report(directory, study.live_every), spent:
                try:
                    tuner.fit()
                except Exception:
                    if rules.stopped_study != STORAGE:
                        raise  # else Ray tripped on a file the full disk left torn: paused
                finally:
                    speak_again()
            outputs.defer()  # from here a signal waits for the outputs
        if rules.stopped_study == STORAGE:  # nothing more is written: the outputs would not be
            raise StoragePaused(full.pause_line(directory, rules.failure or "a write failed"))
        budget.record(directory, rules)
    return time.monotonic() - started


def check_gang_fits(study: Study) -> None:
    """A trial of several processes that the cluster can never hold would wait for ever:
    refused before anything is written (an autoscaling cluster may yet grow to hold it)."""
    workers = study.resources.workers
    if workers <= 1:
        return
    resources = ray_resources(study.resources, study.uses_torch)
    request = {"CPU": resources["cpu"], "GPU": resources["gpu"]}
    slots_now, autoscaling = slots.count(request, workers)
    if slots_now or autoscaling:
        return
    import ray

    have = ray.cluster_resources()
    raise ConfigError(
        "resources.workers",
        f"a trial of {workers} workers x ({request['CPU']:g} CPU + {request['GPU']:g} GPU) "
        f"does not fit the cluster, which has {have.get('CPU', 0):g} CPUs and "
        f"{have.get('GPU', 0):g} GPUs (in all; a worker's share must fit on one node). "
        "Ask for fewer workers or less per worker (resources.cpu, resources.gpu).",
    )


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


def _keep(directory: StudyDir, staging: str) -> None:
    """A whole copy of the snapshot Ray just took; a full disk pauses the study instead."""
    try:
        snapshots.keep(directory, staging)
    except OSError as err:
        if not pause_on(err, directory):
            raise


def _recover_snapshot(directory: StudyDir) -> None:
    """A damaged experiment snapshot is replaced by the last whole one kept, said in a line;
    never while another driver runs the study."""
    if snapshots.damage(directory) is None:
        return
    StudyLock(directory).check_free()
    print(f"[hpray] {snapshots.recover(directory)}", file=sys.stderr)


def _snapshot_stored(directory: StudyDir) -> None:
    """The run's last snapshot reached the storage whole, or the last whole copy takes its
    place. Ray stores it in the background and only logs a failure; the outputs read it next.
    A storage still refusing writes then pauses the study (an OSError: exit 75)."""
    if snapshots.damage(directory) is not None:
        print(f"[hpray] {snapshots.recover(directory)}", file=sys.stderr)


def _finished(directory: StudyDir) -> bool:
    summary = read_summary(directory)
    return bool(summary and summary.get("complete"))
