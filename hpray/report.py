"""``hpray report STUDY_DIR --text``: a study's state and its best trials, read from its
directory at any time: while it runs, after it finished, or after it was interrupted."""

from __future__ import annotations

import argparse
import sys
from collections import Counter
from pathlib import Path

from hpray import outputs
from hpray.best import write_best
from hpray.errors import EXIT_CONFIG, EXIT_OK, ConfigError
from hpray.resume import CONFIG_FILE, stored_config


def text_report(directory: Path, top: int = 10) -> str:
    """The terminal summary: state, counts, best trial and the top trials."""
    config = stored_config(directory)
    if config is None:
        raise ConfigError(
            str(directory / CONFIG_FILE),
            "not found: not a study directory (<study.storage>/<study.name>), or a study that "
            "never started.",
        )
    settings = config["study"]
    rows = outputs.collect(directory, settings["metric"], settings["mode"], settings["epochs"])
    stored = outputs.read_summary(directory) or {}
    summary = outputs.summarise(
        rows, settings["metric"], settings["mode"], float(stored.get("wall_s", 0.0))
    )
    write_best(directory, config, summary)
    counts = Counter(r.status for r in rows)
    state = "complete" if summary["complete"] else "unfinished"
    live = (
        f"; {counts['running']} running, {counts['pending']} pending"
        if not summary["complete"]
        else ""
    )
    header = (
        f"study {settings['name']} ({directory}): {state}, {len(rows)} of "
        f"{settings['num_samples']} trials started{live}"
    )
    return header + "\n" + outputs.format_table(summary, rows, settings["mode"], top=top)


def main(args: list[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="hpray report",
        description="Report on a study from its directory, at any time (running, finished or "
        "interrupted); also (re)writes its best.yaml.",
    )
    parser.add_argument("study_dir", help="the study's directory (<study.storage>/<study.name>)")
    parser.add_argument("--text", action="store_true", help="print the report in the terminal")
    # Only the terminal report exists so far, so --text is also what runs without it.
    parser.add_argument("--top", type=int, default=10, help="how many top trials (default 10)")
    try:
        opts = parser.parse_args(args)
    except SystemExit as exit_:
        return EXIT_CONFIG if exit_.code else EXIT_OK
    try:
        print(text_report(Path(opts.study_dir), top=opts.top))
    except ConfigError as err:
        print(f"hpray: invalid input: {err}", file=sys.stderr)
        return EXIT_CONFIG
    return EXIT_OK
