"""hpray's Lightning callback: a Lightning app reports and checkpoints through hpray, its code
unchanged; one entry in its callbacks config adds it::

    # configs/callbacks/default.yaml
    hpray:
      _target_: hpray.lightning.HprayCallback

In an hpray trial, each validation epoch's logged metrics (``trainer.callback_metrics``:
``val/acc``, ``val/loss``, ...) and the epoch go to ``hpray.report`` (so ASHA can stop the trial),
with the trainer's whole checkpoint (model, optimizers, schedulers, loops, callbacks: what
``trainer.save_checkpoint`` writes) every ``study.checkpoint_every`` epochs. A resumed, retried or
moved trial's trainer starts from it, as if ``fit`` had been given its ``ckpt_path``. Outside a
trial it does nothing: the app runs on its own as before. Needs ``pip install 'hpray[lightning]'``.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path
from typing import Any

import torch
from lightning.pytorch import Callback, LightningModule, Trainer

from hpray.internals import resume_lightning
from hpray.trial.api import current, get_checkpoint, report

STATE_KEY = "lightning.ckpt"  # the trainer's checkpoint file, as bytes, in hpray's checkpoint


class HprayCallback(Callback):
    """Reports the trainer's logged metrics each epoch, and resumes the trainer after a kill.

    Args:
        checkpoint: store the trainer's checkpoint with the reports (False: report only; a
            resumed trial then trains from its start).
    """

    def __init__(self, checkpoint: bool = True) -> None:
        self.checkpoint = checkpoint
        self._reported = 0  # the last epoch reported
        self._warned = False
        self._resumed = False

    def setup(self, trainer: Trainer, pl_module: LightningModule, stage: str) -> None:
        state = get_checkpoint() if stage == "fit" else None
        if not state or STATE_KEY not in state:
            return
        with tempfile.TemporaryDirectory() as directory:
            path = Path(directory) / "last.ckpt"
            path.write_bytes(state[STATE_KEY])
            resume_lightning(trainer, str(path))  # read into memory here; fit restores from it
        self._resumed = True
        # Lightning ends the epoch its checkpoint was taken in (at validation's end) again on
        # resume; that epoch was reported already.
        self._reported = int(state.get("epoch", 0))

    def on_fit_start(self, trainer: Trainer, pl_module: LightningModule) -> None:
        """A resumed trainer holds the last epoch's logged metrics, as one never stopped does.

        A trial stopped after its last epoch resumes with nothing left to fit; the app's code
        after ``fit`` (``trainer.callback_metrics[...]``, the template's returned metric) reads
        them. Epochs still to train log over them.
        """
        session = current()
        if not self._resumed or session is None or not session.trial.history:
            return
        last = session.trial.history[-1]
        trainer.callback_metrics.update(
            {k: torch.tensor(v) for k, v in last.items() if k != "epoch" and _number(v) is not None}
        )

    def on_train_start(self, trainer: Trainer, pl_module: LightningModule) -> None:
        """A trial that copied another's checkpoint (population based training) trains on
        with its own optimizer settings.

        Lightning restores the copied trial's optimizers whole, their learning rates and
        weight decays with their state; the trial's config holds the new values. The module's
        ``configure_optimizers`` builds them from that config: its param groups' settings
        replace the restored ones, and the restored state (moments, momentum) stays.
        """
        session = current()
        if session is None or not session.copied:
            return
        fresh = _optimizers(pl_module.configure_optimizers())
        for restored, built in zip(trainer.optimizers, fresh, strict=False):
            for group, settings in zip(restored.param_groups, built.param_groups, strict=False):
                group.update({k: v for k, v in settings.items() if k != "params"})

    def on_validation_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        if not trainer.sanity_checking:
            self._report(trainer)

    def on_train_epoch_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        self._report(trainer)  # an epoch without validation reports its training metrics

    def _report(self, trainer: Trainer) -> None:
        """Rank 0 reports (in a trial of several workers, under Ray's DDP strategy, every rank
        runs this: what rank 0 decides is broadcast, as saving a checkpoint is collective)."""
        session = current()
        epoch = trainer.current_epoch + 1
        if session is None or epoch <= self._reported:
            return
        metrics = {k: _number(v) for k, v in trainer.callback_metrics.items()}
        metrics = {k: v for k, v in metrics.items() if v is not None}
        missing = [m for m in session.metrics if m not in metrics]
        due = self.checkpoint and session.due(epoch)
        reported, due = trainer.strategy.broadcast((not missing, due), src=0)
        if not reported:
            if missing and not self._warned and trainer.is_global_zero:
                # e.g. validation every other epoch: those epochs wait
                print(
                    f"[hpray] epoch {epoch}: {missing[0]!r} not logged yet (logged: "
                    f"{sorted(metrics)}); reporting the epochs that log it",
                    file=sys.stderr,
                )
                self._warned = True
            return
        self._reported = epoch
        state = self._state(trainer, epoch) if due else None
        report({**metrics, "epoch": epoch}, checkpoint=state)  # rank 0's is the trial's

    def _state(self, trainer: Trainer, epoch: int) -> dict[str, Any] | None:
        """The trainer's checkpoint; every rank takes part, rank 0 writes it (None elsewhere)."""
        with tempfile.TemporaryDirectory() as directory:
            path = Path(directory) / "last.ckpt"
            trainer.save_checkpoint(path)
            if not path.is_file():
                return None
            return {STATE_KEY: path.read_bytes(), "epoch": epoch}


def _optimizers(configured: Any) -> list[torch.optim.Optimizer]:
    """The optimizers in what ``configure_optimizers`` returned, in Lightning's order: one, a
    list, a dict with ``optimizer``, a list of those, or (optimizers, schedulers)."""
    if isinstance(configured, torch.optim.Optimizer):
        return [configured]
    if isinstance(configured, dict):
        return _optimizers(configured.get("optimizer"))
    if isinstance(configured, (list, tuple)):
        return [o for item in configured for o in _optimizers(item)]
    return []  # a scheduler, or None


def _number(value: Any) -> float | None:
    """A logged scalar as a number; None for anything else (a tensor of many values)."""
    if hasattr(value, "numel"):
        return float(value.item()) if value.numel() == 1 else None
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None
