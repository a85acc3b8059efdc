"""``report.html``: one self-contained page a person can open offline.

Optimisation history, learning curves (with the epochs where ASHA stopped trials), each
hyperparameter's effect (parallel coordinates and slices) and parameter importance, the results
table and the best config. The history, effect and importance plots are Optuna's own, drawn from
an in-memory Optuna study rebuilt from the trials; plotly.js is embedded once, so the page needs
no network.
"""

from __future__ import annotations

import html
import math
import warnings
from collections.abc import Callable, Sequence
from typing import Any

import optuna
import plotly.graph_objects as go
from plotly.offline import get_plotlyjs
from plotly.subplots import make_subplots

from hpray.config.schema import StudySettings
from hpray.results.table import not_started, number
from hpray.results.trials import TrialRow
from hpray.search.searchers import optuna_distribution
from hpray.space.leaves import Param

DRAWN = 500  # trials drawn one by one at most; a larger study is sampled (see ``sample``)
BEST_DRAWN = 50
TABLE_ROWS = 200


def sample(rows: Sequence[TrialRow], mode: str, limit: int = DRAWN) -> tuple[list[TrialRow], str]:
    """At most ``limit`` trials to draw one by one, and a note saying which when not all: the
    best ``BEST_DRAWN`` and the rest spread evenly in trial order (a page of thousands of
    curves and lines neither loads nor reads)."""
    if len(rows) <= limit:
        return list(rows), ""
    best = set(id(r) for r in _ranked(rows, mode)[:BEST_DRAWN])
    others = [r for r in rows if id(r) not in best]
    step = len(others) / (limit - len(best))
    spread = {id(others[int(i * step)]) for i in range(limit - len(best))}
    kept = [r for r in rows if id(r) in best or id(r) in spread]
    note = (
        f" (the best {len(best)} of {len(rows)} trials and {len(kept) - len(best)} others spread "
        "evenly in trial order; results.csv has them all)"
    )
    return kept, note


def _even(rows: Sequence[TrialRow], limit: int) -> list[TrialRow]:
    """``limit`` trials spread evenly in trial order: a sample that favours no value."""
    step = max(1.0, len(rows) / limit)
    return [rows[int(i * step)] for i in range(min(limit, len(rows)))]


def _ranked(rows: Sequence[TrialRow], mode: str) -> list[TrialRow]:
    """Trials with a finite best value, best first."""
    scored = [r for r in rows if r.best is not None and math.isfinite(r.best)]
    return sorted(scored, key=lambda r: r.best, reverse=mode == "max")  # type: ignore[arg-type,return-value]


def optuna_study(rows: Sequence[TrialRow], params: Sequence[Param], mode: str) -> optuna.Study:
    """The trials as a finished Optuna study: each trial's best metric, its sampled values."""
    optuna.logging.set_verbosity(optuna.logging.WARNING)

    def best(row: TrialRow) -> list[float] | None:
        if row.best is None or not math.isfinite(row.best) or row.status == "diverged":
            return None
        return [row.best]

    return _finished_study(rows, params, [mode], best, with_status=True)


def config_over_time(rows: Sequence[TrialRow]) -> go.Figure:
    """Each changed key's value per epoch, a line per trial: where PBT changed it."""
    keys = sorted({k for r in rows for _, changed in r.changes[1:] for k in changed})
    figure = make_subplots(rows=len(keys), cols=1, subplot_titles=keys, shared_xaxes=True)
    for index, key in enumerate(keys, start=1):
        for row in rows:
            epochs, values, value = [], [], None
            for epoch, changed in row.changes:
                if key in changed:
                    value = changed[key]
                epochs.append(epoch)
                values.append(value)
            epochs.append(row.epochs)  # held to the trial's last epoch
            values.append(value)
            figure.add_trace(
                go.Scatter(
                    x=epochs,
                    y=values,
                    mode="lines+markers",
                    line={"shape": "hv"},
                    name=row.trial_id,
                    legendgroup=row.trial_id,
                    showlegend=index == 1,
                ),
                row=index,
                col=1,
            )
    figure.update_layout(height=250 * len(keys), xaxis_title="epoch")
    return figure


def pareto_study(
    rows: Sequence[TrialRow], params: Sequence[Param], objectives: Sequence[tuple[str, str]]
) -> optuna.Study:
    """The trials as a finished Optuna study of several objectives: their final values."""

    def finals(row: TrialRow) -> list[float] | None:
        values = [row.values.get(m) for m, _ in objectives]
        if row.failed or not all(v is not None and math.isfinite(v) for v in values):
            return None
        return [float(v) for v in values if v is not None]

    return _finished_study(rows, params, [mode for _, mode in objectives], finals)


