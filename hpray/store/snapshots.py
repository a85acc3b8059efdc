"""Whole copies of Ray Tune's experiment snapshot, so that a torn one never costs the study.

Ray Tune stores an experiment's state (its trials and their statuses, the searcher's state, the
callbacks' state, the Tuner) as files at the top of the study directory, each overwritten in
place by a background copy; a crash, a full disk or a half-finished copy can leave one torn,
and the study could not resume. After every snapshot Ray takes, hpray writes the set it just
took into ``.snapshots/<generation>/`` (the files, then a manifest naming their sizes and
hashes: a generation without its manifest is unfinished and never used) and keeps the newest
two. When the study's own set is unreadable, ``recover`` sets it aside (never deletes it) and
puts the newest whole generation in its place; the trials then go on from the checkpoints in
their directories, which are newer than any snapshot.
"""

from __future__ import annotations

import hashlib
import json
import pickle
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from hpray.store.layout import CHECKPOINT_PREFIX, SNAPSHOTS_DIR, TRIAL_PREFIX
from hpray.store.location import StudyDir, as_dir

MANIFEST = "manifest.json"
KEEP = 2
DAMAGED_PREFIX = "damaged-"
TUNER_FILE = "tuner.pkl"  # Ray's Tuner state, written once at the top of the experiment
SNAPSHOT_PATTERN = "experiment_state-*.json"  # Ray's TuneController.CKPT_FILE_TMPL
CHECKPOINTS = f"{TRIAL_PREFIX}*/{CHECKPOINT_PREFIX}*"


@dataclass
class Damage:
    """What is wrong with the study's snapshot: the file and why it cannot be read."""

    file: str
    why: str

    def describe(self) -> str:
        return f"{self.file}: {self.why}"


def problem(name: str, content: bytes) -> str | None:
    """Why one of Ray's snapshot files cannot be used, or None when it reads whole."""
    if not content:
        return "empty"
    try:
        if name.startswith("experiment_state-"):
            for trial_state, _metadata in json.loads(content)["trial_data"]:
                json.loads(trial_state)
        else:  # pickles mostly, whatever their names end in (basic-variant-state-*.json)
            _load(content)
    except Exception as err:  # a torn or foreign file fails in many ways: all mean unusable
        return f"{type(err).__name__}: {str(err)[:120]}"
    return None


def _load(content: bytes) -> object:
    if content.startswith(b"\x80"):  # a pickle's protocol mark (cloudpickle's too)
        return pickle.loads(content)
    return json.loads(content)  # a JSON file is whole when it parses


def ray_files(directory: StudyDir) -> list[StudyDir]:
    """Ray Tune's experiment-level files at the top of the study directory."""
    return [
        entry
        for entry in directory.iterdir()
        if entry.name.endswith((".json", ".pkl")) and _is_rays(entry.name)
    ]


def _is_rays(name: str) -> bool:
    """experiment_state-*, the searcher's (<kind>-state-*) and callback-states-*: Ray's names,
    each with the session it was written in; and the Tuner's."""
    return name == TUNER_FILE or name.startswith("experiment_state-") or "-state" in name


def keep(directory: StudyDir | Path, staging: str) -> bool:
    """Store the snapshot Ray just wrote to ``staging`` (its driver's local copy) as a new
    generation; False when a file of it does not read whole (the previous one stays)."""
    directory = as_dir(directory)
    files = {p.name: p.read_bytes() for p in Path(staging).iterdir() if _kept(p)}
    tuner = directory / TUNER_FILE
    if tuner.is_file():
        files[TUNER_FILE] = tuner.read_bytes()
    if not any(n.startswith("experiment_state-") for n in files) or not all(
        _ends_whole(content) for content in files.values()
    ):
        return False
    generation = directory / SNAPSHOTS_DIR / f"{time.time_ns():020d}"
    generation.mkdir()
    for name, content in files.items():
        (generation / name).write_bytes(content)
    manifest = {name: _digest(content) for name, content in files.items()}
    (generation / MANIFEST).write_text(json.dumps(manifest, indent=1))  # last: it is whole now
    _prune(directory)
    return True


def _ends_whole(content: bytes) -> bool:
    """A cheap check of a file Ray has just written in full: it ends as a pickle (STOP) or a
    JSON document ends. Reading it all (``problem``) is left to recovery: a study of thousands
    of trials snapshots megabytes, every few seconds."""
    return content.endswith(b".") or content.rstrip().endswith((b"}", b"]"))


def _kept(path: Path) -> bool:
    # Ray writes its callback state through a "tmp-" file it renames.
    return path.is_file() and _is_rays(path.name) and not path.name.startswith("tmp-")


def _digest(content: bytes) -> dict[str, object]:
    return {"size": len(content), "sha256": hashlib.sha256(content).hexdigest()}


def generations(directory: StudyDir) -> list[StudyDir]:
    """The stored generations, newest first (whole or not)."""
    found = [g for g in (directory / SNAPSHOTS_DIR).iterdir() if g.name.isdigit()]
    return sorted(found, key=lambda g: g.name, reverse=True)


