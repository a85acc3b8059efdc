"""A trial's checkpoint: the state its function reported, the epoch it finished and its metric
history.

The state is what a trial function passed as ``hpray.report(..., checkpoint=state)``
(``SavedState``; the built-in trial's is every fold's learner state). After a hard kill, Ray
hands a restored trial the checkpoint its last experiment snapshot knew, which can be older
than the newest one the trial had already written to storage. A trial therefore resumes from
its newest readable checkpoint, and the metric history stored in it lets the trial report its
finished epochs again instead of training them again.
"""

from __future__ import annotations

import hashlib
import json
import logging
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any

import pyarrow.fs
from ray import tune

from hpray import internals
from hpray.store.layout import (
    CHECKPOINT_PREFIX,
    FUNCTION_STATE_FILE,
    META_FILE,
    RANK_STATE_PREFIX,
    RESULT_FILE,
    checkpoint_index,
    result_rows,
)

if TYPE_CHECKING:
    import torch

log = logging.getLogger("hpray")


@dataclass
class SavedState:
    """A trial function's own state (a dict of anything ``torch.save`` writes)."""

    state: dict[str, Any] | None = None
    # The other ranks' own states of a distributed trial (hpray.report per_rank), as stored.
    ranks: dict[str, bytes] = field(default_factory=dict)

    def save(self, directory: Path) -> None:
        import torch  # here: a trial that reports no state never imports it

        torch.save(self.state, directory / FUNCTION_STATE_FILE)
        for name, content in self.ranks.items():
            (directory / name).write_bytes(content)

    def load(self, directory: Path, device: torch.device | None) -> None:
        import torch

        from hpray.trial.context import trial_device

        # The trial's own checkpoint, written by save(): any value torch.save took may be in it.
        self.state = torch.load(
            directory / FUNCTION_STATE_FILE,
            map_location=trial_device() if device is None else device,
            weights_only=False,
        )
        self.ranks = {p.name: p.read_bytes() for p in directory.glob(f"{RANK_STATE_PREFIX}*")}


@dataclass
class TrialState:
    """Everything a trial needs to continue exactly where it stopped."""

    saved: SavedState = field(default_factory=SavedState)
    epoch: int = 0
    history: list[dict[str, Any]] = field(default_factory=list)  # one metrics dict per epoch
    values_id: str | None = None  # which sampled values trained it (values_id)

    def save(self, directory: str | Path) -> None:
        """Write the state into ``directory`` (a checkpoint directory Ray then persists)."""
        self.saved.save(Path(directory))
        # Written last: a checkpoint whose meta.json exists has its state file complete.
        meta = {"epoch": self.epoch, "history": self.history, "values": self.values_id}
        (Path(directory) / META_FILE).write_text(json.dumps(meta))

    def _trained_here(self, checkpoint: tune.Checkpoint) -> bool:
        """Whether ``checkpoint`` was trained with this trial's values (unknown: yes)."""
        written = _meta(checkpoint).get("values")
        return written is None or self.values_id is None or written == self.values_id

    def load(self, directory: str | Path, device: torch.device | None) -> None:
        """Restore the state saved in ``directory``; the trial resumes after ``self.epoch``."""
        meta = json.loads((Path(directory) / META_FILE).read_text())
        self.saved.load(Path(directory), device)
        self.epoch = int(meta["epoch"])
        self.history = list(meta["history"])

    def resume(
        self, handed: tune.Checkpoint, device: torch.device | None, alone: bool = False
    ) -> int:
        """Load the newest readable checkpoint of this trial; returns the epoch of ``handed``.

        Candidates are ``handed`` and its sibling checkpoints, the last written first (Ray
        numbers them in order: under population based training a trial's newest state may be
        of an earlier epoch than one it had before it copied another). ``alone``: ``handed``
        only (a copy of another trial's, whose later checkpoints are that trial's). A damaged
        one (a torn write, a full disk) is skipped with a warning; with none readable the
        trial starts again from epoch 0. The caller reports ``history`` again.
        """
        found = [handed] if alone else [handed, *_siblings(handed)]
        # One written after the snapshot's under other values (a copy the snapshot did not
        # record yet) belongs to a config this run of the trial does not have.
        found = [c for c in found if _index(c) <= _index(handed) or self._trained_here(c)]
        candidates = sorted(_with_epochs(found), key=lambda c: -_index(c[1]))
        # An empty placeholder (driver.resume.fill_checkpoint_gaps) tells nothing: report it all.
        handed_epoch = max(0, next((e for e, c in candidates if c.path == handed.path), 0))
        candidates = [(e, c) for e, c in candidates if e >= 0]
        for epoch, candidate in candidates:
            try:
                with candidate.as_directory() as directory:
                    self.load(directory, device)
                if _index(candidate) > _index(handed):
                    log.info(
                        "resuming from %s (epoch %d), newer than the snapshot's (epoch %d)",
                        candidate.path,
                        epoch,
                        handed_epoch,
                    )
                return handed_epoch
            except Exception as err:  # any unreadable file: try the previous checkpoint
                log.warning(
                    "checkpoint %s is unreadable (%s); trying an older one", candidate.path, err
                )
        log.warning("no readable checkpoint left; the trial starts again from epoch 0")
        self.epoch, self.history = 0, []
        return 0