def _finished_study(
    rows: Sequence[TrialRow],
    params: Sequence[Param],
    modes: Sequence[str],
    scores: Callable[[TrialRow], list[float] | None],
    with_status: bool = False,
) -> optuna.Study:
    """An Optuna study of ``rows`` that ``scores`` gives values (None: left out), each with
    the sampled values it has."""
    study = optuna.create_study(
        directions=["maximize" if mode == "max" else "minimize" for mode in modes]
    )
    distributions = {p.path: _distribution(p, rows) for p in params}
    for row in rows:
        values = scores(row)
        if values is None:
            continue
        picked = {k: row.params[k] for k in distributions if k in row.params}
        attrs = {"trial_id": row.trial_id, **({"status": row.status} if with_status else {})}
        study.add_trial(
            optuna.trial.create_trial(
                params=picked,
                distributions={k: distributions[k] for k in picked},
                values=values,
                user_attrs=attrs,
            )
        )
    return study


def _distribution(p: Param, rows: Sequence[TrialRow]) -> Any:
    try:
        return optuna_distribution(p)
    except Exception:  # a leaf Optuna cannot sample (normal): the range the trials took
        seen = [float(r.params[p.path]) for r in rows if p.path in r.params]
        return optuna.distributions.FloatDistribution(min(seen), max(seen) or 1.0)


def _quietly(plot: Any, study: optuna.Study, metric: str) -> Any:
    # PED-ANOVA warns for each parameter that few trials sampled (every branch's leaves).
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        return plot(study, target_name=metric)


def learning_curves(rows: Sequence[TrialRow], metric: str, budget: int) -> go.Figure:
    """Every trial's metric by epoch; an X where the scheduler stopped a trial early."""
    fig = go.Figure()
    stopped_x, stopped_y, stopped_text = [], [], []
    for row in rows:
        if not row.history:
            continue
        # A model fitted once reports once, at its last epoch: place it there.
        epochs = list(range(row.epochs - len(row.history) + 1, row.epochs + 1))
        fig.add_trace(
            go.Scatter(
                x=epochs,
                y=row.history,
                mode="lines",
                name=row.trial_id,
                line={"width": 1},
                hovertemplate=f"{row.trial_id} ({row.status})<br>epoch %{{x}}: %{{y:.4f}}",
            )
        )
        if row.status == "early_stopped":
            stopped_x.append(epochs[-1])
            stopped_y.append(row.history[-1])
            stopped_text.append(row.trial_id)
    fig.add_trace(
        go.Scatter(
            x=stopped_x,
            y=stopped_y,
            mode="markers",
            name="stopped early",
            text=stopped_text,
            marker={"symbol": "x", "size": 9, "color": "black"},
            hovertemplate="%{text} stopped at epoch %{x}: %{y:.4f}",
        )
    )
    fig.update_layout(
        title=f"Learning curves ({metric} by epoch; x: stopped early by the scheduler)",
        xaxis={"title": "epoch", "range": [0.5, budget + 0.5]},
        yaxis={"title": metric},
        showlegend=False,
    )
    return fig


def _section(title: str, body: str) -> str:
    return f"<section><h2>{html.escape(title)}</h2>{body}</section>"


def _plot(fig: go.Figure) -> str:
    fig.update_layout(height=420, margin={"l": 60, "r": 20, "t": 50, "b": 50})
    return str(fig.to_html(full_html=False, include_plotlyjs=False))


def _optuna_plot(make: Callable[[], go.Figure], why_not: str) -> str:
    # Optuna logs a warning for a plot of a study with no finished trial yet (a live page, a
    # study stopped before any trial ran): the page says so itself.
    verbosity = optuna.logging.get_verbosity()
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    try:
        return _plot(make())
    except (ValueError, RuntimeError, ZeroDivisionError) as err:
        return f"<p class='note'>{html.escape(why_not)} ({html.escape(str(err))})</p>"
    finally:
        optuna.logging.set_verbosity(verbosity)


