"""Trainables that fail on purpose, to prove retries and resumes on a real cluster.

Select one with ``trainable=hpray.trial.faults.train_failing_once`` and say when with
``+faults.fail_at_epoch=N`` (and, to fail one trial only, ``+faults.trial_index=I``). They
live in the package because Ray workers import trainables from installed modules only.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ray import tune

from hpray.trial.builtin import METRICS, reports, train

MARKER = "failed_once"


class InjectedFault(RuntimeError):
    """The failure a fault trainable raises on purpose."""


@reports(*METRICS)
def train_failing_once(config: dict[str, Any], base: dict[str, Any]) -> None:
    """The built-in ``train`` that raises once when it is about to report ``faults.fail_at_epoch``.

    A marker in the trial directory remembers the failure, so the retry (which Ray starts from
    the trial's last checkpoint) runs through.
    """
    faults = base["faults"]
    fail_at = int(faults["fail_at_epoch"])
    marker = Path(tune.get_context().get_trial_dir()) / MARKER
    index = int(tune.get_context().get_trial_id().rsplit("_", 1)[-1])
    if faults.get("trial_index") is not None and index != int(faults["trial_index"]):
        fail_at = -1  # only the chosen trial fails

    def report(metrics: dict[str, Any], **kwargs: Any) -> None:
        if metrics["epoch"] == fail_at and not marker.exists():
            marker.touch()
            raise InjectedFault(f"injected failure at epoch {fail_at}")
        tune.report(metrics, **kwargs)

    train(config, base, report=report)