def restore(state: TrialState, device: torch.device | None, report: Callable[..., None]) -> bool:
    """Resume ``state`` from this trial's newest readable checkpoint, if it has one; returns
    whether the checkpoint was another trial's (population based training's copy).

    The finished epochs that Ray's view of the trial, or its stored result file, lacks are
    reported again, flagged ``replayed``: reported, not trained, again.
    """
    handed = tune.get_checkpoint()
    checkpoint = handed or stored_checkpoint()
    if checkpoint is None:
        return False
    copied = handed is not None and _copied(handed)
    known = state.resume(checkpoint, device, alone=copied)
    seen = known if handed else 0  # a stored checkpoint Ray's snapshot did not know of
    logged = logged_epochs()
    again = [m for m in state.history if m["epoch"] > seen or m["epoch"] not in logged]
    for metrics in again[:-1]:
        report({**metrics, "replayed": True})
    if again and again[-1]["epoch"] == state.epoch > seen:
        # Ray learns the state loaded with its last epoch: a trial paused before it trains
        # again (synchronous PBT pauses at each report) restarts from there, not from the
        # snapshot's older checkpoint, replaying the same epochs each time.
        with tempfile.TemporaryDirectory() as directory:
            state.save(directory)
            checkpoint = tune.Checkpoint.from_directory(directory)
            report({**again[-1], "replayed": True}, checkpoint=checkpoint)
    elif again:
        report({**again[-1], "replayed": True})
    return copied


def _index(checkpoint: tune.Checkpoint) -> int:
    """Ray's number of a checkpoint (checkpoint_NNNNNN); -1 for another name."""
    index = checkpoint_index(PurePosixPath(checkpoint.path).name)
    return -1 if index is None else index


def _copied(handed: tune.Checkpoint) -> bool:
    """Whether ``handed`` lies in another trial's directory than this trial's."""
    storage = internals.trial_storage()
    return storage is not None and (
        PurePosixPath(handed.path).parent.name != PurePosixPath(storage[1]).name
    )


def _with_epochs(checkpoints: list[tune.Checkpoint]) -> list[tuple[int, tune.Checkpoint]]:
    """Each checkpoint with the epoch its meta.json records; unreadable ones count as -1."""
    return [(int(_meta(c).get("epoch", -1)), c) for c in checkpoints]


def _meta(checkpoint: tune.Checkpoint) -> dict[str, Any]:
    """A checkpoint's meta.json; empty when it has none readable."""
    try:
        with checkpoint.filesystem.open_input_stream(  # type: ignore[union-attr]
            str(PurePosixPath(checkpoint.path) / META_FILE)
        ) as stream:
            meta: dict[str, Any] = json.loads(stream.read())
            return meta
    except Exception:
        return {}


def values_id(values: Mapping[str, Any] | None) -> str | None:
    """A short name for a trial's sampled values, the same for the same values."""
    if values is None:
        return None
    text = json.dumps(values, sort_keys=True, default=repr)
    return hashlib.sha1(text.encode()).hexdigest()[:12]


def _siblings(checkpoint: tune.Checkpoint) -> list[tune.Checkpoint]:
    """The other checkpoints in the same trial directory (Ray names them checkpoint_NNNNNN)."""
    path, filesystem = PurePosixPath(checkpoint.path), checkpoint.filesystem
    if filesystem is None:
        return []
    try:
        infos = filesystem.get_file_info(pyarrow.fs.FileSelector(str(path.parent)))
    except OSError:
        return []
    return [
        tune.Checkpoint(info.path, filesystem=filesystem)
        for info in infos
        if info.type == pyarrow.fs.FileType.Directory
        and PurePosixPath(info.path).name.startswith(CHECKPOINT_PREFIX)
        and PurePosixPath(info.path) != path
    ]


def stored_checkpoint() -> tune.Checkpoint | None:
    """One of this trial's checkpoints in storage, when Ray hands the trial none.

    A hard kill between a trial's first checkpoint and Ray's next experiment snapshot restores
    the trial as if it had none; its checkpoints are in its storage directory all the same.
    """
    storage = internals.trial_storage()
    if storage is None:
        return None
    filesystem, trial_path = storage
    try:
        probe = tune.Checkpoint(
            str(PurePosixPath(trial_path) / CHECKPOINT_PREFIX), filesystem=filesystem
        )
        found = _siblings(probe)
    except Exception:  # no trial directory yet: a new trial
        return None
    return max(found, key=lambda c: c.path) if found else None


def logged_epochs() -> set[int]:
    """The epochs this trial's stored result file (Ray's result.json) holds.

    Ray restores a trial's result file from storage when the trial starts again, and a hard
    kill can leave that copy behind the snapshot that handed the trial its checkpoint.
    """
    storage = internals.trial_storage()
    if storage is None:
        return set()
    filesystem, trial_path = storage
    try:
        with filesystem.open_input_stream(str(PurePosixPath(trial_path) / RESULT_FILE)) as stream:
            lines = stream.read().decode().splitlines()
    except Exception:  # no result file yet
        return set()
    return {int(r["epoch"]) for r in result_rows(lines) if "epoch" in r}
