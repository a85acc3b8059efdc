"""A study's summary as the terminal shows it (and the report's counts): the short table at a
run's end, and numbers as people read them."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from hpray.results.trials import TrialRow


def format_table(
    summary: Mapping[str, Any], rows: Sequence[TrialRow], mode: str, top: int = 5
) -> str:
    """The short summary the terminal shows at the end of a study."""
    trials = summary["trials"]
    lines = [
        f"trials: {trials['total']} total, {trials['completed']} completed, "
        f"{trials['early_stopped']} early-stopped, {not_started(trials)}{trials['diverged']} "
        f"diverged, {trials['errored']} errored; "
        f"{summary['epochs_total']} epochs in {summary['wall_s']:.1f} s{_this_run(summary)}",
    ]
    best = summary["best"]
    if best is None:
        lines.append("best: none (no trial reported a finite metric)")
        return "\n".join(lines)
    spread = f" ± {best['std']:.4f} over the folds" if "std" in best else ""
    shown = best.get("values") or {best["metric"]: best["value"]}
    how = (
        " (picked)"
        if best.get("picked")
        else (" (on the Pareto front)" if "values" in best else "")
    )
    lines.append(f"best{how}: trial {best['trial_id']}  {_values(shown)}{spread}")
    for name, value in sorted(best["params"].items()):
        lines.append(f"  {name} = {_short(value)}")
    if "pareto" in summary:
        front = summary["pareto"]
        lines.append(f"Pareto front: {len(front)} trials (hpray report <dir> --pick ID: another)")
        lines += [f"  {p['trial_id']:<14}{_values(p['values'])}" for p in front[:top]]
    ranked = sorted(
        (r for r in rows if r.best is not None and not r.failed),
        key=lambda r: r.best or 0.0,
        reverse=mode == "max",
    )
    lines.append(f"top {min(top, len(ranked))}:")
    lines.append(f"  {'trial':<14}{'status':<15}{'epochs':>6}  {best['metric']}")
    for row in ranked[:top]:
        lines.append(f"  {row.trial_id:<14}{row.status:<15}{row.epochs:>6}  {number(row.best)}")
    return "\n".join(lines)


def _this_run(summary: Mapping[str, Any]) -> str:
    """A resumed study's own run, beside the study's totals."""
    run = summary.get("run")
    if not run or run["epochs"] == summary["epochs_total"]:
        return ""
    return f" in all its runs, {run['epochs']} in {run['wall_s']:.1f} s in this one"


def not_started(trials: Mapping[str, Any]) -> str:
    """ "N not started, " where a stop rule ended trials before they ran, else nothing (older
    summaries have no count of them)."""
    n = trials.get("unstarted", 0)
    return f"{n} not started, " if n else ""


def _values(values: Mapping[str, Any]) -> str:
    return "  ".join(f"{k}={number(v)}" for k, v in values.items())


def number(value: Any) -> str:
    """A metric's value as people read it: a count (``params``) whole, a small value
    (``latency_ms``) to four significant digits, the rest to four decimals."""
    if not isinstance(value, float):
        return str(value)
    if value.is_integer() and abs(value) >= 10:
        return str(int(value))
    if 0 < abs(value) < 1e-3 or abs(value) >= 1e6:
        return f"{value:.4g}"
    return f"{value:.4f}"


def _short(value: Any) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)
