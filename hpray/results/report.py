"""``hpray report STUDY_DIR [--text]``: a study's report.html, or its state and best trials in
the terminal, read from its directory at any time: while it runs, after it finished, or after it
was interrupted."""

from __future__ import annotations

import argparse
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

from hpray import space
from hpray.config.schema import StudySettings
from hpray.config.settings import study_settings
from hpray.errors import EXIT_CONFIG, EXIT_OK, ConfigError
from hpray.results import table, trials
from hpray.results.best import write_app_best, write_best
from hpray.results.pareto import mark_front
from hpray.store.layout import (
    BEST_FILE,
    CONFIG_FILE,
    REPORT_FILE,
    read_planned,
    read_stops,
    read_summary,
    stored_config,
)
from hpray.store.location import StudyDir, as_dir


def load(
    directory: StudyDir | Path,
) -> tuple[dict[str, Any], list[trials.TrialRow], dict[str, Any]]:
    """The study's config, its trials and a fresh summary, from its directory alone."""
    directory = as_dir(directory)
    config = _config(directory)
    settings = study_settings(config)
    rows = collected(directory, settings)
    stored = read_summary(directory) or {}
    summary = summarised(
        directory, settings, rows, float(stored.get("wall_s", 0.0)), _planned(directory, config)
    )
    if "time_spent_s" in stored:
        summary["time_spent_s"] = stored["time_spent_s"]
    write_best(directory, config, summary)
    return config, rows, summary


def _config(directory: StudyDir) -> dict[str, Any]:
    config = stored_config(directory)
    if config is None:
        raise ConfigError(
            str(directory / CONFIG_FILE),
            "not found: not a study directory (<study.storage>/<study.name>), or a study that "
            "never started.",
        )
    return config


def collected(directory: StudyDir, settings: StudySettings) -> list[trials.TrialRow]:
    """The study's trials; with several objectives, their final values and the front."""
    metric, *also = settings.metrics
    rows = trials.collect(directory, metric, settings.modes[0], settings.epochs, also)
    if settings.several:
        mark_front(rows, list(zip(settings.metrics, settings.modes, strict=True)))
    return rows


def summarised(
    directory: StudyDir,
    settings: StudySettings,
    rows: list[trials.TrialRow],
    wall_s: float,
    planned: int,
) -> dict[str, Any]:
    """A fresh summary of ``rows``, with what the study's directory records beside them: the
    stop rules' decisions and a trial picked as the best (``hpray report --pick``)."""
    return trials.summarise(
        rows,
        settings.metrics[0],
        settings.modes[0],
        wall_s,
        planned,
        read_stops(directory),
        list(zip(settings.metrics, settings.modes, strict=True)),
        (read_summary(directory) or {}).get("pick"),
    )


def _planned(directory: StudyDir, config: dict[str, Any]) -> int:
    planned = read_planned(directory)
    if planned is None:  # a study from before plan.json: its searcher, built again, says
        from hpray.config.prepare import planned_trials

        planned = planned_trials(config)
    return planned


def text_report(directory: Path, top: int = 10) -> str:
    """The terminal summary: state, counts, best trial and the top trials."""
    config, rows, summary = load(directory)
    settings = study_settings(config)
    counts = Counter(r.status for r in rows)
    state = "complete" if summary["complete"] else "unfinished"
    live = (
        "" if summary["complete"] else f"; {counts['running']} running, {counts['pending']} pending"
    )
    header = (
        f"study {settings.name} ({directory}): {state}, {len(rows)} of "
        f"{summary['trials']['planned']} trials started{live}"
    )
    return header + "\n" + table.format_table(summary, rows, settings.modes[0], top=top)


def html_report(directory: StudyDir | Path, live_s: float | None = None) -> StudyDir:
    """Write the study's report.html from its directory alone; returns its path. ``live_s``:
    the study is running, and the page is redrawn every ``live_s`` seconds."""
    directory = as_dir(directory)
    return write_html(directory, *load(directory), live_s=live_s)


def write_html(
    directory: StudyDir,
    config: dict[str, Any],
    rows: list[trials.TrialRow],
    summary: dict[str, Any],
    live_s: float | None = None,
) -> StudyDir:
    """Write report.html for trials already collected (the driver has them at its end)."""
    from hpray.results import html as page

    best = directory / BEST_FILE
    text = page.render(
        f"hpray study {config['study']['name']}",
        summary,
        rows,
        space.parse_space(config["space"]).all_params(),
        study_settings(config),
        best.read_text() if best.is_file() else None,
        live_s,
    )
    path = directory / REPORT_FILE
    path.write_text(text)
    return path


