"""Trainables that fail on purpose, to prove retries and resumes on a real cluster.

Select one with ``trainable=hpray.trial.faults.train_failing_once`` and say when with
``+faults.fail_at_epoch=N`` (and, to fail one trial only, ``+faults.trial_index=I``); or
``trainable=hpray.trial.faults.evaluate_interrupting`` with ``+faults.driver_pid=PID
+faults.after=N``: a test-function trial that interrupts the study once, as Ctrl-C would; or
``trainable=hpray.trial.faults.diverging`` with ``+faults.lr=X``: NaN when X > 1; or
``trainable=hpray.trial.faults.paced`` with ``+faults.epoch_s=S``: epochs of S seconds; or
``trainable=hpray.trial.faults.failing_after_training``: an error after the last epoch; or
``trainable=hpray.trial.faults.gang_member`` for trials of several workers
(``resources.workers``), with ``+faults.kill_rank=R +faults.kill_at=E``: rank R kills itself.
They live in the package because Ray workers import trainables from installed modules only.
"""

from __future__ import annotations

import json
import os
import signal
import time
from pathlib import Path
from typing import Any

from omegaconf import DictConfig

from hpray import internals
from hpray.trial import api, context
from hpray.trial.builtin import METRICS, fit, plain
from hpray.trial.declare import builds, reports
from hpray.trial.objectives import evaluate

MARKER = "failed_once"
INTERRUPTED = "interrupted_once"
STARTED = "started_"


class InjectedFault(RuntimeError):
    """The failure a fault trainable raises on purpose."""


@reports(*METRICS)
@builds("model", "data", "optim")
def train_failing_once(cfg: DictConfig) -> None:
    """The built-in ``train`` that raises once when it is about to report ``faults.fail_at_epoch``.

    A marker in the trial directory remembers the failure, so the retry (which Ray starts from
    the trial's last checkpoint) runs through.
    """
    faults = cfg["faults"]
    fail_at = int(faults["fail_at_epoch"])
    marker = Path(context.trial_dir()) / MARKER
    index = int(context.trial_id().rsplit("_", 1)[-1])
    if faults.get("trial_index") is not None and index != int(faults["trial_index"]):
        fail_at = -1  # only the chosen trial fails

    def report(metrics: dict[str, Any], **kwargs: Any) -> None:
        if metrics["epoch"] == fail_at and not marker.exists():
            marker.touch()
            raise InjectedFault(f"injected failure at epoch {fail_at}")
        api.report(metrics, **kwargs)

    fit(plain(cfg), report)


@reports("value", "regret", "epoch")
def evaluate_interrupting(cfg: DictConfig) -> None:
    """The test-function trial; the trial that starts after ``faults.after`` others sends
    SIGINT to the driver (``faults.driver_pid``), once per study.

    The driver saves the study and exits as interrupted (75); a marker in the study directory
    (on a path) remembers it, so the resumed study runs through.
    """
    faults = cfg["faults"]
    stored = internals.trial_storage()
    assert stored is not None, "evaluate_interrupting runs as a Ray Tune trial"
    study = Path(stored[1]).parent
    (study / f"{STARTED}{context.trial_id()}").touch()
    marker = study / INTERRUPTED
    if len(list(study.glob(f"{STARTED}*"))) > int(faults["after"]) and not marker.exists():
        marker.touch()
        os.kill(int(faults["driver_pid"]), signal.SIGINT)
    evaluate(cfg)


def diverging(cfg: DictConfig) -> None:
    """A trial function on the API whose ``val_rmse`` falls with ``faults.lr``, or turns NaN at
    epoch 2 when ``faults.lr`` > 1 (as a learning rate too large does). Like a user's own
    function, it declares no metrics: a wrong study.metric is found as it reports."""
    for epoch in range(1, int(cfg.study.epochs) + 1):
        lr = float(cfg.faults.lr)
        value = float("nan") if lr > 1 and epoch >= 2 else 1.0 / (epoch * lr)
        api.report({"val_rmse": value, "epoch": epoch}, checkpoint={"epoch": epoch})


def paced(cfg: DictConfig) -> None:
    """A trial function on the API whose epochs take ``faults.epoch_s`` seconds each:
    ``val_rmse`` = 1 / (epoch * ``faults.lr``). It continues from its checkpoint (its epoch),
    so a paused or resumed trial trains no epoch twice."""
    state = api.get_checkpoint() or {"epoch": 0}
    for epoch in range(int(state["epoch"]) + 1, int(cfg.study.epochs) + 1):
        time.sleep(float(cfg.faults.epoch_s))
        api.report(
            {"val_rmse": 1.0 / (epoch * float(cfg.faults.lr)), "epoch": epoch},
            checkpoint={"epoch": epoch},
        )


def failing_after_training(cfg: DictConfig) -> None:
    """A trial function on the API that reports ``val_rmse`` each epoch, then raises, as an app
    whose test stage fails does: the same error in every trial, or (``+faults.distinct=true``)
    one naming the trial's ``faults.lr``, so that no two failures are alike."""
    lr = float(cfg.faults.lr)
    for epoch in range(1, int(cfg.study.epochs) + 1):
        api.report({"val_rmse": 1.0 / (epoch * lr), "epoch": epoch})
    detail = f" for lr={lr}" if cfg.faults.get("distinct") else ""
    raise InjectedFault(f"the test stage failed{detail}:\nno test split in the data")


GANG_LOG = "ranks.jsonl"


def gang_member(cfg: DictConfig) -> None:
    """A trial function for a trial of several workers: each epoch every rank all-reduces its
    rank (``ranks``: the sum, as the gang's process group computed it) and reports
    ``val_rmse`` = 1 / (epoch * ``faults.lr``) with its rank and a checkpoint that names it;
    each rank's start (its rank, pid, node and the state ``get_checkpoint`` gave it) is written to
    ``ranks.jsonl`` in the trial's directory. ``faults.kill_rank`` SIGKILLs its own process
    once, at epoch ``faults.kill_at`` (a marker in the trial directory remembers it);
    ``faults.per_rank``: each rank's checkpoint is its own."""
    import ray
    import torch
    import torch.distributed as dist

    faults = cfg.faults
    rank, directory = context.rank(), Path(context.trial_dir())
    state = api.get_checkpoint()
    start = 0 if state is None else int(state["epoch"])
    with (directory / GANG_LOG).open("a") as log:
        node = ray.util.get_node_ip_address()
        start_line = {"rank": rank, "pid": os.getpid(), "node": node, "state": state}
        log.write(json.dumps(start_line) + "\n")  # one write: ranks append side by side
    marker = directory / MARKER
    for epoch in range(start + 1, int(cfg.study.epochs) + 1):
        time.sleep(float(faults.get("epoch_s", 0.0)))
        chosen = rank == faults.get("kill_rank") and epoch == faults.get("kill_at")
        if chosen and not marker.exists():  # before the all-reduce: no rank reports the epoch
            marker.touch()
            os.kill(os.getpid(), signal.SIGKILL)
        ranks = torch.tensor([float(rank)])
        dist.all_reduce(ranks)
        api.report(
            {
                "val_rmse": 1.0 / (epoch * float(faults.lr)),
                "epoch": epoch,
                "rank": rank,
                "ranks": float(ranks),
            },
            checkpoint={"epoch": epoch, "rank": rank},
            per_rank=bool(faults.get("per_rank", False)),
        )
