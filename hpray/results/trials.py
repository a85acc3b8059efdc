"""The study's trials read back from the Ray Tune experiment, and what is written of them:
results.csv, summary.json and the terminal summary table."""

from __future__ import annotations

import csv
import io
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hpray import internals
from hpray.results.failures import failure
from hpray.results.pareto import front_best
from hpray.store.layout import (
    RESULT_FILE,
    RESULTS_FILE,
    SUMMARY_FILE,
    read_stops,
    result_rows,
)
from hpray.store.location import StudyDir, as_dir


@dataclass
class TrialRow:
    """One trial's outcome, as results.csv shows it."""

    trial_id: str
    status: str  # completed | early_stopped | unstarted | diverged | errored | running | paused
    # | pending
    params: dict[str, Any]
    final: float | None
    best: float | None
    epochs: int
    stop_reason: str
    history: list[float] = field(default_factory=list, repr=False)
    spread: float | None = None  # cross-validation: the folds' std at the best epoch
    values: dict[str, float | None] = field(default_factory=dict)  # several objectives: finals
    pareto: bool = False  # several objectives: no other trial is as good in all and better in one
    changes: list[tuple[int, dict[str, Any]]] = field(default_factory=list, repr=False)  # PBT
    reported_at: list[float] = field(default_factory=list, repr=False)  # each epoch's time

    @property
    def failed(self) -> bool:
        """Diverged, or ended by an error (or waiting to be tried again after one): its values
        are not a result of its config, and it is never the best."""
        return self.status in ("diverged", "errored") or self.stop_reason.startswith("error")


def collect(
    study_dir: StudyDir | Path, metric: str, mode: str, budget: int, also: Sequence[str] = ()
) -> list[TrialRow]:
    """Every trial of the experiment in ``study_dir``, in trial order.

    The trials come from Ray's newest experiment snapshot, their results from each trial's
    ``result.json`` (one JSON line per report, as Ray Tune's JSON logger writes it). ``also``:
    the study's other objectives, whose final values each row holds with the metric's.
    """
    study_dir = as_dir(study_dir)
    stored = internals.stored_trials(study_dir.fs, study_dir.path)
    if stored is None:
        raise ValueError(f"no Ray Tune experiment in {study_dir}: the study never started")
    stops = read_stops(study_dir)
    ruled: dict[str, str] = stops.get("trials", {})  # trials a stop rule ended, and which
    rows = []
    for trial in sorted(stored, key=lambda t: t.trial_id):
        trial_dir = study_dir / trial.dirname
        raw = _raw_results(trial_dir)
        results = _epochs([_flat(row) for row in raw])
        history = [float(r.get(metric, math.nan)) for r in results] if _has(results, metric) else []
        spread_key = f"{metric}_std"
        spreads = (
            [float(r.get(spread_key, math.nan)) for r in results]
            if _has(results, spread_key)
            else []
        )
        epochs = max((int(r["epoch"]) for r in results if "epoch" in r), default=0)
        status, reason = _status(trial.status, epochs, budget, failure(trial_dir))
        if status == "early_stopped" and trial.trial_id in ruled:  # not the scheduler's call
            reason = ruled[trial.trial_id]
            reason = f"reached {reason}" if trial.trial_id == stops.get("reached") else reason
            if not raw:  # ended by the rule before it ran: it trained nothing
                status = "unstarted"
        if any(r.get("diverged") for r in results):
            status, reason = "diverged", "non-finite loss"
        rows.append(
            TrialRow(
                trial_id=trial.trial_id,
                status=status,
                params=trial.config,
                final=history[-1] if history else None,
                best=_best(history, mode),
                epochs=epochs,
                stop_reason=reason,
                history=history,
                spread=_at_best(history, spreads, mode),
                values={m: _final(results, m) for m in (metric, *also)} if also else {},
                changes=_changes(raw),
                reported_at=[float(r.get("timestamp", 0)) for r in results],
            )
        )
    return rows


def epochs_since(rows: Sequence[TrialRow], since: float) -> int:
    """The epochs reported at ``since`` (a time.time()) or after: a run's, in a resumed study.
    Ray stamps a report in whole seconds, so one second is allowed."""
    return sum(t >= since - 1 for row in rows for t in row.reported_at)