def write_outputs(
    directory: StudyDir, settings: StudySettings, planned: int, wall_s: float | None
) -> dict[str, Any]:
    """At a run's end: results.csv, summary.json, best.yaml and report.html from the experiment,
    and the summary table printed. ``wall_s`` None: a finished study, its summary kept."""
    rows = collected(directory, settings)
    stored = read_summary(directory)
    if wall_s is None and stored is not None:
        summary = stored
    else:
        run: dict[str, Any] = {
            "epochs": trials.epochs_since(rows, time.time() - (wall_s or 0.0)),
            "wall_s": round(wall_s or 0.0, 2),
        }
        if stored is not None and not stored.get("complete"):  # earlier runs of a resumed study
            wall_s = (wall_s or 0.0) + float(stored.get("wall_s", 0.0))
        summary = {**summarised(directory, settings, rows, wall_s or 0.0, planned), "run": run}
        trials.write_results(directory, rows, settings.metrics[0], settings.metrics[1:])
        trials.write_summary(directory, summary)
        config = stored_config(directory)
        if config is not None:
            write_best(directory, config, summary)
            _write_html_safely(directory, config, rows, summary)
    print(table.format_table(summary, rows, settings.modes[0]))
    return summary


def pick(directory: StudyDir, trial_id: str) -> None:
    """Make ``trial_id`` the study's best: summary.json keeps the choice, best.yaml (and the
    report drawn next) show that trial, until another is picked."""
    rows = collected(directory, study_settings(_config(directory)))  # nothing written yet
    row = next((r for r in rows if r.trial_id == trial_id), None)
    if row is None or row.failed or row.final is None:
        ended = [r.trial_id for r in rows if r.final is not None and not r.failed]
        raise ConfigError(
            "--pick",
            f"{trial_id!r} is not a trial of the study with a result; pick one of "
            f"{', '.join(ended[:20]) or 'none yet'}.",
        )
    stored = read_summary(directory) or {}
    trials.write_summary(directory, {**stored, "pick": trial_id})
    _, _, fresh = load(directory)  # writes best.yaml for the pick
    trials.write_summary(directory, {**stored, "best": fresh["best"], "pick": trial_id})
    config = _config(directory)
    kept = write_app_best(directory, config, fresh) if "app" in config else None
    if kept:
        print(f"[hpray] best.yaml left as it was: {kept}", file=sys.stderr)
    print(f"[hpray] picked trial {trial_id}: {directory / BEST_FILE}", file=sys.stderr)


def _write_html_safely(
    directory: StudyDir, config: dict[str, Any], rows: Any, summary: dict[str, Any]
) -> None:
    """report.html; a report that cannot be drawn never fails the study it reports on."""
    try:
        print(f"[hpray] report: {write_html(directory, config, rows, summary)}", file=sys.stderr)
    except Exception as err:
        print(f"[hpray] report.html not written: {err!r}", file=sys.stderr)


def main(args: list[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="hpray report",
        description="Write a study's report.html (or print a summary with --text) from its "
        "directory, at any time: running, finished or interrupted. Also (re)writes best.yaml.",
    )
    parser.add_argument("study_dir", help="the study's directory (<study.storage>/<study.name>)")
    parser.add_argument(
        "--text", action="store_true", help="print it in the terminal instead of report.html"
    )
    parser.add_argument("--top", type=int, default=10, help="how many top trials (default 10)")
    parser.add_argument(
        "--pick",
        metavar="TRIAL_ID",
        help="make this trial the study's best (best.yaml, summary.json): e.g. another point "
        "of the Pareto front of a study of several metrics",
    )
    try:
        opts = parser.parse_args(args)
    except SystemExit as exit_:
        return EXIT_CONFIG if exit_.code else EXIT_OK
    try:
        if opts.pick:
            pick(as_dir(Path(opts.study_dir)), opts.pick)
        if opts.text:
            print(text_report(Path(opts.study_dir), top=opts.top))
        else:
            print(f"[hpray] wrote {html_report(Path(opts.study_dir))}", file=sys.stderr)
    except ConfigError as err:
        print(f"hpray: invalid input: {err}", file=sys.stderr)
        return EXIT_CONFIG
    return EXIT_OK
