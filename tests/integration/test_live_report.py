"""report.html redrawn while a study runs, on a real local Ray."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from tests.helpers.studies import results, run_study

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("local_ray")]

REFRESH = '<meta http-equiv="refresh" content="1">'


def test_report_html_is_redrawn_with_the_current_curves_while_the_study_runs(
    tmp_path: Path,
) -> None:
    page = tmp_path / "live" / "report.html"
    seen: list[str] = []
    done = threading.Event()

    def watch() -> None:  # as a browser reloading the page would
        while not done.wait(0.2):
            if page.is_file():
                seen.append(page.read_text())

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    try:
        code, directory = run_study(
            tmp_path,
            "trainable=hpray.trial.faults.paced",
            "searcher=grid",
            "scheduler=fifo",
            "study.name=live",
            "study.epochs=30",
            "study.metric=val_rmse",
            "study.mode=min",
            "+faults.lr=1.0",
            "+faults.epoch_s=0.2",
            "~space",
            "+space.faults.lr={type:choice,values:[0.5,2.0]}",
            "report.every=1",
        )
    finally:
        done.set()
        watcher.join()
    assert code == 0
    live = [text for text in seen if REFRESH in text]
    assert live, f"{len(seen)} reads, none of a live page"
    # A page drawn mid-study shows it running, with the trials' curves so far.
    assert "running (this page is redrawn every 1 s)" in live[0]
    trial_ids = {r["trial_id"] for r in results(directory)}
    assert any(all(t in text for t in trial_ids) for text in live)
    final = page.read_text()  # the end's report replaced the live one, and stays
    assert REFRESH not in final and "<b>complete</b>" in final