def _final(results: list[dict[str, Any]], key: str) -> float | None:
    """The value of ``key`` in the last report that has it."""
    last = next((r[key] for r in reversed(results) if key in r), None)
    return float(last) if isinstance(last, (int, float)) and not isinstance(last, bool) else None


def _raw_results(trial_dir: StudyDir) -> list[dict[str, Any]]:
    """The trial's reports from its result.json, as Ray wrote them (each with the trial's
    config then); none when it has not reported yet. A line cut short by a kill is left out."""
    file = trial_dir / RESULT_FILE
    try:
        text = file.read_text()
    except OSError:  # not there yet (pyarrow raises FileNotFoundError, an OSError, locally)
        return []
    return result_rows(text.splitlines())


def _changes(raw: list[dict[str, Any]]) -> list[tuple[int, dict[str, Any]]]:
    """The trial's config over time when it changed (PBT): its first config at its first
    epoch, then each epoch it changed at with the values it changed to; empty for a trial
    whose config never changed."""
    changes: list[tuple[int, dict[str, Any]]] = []
    last: dict[str, Any] | None = None
    for row in raw:
        config = row.get("config")
        if not isinstance(config, dict):
            continue
        epoch = int(row.get("epoch", 0))
        if last is None:
            changes.append((epoch, dict(config)))
        elif config != last:
            changes.append((epoch, {k: v for k, v in config.items() if last.get(k) != v}))
        last = config
    return changes if len(changes) > 1 else []