def whole(generation: StudyDir) -> dict[str, bytes] | None:
    """A generation's files when its manifest is there and every file matches it."""
    manifest_file = generation / MANIFEST
    if not manifest_file.is_file():
        return None
    try:
        manifest: Mapping[str, Mapping[str, object]] = json.loads(manifest_file.read_text())
        files = {name: (generation / name).read_bytes() for name in manifest}
    except (OSError, ValueError):
        return None
    if any(_digest(files[name]) != dict(manifest[name]) for name in manifest):
        return None
    return files


def _prune(directory: StudyDir) -> None:
    """Keep the newest KEEP whole generations (and anything newer than the oldest of them)."""
    kept = 0
    for generation in generations(directory):
        if kept >= KEEP:
            generation.rmdir()
        elif (generation / MANIFEST).is_file():
            kept += 1


def damage(directory: StudyDir | Path) -> Damage | None:
    """What makes the study's snapshot unusable, or None when it reads whole (or when the
    study has never taken one: a new study, or one killed before its first)."""
    directory = as_dir(directory)
    if not directory.is_dir():  # a new study (behind a URI: its bucket may not be there yet)
        return None
    files = ray_files(directory)
    states = sorted((f for f in files if f.name.startswith("experiment_state-")), key=str)
    if not states:
        tuner = directory / TUNER_FILE  # written as the study starts, before any snapshot
        why = problem(TUNER_FILE, tuner.read_bytes()) if tuner.is_file() else None
        if why:
            return Damage(TUNER_FILE, why)
        started = directory.glob(f"{TRIAL_PREFIX}*") or generations(directory)
        return Damage(SNAPSHOT_PATTERN, "missing") if started else None
    newest = states[-1]
    # Ray reads the newest experiment state and the searcher and callback states of its session.
    session = newest.name.removeprefix("experiment_state-").removesuffix(".json")
    for file in files:
        if file.name == TUNER_FILE or session in file.name:
            why = problem(file.name, file.read_bytes())
            if why:
                return Damage(file.name, why)
    if not (directory / TUNER_FILE).is_file():
        return Damage(TUNER_FILE, "missing")
    return None


def recover(directory: StudyDir | Path) -> str | None:
    """Put the newest whole generation in place of a damaged snapshot; returns the line that
    says so, or None when the snapshot was fine. Raises ``Unrecoverable`` when no generation
    is whole."""
    directory = as_dir(directory)
    found = damage(directory)
    if found is None:
        return None
    kept = generations(directory)
    files = next((f for f in map(whole, kept) if f is not None and not _unreadable(f)), None)
    aside = directory / SNAPSHOTS_DIR / f"{DAMAGED_PREFIX}{time.strftime('%Y%m%d-%H%M%S')}"
    # No whole copy: the study stopped before its first snapshot was stored whole, seconds
    # in, unless its copies were lost; with a trial checkpointed, there was more to lose.
    if files is None and found.why != "missing" and directory.glob(CHECKPOINTS):
        raise Unrecoverable(directory, found)
    aside.mkdir()
    for file in ray_files(directory):
        file.move_to(aside / file.name)
    if files is None:  # nothing to go on from
        for trial in directory.glob(f"{TRIAL_PREFIX}*"):
            trial.move_to(aside / trial.name)
        why = "" if found.why == "missing" else f" ({found.describe()})"
        return (
            f"the study stopped before its first whole snapshot{why}; it starts again (what "
            f"it wrote is kept in {aside})"
        )
    for name, content in files.items():
        (directory / name).write_bytes(content)
    trials = _trials_in(files)
    orphans = [d for d in directory.glob(f"{TRIAL_PREFIX}*") if d.name not in trials]
    for orphan in orphans:  # made after the generation: the searcher makes them again
        orphan.move_to(aside / orphan.name)
    later = f"; {len(orphans)} trials begun after it set aside" if orphans else ""
    return (
        f"the experiment snapshot was unreadable ({found.describe()}); restored the last whole "
        f"one, of {len(trials)} trials, which go on from their directories{later} (the damaged "
        f"files are in {aside})"
    )


def _unreadable(files: Mapping[str, bytes]) -> bool:
    return any(problem(name, content) for name, content in files.items())


def _trials_in(files: Mapping[str, bytes]) -> set[str]:
    state = json.loads(next(c for n, c in files.items() if n.startswith("experiment_state-")))
    found = set()
    for trial_state, _metadata in state["trial_data"]:
        raw = json.loads(trial_state)
        found.add(str(raw.get("relative_logdir") or raw["custom_dirname"]))
    return found


class Unrecoverable(Exception):
    """The snapshot is damaged and no whole generation was kept."""

    def __init__(self, directory: StudyDir, found: Damage) -> None:
        super().__init__(
            f"the experiment snapshot of {directory} cannot be read ({found.describe()}) and "
            f"no whole copy of it was kept in {directory / SNAPSHOTS_DIR}; its trials' "
            "directories are intact: start the study over with --fresh (the old one is moved "
            "aside, not deleted)"
        )
