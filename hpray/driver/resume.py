"""What to do with a study directory that already exists: resume it, refuse, or set it aside."""

from __future__ import annotations

import json
import pickle
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from hpray import internals
from hpray.errors import ConfigError
from hpray.store.layout import (
    CHECKPOINT_PREFIX,
    ERROR_PICKLE_FILE,
    REPLACED_INFIX,
    RESULT_FILE,
    TRIAL_PREFIX,
    checkpoint_index,
    checkpoint_name,
    newest_history,
    result_rows,
    stored_config,
)
from hpray.store.location import StudyDir, as_dir

# What may change when a study resumes: where it lives and how it runs. Every other key (the
# space, the metric, the budget, the trial function and its own settings, the built-in model
# and data) defines what the stored trials are; changing one makes them incomparable.
FREE_KEYS = (
    "study.name",
    "study.storage",
    "study.shared_storage",
    "study.storage_retry",
    "study.num_samples",  # growing is allowed, shrinking refused (check_resumable)
    "study.max_concurrent",
    "study.max_failures",
    "study.reuse_actors",
    "study.checkpoint_every",
    "study.time_budget",  # the stop rules of the run that resumes it
    "study.stop_at",
    "study.trial_timeout",
    "searcher.max_concurrent",
    "resources",
    "ray",
    "k8s",
    "report",
    "tracking",
    "hydra",
    "app.command",  # a Hydra app's: how it was started (the script's path as typed)
    "app.sweep_dir",  # and where its trials write (kept from the first run on resume)
    "app.threads",  # the threads its trials run with (from resources.cpu)
)


def _get(config: Mapping[str, Any], dotted: str) -> Any:
    node: Any = config
    for part in dotted.split("."):
        node = node.get(part) if isinstance(node, Mapping) else None
    return node


def differences(stored: Mapping[str, Any], new: Mapping[str, Any]) -> list[str]:
    """The history-defining keys whose values differ, each as 'key: old -> new'."""
    return _diff("", stored, new)


def _diff(key: str, old: Any, new: Any) -> list[str]:
    if key in FREE_KEYS or old == new:
        return []
    if isinstance(old, Mapping) and isinstance(new, Mapping):
        return [
            line
            for k in sorted(set(old) | set(new))
            for line in _diff(f"{key}.{k}" if key else str(k), old.get(k), new.get(k))
        ]
    return [f"{key}: {old!r} -> {new!r}"]


def check_resumable(directory: StudyDir | Path, config: Mapping[str, Any]) -> None:
    """Refuse (exit 2) a resume whose config would make the stored history meaningless."""
    stored = stored_config(directory)
    if stored is None:
        return
    changed = differences(stored, config)
    if changed:
        raise ConfigError(
            "study",
            f"{directory} holds a study started with a different config:\n  "
            + "\n  ".join(changed)
            + "\nRun with the original settings to resume it, pick a new study.name, or pass "
            "--fresh to set the old study aside and start over.",
        )
    old_n, new_n = _get(stored, "study.num_samples"), _get(config, "study.num_samples")
    grid = str(_get(config, "searcher._target_")).endswith("grid_search")  # count from the grid
    if not grid and new_n < old_n:
        raise ConfigError(
            "study.num_samples",
            f"{directory} was started with num_samples={old_n}; a study can "
            f"grow on resume but not shrink (asked for {new_n}). Resume with {old_n} or more.",
        )


def grows(directory: StudyDir | Path, config: Mapping[str, Any]) -> bool:
    """Whether resuming with ``config`` asks for more trials than the study was started with."""
    stored = stored_config(directory)
    if stored is None:
        return False
    return bool(_get(config, "study.num_samples") > _get(stored, "study.num_samples"))


def set_aside(directory: StudyDir | Path) -> StudyDir | None:
    """Move an existing study out of the way (never delete it); returns where it went."""
    directory = as_dir(directory)
    if not directory.exists():
        return None
    stamp = time.strftime("%Y%m%d-%H%M%S", time.gmtime())
    target = directory.parent / f"{directory.name}{REPLACED_INFIX}{stamp}"
    directory.move_to(target)
    return target


def fill_checkpoint_gaps(directory: StudyDir | Path) -> int:
    """Give every checkpoint a restored trial may be handed a directory; returns how many made.

    Ray keeps a trial's newest checkpoints and deletes older ones, and a hard kill can land
    after a deletion but before the snapshot that stops referring to it; Ray then refuses to
    restore the trial. An empty placeholder satisfies that check, and the trial resumes from
    its newest readable checkpoint anyway (see trial.state.TrialState.resume).
    """
    made = 0
    for trial_dir in as_dir(directory).glob(f"{TRIAL_PREFIX}*"):
        found = (checkpoint_index(p.name) for p in trial_dir.glob(f"{CHECKPOINT_PREFIX}*"))
        indices = {index for index in found if index is not None}
        for index in set(range(max(indices, default=0))) - indices:
            (trial_dir / checkpoint_name(index)).mkdir()
            made += 1
    return made


def complete_result_files(directory: StudyDir | Path) -> int:
    """Bring every finished trial's result file level with its newest checkpoint; returns
    lines added.

    Ray copies the driver's files to storage in the background, a file at a time, so a hard
    kill can leave a trial's ``result.json`` behind the experiment snapshot, or cut short in
    mid-line, while the snapshot already counts the trial finished: Ray never runs it again and
    its curve would miss its last epochs. The checkpoint's metric history has them; they are
    added flagged ``replayed`` (reported, not trained, again). A trial that will run again
    reports its missing epochs itself (trial.state.restore), so it gets none here, only its
    torn line dropped.
    """
    directory = as_dir(directory)
    stored = internals.stored_trials(directory.fs, directory.path)
    again = {t.dirname for t in stored or [] if t.status != "TERMINATED"}  # errored: resumed
    added = 0
    for trial_dir in directory.glob(f"{TRIAL_PREFIX}*"):
        file = trial_dir / RESULT_FILE
        lines = file.read_text().splitlines() if file.is_file() else []
        rows = result_rows(lines)
        logged = {r.get("epoch") for r in rows}
        history = [] if trial_dir.name in again else newest_history(trial_dir)
        missing = [m for m in history if m["epoch"] not in logged]
        if missing or len(rows) < len(lines):
            trial_id = trial_dir.name.removeprefix(TRIAL_PREFIX)
            rows += [{**m, "replayed": True, "trial_id": trial_id} for m in missing]
            file.write_text("".join(f"{json.dumps(r)}\n" for r in rows))
            added += len(missing)
    return added


def set_torn_errors_aside(directory: StudyDir | Path) -> int:
    """Rename each trial's pickled error that does not read whole (a full disk cut it short)
    to ``error.pkl.torn``; returns how many. Ray reads them back at the end of every run and
    would fail on one; the error's text stays in the trial's error.txt."""
    moved = 0
    for file in as_dir(directory).glob(f"{TRIAL_PREFIX}*/{ERROR_PICKLE_FILE}"):
        try:
            pickle.loads(file.read_bytes())  # Ray's own, trusted as Ray's restore trusts it
        except Exception:  # torn in any of many ways
            file.move_to(file.parent / f"{ERROR_PICKLE_FILE}.torn")
            moved += 1
    return moved


def remove_placeholders(directory: StudyDir | Path) -> None:
    """Drop the empty checkpoint placeholders of a finished study."""
    for placeholder in as_dir(directory).glob(f"{TRIAL_PREFIX}*/{CHECKPOINT_PREFIX}*"):
        if placeholder.is_dir() and not placeholder.iterdir():
            placeholder.rmdir()