def _flat(result: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """Nested metrics as Ray's reader names them: ``{"val": {"acc": 1}}`` -> ``val/acc``."""
    out: dict[str, Any] = {}
    for key, value in result.items():
        if isinstance(value, Mapping) and key != "config":
            out.update(_flat(value, f"{prefix}{key}/"))
        elif key != "config":
            out[f"{prefix}{key}"] = value
    return out


def _epochs(results: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One report per epoch, the last kept, in epoch order: a resumed trial can report an epoch
    twice (redone or re-reported after a kill)."""
    if not any("epoch" in r for r in results):
        return results
    last = {r.get("epoch"): r for r in results}
    return [last[e] for e in sorted(last, key=lambda e: (e is None, e if e is not None else 0))]


def _has(results: list[dict[str, Any]], key: str) -> bool:
    return any(key in r for r in results)


def _status(ray_status: str, epochs: int, budget: int, error: str) -> tuple[str, str]:
    if ray_status == "ERROR":
        return "errored", f"error: {error}" if error else "error"
    if ray_status == "TERMINATED":
        return ("completed", "budget") if epochs >= budget else ("early_stopped", "scheduler")
    if ray_status == "PAUSED":  # by the time budget: it continues when the study does
        return "paused", "time_budget"
    # One failed, to be tried again: what it failed with so far.
    reason = f"error: {error}" if error else ""
    return ("running", reason) if ray_status == "RUNNING" else ("pending", reason)


def _at_best(values: Sequence[float], spreads: Sequence[float], mode: str) -> float | None:
    """The spread reported with the best value (None without cross-validation)."""
    best = _best(values, mode)
    if best is None or len(spreads) != len(values):
        return None
    return spreads[list(values).index(best)]


def _best(values: Sequence[float], mode: str) -> float | None:
    finite = [v for v in values if math.isfinite(v)]
    if not finite:
        return None
    return max(finite) if mode == "max" else min(finite)


def best_trial(rows: Sequence[TrialRow], mode: str) -> TrialRow | None:
    """The trial with the best metric value at any epoch; NaN, inf, diverged and errored trials
    never win (an errored trial's config did not run through)."""
    scored = [r for r in rows if r.best is not None and not r.failed]
    if not scored:
        return None
    pick = max if mode == "max" else min
    return pick(scored, key=lambda r: r.best)  # type: ignore[arg-type, return-value]


def write_results(
    study_dir: StudyDir | Path, rows: Sequence[TrialRow], metric: str, also: Sequence[str] = ()
) -> None:
    """results.csv: one row per trial, one column per sampled parameter; with several
    objectives (``also``: the others), their final values and whether it is on the front."""
    names = sorted({name for row in rows for name in row.params})
    cv = any(row.spread is not None for row in rows)  # a column for the folds' spread
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(
        [
            "trial_id",
            "status",
            *names,
            f"final_{metric}",
            f"best_{metric}",
            *([f"best_{metric}_std"] if cv else []),
            *(f"final_{m}" for m in also),
            *(["pareto"] if also else []),
            "epochs",
            "stop_reason",
        ]
    )
    for row in rows:
        writer.writerow(
            [
                row.trial_id,
                row.status,
                *(row.params.get(n, "") for n in names),
                _cell(row.final),
                _cell(row.best),
                *([_cell(row.spread)] if cv else []),
                *(_cell(row.values.get(m)) for m in also),
                *([str(row.pareto).lower()] if also else []),
                row.epochs,
                row.stop_reason,
            ]
        )
    (as_dir(study_dir) / RESULTS_FILE).write_text(out.getvalue())


def _cell(value: float | None) -> str:
    return "" if value is None else repr(value)


def summarise(
    rows: Sequence[TrialRow],
    metric: str,
    mode: str,
    wall_s: float,
    planned: int = 0,
    stops: Mapping[str, Any] | None = None,
    objectives: Sequence[tuple[str, str]] = (),
    pick: str | None = None,
) -> dict[str, Any]:
    """summary.json's content; complete once ``planned`` trials exist and all have ended, or
    when ``study.stop_at`` was reached (``stops``: stops.json's content).

    The best is the trial with the best value of the metric at any epoch; with several
    ``objectives`` (rows marked by ``mark_front``), the trial on the Pareto front with the
    best final value of the first. ``pick``: a trial chosen instead (``hpray report --pick``).
    """
    several = len(objectives) > 1
    best = front_best(rows, metric, mode) if several else best_trial(rows, mode)
    if pick is not None:
        best = next((r for r in rows if r.trial_id == pick), best)
    counts = {
        s: sum(r.status == s for r in rows)
        for s in ("completed", "early_stopped", "unstarted", "diverged", "errored")
    }
    ended = all(r.status in counts for r in rows) and bool(rows)
    rule = (stops or {}).get("rule")
    stopped = None
    if rule:
        # Trials that never reported: made, never started (or stopped as they started).
        idle = sum(r.epochs == 0 and r.status not in ("errored", "diverged") for r in rows)
        stopped = {
            "rule": rule,
            **({"trial_id": stops["reached"]} if stops and stops.get("reached") else {}),
            **{k: v for k, v in (stops or {}).items() if k in ("error", "failures") and v},
            "paused": sum(r.status == "paused" for r in rows),
            "unstarted": max(planned, len(rows)) - len(rows) + idle,
        }
    return {
        # Ended trials alone are not enough: a stop can fall before the searcher made the rest.
        "complete": ended and (len(rows) >= planned or rule == "stop_at"),
        **({"stopped": stopped} if stopped else {}),
        "best": None
        if best is None
        else {
            "trial_id": best.trial_id,
            "params": best.params,
            "metric": metric,
            "value": best.values.get(metric) if several else best.best,
            **({"std": best.spread} if best.spread is not None and not several else {}),
            **({"values": best.values} if several else {}),
            **({"picked": True} if pick == best.trial_id else {}),
        },
        **({"pick": pick} if pick else {}),
        **(
            {
                "objectives": [{"metric": m, "mode": md} for m, md in objectives],
                "pareto": [{"trial_id": r.trial_id, "values": r.values} for r in rows if r.pareto],
            }
            if several
            else {}
        ),
        "trials": {"total": len(rows), "planned": max(planned, len(rows)), **counts},
        "epochs_total": sum(r.epochs for r in rows),
        "wall_s": round(wall_s, 2),
    }


def write_summary(study_dir: StudyDir | Path, summary: Mapping[str, Any]) -> None:
    (as_dir(study_dir) / SUMMARY_FILE).write_text(json.dumps(summary, indent=2, default=str) + "\n")
