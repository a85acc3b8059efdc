"""The study directory's format: every file name in it, and the readers of its records.

``<study.storage>/<study.name>/`` holds the Ray Tune experiment (one ``trial_<id>/`` per trial,
with Ray's ``result.json``, ``params.json`` and ``checkpoint_NNNNNN/`` folders) and hpray's own
files beside it. Every module that reads or writes one of them takes its name from here.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import yaml

from hpray.store.location import StudyDir, as_dir

# hpray's own files, at the top of the study directory.
CONFIG_FILE = "config.yaml"  # the composed study config: provenance, and what resume checks
PLAN_FILE = "plan.json"  # the trials the run plans, written beside config.yaml at its start
RESULTS_FILE = "results.csv"
SUMMARY_FILE = "summary.json"
BEST_FILE = "best.yaml"
BEST_OVERRIDES_FILE = "best_overrides.txt"  # a Hydra app's sweep: its best as one command line
REPORT_FILE = "report.html"
STOPS_FILE = "stops.json"  # what study.stop_at, trial_timeout and time_budget decided
SPENT_FILE = "time_spent.json"  # a study with a time budget: its runs' time, kept as they run
LOCK_FILE = ".hpray.lock"
SNAPSHOTS_DIR = ".snapshots"  # whole copies of Ray Tune's experiment snapshot (store.snapshots)
FINAL = "final"  # hpray retrain: final.json and final/ (--trial ID: final_<ID>.json, final_<ID>/)

# Ray Tune's files, in each trial's directory.
TRIAL_PREFIX = "trial_"
CHECKPOINT_PREFIX = "checkpoint_"  # Ray names them checkpoint_NNNNNN
RESULT_FILE = "result.json"  # Ray's record of a trial's reports, a JSON object per line
PARAMS_FILE = "params.json"  # Ray's record of a trial's sampled values
ERROR_FILE = "error.txt"  # Ray's record of a failed trial's exception
ERROR_PICKLE_FILE = "error.pkl"  # and the exception itself, which Ray reads back at a run's end

# hpray's files in each trial checkpoint: the epoch and metric history (read without loading
# the state), and the state the trial function reported (torch.save).
META_FILE = "meta.json"
FUNCTION_STATE_FILE = "checkpoint.pt"
RANK_STATE_PREFIX = "checkpoint.rank"  # + "<r>.pt": rank r's own state (hpray.report per_rank)


def rank_state_file(rank: int) -> str:
    """Where a checkpoint holds rank ``rank``'s own state; rank 0's is FUNCTION_STATE_FILE.

    Example:
        >>> rank_state_file(0), rank_state_file(3)
        ('checkpoint.pt', 'checkpoint.rank3.pt')
    """
    return FUNCTION_STATE_FILE if rank == 0 else f"{RANK_STATE_PREFIX}{rank}.pt"


# Beside the study directory: a study set aside by --fresh; a storage probe, deleted at once.
REPLACED_INFIX = ".replaced-"
PROBE_PREFIX = ".hpray-probe-"


def trial_dir_name(trial_id: str) -> str:
    """A trial's directory: short (Ray's default name embeds every parameter value)."""
    return f"{TRIAL_PREFIX}{trial_id}"


def trial_name(trial_id: str, experiment_tag: str) -> str:
    """A trial's name, ``<id>#<n>``: n numbers the study's trials in the order they were made,
    from 0, as Hydra's ``hydra.job.num`` numbers a multirun's jobs. Ray Tune's experiment tag
    starts with its generator's count (from 0 for grid and random, whose ids end in it; from 1
    behind a searcher), kept in the study's state, so a trial keeps its number on resume.

    Example:
        >>> trial_name("3f2a1b0c", "1_lr=0.1"), trial_name("a1b2c_00002", "2_lr=0.1")
        ('3f2a1b0c#0', 'a1b2c_00002#2')
    """
    count = int(experiment_tag.split("_", 1)[0])
    return f"{trial_id}#{count if '_' in trial_id else count - 1}"


def trial_number(name: str) -> int | None:
    """The n of a trial named by `trial_name`; None for a name without one (an older study's).

    Example:
        >>> trial_number("3f2a1b0c#0"), trial_number("run_3f2a1b0c")
        (0, None)
    """
    number = name.rpartition("#")[2]
    return int(number) if "#" in name and number.isdigit() else None


def checkpoint_index(name: str) -> int | None:
    """The index of a checkpoint folder named ``checkpoint_NNNNNN``; None for anything else.

    Example:
        >>> checkpoint_index("checkpoint_000003"), checkpoint_index("meta.json")
        (3, None)
    """
    number = name.removeprefix(CHECKPOINT_PREFIX)
    return int(number) if name.startswith(CHECKPOINT_PREFIX) and number.isdigit() else None


def checkpoint_name(index: int) -> str:
    return f"{CHECKPOINT_PREFIX}{index:06d}"


def stored_config(directory: StudyDir | Path) -> dict[str, Any] | None:
    """The config the study was started with, or None for a new study."""
    return _read(directory, CONFIG_FILE, yaml.safe_load)


def read_summary(directory: StudyDir | Path) -> dict[str, Any] | None:
    """summary.json's content, or None when the study has none yet."""
    return _read(directory, SUMMARY_FILE, json.loads)


def read_results(directory: StudyDir | Path) -> list[dict[str, str]] | None:
    """results.csv's rows, as text; None when the study has not written it."""
    path = as_dir(directory) / RESULTS_FILE
    if not path.is_file():
        return None
    return list(csv.DictReader(io.StringIO(path.read_text())))


def read_stops(directory: StudyDir | Path) -> dict[str, Any]:
    """stops.json: ``{"rule", "reached", "trials": {trial id: rule}}``; empty when no stop rule
    ended a trial or a run."""
    return _read(directory, STOPS_FILE, json.loads) or {}


def write_stops(directory: StudyDir | Path, stops: dict[str, Any]) -> None:
    (as_dir(directory) / STOPS_FILE).write_text(json.dumps(stops, indent=1) + "\n")


def read_spent(directory: StudyDir | Path) -> float:
    """The seconds time_spent.json counts (0 without it)."""
    return float((_read(directory, SPENT_FILE, json.loads) or {}).get("time_spent_s", 0.0))


def write_spent(directory: StudyDir | Path, seconds: float) -> None:
    (as_dir(directory) / SPENT_FILE).write_text(json.dumps({"time_spent_s": round(seconds, 2)}))


def read_planned(directory: StudyDir | Path) -> int | None:
    """How many trials the study's last run planned, or None for a study run before plan.json
    was written (its config then says, read at the cost of building the searcher)."""
    plan = _read(directory, PLAN_FILE, json.loads)
    return int(plan["trials"]) if plan and "trials" in plan else None


def read_best(directory: StudyDir | Path) -> dict[str, Any] | None:
    """best.yaml's config, or None when the study has none yet."""
    return _read(directory, BEST_FILE, yaml.safe_load)


def _read(
    directory: StudyDir | Path, name: str, parse: Callable[[str], Any]
) -> dict[str, Any] | None:
    path = as_dir(directory) / name
    if not path.is_file():
        return None
    content: dict[str, Any] = parse(path.read_text())
    return content


def result_rows(lines: Sequence[str]) -> list[dict[str, Any]]:
    """The results a result file's lines hold; a torn line (a kill mid-write) is skipped.

    Example:
        >>> result_rows(['{"epoch": 1}', '{"epo'])
        [{'epoch': 1}]
    """
    rows = []
    for line in lines:
        try:
            row = json.loads(line)
        except ValueError:
            continue
        if isinstance(row, dict):
            rows.append(row)
    return rows


def newest_history(trial_dir: StudyDir) -> list[dict[str, Any]]:
    """The metric history of the trial's newest readable checkpoint (none: empty)."""
    newest: tuple[int, list[dict[str, Any]]] = (-1, [])
    for meta in trial_dir.glob(f"{CHECKPOINT_PREFIX}*/{META_FILE}"):
        try:
            stored = json.loads(meta.read_text())
            epoch, history = int(stored["epoch"]), list(stored["history"])
        except Exception:  # a torn or missing meta.json: the checkpoint tells nothing
            continue
        newest = max(newest, (epoch, history), key=lambda pair: pair[0])
    return newest[1]