def _table(rows: Sequence[TrialRow], metric: str, mode: str) -> str:
    """Every trial, or for a large study the best ``TABLE_ROWS``."""
    note = ""
    if len(rows) > TABLE_ROWS:
        note = (
            f"<p class='note'>The best {TABLE_ROWS} of {len(rows)} trials; results.csv has "
            "them all.</p>"
        )
        rows = _ranked(rows, mode)[:TABLE_ROWS]
    names = sorted({n for r in rows for n in r.params})
    head = "".join(
        f"<th>{html.escape(h)}</th>"
        for h in ["trial", "status", *names, f"best {metric}", f"final {metric}", "epochs"]
    )
    body = []
    for r in rows:
        cells = [
            r.trial_id,
            r.status,
            *(_short(r.params.get(n, "")) for n in names),
            _num(r.best),
            _num(r.final),
            str(r.epochs),
        ]
        body.append("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in cells) + "</tr>")
    return f"{note}<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def _num(value: float | None) -> str:
    return "" if value is None else number(value)


def _short(value: Any) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def render(
    title: str,
    summary: dict[str, Any],
    rows: Sequence[TrialRow],
    params: Sequence[Param],
    settings: StudySettings,
    best_yaml: str | None,
    live_s: float | None = None,
) -> str:
    """The whole page; ``live_s``: drawn while the study runs, and redrawn (and reloaded by
    the browser) every ``live_s`` seconds."""
    metric, mode = settings.metrics[0], settings.modes[0]
    study = optuna_study(rows, params, mode)  # the history: every trial, one point each
    drawn, note = sample(rows, mode)
    drawn_study = optuna_study(drawn, params, mode) if note else study
    trials, best = summary["trials"], summary["best"]
    state = "complete" if summary["complete"] else "unfinished (still running, or interrupted)"
    if live_s:
        state = f"running (this page is redrawn every {live_s:g} s)"
    facts = (
        f"<p><b>{html.escape(state)}</b>: {trials['total']} trials "
        f"({trials['completed']} completed, {trials['early_stopped']} stopped early, "
        f"{not_started(trials)}{trials['diverged']} diverged, {trials['errored']} errored), "
        f"{summary['epochs_total']} epochs, {summary['wall_s']:.1f} s.</p>"
    )
    if best:
        facts += (
            f"<p>Best: trial <b>{html.escape(best['trial_id'])}</b>, "
            f"{html.escape(metric)} = <b>{number(best['value'])}</b> ({mode}).</p>"
        )
    objectives = list(zip(settings.metrics, settings.modes, strict=True))
    front = []
    if settings.several:
        front = [
            _section(
                f"Pareto front ({', '.join(f'{m} ({md})' for m, md in objectives)}; "
                f"{sum(r.pareto for r in rows)} trials on it, final values)",
                _optuna_plot(
                    lambda: optuna.visualization.plot_pareto_front(
                        pareto_study(rows, params, objectives[:3]),
                        target_names=[m for m, _ in objectives[:3]],
                    ),
                    "No trial has reported every metric yet",
                ),
            )
        ]
    evolved = [r for r in drawn if r.changes]
    if evolved:
        front.append(
            _section(
                "Hyperparameters over time (population based training)" + note,
                _plot(config_over_time(evolved)),
            )
        )
    sections = [
        *front,
        _section(
            "Optimisation history",
            _optuna_plot(
                lambda: optuna.visualization.plot_optimization_history(study, target_name=metric),
                "No trial has a result yet",
            ),
        ),
        _section("Learning curves" + note, _plot(learning_curves(drawn, metric, settings.epochs))),
        _section(
            "Hyperparameters: parallel coordinates" + note,
            _optuna_plot(
                lambda: optuna.visualization.plot_parallel_coordinate(
                    drawn_study, target_name=metric
                ),
                "Not enough trials to draw",
            ),
        ),
        _section(
            "Hyperparameters: slices" + note,
            _optuna_plot(
                lambda: optuna.visualization.plot_slice(drawn_study, target_name=metric),
                "Not enough trials to draw",
            ),
        ),
        _section(
            "Parameter importance (Optuna's PED-ANOVA"
            + (f", from {DRAWN} trials spread evenly in trial order)" if note else ")"),
            _optuna_plot(
                lambda: _quietly(
                    optuna.visualization.plot_param_importances,
                    optuna_study(_even(rows, DRAWN), params, mode) if note else study,
                    metric,
                ),
                "Importance needs at least two finished trials whose values differ",
            ),
        ),
        _section("Trials", _table(rows, metric, mode)),
        _section(
            "Best config (best.yaml)",
            f"<pre>{html.escape(best_yaml)}</pre>" if best_yaml else "<p>None yet.</p>",
        ),
    ]
    return PAGE.format(
        title=html.escape(title),
        refresh=f'<meta http-equiv="refresh" content="{live_s:g}">' if live_s else "",
        plotly=get_plotlyjs(),
        facts=facts,
        body="".join(sections),
    )


PAGE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">{refresh}
<title>{title}</title>
<style>
body {{ font-family: system-ui, sans-serif; margin: 2em auto; max-width: 1100px; color: #222; }}
table {{ border-collapse: collapse; font-size: 0.85em; }}
td, th {{ border: 1px solid #ccc; padding: 2px 6px; text-align: right; }}
pre {{ background: #f6f6f6; padding: 1em; overflow-x: auto; }}
.note {{ color: #777; }}
</style>
<script>{plotly}</script>
</head><body>
<h1>{title}</h1>
{facts}
{body}
</body></html>
"""
